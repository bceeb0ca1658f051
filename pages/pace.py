"""How often the pages draw: the class's pace, and a running job's figures built at most once a second
and shared by every session that watches the job. Page policy, so it lives with the pages."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from dann_demo.jobs import CLASS_RUNS, Job
from dann_demo.lru import LRU

# How often a running job's figures are rebuilt. A browser draws a changed chart anew (Streamlit gives it a
# new identity), which took it about a second for the Train page's six with training on the same 2 cores;
# an unchanged one costs it next to nothing, so the page redraws its progress more often than its charts.
FIGURE_SECONDS = 1.0
# A class's pace: from CLASS_RUNS runs queued or training on the server, a running job's page shows its
# latest numbers as one line of text and draws its charts when the run ends, and the class's pages together
# redraw about CLASS_REDRAWS_PER_SECOND times a second, each page every 4 to 15 s (docs/design.md).
CLASS_REDRAWS_PER_SECOND, CLASS_REDRAW_RANGE = 3.0, (4.0, 15.0)
__all__ = ["CLASS_RUNS", "FIGURE_SECONDS", "class_redraw_seconds", "job_figures"]


def class_redraw_seconds(busy: int) -> float:
    """How often a page redraws while `busy` runs are in progress: the class's pages share one budget."""
    lo, hi = CLASS_REDRAW_RANGE
    return min(hi, max(lo, busy / CLASS_REDRAWS_PER_SECOND))


_memos: LRU[str, tuple[Any, Any, float]] = LRU(256)  # job id -> (key, figures, when built)


def job_figures(job: Job, key: Any, build: Callable[[], Any], every: float = 0.0) -> Any:
    """build(), kept until `key` changes (say the number of records): a job's figures are built once per new
    record and shared by every session that watches it. While the job runs, at most every `every` seconds,
    and not when it is due to end sooner than that: a browser would still be drawing them when the summary
    comes, and its final figures come with the end."""
    memo, now = _memos.get(job.id), time.monotonic()
    if memo is not None:
        key_then, value, built_at = memo
        if key_then == key or (not job.done and (now - built_at < every or job.seconds_left() < every)):
            return value
    value = build()
    _memos.put(job.id, (key, value, now))
    return value
