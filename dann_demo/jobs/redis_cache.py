"""The class's result cache in Redis: finished runs and sweeps by their config's key, bounded (the least
recently used entries go), shared by every app process and worker."""

from __future__ import annotations

import contextlib
import time

import pandas as pd
import redis

from dann_demo.jobs import codec
from dann_demo.jobs.decoded import DecodedCache
from dann_demo.jobs.redis_keys import JOB_TTL_S
from dann_demo.method.results import RunResult


class ResultCache:
    def __init__(self, client: redis.Redis, prefix: str, entries: int, decoded: DecodedCache):
        self.r, self.p, self.entries, self.decoded = client, prefix, entries, decoded

    def _cached(self, kind: str, key: str) -> bytes | None:
        blob = self.r.get(f"{self.p}:cache:{kind}:{key}")
        if blob is not None:
            self.r.zadd(f"{self.p}:cache:{kind}s", {key: time.time()})
        return blob

    def _cache(self, kind: str, key: str, blob: bytes | str) -> None:
        pipe = self.r.pipeline(transaction=True)
        pipe.set(f"{self.p}:cache:{kind}:{key}", blob, ex=JOB_TTL_S)
        pipe.zadd(f"{self.p}:cache:{kind}s", {key: time.time()})
        pipe.execute()
        excess = self.r.zcard(f"{self.p}:cache:{kind}s") - self.entries
        if excess > 0:
            for old in self.r.zpopmin(f"{self.p}:cache:{kind}s", excess):
                self.r.delete(f"{self.p}:cache:{kind}:{old[0].decode()}")

    def result(self, key: str) -> RunResult | None:
        blob = self._cached("run", key)
        return self.decoded.once(("cache", key, len(blob)), lambda: codec.result_from_bytes(blob)) if blob else None

    def put_result(self, key: str, result: RunResult) -> None:
        with contextlib.suppress(codec.BlobTooLarge):  # too large to share: trained again next time
            self._cache("run", key, codec.result_bytes(result))

    def sweep(self, key: str) -> pd.DataFrame | None:
        blob = self._cached("sweep", key)
        return codec.frame_from_json(blob) if blob else None

    def put_sweep(self, key: str, runs: pd.DataFrame) -> None:
        self._cache("sweep", key, codec.frame_json(runs))
