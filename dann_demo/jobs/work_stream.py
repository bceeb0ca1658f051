"""The class's work in Redis: a stream of runs to train, read by the training workers through one consumer
group, so each run goes to one worker and a run whose worker died is not lost.

    {p}:work                 stream: one entry per run (or sweep) to train, {"job": id}
    group "workers"          delivers each entry to one worker; the entry stays pending until acknowledged
    {p}:worker:{name}        a worker's heartbeat (expires HEARTBEAT_TTL_S after its last beat)
    {p}:worker:{name}:local  runs a worker trains that have no entry of their own (copies of a run, made
                             between two of its steps from its weights)

A worker acknowledges an entry when its run has ended (finished, stopped or failed). A worker whose
heartbeat has expired is dead: another claims its pending entries (XCLAIM) and trains those runs again
from step 0, and puts its copies back on the stream.
"""

from __future__ import annotations

import socket
import time
import uuid

import redis

GROUP = "workers"
HEARTBEAT_S = 1.0  # how often a worker says it is alive
HEARTBEAT_TTL_S = 5.0  # silent this long, a worker is dead and its runs are claimed
MAX_ENTRIES = 100_000  # the stream is trimmed to about this many entries (acknowledged ones first in age)


def worker_name() -> str:
    return f"{socket.gethostname()}-{uuid.uuid4().hex[:6]}"


class WorkStream:
    def __init__(self, client: redis.Redis, prefix: str = "dann"):
        self.r, self.p = client, prefix
        self.stream = f"{prefix}:work"

    def ensure_group(self) -> None:
        """The consumer group, created once (from the stream's start: runs submitted before any worker ran
        are trained too)."""
        try:
            self.r.xgroup_create(self.stream, GROUP, id="0", mkstream=True)
        except redis.ResponseError as e:
            if "BUSYGROUP" not in str(e):
                raise

    # --- the app's side ---
    def submit(self, job_id: str) -> str:
        return self.r.xadd(self.stream, {"job": job_id}, maxlen=MAX_ENTRIES, approximate=True).decode()

    def workers(self) -> list[str]:
        """The names of the workers alive now."""
        prefix = f"{self.p}:worker:"
        names = [k.decode()[len(prefix) :] for k in self.r.scan_iter(match=prefix + "*", count=500)]
        return sorted(n for n in names if not n.endswith(":local"))

    # --- a worker's side ---
    def take(self, consumer: str, count: int, block_ms: int = 1000) -> list[tuple[str, str]]:
        """Up to `count` new entries for this worker: (entry id, job id)."""
        answer = self.r.xreadgroup(GROUP, consumer, {self.stream: ">"}, count=count, block=block_ms)
        return [(e.decode(), f[b"job"].decode()) for _, entries in answer or [] for e, f in entries]

    def done(self, entry_id: str) -> None:
        self.r.xack(self.stream, GROUP, entry_id)

    def beat(self, consumer: str) -> None:
        self.r.set(f"{self.p}:worker:{consumer}", time.time(), px=int(HEARTBEAT_TTL_S * 1000))

    def leave(self, consumer: str) -> None:
        self.r.delete(f"{self.p}:worker:{consumer}")

    def hold_local(self, consumer: str, job_id: str) -> None:
        self.r.sadd(f"{self.p}:worker:{consumer}:local", job_id)

    def drop_local(self, consumer: str, job_id: str) -> None:
        self.r.srem(f"{self.p}:worker:{consumer}:local", job_id)

    def dead_workers(self, me: str) -> list[str]:
        """Consumers of the group (or holders of local runs) whose heartbeat has expired."""
        names = {c["name"].decode() for c in self.r.xinfo_consumers(self.stream, GROUP)}
        prefix = f"{self.p}:worker:"
        names |= {k.decode()[len(prefix) : -len(":local")] for k in self.r.scan_iter(match=prefix + "*:local")}
        names.discard(me)
        return sorted(n for n in names if not self.r.exists(prefix + n))

    def claim(self, dead: str, me: str) -> tuple[list[tuple[str, str]], list[str]]:
        """Take over a dead worker's runs: its pending entries (now this worker's, still pending) and its
        local runs (which the caller puts back on the stream). Two workers claiming at once split them:
        XCLAIM moves an entry once (its idle time restarts), and SPOP hands each local run out once."""
        pending = self.r.xpending_range(self.stream, GROUP, min="-", max="+", count=10_000, consumername=dead)
        ids = [p["message_id"] for p in pending]
        claimed = []
        if ids:
            idle = int(HEARTBEAT_TTL_S * 1000) // 2
            for entry_id, fields in self.r.xclaim(self.stream, GROUP, me, min_idle_time=idle, message_ids=ids):
                if fields:  # an entry trimmed from the stream comes back empty
                    claimed.append((entry_id.decode(), fields[b"job"].decode()))
                else:
                    self.r.xack(self.stream, GROUP, entry_id)
        local = []
        while (job_id := self.r.spop(f"{self.p}:worker:{dead}:local")) is not None:
            local.append(job_id.decode())
        if not self.r.xpending_range(self.stream, GROUP, min="-", max="+", count=1, consumername=dead):
            self.r.xgroup_delconsumer(self.stream, GROUP, dead)
        return claimed, local
