"""Background training jobs: submit, watch, steer lambda, stop; a cap on concurrent runs and a
result cache shared by every session of the process.

The page's script thread never trains: a worker thread runs the Trainer and appends progress to
the Job, and the page reads the Job on each redraw. A rerun (any widget) never touches the job.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import uuid
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import pandas as pd
import torch

from dann_demo.config import RunConfig
from dann_demo.train import (
    FeatureSnapshot,
    Gallery,
    InputPlane,
    ProgressRecord,
    RunResult,
    Trainer,
    TrainingDiverged,
)

log = logging.getLogger(__name__)

QUEUED, RUNNING, FINISHED, STOPPED, FAILED = "queued", "running", "finished", "stopped", "failed"
DONE = (FINISHED, STOPPED, FAILED)
MAX_JOBS = 256  # jobs remembered for the pages; older finished ones are dropped
PICTURE_SECONDS = 0.25  # how often a running job refreshes its input-plane or gallery picture


@dataclass
class Job:
    """One run as the UI sees it. The worker writes; pages only read (and call set_lambda/stop)."""

    config: RunConfig
    id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    status: str = QUEUED
    history: list[ProgressRecord] = field(default_factory=list)
    snapshots: dict[int, FeatureSnapshot] = field(default_factory=dict)
    input_plane: InputPlane | None = None
    gallery: Gallery | None = None
    result: RunResult | None = None
    error: str | None = None
    notice: str | None = None  # something the user should know that is not an error
    from_cache: bool = False
    submitted_at: float = field(default_factory=time.time)
    _stop: threading.Event = field(default_factory=threading.Event, repr=False)
    _trainer: Trainer | None = field(default=None, repr=False)
    _lambda: float | None = field(default=None, repr=False)

    @property
    def done(self) -> bool:
        return self.status in DONE

    @property
    def step(self) -> int:
        return self.history[-1].step if self.history else 0

    @property
    def fraction(self) -> float:
        return self.step / self.config.steps

    @property
    def steps_per_second(self) -> float:
        return self.step / self.history[-1].seconds if self.history and self.history[-1].seconds else 0.0

    @property
    def lambda_changes(self) -> list[tuple[int, float]]:
        """(step, lambda) where the user moved lambda during the run."""
        if self.result is not None:
            return self.result.lambda_changes
        trainer = self._trainer
        return list(trainer.lambda_changes) if trainer is not None else []

    def set_lambda(self, value: float) -> None:
        """Steer a running job: the new lambda applies from its next step on."""
        self._lambda = float(value)
        if self._trainer is not None:
            self._trainer.set_lambda(value)

    def stop(self) -> None:
        self._stop.set()


@dataclass
class SweepJob:
    """A lambda sweep as the Sweep page sees it: progress while it runs, then one row per run."""

    base: RunConfig
    lambdas: list[float | str]
    seeds: list[int]
    references: bool = True  # also source_only and target_oracle on the same seeds
    id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    status: str = QUEUED
    fraction: float = 0.0  # of all the sweep's training steps
    runs: pd.DataFrame | None = None  # sweep.run_sweep's table, when finished
    error: str | None = None
    from_cache: bool = False
    submitted_at: float = field(default_factory=time.time)
    _stop: threading.Event = field(default_factory=threading.Event, repr=False)

    @property
    def done(self) -> bool:
        return self.status in DONE

    @property
    def key(self) -> str:
        """Same settings, same sweep: the cache key."""
        return f"{self.base.stable_hash()}|{self.lambdas}|{self.seeds}|{self.references}"

    def stop(self) -> None:
        self._stop.set()


class ResultCache:
    """Finished runs (or sweep tables) by key, least recently used dropped first."""

    def __init__(self, max_entries: int = 32):
        self.max_entries = max_entries
        self._items: OrderedDict[str, RunResult] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str) -> RunResult | None:
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
            return None

    def put(self, key: str, result: RunResult) -> None:
        with self._lock:
            self._items[key] = result
            self._items.move_to_end(key)
            while len(self._items) > self.max_entries:
                self._items.popitem(last=False)

    def __len__(self) -> int:
        return len(self._items)


def threads_per_job(max_concurrent: int) -> int:
    """Share the CPU cores among the concurrent jobs. On 2 cores, small models run faster on one
    thread each: measured on moons, 2 threads took 6.6 s against 3.4 s for 1 while another
    process was busy (README, "Speed")."""
    return max(1, (os.cpu_count() or 1) // max_concurrent)


class JobManager:
    """Runs jobs on a bounded pool of worker threads; identical configs share one training.

    Sets torch's intra-op thread count for the process (threads_per_job): one manager per process.
    """

    def __init__(self, max_concurrent: int = 2, cache_entries: int = 32):
        torch.set_num_threads(threads_per_job(max_concurrent))
        self.max_concurrent = max_concurrent
        self.cache = ResultCache(cache_entries)
        self.sweep_cache = ResultCache(cache_entries)  # finished sweeps' tables, by SweepJob.key
        self._pool = ThreadPoolExecutor(max_workers=max_concurrent, thread_name_prefix="dann-job")
        self._jobs: dict[str, Job | SweepJob] = {}
        self._lock = threading.Lock()

    def submit(self, config: RunConfig, use_cache: bool = True) -> Job:
        """Start (or reuse) a run of `config`. A cached result comes back as a finished job."""
        key = config.stable_hash()
        if use_cache and (cached := self.cache.get(key)) is not None:
            job = Job(config, status=FINISHED, from_cache=True, result=cached, history=list(cached.history),
                      snapshots=dict(cached.snapshots), input_plane=cached.input_plane,
                      gallery=cached.gallery)  # fmt: skip
            self._register(job)
            return job
        job = Job(config)
        self._register(job)
        self._pool.submit(self._work, job)
        return job

    def submit_sweep(self, base: RunConfig, lambdas: list[float | str], seeds: list[int],
                     references: bool = True, use_cache: bool = True) -> SweepJob:  # fmt: skip
        """Start (or reuse) a lambda sweep; it takes one worker like a run (same concurrency cap)."""
        job = SweepJob(base, list(lambdas), list(seeds), references)
        if use_cache and (cached := self.sweep_cache.get(job.key)) is not None:
            job.status, job.runs, job.fraction, job.from_cache = FINISHED, cached, 1.0, True
            self._register(job)
            return job
        self._register(job)
        self._pool.submit(self._work_sweep, job)
        return job

    def _work_sweep(self, job: SweepJob) -> None:
        from dann_demo.sweep import run_sweep

        if job._stop.is_set():
            job.status = STOPPED
            return
        job.status = RUNNING
        try:
            runs = run_sweep(job.base, job.lambdas, job.seeds, references=job.references,
                             on_progress=lambda f: setattr(job, "fraction", f), should_stop=job._stop.is_set)
        except Exception as e:  # noqa: BLE001 - reported to the user, never a traceback
            log.exception("sweep %s failed", job.id)
            job.error = f"The sweep failed: {type(e).__name__}: {e}"
            job.status = FAILED
            return
        finally:
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
        job.runs = runs
        job.status = STOPPED if job._stop.is_set() else FINISHED
        if job.status == FINISHED:
            self.sweep_cache.put(job.key, runs)

    def _register(self, job: Job | SweepJob) -> None:
        """Remember a job; past MAX_JOBS, the oldest finished ones are forgotten (their results
        stay in the result cache), so a long class does not grow memory without bound."""
        with self._lock:
            self._jobs[job.id] = job
            if len(self._jobs) > MAX_JOBS:
                for old in sorted((j for j in self._jobs.values() if j.done), key=lambda j: j.submitted_at):
                    if len(self._jobs) <= MAX_JOBS:
                        break
                    del self._jobs[old.id]

    def get(self, job_id: str | None) -> Job | SweepJob | None:
        return self._jobs.get(job_id) if job_id else None

    def queue_position(self, job: Job | SweepJob) -> int:
        """How many queued jobs were submitted before this one (0 = next to start)."""
        with self._lock:
            queued = [j for j in self._jobs.values() if j.status == QUEUED]
        return sum(1 for j in queued if j.submitted_at < job.submitted_at)

    def _work(self, job: Job) -> None:
        if job._stop.is_set():
            job.status = STOPPED
            return
        job.status = RUNNING
        try:
            self._train(job, job.config)
        except torch.OutOfMemoryError:
            # A full GPU should not end the lesson: run the same config on the CPU instead.
            job.notice = "The GPU ran out of memory, so this run continued on the CPU."
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
            job.history.clear()
            try:
                self._train(job, job.config.replace(device="cpu"))
            except Exception as e:  # noqa: BLE001 - reported to the user below
                self._fail(job, e)
        except Exception as e:  # noqa: BLE001 - a job that raises is reported, never a traceback
            self._fail(job, e)
        finally:
            job._trainer = None
            if torch.cuda.is_available():
                torch.cuda.empty_cache()

    def _train(self, job: Job, config: RunConfig) -> None:
        trainer = Trainer(config)
        job._trainer = trainer
        if job._lambda is not None:
            trainer.set_lambda(job._lambda)
        last_picture = [0.0]

        def on_progress(record: ProgressRecord) -> None:
            # The page redraws twice a second: refreshing the pictures more often than that only
            # slows training (on moons the input plane costs twice what the record itself does).
            now = time.perf_counter()
            if now - last_picture[0] >= PICTURE_SECONDS or record.step == config.steps:
                last_picture[0] = now
                if trainer.has_input_plane:
                    job.input_plane = trainer.input_plane()
                elif trainer.pair.is_image:
                    job.gallery = trainer.gallery()
            if trainer.notice and not job.notice:  # e.g. a CUDA graph that could not be captured
                job.notice = trainer.notice
            # Pictures first, then the record: a page that sees the record also sees its pictures.
            job.history.append(record)

        result = trainer.run(on_progress=on_progress, on_snapshot=lambda s: job.snapshots.__setitem__(s.step, s),
                             should_stop=job._stop.is_set)  # fmt: skip
        # The job's pictures become the final ones, so pages read the job alone.
        job.input_plane, job.gallery, job.result = result.input_plane, result.gallery, result
        job.status = STOPPED if result.metrics["stopped"] else FINISHED
        # Only an untouched, complete run is the result of its config; a steered one is not.
        if job.status == FINISHED and not result.lambda_changes:
            self.cache.put(job.config.stable_hash(), result)

    @staticmethod
    def _fail(job: Job, error: Exception) -> None:
        # The message first: a page that sees FAILED must also see why.
        if isinstance(error, TrainingDiverged):
            job.error = str(error)
        else:
            log.exception("job %s failed", job.id)
            job.error = f"The run failed: {type(error).__name__}: {error}"
        job.status = FAILED
