"""Rooms: a class's runs as one experiment. A room is a short, unguessable code; every run a student
starts from the room's link is an entry of the room (with the nickname the student typed). The Class
page reads a room's entries; it trains nothing.

A room is a label on runs, not a RunConfig field, so it never splits the result cache or a batch: an
entry names its run by job id, and the job manager knows nothing of rooms. Rooms live in memory only,
with limits (MAX_ROOMS, MAX_RUNS_PER_ROOM, MAX_AGE_HOURS): nothing of a room is
written to disk unless the teacher downloads it. A code cannot be listed: only the exact code opens it.
"""

from __future__ import annotations

import math
import re
import secrets
import threading
import time
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

CODE_ALPHABET = "23456789abcdefghjkmnpqrstuvwxyz"  # no 0/o, 1/l/i: a code read off a projector is typed right
CODE_LENGTH = 8  # 31^8 = 8.5e11 codes: not guessable in a lesson
MAX_ROOMS = 50  # rooms kept at once; a new one beyond that replaces the oldest
MAX_RUNS_PER_ROOM = 300  # entries per room; beyond that the oldest finished ones are dropped
MAX_AGE_HOURS = 12.0  # a room ends this long after it was opened
MAX_NICKNAME = 24  # characters of a nickname


def clean_nickname(text: str) -> str:
    """A nickname as plain, short text: no control characters, spaces collapsed, at most MAX_NICKNAME."""
    text = "".join(ch for ch in str(text) if unicodedata.category(ch)[0] != "C")
    return re.sub(r"\s+", " ", text).strip()[:MAX_NICKNAME]


def normalise_code(text: str) -> str:
    return str(text).strip().lower()


@dataclass
class RoomEntry:
    """One student's run in a room, by job id. Two students on one shared run are two entries of one job."""

    session: str
    nickname: str
    job_id: str
    joined_at: float = field(default_factory=time.time)


@dataclass
class Room:
    code: str
    created_at: float = field(default_factory=time.time)
    entries: list[RoomEntry] = field(default_factory=list)

    def expired(self, now: float | None = None) -> bool:
        return (time.time() if now is None else now) - self.created_at > MAX_AGE_HOURS * 3600


class Rooms:
    """The rooms of one server process; thread-safe."""

    def __init__(self):
        self._rooms: dict[str, Room] = {}
        self._lock = threading.Lock()

    def _prune(self, now: float) -> None:
        for code in [c for c, r in self._rooms.items() if r.expired(now)]:
            del self._rooms[code]

    def create(self) -> Room:
        """A new room with a fresh random code."""
        with self._lock:
            now = time.time()
            self._prune(now)
            while len(self._rooms) >= MAX_ROOMS:
                del self._rooms[min(self._rooms.values(), key=lambda r: r.created_at).code]
            code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
            while code in self._rooms:
                code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
            room = self._rooms[code] = Room(code, now)
            return room

    def get(self, code: str | None) -> Room | None:
        """The room of exactly this code, or None (unknown, or expired)."""
        if not code:
            return None
        with self._lock:
            self._prune(time.time())
            return self._rooms.get(normalise_code(code))

    def add_run(
        self, code: str, session: str, nickname: str, job_id: str, ended: Callable[[str], bool] = lambda _: False
    ) -> RoomEntry | None:
        """Enter job `job_id` in the room as `session`'s run; None when the room is gone. Past
        MAX_RUNS_PER_ROOM the oldest entry whose run has `ended` goes (or else the oldest)."""
        with self._lock:
            room = self._rooms.get(normalise_code(code))
            if room is None or room.expired():
                return None
            entry = RoomEntry(session, clean_nickname(nickname), job_id)
            room.entries.append(entry)
            if len(room.entries) > MAX_RUNS_PER_ROOM:
                finished = [e for e in room.entries if ended(e.job_id)]
                drop = finished[0] if finished else room.entries[0]
                room.entries.remove(drop)
            return entry

    def replace_job(self, old_id: str, new_id: str, session: str) -> None:
        """`session`'s run moved to another job (a copy it steers): its entries follow."""
        with self._lock:
            for room in self._rooms.values():
                for entry in room.entries:
                    if entry.job_id == old_id and entry.session == session:
                        entry.job_id = new_id

    def entries(self, code: str) -> list[RoomEntry]:
        room = self.get(code)
        if room is None:
            return []
        with self._lock:
            return list(room.entries)

    def nickname_taken(self, code: str, nickname: str, session: str) -> bool:
        """Whether another session's run in the room goes by this nickname (letter case and spaces aside):
        the two stay two entries, and the second student is told."""
        wanted = clean_nickname(nickname).casefold()
        return bool(wanted) and any(
            e.session != session and e.nickname.casefold() == wanted for e in self.entries(code)
        )

    def __len__(self) -> int:
        return len(self._rooms)


def lambda_setting(config) -> tuple[str, float | None]:
    """(what the chart calls the run's lambda, the lambda it is drawn at): a constant lambda at itself, the
    paper schedule at its ceiling; source only and the oracle have none (they are the reference lines)."""
    if config.mode in ("source_only", "target_oracle"):
        return "none", None
    if config.lambda_schedule == "paper":
        return f"paper (to {config.lambda_value:g})", config.lambda_value
    return f"{config.lambda_value:g}", config.lambda_value


def room_frame(entries: list[RoomEntry], job_of: Callable[[str], Any]) -> pd.DataFrame:
    """One row per entry whose job `job_of(id)` still knows: who, the settings, the latest (or final)
    figures and the state. Reads the jobs only: figures of a running job are those of its latest record."""
    rows = []
    found = [(entry, job) for entry in entries if (job := job_of(entry.job_id)) is not None]
    for n, (entry, job) in enumerate(found, start=1):
        c = job.config
        last = job.history[-1] if job.history else None
        final = job.result.metrics if job.result is not None else None
        label, at = lambda_setting(c)

        def figure(name: str, final=final, last=last) -> float:
            if final is not None:
                return float(final[name])
            return float(getattr(last, name)) if last is not None else math.nan

        rows.append(
            {
                "run": n,
                "nickname": entry.nickname or "(no name)",
                "mode": c.mode,
                "lambda": label,
                "lambda_at": at if at is not None else math.nan,
                "schedule": c.lambda_schedule,
                "dataset": c.dataset,
                "rotation": c.rotation if c.dataset == "moons" else math.nan,
                "seed": c.seed,
                "state": job.status,
                "step": job.step,
                "steps": c.steps,
                "source_acc": figure("source_acc"),
                "target_acc": figure("target_acc"),
                "domain_acc": figure("domain_acc"),
                "pad": float(final["pad"]) if final is not None else math.nan,
                "steered": bool(job.lambda_changes),
                "job": job.id,
            }
        )
    columns = ["run", "nickname", "mode", "lambda", "lambda_at", "schedule", "dataset", "rotation", "seed", "state",
               "step", "steps", "source_acc", "target_acc", "domain_acc", "pad", "steered", "job"]  # fmt: skip
    return pd.DataFrame(rows, columns=columns)
