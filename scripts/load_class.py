"""The class a load test simulates: its students (a lesson's mix of settings, deterministic so runs
compare), and what is reported of them (scripts/loadtest.py)."""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Session:
    index: int
    seed: int
    settings: dict = field(default_factory=dict)  # the settings beside the seed (the link's, or the widgets')
    kind: str = "browser"  # "browser": a Chromium page; "protocol": a Tab speaking Streamlit's websocket
    by_widgets: bool = False  # sets its settings through the widgets, as a person would, not through the link
    moves_lambda: bool = False  # moves the lambda slider while the run trains
    leaves_early: bool = False  # closes the tab a moment after pressing Train
    ok: bool = False
    left: bool = False
    error: str = ""
    open_seconds: float = math.nan  # page load until the Train button shows
    clicked_at: float = math.nan  # when Train was pressed, seconds from the start of the test
    result_seconds: float = math.nan  # Train pressed until the summary shows
    train_seconds: float = math.nan  # the run's own training time (the summary's "Time")
    from_cache: bool = False
    target: str = ""  # the target accuracy the summary showed
    full_reruns: int = 0  # rerun requests the page sent: for the whole page
    fragment_reruns: int = 0  # and for a timed fragment


LAMBDAS = ("0", "0.1", "0.3", "1", "3")
STUDENT_KINDS = ("browser", "protocol", "mixed")
# The settings a student may put in through the widgets rather than the link (the link keeps room and seed).
WIDGET_SETTINGS = ("mode", "lambda_schedule", "lambda_value", "rotation")


# A student clicks Train on a page they see drawn, not on one still drawing: the page has settled once
# nothing in it has changed for this long (a lone Train page draws the data's chart before the first run).
SETTLED_SECONDS = 1.0


def class_of(n: int, first_seed: int, students: str = "browser") -> list[Session]:
    """N students with the mix of a lesson (see the module docstring); deterministic, so runs compare.
    `students`: every one a browser, every one a protocol student, or "mixed": one in ten a browser
    (session 0 among them, whose settings session 2 shares: the two kinds on one run)."""
    sessions = []
    for i in range(n):
        settings: dict = {}
        if i % 5 == 1:
            settings["mode"] = "source_only"
        elif i % 5 == 3:
            settings["mode"] = "no_reversal"
        elif i % 3 == 0:
            settings.update(lambda_schedule="constant", lambda_value=LAMBDAS[(i // 3) % len(LAMBDAS)])
        if i % 7 == 4:
            settings["rotation"] = "60"
        seed = first_seed + i
        kind = "browser" if students == "browser" or (students == "mixed" and i % 10 == 0) else "protocol"
        sessions.append(Session(i, seed, settings, kind=kind, moves_lambda=i % 10 == 6, leaves_early=i % 10 == 8))
    if n >= 3:  # two students press Train on the very same settings: one shared run
        sessions[2].seed, sessions[2].settings = sessions[0].seed, dict(sessions[0].settings)
    for s in sessions:  # half the protocol students with settings click them in (session 2 among them)
        s.by_widgets = s.kind == "protocol" and s.index % 2 == 0 and bool(s.settings)
    return sessions


def link_query(session: Session, steps: int | None) -> dict:
    """The query string of a student's link: room, seed and steps, and the settings unless the widgets set them."""
    settings = {k: v for k, v in session.settings.items() if not (session.by_widgets and k in WIDGET_SETTINGS)}
    return {"seed": session.seed, **settings, **({"steps": steps} if steps else {})}


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile, nearest rank (of 30 values, the 95th is the 29th smallest)."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


def write_sessions(path: Path, sessions: list[Session]) -> None:
    """One row per session: what it asked for and its times (seconds), for a timeline of the class."""
    with path.open("w", newline="") as f:
        out = csv.writer(f)
        time_columns = ["open_s", "clicked_at_s", "result_s", "train_s"]
        out.writerow(["index", "kind", "seed", "settings", "outcome", *time_columns, "from_cache"])
        for s in sessions:
            outcome = "finished" if s.ok else "left" if s.left else "failed"
            settings = " ".join(f"{k}={v}" for k, v in s.settings.items() if k != "room")
            times = (s.open_seconds, s.clicked_at, s.result_seconds, s.train_seconds)
            out.writerow([s.index, s.kind, s.seed, settings, outcome, *(f"{t:.2f}" for t in times), s.from_cache])


def cross_kind_pairs(finished: list[Session]) -> list[tuple[Session, Session]]:
    """Pairs of a browser and a protocol student who asked for the same run (seed and settings)."""
    same = lambda s: (s.seed, tuple(sorted((k, str(v)) for k, v in s.settings.items())))  # noqa: E731
    browsers = [s for s in finished if s.kind == "browser"]
    return [(b, p) for b in browsers for p in finished if p.kind == "protocol" and same(p) == same(b)]


def cross_kind_mismatches(finished: list[Session]) -> list[tuple[Session, Session]]:
    """The pairs of cross_kind_pairs whose summaries showed different target accuracies."""
    return [(b, p) for b, p in cross_kind_pairs(finished) if b.target != p.target]
