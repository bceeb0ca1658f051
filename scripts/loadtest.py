"""Load test: a class of N students against one real `streamlit run app.py` server on localhost.

Starts the server on a free port, then opens N sessions at once. `--students browser` (the default):
each in its own browser context (its own cookies and websocket, like a student's browser) of one
headless Debian Chromium. `--students protocol`: each a tab that speaks Streamlit's websocket protocol
from Python (scripts/streamlit_tab.py): it reads the widgets from what the server sends, answers the
page's timed reruns, and costs the machine so little that 300 fit beside the server; half of those with
settings put them in through the widgets (a rerun per change, as a person clicks) and their link holds
only room and seed. `--students mixed`: one in ten a browser, and a browser and a protocol student on the
same settings must see the same target accuracy.

Each student opens Train live from a link with their own setup, as a teacher's lesson would have it:
different seeds, constant lambdas from 0 to 3 or the paper schedule, a few in source only or no
reversal, a few with the target rotated by 60 degrees, two students on the very same settings (one
shared run). Each presses Train once their page has settled (nothing on it changed for a second), as a
student clicks on a page they see drawn. A few move the lambda slider while their run trains, and a few
close their tab early (their runs must be cancelled, and they count apart, not as failures). Every
other session waits for the summary's "Target accuracy". A session fails on an exception, an error box,
a lost connection, or no result within --timeout.

Prints the sessions finished, failed and left early, the wall time, the median and 95th-percentile
time from Train to result, the runs' own training time, the page-open time, the batches the server
trained (their sizes, read from its log), the reruns the pages asked for per second, the server's peak
memory and its CPU seconds per run, split into training and the rest from its threads' CPU times
(scripts/thread_cpu.py), the harness's own CPU, and how busy each core was.

    .venv/bin/python scripts/loadtest.py --students protocol --sessions 300
    .venv/bin/python scripts/loadtest.py --students mixed --sessions 30

    .venv/bin/python scripts/loadtest.py                 # 30 sessions
    .venv/bin/python scripts/loadtest.py --sessions 5 --timeout 120
    .venv/bin/python scripts/loadtest.py --sessions-csv times.csv --browser-nice 19

`--sessions-csv` writes each session's times (page open, when it pressed Train, result, training);
a failed session's line names its stage and what its page showed. The 30 browsers stand in for 30
students' machines: at the server's own priority (the default) they take most of its 2 cores;
`--browser-nice 19` runs them at the lowest priority, so the server gets the CPU first and the
browsers starve instead (docs/benchmarks.md).

The server runs with DANN_WARM_UP=0 (no UMAP compilation thread: the Train page never draws UMAP;
--warm-up starts it as `make run` does, so `--sessions 1 --no-room --warm-up` times a fresh server's
first click) and the job manager's defaults (DANN_MAX_JOBS workers, 2 unless set; batches of up to DANN_MAX_BATCH).
Exit code 0 when every session that stayed finished without error (and, mixed, the two kinds agreed),
1 otherwise, 2 when the server or the browser cannot start.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import os
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import IO

import thread_cpu
from cluster import free_port
from load_browser import CHROMIUM, CHROMIUM_ARGS, BrowserTeacher, look_seconds, lower_browsers, run_session
from load_class import (
    STUDENT_KINDS,
    Session,
    class_of,
    write_sessions,
)
from load_protocol import ProtocolTeacher, run_protocol_session
from load_report import P95, Measured, report_class, report_kinds, report_machine
from load_servers import (
    ClusterServer,
    OneServer,
    harness_cpu,
    machine_busy_seconds,
    peak_memory_mib,
    tail,
)


async def run_class(
    url: str, sessions: list[Session], timeout: float, browsers: int, steps: int | None, room: bool, nice: int = 0
) -> tuple[list[Session], int | None]:
    """Every student at once (in one room, with the teacher's Class page open, unless room is False).
    Returns the sessions and the number of runs the Class page's table shows at the end. Chromium starts
    only when a student (and then the teacher too) is a browser."""
    async with contextlib.AsyncExitStack() as stack:
        launched = []
        if any(s.kind == "browser" for s in sessions):
            from playwright.async_api import async_playwright

            p = await stack.enter_async_context(async_playwright())
            for _ in range(browsers):
                launched.append(await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS))
                stack.push_async_callback(launched[-1].close)
            if nice:
                lower_browsers(nice)
        teacher = None
        if room:
            if launched:
                teacher = BrowserTeacher()
                code = await teacher.open(launched[0], url, timeout)
            else:
                teacher = ProtocolTeacher()
                code = await teacher.open(url, timeout)
            stack.push_async_callback(teacher.close)
            for s in sessions:
                s.settings["room"] = code
        look, start = look_seconds(len(sessions)), time.perf_counter()
        done = await asyncio.gather(
            *(
                run_session(launched[s.index % browsers], url, s, timeout, steps, look, start)
                if s.kind == "browser"
                else run_protocol_session(url, s, timeout, steps, start)
                for s in sessions
            )
        )
        shown = await teacher.runs_shown(timeout) if teacher is not None else None
        return done, shown


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=30, help="simulated students (default 30)")
    parser.add_argument(
        "--students",
        choices=STUDENT_KINDS,
        default="browser",
        help="browser: each student a Chromium page (the default); protocol: each a tab that speaks Streamlit's "
        "websocket protocol from Python (no browser; 300 fit one machine); mixed: one in ten a browser, and "
        "the two kinds must see the same runs",
    )
    parser.add_argument("--port", type=int, default=0, help="server port (default: a free one)")
    parser.add_argument(
        "--timeout",
        type=float,
        default=600.0,
        help="seconds each session may wait for the page and for its result (default 600)",
    )
    parser.add_argument("--browsers", type=int, default=1, help="Chromium processes to share the sessions (default 1)")
    parser.add_argument(
        "--steps",
        type=int,
        default=None,
        help="training steps per run (default: the page's, 3000 on moons; the pytest uses fewer)",
    )
    parser.add_argument("--first-seed", type=int, default=1, help="session i uses seed first_seed + i (default 1)")
    parser.add_argument("--no-room", action="store_true", help="students outside any room (no Class page open)")
    parser.add_argument(
        "--warm-up",
        action="store_true",
        help="start the server as `make run` does, warm-up included (with --sessions 1 --no-room: a fresh "
        "server's first click)",
    )
    parser.add_argument("--server-log", type=Path, default=None, help="keep the server's output in this file")
    parser.add_argument(
        "--browser-nice",
        type=int,
        default=0,
        help="run the browsers at this niceness (0-19; default 0, the server's own priority): 30 browsers stand "
        "in for 30 students' machines, and at the server's priority they take most of its cores",
    )
    parser.add_argument(
        "--sessions-csv", type=Path, default=None, help="write each session's times (open, click, result) here"
    )
    parser.add_argument(
        "--app-processes",
        type=int,
        default=0,
        help="drive a cluster instead (scripts/cluster.py): this many app processes behind HAProxy, sharing Redis",
    )
    parser.add_argument("--workers", type=int, default=2, help="with --app-processes: training workers (default 2)")
    parser.add_argument(
        "--kill-worker-at",
        type=float,
        default=None,
        metavar="S",
        help="with --app-processes: SIGKILL worker 0 this many seconds after the students start",
    )
    parser.add_argument(
        "--beside-one-process",
        action="store_true",
        help="with --app-processes: run the same class on one server process first, and print the two 95th "
        "percentiles side by side",
    )
    args = parser.parse_args(argv)
    for name in ("sessions", "browsers", "workers"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be at least 1, got {getattr(args, name)}")
    if args.app_processes < 0:
        parser.error(f"--app-processes must be 0 (one server process) or more, got {args.app_processes}")
    if args.kill_worker_at is not None and (not args.app_processes or args.workers < 2 or args.kill_worker_at < 0):
        parser.error("--kill-worker-at needs --app-processes and at least 2 --workers, and seconds from 0")
    if args.steps is not None and args.steps < 1:
        parser.error(f"--steps must be at least 1, got {args.steps}")
    if not 0 <= args.browser_nice <= 19:
        parser.error(f"--browser-nice must be from 0 to 19, got {args.browser_nice}")
    if args.timeout <= 0:
        parser.error(f"--timeout must be positive, got {args.timeout:g}")
    if args.students != "protocol" and not os.path.exists(CHROMIUM):
        print(f"{CHROMIUM} is missing: install Debian's chromium (make test does).", file=sys.stderr)
        return 2

    if args.beside_one_process:
        if not args.app_processes:
            parser.error("--beside-one-process needs --app-processes")
        print("== the same class on one server process, first ==", flush=True)
        one = argparse.Namespace(**{**vars(args), "app_processes": 0, "kill_worker_at": None})
        rc_one = load_test(one)
        first = P95.get("p95", math.nan)
        print(f"== then on the cluster: {args.app_processes} app processes, {args.workers} workers ==", flush=True)
        rc = load_test(args)
        print(
            f"95th percentile Train -> result: one process {first:.1f} s, cluster {P95.get('p95', math.nan):.1f} s "
            f"({args.sessions} sessions, the same machine, one after the other)"
        )
        return max(rc_one, rc)
    return load_test(args)


def load_test(args: argparse.Namespace) -> int:
    load_before = os.getloadavg()
    P95.pop("p95", None)
    with open(args.server_log, "w+b") if args.server_log else tempfile.TemporaryFile() as log:
        return run_load_test(args, log, load_before)


def run_load_test(args: argparse.Namespace, log: IO[bytes], load_before: tuple[float, float, float]) -> int:
    try:
        if args.app_processes:
            server = ClusterServer(args, log)
        else:
            server = OneServer(args.port or free_port(), log, args.warm_up)
    except RuntimeError as e:
        print(e, file=sys.stderr)
        return 2
    m = measure(args, server, load_before)
    server_log = tail(log, 10**8)
    report_class(args, m, server_log)
    report_machine(args, m)
    mismatched = report_kinds(m)
    if args.sessions_csv:
        write_sessions(args.sessions_csv, m.sessions)
    failed = [s for s in m.sessions if not s.ok and not s.left]
    for s in failed:
        print(f"  session {s.index} (seed {s.seed}) failed: {s.error}")
    if failed:
        print("server output, last lines:\n" + tail(log))
    return 0 if not failed and not mismatched else 1


def measure(args: argparse.Namespace, server, load_before: tuple[float, float, float]) -> Measured:
    """The class against `server`, every figure taken around it; the server is stopped at the end."""
    sessions = class_of(args.sessions, args.first_seed, args.students)
    killer = None
    if args.kill_worker_at is not None:
        killer = threading.Timer(args.kill_worker_at, server.cluster.kill_worker, args=(0,))
    try:
        t0, busy_before, cores_before = time.perf_counter(), machine_busy_seconds(), thread_cpu.core_ticks()
        pids = server.processes()
        before, harness_before = [thread_cpu.Look.at(pid) for pid in pids], harness_cpu()
        if killer is not None:
            killer.start()
        sessions, shown = asyncio.run(
            run_class(
                server.url, sessions, args.timeout, args.browsers, args.steps, not args.no_room, args.browser_nice
            )
        )
        wall, busy = time.perf_counter() - t0, machine_busy_seconds() - busy_before
        cores = thread_cpu.core_busy(cores_before, thread_cpu.core_ticks())
        alive = [n for n, pid in enumerate(pids) if os.path.exists(f"/proc/{pid}")]
        after, harness = {n: thread_cpu.Look.at(pids[n]) for n in alive}, harness_cpu() - harness_before
        peak_mib = peak_memory_mib([pids[n] for n in alive])
        lost = server.lost_runs()
    finally:
        if killer is not None:
            killer.cancel()
        server.stop()
    m = Measured(sessions, shown, wall, busy, cores, pids, before, after, harness, peak_mib, lost, load_before)
    m.load_after = os.getloadavg()
    return m


if __name__ == "__main__":
    sys.exit(main())
