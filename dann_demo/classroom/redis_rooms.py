"""The rooms of a class in Redis (with DANN_REDIS_URL): the same interface (rooms.Rooms) and rules, shared
by every app process, so a room's link works whichever process a student lands on and survives a restart.

    {p}:rooms               sorted set: code -> when it was opened
    {p}:room:{code}         hash: created_at
    {p}:room:{code}:entries list of entries (JSON: session, nickname, job_id, joined_at)

A room's keys expire MAX_AGE_HOURS after it was opened, as the in-memory rooms end then.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict

import redis

from dann_demo.classroom import rooms as limits  # read at each call: the limits are rooms.py's (and a test's)
from dann_demo.classroom.rooms import (
    Room,
    RoomEntry,
    RoomRules,
    clean_nickname,
    entry_to_drop,
    new_code,
    normalise_code,
)


class RedisRooms(RoomRules):
    def __init__(self, client: redis.Redis, prefix: str = "dann"):
        self.r, self.p = client, prefix

    def _key(self, code: str, part: str = "") -> str:
        return f"{self.p}:room:{code}" + (f":{part}" if part else "")

    def _prune(self, now: float) -> None:
        self.r.zremrangebyscore(f"{self.p}:rooms", "-inf", now - limits.MAX_AGE_HOURS * 3600)

    def create(self) -> Room:
        now = time.time()
        self._prune(now)
        excess = self.r.zcard(f"{self.p}:rooms") - limits.MAX_ROOMS + 1
        if excess > 0:
            for code, _ in self.r.zpopmin(f"{self.p}:rooms", excess):
                self.r.delete(self._key(code.decode()), self._key(code.decode(), "entries"))
        while True:
            code = new_code()
            if self.r.hsetnx(self._key(code), "created_at", now):
                break
        ends = int(now + limits.MAX_AGE_HOURS * 3600) + 1
        pipe = self.r.pipeline(transaction=True)
        pipe.expireat(self._key(code), ends)
        pipe.zadd(f"{self.p}:rooms", {code: now})
        pipe.execute()
        return Room(code, now)

    def get(self, code: str | None) -> Room | None:
        if not code or (code := normalise_code(code)) is None:
            return None
        created = self.r.hget(self._key(code), "created_at")
        if created is None:
            return None
        room = Room(code, float(created), self._entries(code))
        return None if room.expired() else room

    def _entries(self, code: str) -> list[RoomEntry]:
        return [RoomEntry(**json.loads(e)) for e in self.r.lrange(self._key(code, "entries"), 0, -1)]

    def add_run(
        self, code: str, session: str, nickname: str, job_id: str, ended: Callable[[str], bool] = lambda _: False
    ) -> RoomEntry | None:
        room = self.get(code)
        if room is None:
            return None
        entry = RoomEntry(session, clean_nickname(nickname), job_id)
        key = self._key(room.code, "entries")
        pipe = self.r.pipeline(transaction=True)
        pipe.rpush(key, json.dumps(asdict(entry)))
        pipe.expireat(key, int(room.created_at + limits.MAX_AGE_HOURS * 3600) + 1)
        if pipe.execute()[0] > limits.MAX_RUNS_PER_ROOM:
            raw = self.r.lrange(key, 0, -1)
            entries = [RoomEntry(**json.loads(e)) for e in raw]
            if (drop := entry_to_drop(entries, ended)) is not None:
                self.r.lrem(key, 1, raw[entries.index(drop)])
        return entry

    def replace_job(self, old_id: str, new_id: str, session: str) -> None:
        for code in self.r.zrange(f"{self.p}:rooms", 0, -1):
            key = self._key(code.decode(), "entries")
            for n, raw in enumerate(self.r.lrange(key, 0, -1)):
                entry = json.loads(raw)
                if entry["job_id"] == old_id and entry["session"] == session:
                    self.r.lset(key, n, json.dumps({**entry, "job_id": new_id}))

    def entries(self, code: str) -> list[RoomEntry]:
        room = self.get(code)
        return room.entries if room is not None else []

    def __len__(self) -> int:
        self._prune(time.time())
        return self.r.zcard(f"{self.p}:rooms")
