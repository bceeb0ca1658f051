"""The one place for what the sessions of a class share: jobs (status, records, snapshots, pictures,
result), what sessions ask of them (lambda, stop, copies to steer), who watches them, and the result
cache. Pages and runners read and write this state only through a `ClassStore`.

`MemoryStore` keeps it in this process, as objects the pages read directly. The interface is written
so that a second implementation can keep it elsewhere (the contract tests in tests/test_store.py run
against every implementation).
"""

from __future__ import annotations

import threading
import time
from typing import Protocol

import pandas as pd

from dann_demo.config import RunConfig
from dann_demo.jobs.job import RUNNING, AnyJob, Job, Status, SweepJob
from dann_demo.lru import LRU
from dann_demo.method.results import FeatureSnapshot, Gallery, InputPlane, ProgressRecord, RunResult

# Jobs remembered for the pages; older ended ones are forgotten (their results stay cached). Two full rooms
# of 300 (rooms.MAX_RUNS_PER_ROOM) and their steered copies: a room's Class page must not lose its own runs.
MAX_JOBS = 720
PROGRESS_FIELDS = frozenset({"batch_size", "lambda_changes", "fraction"})  # what set_progress may set


def check_progress_fields(fields: dict) -> None:
    if not set(fields) <= PROGRESS_FIELDS:
        wrong = ", ".join(sorted(set(fields) - PROGRESS_FIELDS))
        raise ValueError(f"set_progress takes {', '.join(sorted(PROGRESS_FIELDS))}, not {wrong}")


def jobs_to_forget(oldest_first: list[tuple[str, Status | None]], max_jobs: int) -> list[str]:
    """Past max_jobs, the oldest ended jobs (or unknown ones) are forgotten, so a long class does not grow
    memory without bound; their results stay in the cache. A job queued or training is never forgotten."""
    excess = len(oldest_first) - max_jobs
    if excess <= 0:
        return []
    return [job_id for job_id, status in oldest_first if status is None or status.done][:excess]


class ClassStore(Protocol):
    # --- jobs ---
    def add(self, job: AnyJob, watcher: str | None = None) -> None: ...
    def get(self, job_id: str | None) -> AnyJob | None: ...
    def get_many(self, ids: list[str]) -> list[AnyJob | None]: ...  # at once: a Class page's runs
    def wait_done(self, job_id: str, timeout: float) -> bool: ...  # block until it ended; whether it has
    def shared_run(self, config: RunConfig) -> Job | None: ...  # an identical untouched run under way
    def add_shared(self, job: Job, watcher: str | None = None) -> Job: ...  # job, or the run it joins
    def count(self, *statuses: Status) -> int: ...
    def jobs(self, *statuses: Status) -> list[AnyJob]: ...

    # --- what a run's runner reports ---
    def set_status(self, job_id: str, status: Status) -> None: ...
    def add_notice(self, job_id: str, notice: str) -> None: ...  # kept unless the job has one already
    def add_record(
        self, job_id: str, record: ProgressRecord, plane: InputPlane | None = None, gallery: Gallery | None = None
    ) -> None: ...
    def add_snapshot(self, job_id: str, snapshot: FeatureSnapshot) -> None: ...
    def set_progress(self, job_id: str, **fields) -> None: ...  # batch_size, lambda_changes, fraction
    def restart(self, job_id: str, notice: str | None = None) -> None: ...  # its records go; it starts again
    def continue_from(self, job_id: str, history: list, snapshots: dict, lambda_changes: list) -> None: ...
    def finish(self, job_id: str, result: RunResult, status: Status) -> None: ...
    def finish_sweep(self, job_id: str, runs: pd.DataFrame | None, status: Status) -> None: ...
    def fail(self, job_id: str, error: str) -> None: ...

    # --- what sessions ask ---
    def request_lambda(self, job_id: str, value: float) -> None: ...
    def take_lambda(self, job_id: str) -> float | None: ...  # the lambda asked since the last take
    def request_stop(self, job_id: str) -> None: ...
    def stop_requested(self, job_id: str) -> bool: ...
    def request_copy(self, job_id: str, copy_id: str) -> bool: ...  # False: the run is not training
    def take_copies(self, job_id: str) -> list[str]: ...
    def watch(self, job_id: str, session: str, at: float | None = None) -> None: ...
    def watchers(self, job_id: str) -> dict[str, float]: ...  # session -> when it last looked
    def unwatch(self, job_id: str, session: str) -> int: ...  # watchers left

    # --- the result cache ---
    def cached_result(self, key: str) -> RunResult | None: ...
    def cache_result(self, key: str, result: RunResult) -> None: ...
    def cached_sweep(self, key: str) -> pd.DataFrame | None: ...
    def cache_sweep(self, key: str, runs: pd.DataFrame) -> None: ...


class MemoryStore:
    """A ClassStore in this process's memory: the jobs are the objects pages read; thread-safe."""

    def __init__(self, cache_entries: int = 32, max_jobs: int = MAX_JOBS):
        self.max_jobs = max_jobs
        self._jobs: dict[str, AnyJob] = {}
        self._copies: dict[str, list[str]] = {}
        self._results: LRU[str, RunResult] = LRU(cache_entries)
        self._sweeps: LRU[str, pd.DataFrame] = LRU(cache_entries)
        self._lock = threading.RLock()

    # --- jobs ---
    def add(self, job: AnyJob, watcher: str | None = None) -> None:
        """Remember a job (jobs_to_forget says which old ones go)."""
        with self._lock:
            if watcher is not None:
                job.watchers[watcher] = time.time()
            self._jobs[job.id] = job
            by_age = sorted(self._jobs.values(), key=lambda j: j.submitted_at)
            for old in jobs_to_forget([(j.id, j.status) for j in by_age], self.max_jobs):
                del self._jobs[old]

    def get(self, job_id: str | None) -> AnyJob | None:
        return self._jobs.get(job_id) if job_id else None

    def get_many(self, ids: list[str]) -> list[AnyJob | None]:
        return [self._jobs.get(i) for i in ids]

    def wait_done(self, job_id: str, timeout: float) -> bool:
        job = self.get(job_id)
        return job is None or job.wait_end(timeout)  # the live object: its status changes under it

    def add_shared(self, job: Job, watcher: str | None = None) -> Job:
        """Add `job`, unless an identical untouched run is under way: then that run, with `watcher`
        watching it. One step, so two sessions pressing Train at once get one run."""
        with self._lock:
            if (shared := self.shared_run(job.config)) is not None:
                if watcher is not None:
                    self.watch(shared.id, watcher)
                return shared
            self.add(job, watcher)
            return job

    def shared_run(self, config: RunConfig) -> Job | None:
        with self._lock:
            return next(
                (j for j in self._jobs.values() if isinstance(j, Job) and j.config == config and j.shareable), None
            )

    def count(self, *statuses: Status) -> int:
        with self._lock:
            return sum(1 for j in self._jobs.values() if j.status in statuses)

    def jobs(self, *statuses: Status) -> list[AnyJob]:
        with self._lock:
            return [j for j in self._jobs.values() if j.status in statuses]

    def _job(self, job_id: str) -> AnyJob | None:
        return self._jobs.get(job_id)

    # --- what a run's runner reports ---
    def set_status(self, job_id: str, status: Status) -> None:
        with self._lock:
            if (job := self._job(job_id)) is not None:
                job.status = status

    def add_notice(self, job_id: str, notice: str) -> None:
        with self._lock:
            if (job := self._job(job_id)) is not None and not job.notice:
                job.notice = notice

    def add_record(
        self, job_id: str, record: ProgressRecord, plane: InputPlane | None = None, gallery: Gallery | None = None
    ) -> None:
        with self._lock:
            job = self._job(job_id)
            if job is None:
                return
            # Pictures first, then the record: a page that sees the record also sees its pictures.
            if plane is not None:
                job.input_plane = plane
            if gallery is not None:
                job.gallery = gallery
            job.history.append(record)

    def add_snapshot(self, job_id: str, snapshot: FeatureSnapshot) -> None:
        with self._lock:
            if (job := self._job(job_id)) is not None:
                job.snapshots[snapshot.step] = snapshot

    def set_progress(self, job_id: str, **fields) -> None:
        check_progress_fields(fields)
        with self._lock:
            if (job := self._job(job_id)) is not None:
                for name, value in fields.items():
                    setattr(job, name, value)

    def restart(self, job_id: str, notice: str | None = None) -> None:
        """The job trains again from step 0: its records and pictures go, and the lambda a session set is
        asked for again (the new trainer has not applied it)."""
        with self._lock:
            if (job := self._job(job_id)) is not None:
                job.history, job.snapshots, job.batch_size, job.lambda_changes = [], {}, 1, []
                job.input_plane = job.gallery = None
                job.lambda_pending = job.lambda_value is not None
                if notice:
                    job.notice = notice

    def continue_from(self, job_id: str, history: list, snapshots: dict, lambda_changes: list) -> None:
        """The job goes on from another run's records (a copy of it); its pictures stay until the next ones."""
        with self._lock:
            if (job := self._job(job_id)) is not None:
                job.history, job.snapshots, job.lambda_changes = list(history), dict(snapshots), list(lambda_changes)

    def finish(self, job_id: str, result: RunResult, status: Status) -> None:
        with self._lock:
            if (job := self._job(job_id)) is None:
                return
            # The job's pictures become the final ones, so pages read the job alone.
            job.input_plane, job.gallery, job.result = result.input_plane, result.gallery, result
            job.lambda_changes = list(result.lambda_changes)
            job.status = status

    def finish_sweep(self, job_id: str, runs: pd.DataFrame | None, status: Status) -> None:
        with self._lock:
            if isinstance(job := self._job(job_id), SweepJob):
                job.runs, job.status = runs, status
                if status == Status.FINISHED:
                    job.fraction = 1.0

    def fail(self, job_id: str, error: str) -> None:
        with self._lock:
            if (job := self._job(job_id)) is not None:
                job.error = error  # the message first: a page that sees FAILED must also see why
                job.status = Status.FAILED

    # --- what sessions ask ---
    def request_lambda(self, job_id: str, value: float) -> None:
        with self._lock:
            if isinstance(job := self._job(job_id), Job):
                job.lambda_value, job.lambda_pending = float(value), True

    def take_lambda(self, job_id: str) -> float | None:
        job = self._job(job_id)
        if not isinstance(job, Job) or not job.lambda_pending:  # asked between every two steps: no lock then
            return None
        with self._lock:
            job = self._job(job_id)
            if not isinstance(job, Job) or not job.lambda_pending:
                return None
            job.lambda_pending = False
            return job.lambda_value

    def request_stop(self, job_id: str) -> None:
        with self._lock:
            if (job := self._job(job_id)) is not None:
                job.stop_requested = True

    def stop_requested(self, job_id: str) -> bool:
        job = self._job(job_id)
        return job is not None and job.stop_requested

    def request_copy(self, job_id: str, copy_id: str) -> bool:
        """Ask the runner of `job_id` for a copy of the run at its current step, for job `copy_id`.
        False where the run is not training (queued, or ended): nothing to copy."""
        with self._lock:
            job = self._job(job_id)
            if job is None or job.status != RUNNING:
                return False
            self._copies.setdefault(job_id, []).append(copy_id)
            return True

    def take_copies(self, job_id: str) -> list[str]:
        if job_id not in self._copies:  # asked between every two steps: no lock when none was asked for
            return []
        with self._lock:
            return self._copies.pop(job_id, [])

    def watch(self, job_id: str, session: str, at: float | None = None) -> None:
        with self._lock:
            if (job := self._job(job_id)) is not None:
                job.watchers[session] = time.time() if at is None else at

    def watchers(self, job_id: str) -> dict[str, float]:
        job = self._job(job_id)
        return dict(job.watchers) if job is not None else {}

    def unwatch(self, job_id: str, session: str) -> int:
        with self._lock:
            job = self._job(job_id)
            if job is None:
                return 0
            job.watchers.pop(session, None)
            return len(job.watchers)

    # --- the result cache ---
    def cached_result(self, key: str) -> RunResult | None:
        return self._results.get(key)

    def cache_result(self, key: str, result: RunResult) -> None:
        self._results.put(key, result)

    def cached_sweep(self, key: str) -> pd.DataFrame | None:
        return self._sweeps.get(key)

    def cache_sweep(self, key: str, runs: pd.DataFrame) -> None:
        self._sweeps.put(key, runs)
