"""What a load test prints (scripts/loadtest.py): the students' side, the server's and the machine's."""

from __future__ import annotations

import argparse
import os
import re
import statistics
from dataclasses import dataclass

import thread_cpu
from load_class import Session, cross_kind_mismatches, cross_kind_pairs, percentile
from load_servers import batches_in, class_page_redraws

P95: dict[str, float] = {}  # the last load test's 95th percentile, for --beside-one-process


@dataclass
class Measured:
    """What one load test saw: the sessions, and the server's and the machine's figures around them."""

    sessions: list[Session]
    shown: int | None  # the runs the Class page's table showed at the end (None: no room)
    wall: float
    busy: float  # core-seconds the machine was busy
    cores: list[float]
    pids: list[int]
    before: list  # thread_cpu.Look of each server process, before and after
    after: dict
    harness: float
    peak_mib: float
    lost: int | None
    load_before: tuple[float, float, float]
    load_after: tuple[float, float, float] = (0.0, 0.0, 0.0)


def report_class(args: argparse.Namespace, m: Measured, server_log: str) -> None:
    """The students' side: who finished, how long from Train to result, the batches, the Class page."""
    sessions, wall = m.sessions, m.wall
    finished = [s for s in sessions if s.ok]
    left = [s for s in sessions if s.left]
    failed = [s for s in sessions if not s.ok and not s.left]
    times = [s.result_seconds for s in finished]
    sizes = batches_in(server_log)
    redraws = [t for n, t in class_page_redraws(server_log) if n >= len(sessions) - len(left)]
    kinds = {k: sum(s.kind == k for s in sessions) for k in ("browser", "protocol")}
    students = ", ".join(f"{n} {k}" for k, n in kinds.items() if n)
    print(
        f"sessions: {len(sessions)} ({students}; moons, {args.steps or 'default'} steps, seeds "
        f"{min(x.seed for x in sessions)}-{max(x.seed for x in sessions)}; modes, lambdas and rotations mixed, "
        "two on the same settings, "
        f"{sum(s.by_widgets for s in sessions)} set them through the widgets, "
        f"{sum(s.moves_lambda for s in sessions)} move lambda, {len(left)} close their tab early; "
        + (f"{args.browsers} Chromium at niceness {args.browser_nice}, " if kinds["browser"] else "")
        + (
            f"a cluster: {args.app_processes} app processes behind HAProxy, {args.workers} training workers, Redis"
            + (f", worker 0 killed at {args.kill_worker_at:g} s)" if args.kill_worker_at is not None else ")")
            if args.app_processes
            else f"DANN_MAX_JOBS={os.environ.get('DANN_MAX_JOBS', '2')})"
        )
    )
    print(
        f"finished: {len(finished)}, failed: {len(failed)}, left early: {len(left)}, "
        f"from the cache: {sum(s.from_cache for s in finished)}"
    )
    if m.lost is not None:
        claimed = sum(int(n) for n in re.findall(r"died: (\d+) run\(s\) claimed", server_log))
        print(
            f"runs lost: {m.lost} (runs that failed, or neither ended nor stayed with a worker; {claimed} claimed "
            "from a dead worker)"
        )
    print(f"wall time: {wall:.1f} s (all sessions opened at once until the last result)")
    if times:
        P95["p95"] = percentile(times, 95)
        print(
            f"time from Train to result: median {statistics.median(times):.1f} s, "
            f"95th percentile {percentile(times, 95):.1f} s, max {max(times):.1f} s"
        )
        train = statistics.median(s.train_seconds for s in finished)
        print(
            f"of which training (the runs' own time): median {train:.1f} s; the rest is the queue, the page and "
            f"the client"
        )
        opens = [s.open_seconds for s in finished]
        clicks = [s.clicked_at for s in finished]
        print(
            f"page open to Train button: median {statistics.median(opens):.1f} s (first {min(opens):.1f} s, last "
            f"{max(opens):.1f} s); Train pressed from {min(clicks):.1f} s to {max(clicks):.1f} s after the start"
        )
    print(
        f"batches trained: {len(sizes)}, sizes {[n for n, _ in sizes]}, at most {[m for _, m in sizes]} at once "
        f"({sum(n for n, _ in sizes)} runs in batches; the others trained alone or were shared)"
    )
    if m.shown is not None:
        full = f"median {statistics.median(redraws):.2f} s, max {max(redraws):.2f} s" if redraws else "none logged"
        print(f"class page: one room, {m.shown} runs in its table at the end; its redraws with every run in: {full}")
    full_reruns, fragment_reruns = sum(s.full_reruns for s in sessions), sum(s.fragment_reruns for s in sessions)
    print(
        f"reruns asked by the students' pages: {(full_reruns + fragment_reruns) / wall:.1f} per second "
        f"({full_reruns} of the whole page, {fragment_reruns} of a timed fragment)"
    )


def report_machine(args: argparse.Namespace, m: Measured) -> None:
    """The server's side: memory, CPU split into training and the rest, the harness, the cores."""
    # Every process of the class (one server, or the cluster's apps, workers, Redis and proxy; a worker
    # killed on purpose counts until its last look: none after it).
    before, after, n_sessions = m.before, m.after, len(m.sessions)
    server_cpu = sum(after[n].total - before[n].total for n in after)
    split = [thread_cpu.training_and_rest(before[n], after[n]) for n in after]
    training, rest = sum(t for t, _ in split), sum(r for _, r in split)
    others = m.busy - server_cpu
    what = "server" if not args.app_processes else "cluster (every process)"
    print(
        f"{what} peak memory (VmHWM): {m.peak_mib:.0f} MiB; CPU time: {what} {server_cpu:.0f} s "
        f"({server_cpu / n_sessions:.2f} s per student's run); the machine was busy {m.busy:.0f} of "
        f"{m.wall * (os.cpu_count() or 1):.0f} core-seconds, {others:.0f} of them the clients (browsers, the "
        "harness) and the kernel"
    )
    print(
        f"server CPU per run: training {training / n_sessions:.3f} s, the rest {rest / n_sessions:.3f} s "
        f"(training threads {training:.0f} s, every other thread {rest:.0f} s)"
    )
    for n in after:
        print(f"process {m.pids[n]}: " + thread_cpu.busiest(before[n], after[n], m.wall))
    browsers = any(s.kind == "browser" for s in m.sessions)
    print(
        f"load generator: the harness's own CPU {m.harness:.0f} s ({m.harness / m.wall:.0%} of one core)"
        + (", the browsers' in the clients' share above" if browsers else "")
    )
    print(
        f"machine: {os.cpu_count()} cores, busy {', '.join(f'{b:.0%}' for b in m.cores)}; load average before "
        f"{m.load_before[0]:.2f}, after {m.load_after[0]:.2f}"
    )


def report_kinds(m: Measured) -> list[tuple[Session, Session]]:
    """With browsers and protocol students both: the pairs on the same settings that saw different runs."""
    kinds = {s.kind for s in m.sessions}
    if kinds != {"browser", "protocol"}:
        return []
    finished = [s for s in m.sessions if s.ok]
    mismatched = cross_kind_mismatches(finished)
    print(
        f"both kinds: {len(cross_kind_pairs(finished))} pair(s) of a browser and a protocol student on the same "
        f"settings, {len(mismatched)} saw different runs"
    )
    for a, b in mismatched:
        print(f"  session {a.index} ({a.kind}) saw {a.target}, session {b.index} ({b.kind}) saw {b.target}")
    return mismatched
