"""Rooms: a class's runs as one experiment. A room is a short, unguessable code; every run a student
starts from the room's link is an entry of the room (with the nickname the student typed). The Class
page reads a room's entries; it trains nothing.

Whoever opens a room is its teacher: the room gets a teacher key (192 random bits, kept only as its
SHA-256), never part of the students' link. Every call that changes a room (its limits, closing it,
removing an entry, the teacher's downloads) takes the key and is refused without it, here in the
library. A room in use (a run or a page seen in the last hour) is never removed to make space: at
MAX_ROOMS a new room is refused, and one opener opens at most ROOMS_PER_OPENER_PER_HOUR.

A room is a label on runs, not a RunConfig field, so it never splits the result cache or a batch: an
entry names its run by job id, and the job manager knows nothing of rooms. Limits (MAX_ROOMS,
MAX_RUNS_PER_ROOM, MAX_AGE_HOURS): nothing of a room is written to disk unless the teacher downloads it.
A code cannot be listed: only the exact code opens it.

Two kinds keep rooms behind one interface (`Rooms`, which holds every rule; tests/test_rooms.py runs
against both): `MemoryRooms` here, in this process; `RedisRooms` (redis_rooms.py), shared by a cluster's
app processes. Each keeps only the data.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import threading
import time
import unicodedata
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from dann_demo.classroom.room_limits import RoomLimits

CODE_ALPHABET = "23456789abcdefghjkmnpqrstuvwxyz"  # no 0/o, 1/l/i: a code read off a projector is typed right
CODE_LENGTH = 8  # 31^8 = 8.5e11 codes: not guessable in a lesson
MAX_ROOMS = 50  # rooms kept at once; beyond that the oldest room not in use goes, or a new one is refused
IN_USE_SECONDS = 3600.0  # a room with a run or a page seen this recently is in use
ROOMS_PER_OPENER_PER_HOUR = 3  # rooms one browser (or session) may open in an hour
OPENER_WINDOW_S = 3600.0  # the hour those are counted in
KEY_BYTES = 24  # a teacher key: 192 random bits
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


def new_key() -> str:
    return secrets.token_urlsafe(KEY_BYTES)


def key_hash(key: str) -> str:
    """A teacher key as a room keeps it (a random 192-bit key needs no slow hash: nothing can guess it)."""
    return hashlib.sha256(str(key).encode()).hexdigest()


class RoomRefused(ValueError):
    """A room could not be opened or changed; the message says why and what to do."""


class NotTeacher(PermissionError):
    """A call that changes a room, made without the room's teacher key."""

    def __init__(self, what: str):
        super().__init__(f"Only the room's teacher can {what}: it needs the teacher link (with its key).")


def entry_to_drop(entries: list[RoomEntry], ended: Callable[[str], bool]) -> RoomEntry | None:
    """Past MAX_RUNS_PER_ROOM, the entry that goes: the oldest whose run has ended, else the oldest."""
    if len(entries) <= MAX_RUNS_PER_ROOM:
        return None
    return next((e for e in entries if ended(e.job_id)), entries[0])


@dataclass
class RoomEntry:
    """One student's run in a room, by job id. Two students on one shared run are two entries of one job.
    `owner`: who the run counts against (a browser, else its session), for the room's runs per student."""

    session: str
    nickname: str
    job_id: str
    joined_at: float = field(default_factory=time.time)
    owner: str = ""

    def __post_init__(self) -> None:
        self.owner = self.owner or self.session


@dataclass
class Room:
    code: str
    created_at: float = field(default_factory=time.time)
    entries: list[RoomEntry] = field(default_factory=list)
    key_hash: str = ""  # its teacher key's SHA-256
    limits: RoomLimits = field(default_factory=RoomLimits)
    closed_at: float | None = None  # when its teacher closed it (its table stays for its lifetime)
    seen_at: float = 0.0  # the last run or page of it

    def expired(self, now: float | None = None) -> bool:
        return (time.time() if now is None else now) - self.created_at > MAX_AGE_HOURS * 3600

    @property
    def closed(self) -> bool:
        return self.closed_at is not None

    def in_use(self, now: float) -> bool:
        return now - max(self.seen_at, self.created_at) < IN_USE_SECONDS

    def is_teacher(self, key: str | None) -> bool:
        return bool(key) and bool(self.key_hash) and hmac.compare_digest(key_hash(key), self.key_hash)


class Rooms(ABC):
    """Where a class's rooms live: every rule of a room, written once, for every kind; a kind keeps the data
    (the abstract methods below). Thread-safe."""

    password: str = ""  # DANN_TEACHER_PASSWORD: when set, opening a room asks for it

    # --- what a kind keeps ---
    @abstractmethod
    def _rooms(self, now: float) -> list[Room]:
        """Every room not expired (entries may be left out)."""

    @abstractmethod
    def _insert(self, room: Room) -> bool:
        """Keep a new room; False when its code is taken."""

    @abstractmethod
    def _load(self, code: str) -> Room | None:
        """The room of `code` with its entries."""

    @abstractmethod
    def _save(self, room: Room) -> None:
        """Keep a room's limits and closing (not its entries)."""

    @abstractmethod
    def _delete(self, code: str) -> None: ...

    @abstractmethod
    def _append(self, code: str, entry: RoomEntry, ended: Callable[[str], bool]) -> None: ...

    @abstractmethod
    def _remove(self, code: str, job_id: str) -> None: ...

    @abstractmethod
    def _seen(self, code: str, now: float) -> None: ...

    @abstractmethod
    def _opened(self, opener: str, now: float) -> int:
        """Rooms this opener opened in the last hour, the one it opens now counted."""

    @abstractmethod
    def replace_job(self, old_id: str, new_id: str, session: str) -> None:
        """`session`'s run moved to another job (a copy it steers): its entries follow."""

    @abstractmethod
    def __len__(self) -> int: ...

    # --- the rules ---
    def create(self, opener: str, password: str = "") -> tuple[Room, str]:
        """A new room with a fresh random code, and its teacher key (shown to its opener once). Refused
        (RoomRefused) with a wrong password, past the opener's rooms an hour, or when every room is in use."""
        if self.password and not hmac.compare_digest(str(password), self.password):
            raise RoomRefused("That is not the teacher password of this server: ask whoever runs it.")
        now = time.time()
        if self._opened(opener, now) > ROOMS_PER_OPENER_PER_HOUR:
            raise RoomRefused(
                f"You opened {ROOMS_PER_OPENER_PER_HOUR} rooms in the last hour, the most one browser may: use one "
                "of them (its teacher link brings it back), or try again later."
            )
        rooms = self._rooms(now)
        if len(rooms) >= MAX_ROOMS:
            idle = sorted((r for r in rooms if not r.in_use(now)), key=lambda r: r.seen_at or r.created_at)
            if len(rooms) - len(idle) >= MAX_ROOMS:
                raise RoomRefused(
                    f"All {MAX_ROOMS} rooms of this server are in use (a run or a page in the last hour), so no "
                    "room can be opened now: try again later, or reuse your room's teacher link."
                )
            for old in idle[: len(rooms) - MAX_ROOMS + 1]:
                self._delete(old.code)
        key = new_key()
        room = Room(new_code(), now, key_hash=key_hash(key), seen_at=now)
        while not self._insert(room):
            room = replace(room, code=new_code())
        return room, key

    def get(self, code: str | None) -> Room | None:
        """The room of exactly this code, or None (unknown, not a code, or ended); a closed room is still
        found (its table stays for its lifetime): `closed` says so."""
        if not code or (code := normalise_code(code)) is None:
            return None
        room = self._load(code)
        return None if room is None or room.expired() else room

    def touch(self, code: str) -> None:
        """A page of the room was seen: it is in use (nothing is read: a Class page says so every redraw)."""
        if code and (code := normalise_code(code)) is not None:
            self._seen(code, time.time())

    def is_teacher(self, code: str, key: str | None) -> bool:
        room = self.get(code)
        return room is not None and room.is_teacher(key)

    def teacher_room(self, code: str, key: str | None, what: str) -> Room:
        """The room, for a call that changes it: NotTeacher (naming `what`) without its teacher key."""
        room = self.get(code)
        if room is None:
            raise RoomRefused(f"Room {code!r} was not found.")
        if not room.is_teacher(key):
            raise NotTeacher(what)
        return room

    def add_run(
        self,
        code: str,
        session: str,
        nickname: str,
        job_id: str,
        ended: Callable[[str], bool] = lambda _: False,
        owner: str = "",
    ) -> RoomEntry | None:
        """Enter job `job_id` in the room as `session`'s run; None when the room is gone or closed
        (entry_to_drop says which entry goes past the limit)."""
        room = self.get(code)
        if room is None or room.closed:
            return None
        entry = RoomEntry(session, clean_nickname(nickname), job_id, owner=owner)
        self._append(room.code, entry, ended)
        self._seen(room.code, time.time())
        return entry

    def entries(self, code: str) -> list[RoomEntry]:
        room = self.get(code)
        return list(room.entries) if room is not None else []

    def nickname_taken(self, code: str, nickname: str, session: str) -> bool:
        """Whether another session's run in the room goes by this nickname (letter case and spaces aside):
        the two stay two entries, and the second student is told."""
        wanted = clean_nickname(nickname).casefold()
        return bool(wanted) and any(
            e.session != session and e.nickname.casefold() == wanted for e in self.entries(code)
        )

    def set_limits(self, code: str, key: str | None, limits: RoomLimits) -> None:
        room = self.teacher_room(code, key, "set the room's limits")
        self._save(replace(room, limits=limits))

    def close(self, code: str, key: str | None) -> Room:
        room = self.teacher_room(code, key, "close the room")
        closed = replace(room, closed_at=room.closed_at or time.time())
        self._save(closed)
        return closed

    def remove_entry(self, code: str, key: str | None, job_id: str) -> None:
        room = self.teacher_room(code, key, "remove a run from the room")
        self._remove(room.code, job_id)

    def teacher_entries(self, code: str, key: str | None) -> list[RoomEntry]:
        return list(self.teacher_room(code, key, "download the room's table").entries)


class MemoryRooms(Rooms):
    """The rooms of one server process."""

    def __init__(self, password: str = ""):
        self.password = password
        self._rooms_by_code: dict[str, Room] = {}
        self._openers: dict[str, list[float]] = {}
        self._lock = threading.RLock()

    def _rooms(self, now: float) -> list[Room]:
        with self._lock:
            for code in [c for c, r in self._rooms_by_code.items() if r.expired(now)]:
                del self._rooms_by_code[code]
            return list(self._rooms_by_code.values())

    def _insert(self, room: Room) -> bool:
        with self._lock:
            if room.code in self._rooms_by_code:
                return False
            self._rooms_by_code[room.code] = replace(room, entries=list(room.entries))
            return True

    def _load(self, code: str) -> Room | None:
        with self._lock:
            room = self._rooms_by_code.get(code)
            return replace(room, entries=list(room.entries)) if room is not None else None

    def _save(self, room: Room) -> None:
        with self._lock:
            if (kept := self._rooms_by_code.get(room.code)) is not None:
                kept.limits, kept.closed_at = room.limits, room.closed_at

    def _delete(self, code: str) -> None:
        with self._lock:
            self._rooms_by_code.pop(code, None)

    def _append(self, code: str, entry: RoomEntry, ended: Callable[[str], bool]) -> None:
        with self._lock:
            if (room := self._rooms_by_code.get(code)) is not None:
                room.entries.append(entry)
                if (drop := entry_to_drop(room.entries, ended)) is not None:
                    room.entries.remove(drop)

    def _remove(self, code: str, job_id: str) -> None:
        with self._lock:
            if (room := self._rooms_by_code.get(code)) is not None:
                room.entries = [e for e in room.entries if e.job_id != job_id]

    def _seen(self, code: str, now: float) -> None:
        with self._lock:
            if (room := self._rooms_by_code.get(code)) is not None:
                room.seen_at = now

    def _opened(self, opener: str, now: float) -> int:
        with self._lock:
            for who in [o for o, times in self._openers.items() if all(now - t > OPENER_WINDOW_S for t in times)]:
                del self._openers[who]
            times = [t for t in self._openers.get(opener, []) if now - t <= OPENER_WINDOW_S] + [now]
            self._openers[opener] = times
            return len(times)

    def replace_job(self, old_id: str, new_id: str, session: str) -> None:
        """`session`'s run moved to another job (a copy it steers): its entries follow."""
        with self._lock:
            for room in self._rooms_by_code.values():
                for entry in room.entries:
                    if entry.job_id == old_id and entry.session == session:
                        entry.job_id = new_id

    def __len__(self) -> int:
        return len(self._rooms(time.time()))
