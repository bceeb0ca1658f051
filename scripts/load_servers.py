"""The server side of a load test (scripts/loadtest.py): one `streamlit run` process or a cluster, started
on free ports, and what is read of it afterwards (its log, its processes' memory and CPU)."""

from __future__ import annotations

import argparse
import math
import os
import re
import resource
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import IO

import thread_cpu
from cluster import ROOT, Cluster


def start_server(port: int, log: IO[bytes], timeout: float = 120.0, warm_up: bool = False) -> subprocess.Popen:
    """`streamlit run app.py` on localhost; its output goes to `log` (a pipe nobody reads would fill
    and stall the server). `warm_up`: as `make run` starts it (UMAP compiled in the background)."""
    env = {**os.environ, "DANN_WARM_UP": "1" if warm_up else "0"}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "streamlit",
            "run",
            "app.py",
            "--server.port",
            str(port),
            "--server.headless",
            "true",
            "--browser.gatherUsageStats",
            "false",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # as `make run` in a terminal of its own: not in the harness's session
    )
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            break
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2)
            return proc
        except OSError:
            time.sleep(0.5)
    proc.kill()
    proc.wait()
    raise RuntimeError(f"streamlit did not answer on port {port} within {timeout:.0f} s:\n{tail(log)}")


def tail(log: IO[bytes], chars: int = 2000) -> str:
    log.flush()
    log.seek(0)
    return log.read().decode(errors="replace")[-chars:]


def proc_status(pid: int, field: str) -> int:
    """A kB figure from /proc/<pid>/status (VmHWM: peak resident memory), or 0 where there is no /proc."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def machine_busy_seconds() -> float:
    """CPU seconds every core of the machine has spent busy so far, all processes and the kernel, or NaN.
    The browsers' share is this less the server's: Chromium's renderers are not children the harness
    reaps, so their CPU time is not in its rusage."""
    ticks = thread_cpu.core_ticks()
    return sum(busy for busy, _ in ticks) / thread_cpu.TICK if ticks else math.nan


def harness_cpu() -> float:
    """This process's own CPU seconds so far (the protocol students and the bookkeeping)."""
    used = resource.getrusage(resource.RUSAGE_SELF)
    return used.ru_utime + used.ru_stime


def peak_memory_mib(pids: list[int]) -> float:
    return sum(proc_status(pid, "VmHWM") for pid in pids) / 1024


def batches_in(log_text: str) -> list[tuple[int, int]]:
    """(runs, most at once) of each batch the server trained, from its log ("batch of N moons runs done in
    S s (at most M at once)"); runs join a batch under way, so a batch's runs can exceed its most at once.
    A run trained alone is no batch."""
    found = re.findall(r"batch of (\d+) \w+ runs done in [\d.]+ s \(at most (\d+) at once\)", log_text)
    return [(int(n), int(most)) for n, most in found if int(n) > 1]


def class_page_redraws(log_text: str) -> list[tuple[int, float]]:
    """(runs, seconds) of each Class page redraw, from the server's log."""
    return [(int(n), float(t)) for n, t in re.findall(r"class page redrawn: (\d+) runs in ([\d.]+) s", log_text)]


class OneServer:
    """The class on one `streamlit run` process (the default)."""

    def __init__(self, port: int, log: IO[bytes], warm_up: bool):
        self.proc = start_server(port, log, warm_up=warm_up)
        self.url = f"http://127.0.0.1:{port}/"

    def processes(self) -> list[int]:
        return [self.proc.pid]

    def lost_runs(self) -> int | None:
        return None  # its runs live and end with the process: the sessions' results tell

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


class ClusterServer:
    """The class on scripts/cluster.py's pieces: the students go through the proxy."""

    def __init__(self, args: argparse.Namespace, log: IO[bytes]):

        self.cluster = Cluster(args.app_processes, args.workers, args.port, log=log).start()
        self.url = self.cluster.url

    def processes(self) -> list[int]:
        pids = self.cluster.pids()
        return pids["apps"] + pids["workers"] + pids["redis"] + pids["proxy"]

    def lost_runs(self, settle: float = 60.0) -> int:
        """Runs that neither ended nor are still held by a live worker once the class is over: queued or
        running in Redis after `settle` seconds for the runs of the students who left to be stopped."""
        import redis

        r = redis.Redis.from_url(self.cluster.redis_url)
        deadline = time.time() + settle
        while True:
            p = self.cluster.prefix
            open_runs = r.scard(f"{p}:status:queued") + r.scard(f"{p}:status:running")
            if not open_runs or time.time() > deadline:
                failed = r.scard(f"{p}:status:failed")
                return open_runs + failed
            time.sleep(1)

    def stop(self) -> None:
        self.cluster.stop()
