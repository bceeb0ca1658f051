"""Waits with a deadline: a test that waits for a job fails with what it waited for, never hangs."""

import time


def wait_until(condition, seconds: float = 120, what: str = "the condition", poll: float = 0.005) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {seconds:g} s for {what}")
        time.sleep(poll)


def wait_done(job, seconds: float = 300) -> None:
    wait_until(lambda: job.done, seconds, f"job {job.id} to end (it is {job.status})", poll=0.02)


def shown(markdown: str) -> str:
    """A markdown source as a reader sees it: what the app escaped (text a user typed) unescaped."""
    import re

    return re.sub(r"\\([!-/:-@\[-`{-~])", r"\1", markdown).replace("\u2060", "")
