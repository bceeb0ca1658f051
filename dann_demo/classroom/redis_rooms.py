"""The rooms of a class in Redis (with DANN_REDIS_URL): the same interface and rules (rooms.Rooms), shared
by every app process, so a room's link works whichever process a student lands
on and survives a restart.

    {p}:rooms               sorted set: code -> when it was opened
    {p}:room:{code}         hash: created_at, key_hash, limits (JSON), closed_at, seen_at
    {p}:room:{code}:entries list of entries (JSON: session, nickname, job_id, joined_at, owner)
    {p}:opened:{opener}     sorted set: when this opener opened rooms (the last hour)

A room's keys expire MAX_AGE_HOURS after it was opened, as the in-memory rooms end then. Only a value
that is a room's code (rooms.normalise_code) ever becomes part of a key.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict

import redis

from dann_demo.classroom import rooms as limits  # read at each call: the limits are rooms.py's (and a test's)
from dann_demo.classroom.room_limits import RoomLimits
from dann_demo.classroom.rooms import Room, RoomEntry, Rooms, entry_to_drop, key_hash


class RedisRooms(Rooms):
    def __init__(self, client: redis.Redis, prefix: str = "dann", password: str = ""):
        self.r, self.p, self.password = client, prefix, password

    def _key(self, code: str, part: str = "") -> str:
        return f"{self.p}:room:{code}" + (f":{part}" if part else "")

    def _ends(self, created_at: float) -> int:
        return int(created_at + limits.MAX_AGE_HOURS * 3600) + 1

    def _rooms(self, now: float) -> list[Room]:
        self.r.zremrangebyscore(f"{self.p}:rooms", "-inf", now - limits.MAX_AGE_HOURS * 3600)
        codes = [c.decode() for c in self.r.zrange(f"{self.p}:rooms", 0, -1)]
        pipe = self.r.pipeline()
        for code in codes:
            pipe.hmget(self._key(code), ["created_at", "seen_at"])
        found = []
        for code, (created, seen) in zip(codes, pipe.execute(), strict=True):
            if created is None:  # expired meanwhile
                self.r.zrem(f"{self.p}:rooms", code)
                continue
            room = Room(code, float(created), seen_at=float(seen or 0))
            if not room.expired(now):
                found.append(room)
        return found

    def _insert(self, room: Room) -> bool:
        if not self.r.hsetnx(self._key(room.code), "created_at", room.created_at):
            return False
        pipe = self.r.pipeline(transaction=True)
        pipe.hset(self._key(room.code), mapping=self._fields(room))
        pipe.expireat(self._key(room.code), self._ends(room.created_at))
        pipe.zadd(f"{self.p}:rooms", {room.code: room.created_at})
        pipe.execute()
        return True

    def _fields(self, room: Room) -> dict:
        return {
            "key_hash": room.key_hash,
            "limits": json.dumps(room.limits.to_dict()),
            "closed_at": "" if room.closed_at is None else room.closed_at,
            "seen_at": room.seen_at,
        }

    def _load(self, code: str) -> Room | None:
        if self.r.type(self._key(code)) != b"hash":  # gone (or never a room's key)
            return None
        h = {k.decode(): v.decode() for k, v in self.r.hgetall(self._key(code)).items()}
        if "created_at" not in h:
            return None
        entries = [RoomEntry(**json.loads(e)) for e in self.r.lrange(self._key(code, "entries"), 0, -1)]
        return Room(
            code,
            float(h["created_at"]),
            entries,
            key_hash=h.get("key_hash", ""),
            limits=RoomLimits.from_dict(json.loads(h.get("limits") or "{}")),
            closed_at=float(h["closed_at"]) if h.get("closed_at") else None,
            seen_at=float(h.get("seen_at") or 0),
        )

    def _save(self, room: Room) -> None:
        if self.r.exists(self._key(room.code)):
            fields = self._fields(room)
            del fields["seen_at"]
            self.r.hset(self._key(room.code), mapping=fields)

    def _delete(self, code: str) -> None:
        pipe = self.r.pipeline(transaction=True)
        pipe.delete(self._key(code), self._key(code, "entries"))
        pipe.zrem(f"{self.p}:rooms", code)
        pipe.execute()

    def _append(self, code: str, entry: RoomEntry, ended: Callable[[str], bool]) -> None:
        created = self.r.hget(self._key(code), "created_at")
        if created is None:
            return
        key = self._key(code, "entries")
        pipe = self.r.pipeline(transaction=True)
        pipe.rpush(key, json.dumps(asdict(entry)))
        pipe.expireat(key, self._ends(float(created)))
        if pipe.execute()[0] > limits.MAX_RUNS_PER_ROOM:
            raw = self.r.lrange(key, 0, -1)
            entries = [RoomEntry(**json.loads(e)) for e in raw]
            if (drop := entry_to_drop(entries, ended)) is not None:
                self.r.lrem(key, 1, raw[entries.index(drop)])

    def _remove(self, code: str, job_id: str) -> None:
        key = self._key(code, "entries")
        for raw in self.r.lrange(key, 0, -1):
            if json.loads(raw)["job_id"] == job_id:
                self.r.lrem(key, 0, raw)

    def _seen(self, code: str, now: float) -> None:
        if self.r.exists(self._key(code)):
            self.r.hset(self._key(code), "seen_at", now)

    def _opened(self, opener: str, now: float) -> int:
        key = f"{self.p}:opened:{key_hash(opener)[:24]}"  # an opener's name never becomes a key as it is
        pipe = self.r.pipeline(transaction=True)
        pipe.zremrangebyscore(key, "-inf", now - limits.OPENER_WINDOW_S)
        pipe.zadd(key, {f"{now:.6f}": now})
        pipe.zcard(key)
        pipe.expire(key, int(limits.OPENER_WINDOW_S))
        return int(pipe.execute()[2])

    def replace_job(self, old_id: str, new_id: str, session: str) -> None:
        for code in self.r.zrange(f"{self.p}:rooms", 0, -1):
            key = self._key(code.decode(), "entries")
            for n, raw in enumerate(self.r.lrange(key, 0, -1)):
                entry = json.loads(raw)
                if entry["job_id"] == old_id and entry["session"] == session:
                    self.r.lset(key, n, json.dumps({**entry, "job_id": new_id}))

    def __len__(self) -> int:
        return len(self._rooms(time.time()))
