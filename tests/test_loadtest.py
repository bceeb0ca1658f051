"""The load test script still runs: two sessions, short runs, against a real server (not a timing test)."""

import os
import re
import subprocess
import sys

import pytest

from tests.conftest import ROOT

CHROMIUM = "/usr/bin/chromium"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="Debian's chromium is missing (make test installs it)"),
]


def test_loadtest_script_runs_two_sessions_to_their_results():
    command = [sys.executable, "scripts/loadtest.py", "--sessions", "2", "--steps", "200", "--timeout", "150"]
    run = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=400)
    out = run.stdout + run.stderr
    assert run.returncode == 0, out
    assert "finished: 2, failed: 0, left early: 0, from the cache: 0" in out
    assert re.search(r"batches trained: \d+, sizes \[", out) and "s per student's run" in out
    assert re.search(r"95th percentile \d+\.\d s", out)
    peak = re.search(r"server peak memory \(VmHWM\): (\d+) MiB", out)
    assert peak and int(peak.group(1)) > 100, out  # a Python process with torch loaded is well past 100 MiB


def test_loadtest_rejects_bad_options():
    run = subprocess.run(
        [sys.executable, "scripts/loadtest.py", "--sessions", "0"], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert run.returncode == 2 and "--sessions must be at least 1, got 0" in run.stderr
