"""The load test script still runs against a real server, with short runs (not a timing test): a browser
among protocol students on one server (the two kinds must see the same runs), and protocol students
through a cluster."""

import os
import re
import subprocess
import sys

import pytest

from tests.conftest import ROOT

CHROMIUM = "/usr/bin/chromium"

pytestmark = pytest.mark.slow


def loadtest(*options: str) -> str:
    """Run the load test with short runs; its output, once it has passed."""
    command = [sys.executable, "scripts/loadtest.py", "--steps", "200", "--timeout", "150", *options]
    run = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=400)
    out = run.stdout + run.stderr
    assert run.returncode == 0, out
    return out


def assert_reports(out: str) -> None:
    """The figures the load test promises, in its words, whichever kind of students."""
    assert re.search(r"time from Train to result: median \d+\.\d s, 95th percentile \d+\.\d s, max \d+\.\d s", out)
    assert re.search(r"batches trained: \d+, sizes \[", out) and "s per student's run" in out
    peak = re.search(r"(?:server|cluster \(every process\)) peak memory \(VmHWM\): (\d+) MiB", out)
    assert peak and int(peak.group(1)) > 100, out  # a Python process with torch loaded is well past 100 MiB
    split = re.search(r"server CPU per run: training (\d+\.\d+) s, the rest (\d+\.\d+) s", out)
    # Both are real: the job manager's threads are named for training, and the pages' reruns cost something.
    assert split and float(split.group(1)) > 0 and float(split.group(2)) > 0, out
    reruns = re.search(r"reruns asked by the students' pages: [\d.]+ per second \((\d+) of the whole page", out)
    assert reruns and int(reruns.group(1)) >= 2 * 3, out  # each student opened the page and pressed Train
    assert re.search(r"load generator: the harness's own CPU \d+ s", out)
    assert re.search(r"machine: \d+ cores, busy \d+%", out)


@pytest.mark.browser
@pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="Debian's chromium is missing (make test installs it)")
def test_a_browser_among_protocol_students_sees_the_same_run():
    out = loadtest("--students", "mixed", "--sessions", "4")
    assert "sessions: 4 (1 browser, 3 protocol;" in out, out
    assert "finished: 4, failed: 0, left early: 0" in out, out
    # The browser (session 0, settings from its link) and a protocol student (session 2, the same settings
    # clicked into the widgets) saw one run's result.
    assert "both kinds: 1 pair(s) of a browser and a protocol student on the same settings, 0 saw different" in out
    assert_reports(out)


def test_loadtest_rejects_bad_options():
    run = subprocess.run(
        [sys.executable, "scripts/loadtest.py", "--sessions", "0"], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert run.returncode == 2 and "--sessions must be at least 1, got 0" in run.stderr
    run = subprocess.run(
        [sys.executable, "scripts/loadtest.py", "--students", "robots"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 2 and "--students: invalid choice: 'robots'" in run.stderr


def test_three_protocol_students_through_a_cluster_get_their_results_through_the_widgets():
    """Protocol students through HAProxy to two app processes sharing Redis, trained by a worker: every run
    ends, none is lost, and every process of the cluster is measured. (The one-process server is the mixed
    test's.)"""
    out = loadtest("--students", "protocol", "--sessions", "3", "--app-processes", "2", "--workers", "1")
    assert "a cluster: 2 app processes behind HAProxy, 1 training workers, Redis)" in out, out
    # Sessions 0 and 2 (the same settings) put them in through the widgets: their links hold room and seed.
    assert "sessions: 3 (3 protocol;" in out and "2 set them through the widgets" in out, out
    assert "finished: 3, failed: 0, left early: 0" in out and "runs lost: 0" in out, out
    assert "class page: one room, 3 runs in its table at the end" in out, out
    assert len(re.findall(r"^process \d+: threads:", out, re.M)) == 5, out  # 2 apps, 1 worker, Redis, HAProxy
    assert_reports(out)
