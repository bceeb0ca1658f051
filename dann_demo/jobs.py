"""Background training jobs: submit, watch, steer lambda, stop; a cap on concurrent runs and a
result cache shared by every session of the process.

The page's script thread never trains: a worker thread runs the Trainer and appends progress to
the Job, and the page reads the Job on each redraw. A rerun (any widget) never touches the job.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import pandas as pd
import torch

from dann_demo.config import ConfigError, RunConfig
from dann_demo.datasets import DataFileError
from dann_demo.results import FeatureSnapshot, Gallery, InputPlane, ProgressRecord, RunResult
from dann_demo.train import Trainer, TrainingDiverged, exploding_loss_note

log = logging.getLogger(__name__)

QUEUED, RUNNING, FINISHED, STOPPED, FAILED = "queued", "running", "finished", "stopped", "failed"
DONE = (FINISHED, STOPPED, FAILED)
MAX_JOBS = 64  # jobs remembered for the pages; older finished ones are dropped (results stay cached)
LEAVE_GRACE_SECONDS = 10.0  # a watcher disconnected this long has left (a page reload reconnects sooner)
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
    watchers: dict[str, float] = field(default_factory=dict)  # session id -> when it last looked
    _stop: threading.Event = field(default_factory=threading.Event, repr=False)
    _trainer: Trainer | None = field(default=None, repr=False)
    _lambda: float | None = field(default=None, repr=False)
    _forks: list[Job] = field(default_factory=list, repr=False)  # copies asked for, made between steps

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

    def watch(self, session: str) -> None:
        """`session` is looking at this job (called on every redraw)."""
        self.watchers[session] = time.time()

    @property
    def steered(self) -> bool:
        return self._lambda is not None

    @property
    def shareable(self) -> bool:
        """An identical, untouched run still under way: a new request for its config can join it."""
        return self.status in (QUEUED, RUNNING) and not self.steered and not self._stop.is_set()


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

    def __init__(
        self, max_concurrent: int = 2, cache_entries: int = 32, session_alive: Callable[[str], bool] | None = None
    ):
        """`session_alive(id)` tells whether a watching session is still connected; with it, a run
        whose watchers have all left is stopped (cancel on leaving). Without it, runs always finish."""
        torch.set_num_threads(threads_per_job(max_concurrent))
        self.max_concurrent = max_concurrent
        self.session_alive = session_alive
        self.cache = ResultCache(cache_entries)
        self.sweep_cache = ResultCache(cache_entries)  # finished sweeps' tables, by SweepJob.key
        self._pool = ThreadPoolExecutor(max_workers=max_concurrent, thread_name_prefix="dann-job")
        self._jobs: dict[str, Job | SweepJob] = {}
        self._lock = threading.Lock()
        # At interpreter exit the pool's threads are joined: stop the runs first, or a long run
        # would keep a finished test session or a stopped server alive until it ends. (The hook
        # runs before that join; plain atexit would run after it.)
        getattr(threading, "_register_atexit", atexit.register)(self.stop_all)

    def stop_all(self) -> None:
        with self._lock:
            jobs = list(self._jobs.values())
        for job in jobs:
            job.stop()

    def submit(self, config: RunConfig, use_cache: bool = True, watcher: str | None = None) -> Job:
        """Start (or reuse) a run of `config` for session `watcher`. A cached result comes back as a
        finished job; an identical untouched run under way is shared (30 students pressing Train on
        the same settings get one training)."""
        key = config.stable_hash()
        if use_cache and (cached := self.cache.get(key)) is not None:
            job = Job(
                config,
                status=FINISHED,
                from_cache=True,
                result=cached,
                history=list(cached.history),
                snapshots=dict(cached.snapshots),
                input_plane=cached.input_plane,
                gallery=cached.gallery,
            )
            self._register(job, watcher)
            return job
        if use_cache:
            with self._lock:
                runs = (j for j in self._jobs.values() if isinstance(j, Job))
                shared = next((j for j in runs if j.config == config and j.shareable), None)
            if shared is not None:
                if watcher is not None:
                    shared.watch(watcher)
                return shared
        job = Job(config)
        self._register(job, watcher)
        self._pool.submit(self._work, job)
        return job

    def set_lambda(self, job: Job, value: float, watcher: str | None = None) -> Job:
        """Steer `job` for `watcher`; returns the job that now carries the watcher's run.

        A run shared with other sessions is not steered under their feet: the watcher gets its own
        copy of the run from the current step (made between two steps), and steers that."""
        others = [w for w in job.watchers if w != watcher]
        if watcher is None or not others or job.done:
            job.set_lambda(value)
            return job
        fork = Job(
            job.config,
            history=list(job.history),
            snapshots=dict(job.snapshots),
            input_plane=job.input_plane,
            gallery=job.gallery,
        )
        fork._lambda = float(value)
        job.watchers.pop(watcher, None)
        self._register(fork, watcher)
        with self._lock:
            started = job._trainer is not None
            if started:
                job._forks.append(fork)  # the worker copies its trainer at the next step
        if not started:  # still queued: nothing to copy
            self._start_from_step_zero(fork)
        return fork

    def _start_from_step_zero(self, fork: Job) -> None:
        """A copy that found no trainer to copy (the run was queued, or had just ended) trains from
        step 0 with its own lambda."""
        fork.history.clear()
        fork.snapshots.clear()
        self._pool.submit(self._work, fork)

    def stop(self, job: Job, watcher: str | None = None) -> None:
        """Stop `job` for `watcher`: a run other sessions still watch goes on for them."""
        job.watchers.pop(watcher, None)
        if watcher is None or not job.watchers:
            job.stop()

    def _make_forks(self, job: Job, trainer: Trainer) -> None:
        """Called by the worker between steps: hand each requested copy its own trainer."""
        with self._lock:
            forks, job._forks = job._forks, []
        for fork in forks:
            clone = trainer.clone()
            clone.set_lambda(fork._lambda)
            fork.history, fork.snapshots = list(clone.history), dict(clone.snapshots)
            self._pool.submit(self._work, fork, clone)

    def abandoned(self, job: Job) -> bool:
        """Every session that watched `job` has disconnected (for LEAVE_GRACE_SECONDS)."""
        if self.session_alive is None or not job.watchers:
            return False
        now = time.time()
        for session in list(job.watchers):
            if self.session_alive(session):
                job.watchers[session] = now
        return all(now - seen > LEAVE_GRACE_SECONDS for seen in job.watchers.values())

    def submit_sweep(
        self,
        base: RunConfig,
        lambdas: list[float | str],
        seeds: list[int],
        references: bool = True,
        use_cache: bool = True,
    ) -> SweepJob:
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
            runs = run_sweep(
                job.base,
                job.lambdas,
                job.seeds,
                references=job.references,
                on_progress=lambda f: setattr(job, "fraction", f),
                should_stop=job._stop.is_set,
            )
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

    def _register(self, job: Job | SweepJob, watcher: str | None = None) -> None:
        """Remember a job; past MAX_JOBS, the oldest finished ones are forgotten (their results
        stay in the result cache), so a long class does not grow memory without bound."""
        if watcher is not None:
            job.watch(watcher)
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

    def idle_cores(self) -> int:
        """CPU cores no running job is using (at least 1): what a projection may take."""
        with self._lock:
            running = sum(1 for j in self._jobs.values() if j.status == RUNNING)
        return max(1, (os.cpu_count() or 1) - running * threads_per_job(self.max_concurrent))

    def _work(self, job: Job, trainer: Trainer | None = None) -> None:
        if job._stop.is_set() or self.abandoned(job):
            job.status = STOPPED
            job.notice = "Not started: nobody is watching this run any more."
            return
        job.status = RUNNING
        try:
            self._train(job, job.config, trainer)
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
            with self._lock:
                job._trainer = None
                orphans, job._forks = job._forks, []
            for fork in orphans:  # asked for as the run ended
                self._start_from_step_zero(fork)
            if torch.cuda.is_available():
                torch.cuda.empty_cache()

    def _train(self, job: Job, config: RunConfig, trainer: Trainer | None = None) -> None:
        trainer = trainer or Trainer(config)  # a fork brings the copy it continues
        with self._lock:
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

        def should_stop() -> bool:
            if job._forks:
                self._make_forks(job, trainer)
            if trainer.step % 64 == 0 and self.abandoned(job):
                job.notice = "Stopped: every session watching this run has left."
                job.stop()
            return job._stop.is_set()

        result = trainer.run(
            on_progress=on_progress, on_snapshot=lambda s: job.snapshots.__setitem__(s.step, s), should_stop=should_stop
        )
        # The job's pictures become the final ones, so pages read the job alone.
        job.input_plane, job.gallery, job.result = result.input_plane, result.gallery, result
        job.notice = job.notice or exploding_loss_note(result.history)
        job.status = STOPPED if result.metrics["stopped"] else FINISHED
        # Only an untouched, complete run is the result of its config; a steered one is not.
        if job.status == FINISHED and not result.lambda_changes:
            self.cache.put(job.config.stable_hash(), result)

    @staticmethod
    def _fail(job: Job, error: Exception) -> None:
        # The message first: a page that sees FAILED must also see why.
        if isinstance(error, (TrainingDiverged, DataFileError, ConfigError)):
            job.error = str(error)
        else:
            log.exception("job %s failed", job.id)
            job.error = f"The run failed: {type(error).__name__}: {error}"
        job.status = FAILED
