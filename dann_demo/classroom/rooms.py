"""Rooms: a class's runs as one experiment. A room is a short, unguessable code; every run a student
starts from the room's link is an entry of the room (with the nickname the student typed). The Class
page reads a room's entries; it trains nothing.

A room is a label on runs, not a RunConfig field, so it never splits the result cache or a batch: an
entry names its run by job id, and the job manager knows nothing of rooms. Limits (MAX_ROOMS,
MAX_RUNS_PER_ROOM, MAX_AGE_HOURS): nothing of a room is written to disk unless the teacher downloads it.
A code cannot be listed: only the exact code opens it.

Two kinds keep rooms behind one interface (`Rooms`; tests/test_rooms.py runs against both): `MemoryRooms`
here, in this process; `RedisRooms` (redis_rooms.py), shared by a cluster's app processes. The rules they
share are `RoomRules`' and this module's functions, written once.
"""

from __future__ import annotations

import re
import secrets
import threading
import time
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

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


def normalise_code(text: str) -> str | None:
    """A room code as typed or linked (either case, spaces around), or None where it cannot be one: a
    value that is not a code never reaches a store's keys (`?room=CODE:entries` names another key)."""
    code = str(text).strip().lower()
    if len(code) != CODE_LENGTH or not set(code) <= set(CODE_ALPHABET):
        return None
    return code


def new_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def entry_to_drop(entries: list[RoomEntry], ended: Callable[[str], bool]) -> RoomEntry | None:
    """Past MAX_RUNS_PER_ROOM, the entry that goes: the oldest whose run has ended, else the oldest."""
    if len(entries) <= MAX_RUNS_PER_ROOM:
        return None
    return next((e for e in entries if ended(e.job_id)), entries[0])


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


class Rooms(Protocol):
    """Where a class's rooms live; thread-safe, and the same rules in every kind."""

    def create(self) -> Room: ...  # a new room with a fresh random code
    def get(self, code: str | None) -> Room | None: ...  # the room of exactly this code (None: unknown, ended)
    def add_run(  # enter a job as a session's run; None when the room is gone
        self, code: str, session: str, nickname: str, job_id: str, ended: Callable[[str], bool] = ...
    ) -> RoomEntry | None: ...
    def replace_job(self, old_id: str, new_id: str, session: str) -> None: ...  # the session's run moved
    def entries(self, code: str) -> list[RoomEntry]: ...
    def nickname_taken(self, code: str, nickname: str, session: str) -> bool: ...
    def __len__(self) -> int: ...


class RoomRules:
    """What every kind of Rooms decides the same way, from its entries."""

    def entries(self, code: str) -> list[RoomEntry]:
        raise NotImplementedError

    def nickname_taken(self, code: str, nickname: str, session: str) -> bool:
        """Whether another session's run in the room goes by this nickname (letter case and spaces aside):
        the two stay two entries, and the second student is told."""
        wanted = clean_nickname(nickname).casefold()
        return bool(wanted) and any(
            e.session != session and e.nickname.casefold() == wanted for e in self.entries(code)
        )


class MemoryRooms(RoomRules):
    """The rooms of one server process."""

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
            code = new_code()
            while code in self._rooms:
                code = new_code()
            room = self._rooms[code] = Room(code, now)
            return room

    def get(self, code: str | None) -> Room | None:
        """The room of exactly this code, or None (unknown, or expired)."""
        if not code or (code := normalise_code(code)) is None:
            return None
        with self._lock:
            self._prune(time.time())
            return self._rooms.get(code)

    def add_run(
        self, code: str, session: str, nickname: str, job_id: str, ended: Callable[[str], bool] = lambda _: False
    ) -> RoomEntry | None:
        """Enter job `job_id` in the room as `session`'s run; None when the room is gone (entry_to_drop
        says which entry goes past the limit)."""
        with self._lock:
            room = self._rooms.get(normalise_code(code) or "")
            if room is None or room.expired():
                return None
            entry = RoomEntry(session, clean_nickname(nickname), job_id)
            room.entries.append(entry)
            if (drop := entry_to_drop(room.entries, ended)) is not None:
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

    def __len__(self) -> int:
        return len(self._rooms)
