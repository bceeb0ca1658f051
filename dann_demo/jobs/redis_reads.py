"""Jobs read back from Redis: a job's hash, records, snapshots, pictures and result decoded into the Job or
SweepJob that pages read, each blob decoded once per process (decoded.py)."""

from __future__ import annotations

import json

import pandas as pd
import redis

from dann_demo.config import RunConfig
from dann_demo.jobs import codec
from dann_demo.jobs.decoded import DecodedCache
from dann_demo.jobs.job import DONE, AnyJob, Job, Status, SweepJob
from dann_demo.jobs.redis_keys import job_key
from dann_demo.method.results import FeatureSnapshot, Gallery, InputPlane, ProgressRecord, RunResult


class JobReader:
    def __init__(self, client: redis.Redis, prefix: str, decoded: DecodedCache):
        self.r, self.p, self.decoded = client, prefix, decoded

    def _k(self, job_id: str, part: str = "") -> str:
        return job_key(self.p, job_id, part)

    def read(self, ids: list[str]) -> list[AnyJob | None]:
        """The jobs of `ids` (None where unknown), read in one round trip (a Class page's 300 runs)."""
        pipe = self.r.pipeline()
        for job_id in ids:
            pipe.hgetall(self._k(job_id))
            pipe.xrange(self._k(job_id, "records"))
            pipe.hkeys(self._k(job_id, "snaps"))
            pipe.hgetall(self._k(job_id, "watchers"))
        answers = pipe.execute()
        jobs: list[AnyJob | None] = []
        for n, job_id in enumerate(ids):
            h, records, snap_steps, watchers = answers[4 * n : 4 * n + 4]
            h = {k.decode(): v.decode() for k, v in h.items()}
            jobs.append(self._job(job_id, h, records, snap_steps, watchers) if h else None)
        return jobs

    def _job(self, job_id: str, h: dict[str, str], records, snap_steps, watchers) -> AnyJob:
        status = Status(h["status"])
        common = {
            "id": job_id,
            "status": status,
            "error": h.get("error") or None,
            "notice": h.get("notice") or None,
            "from_cache": h.get("from_cache") == "1",
            "submitted_at": float(h["submitted_at"]),
            "watchers": {k.decode(): float(v) for k, v in watchers.items()},
            "stop_requested": h.get("stop_requested") == "1",
        }
        config = RunConfig.from_json(h["config"])
        if h["kind"] == "sweep":
            sweep = json.loads(h["sweep"])
            runs = (
                self.decoded.once((job_id, "runs", h["status"]), lambda: self._runs(job_id)) if status in DONE else None
            )
            return SweepJob(
                config,
                sweep["lambdas"],
                sweep["seeds"],
                sweep["references"],
                fraction=float(h["fraction"]),
                runs=runs,
                **common,
            )
        gen = h.get("gen", "0")
        steps = sorted(int(s) for s in snap_steps)
        snapshots = self._snapshots(job_id, gen, steps)
        plane, gallery = self.decoded.once((job_id, gen, "pics", h.get("pics")), lambda: self._read_pictures(job_id))
        result = None
        if h.get("has_result") == "1":
            result = self.decoded.once((job_id, gen, "result"), lambda: self._read_result(job_id))
            if result is not None:
                plane, gallery = result.input_plane, result.gallery
                snapshots = result.snapshots or snapshots
        value = h.get("lambda_value", "")
        return Job(
            config,
            history=self._history(job_id, gen, records),
            snapshots=snapshots,
            input_plane=plane,
            gallery=gallery,
            lambda_changes=[(int(s), float(v)) for s, v in json.loads(h.get("lambda_changes") or "[]")],
            result=result,
            batch_size=int(h.get("batch_size") or 1),
            lambda_value=float(value) if value != "" else None,
            lambda_pending=h.get("lambda_pending") == "1",
            **common,
        )

    def _history(self, job_id: str, gen: str, records) -> list[ProgressRecord]:
        """The records, each decoded once per process (an entry's id names it: records never change)."""
        if not records:
            return []
        last = records[-1][0]
        return self.decoded.once(
            (job_id, gen, "records", len(records), last),
            lambda: [codec.record_from_json(fields[b"r"]) for _, fields in records],
            size=sum(len(f[b"r"]) for _, f in records),
        )

    def _snapshots(self, job_id: str, gen: str, steps: list[int]) -> dict[int, FeatureSnapshot]:
        """A snapshot never changes once written (a restart starts a new generation): each is read and
        decoded once per process."""
        missing = [s for s in steps if (job_id, gen, "snap", s) not in self.decoded.entries]
        if missing:
            blobs = self.r.hmget(self._k(job_id, "snaps"), [str(s) for s in missing])
            for step, blob in zip(missing, blobs, strict=True):
                if blob is not None:
                    self.decoded.remember((job_id, gen, "snap", step), codec.snapshot_from_bytes(blob), len(blob))
        out = {}
        for step in steps:
            if (snap := self.decoded.recall((job_id, gen, "snap", step))) is not None:
                out[step] = snap
        return out

    def _read_pictures(self, job_id: str) -> tuple[InputPlane | None, Gallery | None]:
        plane, gallery = self.r.hmget(self._k(job_id, "pics"), ["plane", "gallery"])
        return codec.picture_from_bytes(plane), codec.picture_from_bytes(gallery)

    def _read_result(self, job_id: str) -> RunResult | None:
        blob = self.r.get(self._k(job_id, "result"))
        return codec.result_from_bytes(blob) if blob else None

    def _runs(self, job_id: str) -> pd.DataFrame | None:
        blob = self.r.get(self._k(job_id, "result"))
        return codec.frame_from_json(blob) if blob else None

    # --- decoded blobs, once per process ---
