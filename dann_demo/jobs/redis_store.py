"""A ClassStore in Redis (chosen by DANN_REDIS_URL): the same contract as MemoryStore (tests/test_store.py
runs against both), shared by every app process and training worker of a class, and kept across a
restart of any of them.

No pickle: arrays travel as .npz read with allow_pickle=False, the rest as JSON (codec.py). Every key of
a job expires JOB_TTL_S after its last write, the cache and the job list are bounded, so a class that
is left alone does not keep memory for ever.

Runners ask "anything asked of this job?" between every two steps. A round trip per question would cost
more than a moons step, so the store reads which jobs have something asked (one command) at most every
ASK_POLL_S and answers the rest from that; a lambda or Stop takes effect within ASK_POLL_S.
"""

from __future__ import annotations

import json
import time

import pandas as pd
import redis

from dann_demo.config import RunConfig
from dann_demo.jobs import codec
from dann_demo.jobs import redis_keys as keys
from dann_demo.jobs.decoded import DecodedCache
from dann_demo.jobs.job import DONE, AnyJob, Job, Status
from dann_demo.jobs.redis_cache import ResultCache
from dann_demo.jobs.redis_keys import JOB_TTL_S, MAX_RECORDS
from dann_demo.jobs.redis_reads import JobReader
from dann_demo.jobs.store import MAX_JOBS, check_progress_fields, jobs_to_forget
from dann_demo.method.results import FeatureSnapshot, Gallery, InputPlane, ProgressRecord, RunResult

ASK_POLL_S = 0.1  # how stale a runner's view of "asked" may be


class RedisStore:
    """A ClassStore in Redis; thread-safe (redis-py's client is), one per process."""

    def __init__(
        self,
        client: redis.Redis | str,
        prefix: str = "dann",
        cache_entries: int = 32,
        max_jobs: int = MAX_JOBS,
        wait: bool = False,
    ):
        self.r = keys.connect(client, wait) if isinstance(client, str) else client
        self.p = prefix
        self.cache_entries, self.max_jobs = cache_entries, max_jobs
        self._move = self.r.register_script(keys.MOVE)
        self._take_lambda = self.r.register_script(keys.TAKE_LAMBDA)
        self._request_copy = self.r.register_script(keys.REQUEST_COPY)
        self._take_copies = self.r.register_script(keys.TAKE_COPIES)
        self._notice = self.r.register_script(keys.NOTICE)
        self._release_shared = self.r.register_script(keys.RELEASE_SHARED)
        self.decoded = DecodedCache()
        self.reader = JobReader(self.r, prefix, self.decoded)
        self.cache = ResultCache(self.r, prefix, cache_entries, self.decoded)
        # This process's view of what was asked (ASK_POLL_S old at most): jobs with a lambda or copies
        # asked for, and jobs asked to stop.
        self._asked_at = -1.0
        self._asked_lambda: set[str] = set()
        self._asked_copies: set[str] = set()
        self._stopped: set[str] = set()

    # --- keys ---
    def _k(self, job_id: str, part: str = "") -> str:
        return keys.job_key(self.p, job_id, part)

    def _parts(self, job_id: str) -> list[str]:
        return [self._k(job_id, part) for part in keys.JOB_PARTS]

    def _touch(self, pipe, job_id: str) -> None:
        for key in self._parts(job_id):
            pipe.expire(key, JOB_TTL_S)

    def ping(self) -> None:
        self.r.ping()

    # --- jobs ---
    def add(self, job: AnyJob, watcher: str | None = None) -> None:
        fields = keys.job_fields(job)
        pipe = self.r.pipeline()
        pipe.hset(self._k(job.id), mapping=fields)
        pipe.zadd(f"{self.p}:jobs", {job.id: job.submitted_at})
        pipe.sadd(f"{self.p}:status:{job.status}", job.id)
        watchers = dict(job.watchers)
        if watcher is not None:
            watchers[watcher] = job.watchers[watcher] = time.time()
        if watchers:
            pipe.hset(self._k(job.id, "watchers"), mapping=watchers)
        if isinstance(job, Job):
            if job.history:
                for record in job.history:
                    pipe.xadd(self._k(job.id, "records"), {"r": codec.record_json(record)}, maxlen=MAX_RECORDS)
            if job.snapshots:
                pipe.hset(
                    self._k(job.id, "snaps"), mapping={s: codec.snapshot_bytes(v) for s, v in job.snapshots.items()}
                )
            self._pictures(pipe, job.id, job.input_plane, job.gallery)
            if job.result is not None:
                pipe.set(self._k(job.id, "result"), codec.result_bytes(job.result))
            if job.lambda_pending:
                pipe.sadd(f"{self.p}:asked:lambda", job.id)
            if job.shareable:
                pipe.set(f"{self.p}:shared:{job.config.stable_hash()}", job.id, ex=JOB_TTL_S)
        elif job.runs is not None:
            pipe.set(self._k(job.id, "result"), codec.frame_json(job.runs))
        if job.stop_requested:
            pipe.sadd(f"{self.p}:stopped", job.id)
        self._touch(pipe, job.id)
        pipe.execute()
        self._forget_old()

    def _forget_old(self) -> None:
        """Past max_jobs, old ended jobs are forgotten (jobs_to_forget: the rule of every store)."""
        if self.r.zcard(f"{self.p}:jobs") <= self.max_jobs:
            return
        oldest = [i.decode() for i in self.r.zrange(f"{self.p}:jobs", 0, -1)]
        statuses = self.statuses(oldest)
        by_age = [(i, Status(statuses[i]) if statuses[i] else None) for i in oldest]
        for job_id in jobs_to_forget(by_age, self.max_jobs):
            self._delete(job_id)

    def statuses(self, ids: list[str]) -> dict[str, str | None]:
        """Each job's status word (None: not known), in one round trip."""
        pipe = self.r.pipeline()
        for job_id in ids:
            pipe.hget(self._k(job_id), "status")
        return {i: (s.decode() if s else None) for i, s in zip(ids, pipe.execute(), strict=True)}

    def wait_done(self, job_id: str, timeout: float, poll: float = 0.1) -> bool:
        """Polls the status word alone (one HGET): a job read from Redis is a copy whose status never
        changes, so waiting on the copy would wait out the whole timeout."""
        deadline = time.monotonic() + timeout
        while True:
            status = self.r.hget(self._k(job_id), "status")  # one command, no pipeline, each poll
            if status is None or Status(status.decode()) in DONE:
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(min(poll, max(0.0, deadline - time.monotonic())))

    def _delete(self, job_id: str) -> None:
        pipe = self.r.pipeline()
        pipe.delete(*self._parts(job_id))
        pipe.zrem(f"{self.p}:jobs", job_id)
        for s in Status:
            pipe.srem(f"{self.p}:status:{s}", job_id)
        for name in keys.ASKED_SETS:
            pipe.srem(f"{self.p}:{name}", job_id)
        pipe.execute()

    def get(self, job_id: str | None) -> AnyJob | None:
        return self.get_many([job_id])[0] if job_id else None

    def get_many(self, ids: list[str]) -> list[AnyJob | None]:
        """The jobs of `ids` (None where unknown), read in one round trip (a Class page's 300 runs)."""
        return self.reader.read(ids)

    def shared_run(self, config: RunConfig) -> Job | None:
        job_id = self.r.get(f"{self.p}:shared:{config.stable_hash()}")
        job = self.get(job_id.decode()) if job_id else None
        return job if isinstance(job, Job) and job.config == config and job.shareable else None

    def add_shared(self, job: Job, watcher: str | None = None) -> Job:
        """Add `job`, unless an identical untouched run is under way: then that run, with `watcher`
        watching it. The config's shared key is taken with SET NX, so two app processes whose students
        press Train at once on the same settings get one run."""
        key = f"{self.p}:shared:{job.config.stable_hash()}"
        while not self.r.set(key, job.id, nx=True, ex=JOB_TTL_S):
            holder = self.r.get(key)
            other = None
            for _ in range(20):  # the holder may be between taking the key and writing its job
                if holder is None or (other := self.get(holder.decode())) is not None:
                    break
                time.sleep(0.025)
            if isinstance(other, Job) and other.config == job.config and other.shareable:
                if watcher is not None:
                    self.watch(other.id, watcher)
                    other.watchers[watcher] = time.time()
                return other
            # Ended, steered or stopped: no longer the run of its config. Free the key, unless another
            # session took it meanwhile (then the loop looks at its run).
            self._release_shared(keys=[key], args=[holder or b""])
        self.add(job, watcher)
        return job

    def count(self, *statuses: Status) -> int:
        pipe = self.r.pipeline()
        for s in statuses:
            pipe.scard(f"{self.p}:status:{s}")
        return sum(pipe.execute())

    def jobs(self, *statuses: Status) -> list[AnyJob]:
        ids = set()
        for s in statuses:
            ids |= {i.decode() for i in self.r.smembers(f"{self.p}:status:{s}")}
        found = [self.get(i) for i in sorted(ids)]
        return sorted((j for j in found if j is not None and j.status in statuses), key=lambda j: j.submitted_at)

    def watchers(self, job_id: str) -> dict[str, float]:
        return {k.decode(): float(v) for k, v in self.r.hgetall(self._k(job_id, "watchers")).items()}

    # --- what a run's runner reports ---
    def _move_to(self, job_id: str, status: Status | str, *fields) -> None:
        """The job's status (and `fields`, name-value pairs) in one step; an ended job leaves the asked sets."""
        asked = [f"{self.p}:{name}" for name in keys.ASKED_SETS]
        self._move(keys=[self._k(job_id), f"{self.p}:status:", *asked], args=[job_id, str(status), *fields])

    def set_status(self, job_id: str, status: Status) -> None:
        self._move_to(job_id, status)

    def add_notice(self, job_id: str, notice: str) -> None:
        self._notice(keys=[self._k(job_id)], args=[notice])

    def add_record(
        self, job_id: str, record: ProgressRecord, plane: InputPlane | None = None, gallery: Gallery | None = None
    ) -> None:
        if not self.r.exists(self._k(job_id)):
            return
        pipe = self.r.pipeline(transaction=True)
        # Pictures first, then the record: a page that sees the record also sees its pictures.
        self._pictures(pipe, job_id, plane, gallery)
        pipe.xadd(self._k(job_id, "records"), {"r": codec.record_json(record)}, maxlen=MAX_RECORDS)
        for part in ("", "records", "pics"):  # what a record writes (add() set the others' expiry)
            pipe.expire(self._k(job_id, part), JOB_TTL_S)
        pipe.execute()

    def _pictures(self, pipe, job_id: str, plane: InputPlane | None, gallery: Gallery | None) -> None:
        pictures = {}
        if plane is not None:
            pictures["plane"] = codec.picture_bytes(plane)
        if gallery is not None:
            pictures["gallery"] = codec.picture_bytes(gallery)
        if pictures:
            pipe.hset(self._k(job_id, "pics"), mapping=pictures)
            pipe.hincrby(self._k(job_id), "pics", 1)

    def add_snapshot(self, job_id: str, snapshot: FeatureSnapshot) -> None:
        if self.r.exists(self._k(job_id)):
            self.r.hset(self._k(job_id, "snaps"), str(snapshot.step), codec.snapshot_bytes(snapshot))

    def set_progress(self, job_id: str, **fields) -> None:
        check_progress_fields(fields)
        if "lambda_changes" in fields:
            fields["lambda_changes"] = json.dumps([list(c) for c in fields["lambda_changes"]])
        if self.r.exists(self._k(job_id)):
            self.r.hset(self._k(job_id), mapping=fields)

    def restart(self, job_id: str, notice: str | None = None) -> None:
        """The job trains again from step 0: its records and pictures go (a new generation), and the
        lambda a session set is asked for again (the new trainer has not applied it)."""
        h = self.r.hmget(self._k(job_id), ["status", "lambda_value"])
        if h[0] is None:
            return
        pipe = self.r.pipeline(transaction=True)
        pipe.delete(self._k(job_id, "records"), self._k(job_id, "snaps"), self._k(job_id, "pics"))
        pipe.hset(self._k(job_id), mapping={"batch_size": 1, "lambda_changes": "[]", "has_result": 0})
        pipe.hincrby(self._k(job_id), "gen", 1)
        if h[1]:
            pipe.hset(self._k(job_id), "lambda_pending", 1)
            pipe.sadd(f"{self.p}:asked:lambda", job_id)
        if notice:
            pipe.hset(self._k(job_id), "notice", notice)
        pipe.execute()
        self._asks_changed()

    def continue_from(self, job_id: str, history: list, snapshots: dict, lambda_changes: list) -> None:
        """The job goes on from another run's records (a copy of it); its pictures stay until the next ones."""
        if not self.r.exists(self._k(job_id)):
            return
        pipe = self.r.pipeline(transaction=True)
        pipe.delete(self._k(job_id, "records"), self._k(job_id, "snaps"))
        for record in history:
            pipe.xadd(self._k(job_id, "records"), {"r": codec.record_json(record)}, maxlen=MAX_RECORDS)
        if snapshots:
            pipe.hset(self._k(job_id, "snaps"), mapping={s: codec.snapshot_bytes(v) for s, v in snapshots.items()})
        pipe.hset(self._k(job_id), "lambda_changes", json.dumps([list(c) for c in lambda_changes]))
        pipe.hincrby(self._k(job_id), "gen", 1)
        pipe.execute()

    def finish(self, job_id: str, result: RunResult, status: Status) -> None:
        if not self.r.exists(self._k(job_id)):
            return
        self.r.set(self._k(job_id, "result"), codec.result_bytes(result), ex=JOB_TTL_S)
        # The result first, then the status: a page that sees the run ended also sees its result.
        changes = json.dumps([list(c) for c in result.lambda_changes])
        self._move_to(job_id, status, "has_result", 1, "lambda_changes", changes)
        if result.snapshots:  # the result holds them, and the final pictures: no second copy
            self.r.delete(self._k(job_id, "snaps"), self._k(job_id, "pics"))

    def finish_sweep(self, job_id: str, runs: pd.DataFrame | None, status: Status) -> None:
        if self.r.hget(self._k(job_id), "kind") != b"sweep":
            return
        if runs is not None:
            self.r.set(self._k(job_id, "result"), codec.frame_json(runs), ex=JOB_TTL_S)
        extra = ["fraction", 1.0] if status == Status.FINISHED else []
        self._move_to(job_id, status, *extra)

    def fail(self, job_id: str, error: str) -> None:
        # The message with the status, in one step: a page that sees FAILED also sees why.
        self._move_to(job_id, Status.FAILED, "error", error)

    # --- what sessions ask ---
    def request_lambda(self, job_id: str, value: float) -> None:
        kind, status = self.r.hmget(self._k(job_id), ["kind", "status"])
        if kind != b"run":
            return
        pipe = self.r.pipeline(transaction=True)
        pipe.hset(self._k(job_id), mapping={"lambda_value": float(value), "lambda_pending": 1})
        if Status(status.decode()) not in DONE:  # an ended run applies nothing: nobody would take it
            pipe.sadd(f"{self.p}:asked:lambda", job_id)
        pipe.execute()
        self._asks_changed()

    def _asks_changed(self) -> None:
        """This process asked something: its own runners see it at once."""
        self._asked_at = -1.0

    def _refresh_asked(self) -> None:
        if time.monotonic() - self._asked_at <= ASK_POLL_S:
            return
        pipe = self.r.pipeline()
        for name in ("asked:lambda", "asked:copies", "stopped"):
            pipe.smembers(f"{self.p}:{name}")
        lambdas, copies, stopped = ({i.decode() for i in ids} for ids in pipe.execute())
        self._asked_lambda, self._asked_copies, self._stopped = lambdas, copies, stopped
        self._asked_at = time.monotonic()

    def take_lambda(self, job_id: str) -> float | None:
        self._refresh_asked()
        if job_id not in self._asked_lambda:
            return None
        value = self._take_lambda(keys=[self._k(job_id), f"{self.p}:asked:lambda"], args=[job_id])
        self._asked_lambda.discard(job_id)
        return float(value) if value not in (None, b"") else None

    def request_stop(self, job_id: str) -> None:
        status = self.r.hget(self._k(job_id), "status")
        if status is None:
            return
        pipe = self.r.pipeline(transaction=True)
        pipe.hset(self._k(job_id), "stop_requested", 1)
        if Status(status.decode()) not in DONE:  # the runners' set: an ended run has no runner to ask
            pipe.sadd(f"{self.p}:stopped", job_id)
        pipe.execute()
        self._asks_changed()

    def stop_requested(self, job_id: str) -> bool:
        self._refresh_asked()
        return job_id in self._stopped

    def request_copy(self, job_id: str, copy_id: str) -> bool:
        """Ask the runner of `job_id` for a copy of the run at its current step, for job `copy_id`.
        False where the run is not training (queued, or ended): nothing to copy."""
        done = self._request_copy(
            keys=[self._k(job_id), self._k(job_id, "copies"), f"{self.p}:asked:copies"], args=[job_id, copy_id]
        )
        self._asks_changed()
        return bool(done)

    def take_copies(self, job_id: str) -> list[str]:
        self._refresh_asked()
        if job_id not in self._asked_copies:
            return []
        copies = self._take_copies(keys=[self._k(job_id, "copies"), f"{self.p}:asked:copies"], args=[job_id])
        self._asked_copies.discard(job_id)
        return [c.decode() for c in copies]

    def watch(self, job_id: str, session: str, at: float | None = None) -> None:
        if self.r.exists(self._k(job_id)):
            self.r.hset(self._k(job_id, "watchers"), session, time.time() if at is None else at)

    def unwatch(self, job_id: str, session: str) -> int:
        pipe = self.r.pipeline(transaction=True)
        pipe.hdel(self._k(job_id, "watchers"), session)
        pipe.hlen(self._k(job_id, "watchers"))
        return int(pipe.execute()[1])

    # --- the result cache (redis_cache.py) ---
    def cached_result(self, key: str) -> RunResult | None:
        return self.cache.result(key)

    def cache_result(self, key: str, result: RunResult) -> None:
        self.cache.put_result(key, result)

    def cached_sweep(self, key: str) -> pd.DataFrame | None:
        return self.cache.sweep(key)

    def cache_sweep(self, key: str, runs: pd.DataFrame) -> None:
        self.cache.put_sweep(key, runs)
