"""Where a process's CPU goes: its threads' CPU seconds by thread name, and how busy each core was.

Linux keeps each thread's user and system time in /proc/PID/task/TID/stat and its name in .../comm. The
job manager names its training threads "dann-job" at the OS level (dann_demo/jobs/trainers.py), and the
threads they start inherit the name, so the server's CPU splits into training and the rest (the pages'
reruns, the websocket, the class page). A thread that ends between two looks leaves its time in the
process's total but not in any thread's: it counts as the rest. /proc/stat gives each core's busy time.

    .venv/bin/python scripts/thread_cpu.py PID --seconds 10    # a running server, over 10 s
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import sys
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

TRAINING_THREAD = "dann-job"  # the prefix of a training thread's name (trainers.TRAINER_THREAD_NAME)
TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _stat_cpu(stat_text: str) -> float:
    """User + system seconds from a /proc .../stat line (the name in brackets may hold spaces)."""
    fields = stat_text.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a whole process so far (all its threads, ended ones too), or NaN."""
    try:
        return _stat_cpu(Path(f"/proc/{pid}/stat").read_text())
    except (OSError, IndexError, ValueError):
        return math.nan


def threads(pid: int) -> dict[int, tuple[str, float]]:
    """Each live thread of a process: id -> (name, CPU seconds so far); empty where there is no /proc."""
    out = {}
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except OSError:
        return out
    for task in tasks:
        with contextlib.suppress(OSError, IndexError, ValueError):  # the thread ended while we looked
            out[int(task.name)] = ((task / "comm").read_text().strip(), _stat_cpu((task / "stat").read_text()))
    return out


@dataclass
class Look:
    """One look at a process: its total CPU time and its threads'."""

    total: float
    threads: dict[int, tuple[str, float]]

    @classmethod
    def at(cls, pid: int) -> Look:
        return cls(cpu_seconds(pid), threads(pid))


def per_thread(before: Look, after: Look) -> list[tuple[str, float]]:
    """(name, CPU seconds) of each thread alive at the second look, for the time between the looks,
    busiest first."""
    spent = []
    for tid, (name, cpu) in after.threads.items():
        old = before.threads.get(tid)
        spent.append((name, cpu - (old[1] if old and old[0] == name else 0.0)))
    return sorted(spent, key=lambda nc: -nc[1])


def by_name(before: Look, after: Look) -> dict[str, float]:
    """CPU seconds spent between two looks, summed by thread name (threads born since count from zero)."""
    spent: dict[str, float] = defaultdict(float)
    for name, cpu in per_thread(before, after):
        spent[name] += cpu
    return dict(spent)


def training_and_rest(before: Look, after: Look) -> tuple[float, float]:
    """(training, the rest) CPU seconds between two looks: training is every thread named dann-job*,
    the rest is the process's total less that."""
    training = sum(cpu for name, cpu in by_name(before, after).items() if name.startswith(TRAINING_THREAD))
    return training, (after.total - before.total) - training


def busiest(before: Look, after: Look, wall: float) -> str:
    """One line: on how many threads the training ran and the busiest's share of a core (one near 100%
    while the others idle says what bounds the process), and where the rest ran: threads alive at both
    looks, or threads that ended between them (Streamlit runs each script run on a thread of its own)."""
    spent = per_thread(before, after)
    training = [(n, c) for n, c in spent if n.startswith(TRAINING_THREAD)]
    live = [(n, c) for n, c in spent if not n.startswith(TRAINING_THREAD)]
    ended = (after.total - before.total) - sum(c for _, c in spent)
    busy = [c for _, c in training if c >= 0.05 * wall]
    top = f", the busiest at {training[0][1] / wall:.0%} of a core" if training else ""
    top_live = f" (the busiest, {live[0][0]}, {live[0][1]:.1f} s)" if live else ""
    return (
        f"threads: training on {len(busy)} busy thread(s){top}; the rest {sum(c for _, c in live):.1f} s on "
        f"{len(live)} lasting threads{top_live} and {max(ended, 0):.1f} s on threads that ended"
    )


def core_ticks() -> list[tuple[int, int]]:
    """(busy, all) ticks of each core so far, from /proc/stat's cpuN lines; empty where there is none."""
    try:
        lines = Path("/proc/stat").read_text().splitlines()
    except OSError:
        return []
    out = []
    for line in lines:
        name, *values = line.split()
        if name.startswith("cpu") and name != "cpu":
            ticks = [int(v) for v in values[:8]]
            idle = ticks[3] + ticks[4]  # idle and iowait
            out.append((sum(ticks) - idle, sum(ticks)))
    return out


def core_busy(before: list[tuple[int, int]], after: list[tuple[int, int]]) -> list[float]:
    """How busy each core was between two looks at core_ticks(), 0 to 1."""
    return [(b1 - b0) / (a1 - a0) if a1 > a0 else 0.0 for (b0, a0), (b1, a1) in zip(before, after, strict=False)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("pid", type=int, help="the process to watch (a streamlit server, say)")
    parser.add_argument("--seconds", type=float, default=10.0, help="how long to watch (default 10)")
    args = parser.parse_args(argv)
    if args.seconds <= 0:
        parser.error(f"--seconds must be positive, got {args.seconds:g}")
    if not Path(f"/proc/{args.pid}").exists():
        print(f"no process {args.pid} (or no /proc here: Linux only)", file=sys.stderr)
        return 2
    before, cores = Look.at(args.pid), core_ticks()
    time.sleep(args.seconds)
    after = Look.at(args.pid)
    for name, cpu in sorted(by_name(before, after).items(), key=lambda kv: -kv[1]):
        if cpu > 0:
            print(f"{name:<16} {cpu:7.2f} s")
    print(busiest(before, after, args.seconds))
    training, rest = training_and_rest(before, after)
    print(f"training {training:.2f} s, the rest {rest:.2f} s, over {args.seconds:g} s")
    print("cores busy: " + ", ".join(f"{b:.0%}" for b in core_busy(cores, core_ticks())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
