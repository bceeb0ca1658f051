"""Background training jobs: submit, watch, steer lambda, stop; a cap on concurrent workers, a result
cache shared by every session of the process, and class batching.

The page's script thread never trains: a worker thread runs the training and appends progress to
the Job, and the page reads the Job on each redraw. A rerun (any widget) never touches the job.

Class batching works like an inference server's continuous batcher: runs wait in one queue; when a
worker is free it takes the oldest, waits a short window (BATCH_WINDOW_S) for company where a batch
cannot take runs once started (joining off, a CUDA graph), and takes every queued run that can train
with it (the same `ensemble.group_key`: data set and its size, network, steps, optimiser) into one
EnsembleTrainer, up to MAX_BATCH. A run that can train with a
batch under way joins it at that batch's next log step (the smallest such batch with room takes it),
even when a worker is free, so nobody waits for a whole batch to end and a group trains as one
batch. Each member stays its own run: its own live lambda, Stop, cancel on leaving, records, result,
cache entry. Runs that do not pay to batch (images on the CPU) and runs resumed from a copy train
alone; on CUDA a lone run trains alone too (a CUDA-graph ensemble cannot take members once started).
"""

from __future__ import annotations

import atexit
import logging
import math
import os
import threading
import time
import uuid
from collections import Counter, OrderedDict, deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
import torch

from dann_demo.config import ConfigError, RunConfig
from dann_demo.datasets import DataFileError
from dann_demo.ensemble import EnsembleTrainer, accepts_members, ensemble_pays, group_key
from dann_demo.results import FeatureSnapshot, Gallery, InputPlane, ProgressRecord, RunResult
from dann_demo.rooms import Rooms
from dann_demo.train import Trainer, TrainingDiverged, exploding_loss_note

log = logging.getLogger(__name__)

QUEUED, RUNNING, FINISHED, STOPPED, FAILED = "queued", "running", "finished", "stopped", "failed"
DONE = (FINISHED, STOPPED, FAILED)
MAX_JOBS = 256  # jobs remembered for the pages; older finished ones are dropped (results stay cached)
LEAVE_GRACE_SECONDS = 10.0  # a watcher disconnected this long has left (a page reload reconnects sooner)
PICTURE_SECONDS = 0.25  # how often a lone running job refreshes its input-plane or gallery picture
# How often a running job's figures are rebuilt. A browser draws a changed chart anew (Streamlit gives it a
# new identity), and the Train page's six took it about a second with training on the same 2 cores; an
# unchanged one costs it next to nothing, so the page redraws its progress more often than its charts.
FIGURE_SECONDS = 1.0
BATCH_PICTURE_SECONDS = 1.0  # the same for each member of a batch (K pictures cost K times one)
MAX_BATCH = int(os.environ.get("DANN_MAX_BATCH", "32"))  # members of one batch (docs/benchmarks.md)
BATCH_WINDOW_S = float(os.environ.get("DANN_BATCH_WINDOW", "0.2"))  # how long a run waits for company
JOIN_RUNNING = os.environ.get("DANN_BATCH_JOIN", "1") != "0"  # runs may join a batch under way


# A class's pace (the Train page's): from CLASS_RUNS runs queued or training on the server, a running job's
# page shows its latest numbers as one line of text and draws its charts when the run ends, and the class's
# pages together redraw about CLASS_REDRAWS_PER_SECOND times a second (each page every 4 to 15 s). Each
# redraw costs a browser ~150 ms of CPU even for one line of text (Streamlit re-renders its page; a Plotly
# chart adds 40-70 ms), and 30 pages every 4 s took more of a 2-core server than the class's training
# (scripts/loadtest.py, docs/design.md).
CLASS_RUNS, CLASS_REDRAWS_PER_SECOND, CLASS_REDRAW_RANGE = 6, 3.0, (4.0, 15.0)


def class_redraw_seconds(busy: int) -> float:
    """How often a page redraws while `busy` runs are in progress: the class's pages share one budget."""
    lo, hi = CLASS_REDRAW_RANGE
    return min(hi, max(lo, busy / CLASS_REDRAWS_PER_SECOND))


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
    batch_size: int = 1  # the most runs it trained together with, itself included (1: alone)
    _group: str | None = field(default=None, repr=False)  # its ensemble.group_key when it may batch, else None
    watchers: dict[str, float] = field(default_factory=dict)  # session id -> when it last looked
    _stop: threading.Event = field(default_factory=threading.Event, repr=False)
    _trainer: Trainer | None = field(default=None, repr=False)  # training it alone
    _member: tuple[EnsembleTrainer, int] | None = field(default=None, repr=False)  # training it in a batch
    _resume: Trainer | None = field(default=None, repr=False)  # a copy to continue (a forked run)
    _lambda: float | None = field(default=None, repr=False)  # the lambda a session set
    _pending_lambda: float | None = field(default=None, repr=False)  # for a batch member: at its next step
    _forks: list[Job] = field(default_factory=list, repr=False)  # copies asked for, made between steps
    _memo: tuple[Any, Any, float] | None = field(default=None, repr=False)  # key, value, when built

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

    def seconds_left(self) -> float:
        """Its training's expected seconds to the end at the pace of its last two records (inf while
        unknown): a page that would look again only after the end waits for the end instead."""
        history = self.history[-2:]
        if len(history) < 2 or history[1].seconds <= history[0].seconds or history[1].step <= history[0].step:
            return math.inf
        rate = (history[1].step - history[0].step) / (history[1].seconds - history[0].seconds)
        return (self.config.steps - history[1].step) / rate

    def wait_end(self, timeout: float, poll: float = 0.05) -> bool:
        """Block up to `timeout` seconds until the job has ended; whether it has."""
        deadline = time.monotonic() + timeout
        while not self.done and time.monotonic() < deadline:
            time.sleep(poll)
        return self.done

    @property
    def lambda_changes(self) -> list[tuple[int, float]]:
        """(step, lambda) where the user moved lambda during the run."""
        if self.result is not None:
            return self.result.lambda_changes
        if self._member is not None:
            ensemble, i = self._member
            return list(ensemble.members[i].lambda_changes)
        trainer = self._trainer
        return list(trainer.lambda_changes) if trainer is not None else []

    def set_lambda(self, value: float) -> None:
        """Steer a running job: the new lambda applies from its next step on."""
        self._lambda = float(value)
        if self._member is not None:
            self._pending_lambda = float(value)  # the batch applies it between two steps
        elif self._trainer is not None:
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

    def memo(self, key: Any, build: Callable[[], Any], every: float = 0.0) -> Any:
        """build(), kept until `key` changes: a job's figures are built once per new record and shared
        by every session that watches it (say key = the number of records). While the job runs, at most
        every `every` seconds, and not when it is due to end sooner than that: a browser would still be
        drawing them when the summary comes, and its final figures come with the end."""
        memo, now = self._memo, time.monotonic()
        if memo is not None:
            key_then, value, built_at = memo
            if key_then == key or (not self.done and (now - built_at < every or self.seconds_left() < every)):
                return value
        value = build()
        self._memo = (key, value, now)
        return value


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
    notice: str | None = None
    from_cache: bool = False
    submitted_at: float = field(default_factory=time.time)
    watchers: dict[str, float] = field(default_factory=dict)  # session id -> when it last looked
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

    def watch(self, session: str) -> None:
        self.watchers[session] = time.time()


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
    process was busy (docs/benchmarks.md)."""
    return max(1, (os.cpu_count() or 1) // max_concurrent)


def batches(config: RunConfig) -> bool:
    """Whether a run of `config` may train in a batch: where training runs together was measured to pay
    (ensemble_pays: the MLPs on the CPU, everything on CUDA; on 2 CPU cores grouped convolutions ran
    slower than one model after another)."""
    try:
        return ensemble_pays(config)
    except ConfigError:  # a device this machine lacks: the run itself reports it
        return False


class JobManager:
    """Runs jobs on a bounded pool of worker threads, batching the runs that can train together;
    identical configs share one training.

    Sets torch's intra-op thread count for the process (threads_per_job): one manager per process.
    """

    def __init__(
        self,
        max_concurrent: int = 2,
        cache_entries: int = 32,
        session_alive: Callable[[str], bool] | None = None,
        max_batch: int = MAX_BATCH,
        batch_window: float = BATCH_WINDOW_S,
        join_running: bool = JOIN_RUNNING,
    ):
        """`session_alive(id)` tells whether a watching session is still connected; with it, a run
        whose watchers have all left is stopped (cancel on leaving). Without it, runs always finish."""
        torch.set_num_threads(threads_per_job(max_concurrent))
        self.max_concurrent = max_concurrent
        self.max_batch = max(1, max_batch)
        self.batch_window = batch_window
        self.join_running = join_running
        self.session_alive = session_alive
        self.cache = ResultCache(cache_entries)
        self.sweep_cache = ResultCache(cache_entries)  # finished sweeps' tables, by SweepJob.key
        self.batch_log: deque[dict] = deque(maxlen=500)  # the batches trained: size, data set, seconds
        self.rooms = Rooms()  # a class's runs as one experiment (rooms.py)
        self._pool = ThreadPoolExecutor(max_workers=max_concurrent, thread_name_prefix="dann-job")
        self._jobs: dict[str, Job | SweepJob] = {}
        self._queue: list[Job | SweepJob] = []  # waiting for a worker, oldest first
        self._busy = 0  # workers training now
        self._batches: list[EnsembleTrainer] = []  # the batches under way, that runs may join
        # Groups whose joinable batch a worker has taken from the queue and is still building: their runs
        # wait for it too, instead of a free worker starting a second batch of the group meanwhile.
        self._starting: Counter[str] = Counter()
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

    # --- submitting ---
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
        self._enqueue(job)
        return job

    def submit_sweep(
        self,
        base: RunConfig,
        lambdas: list[float | str],
        seeds: list[int],
        references: bool = True,
        use_cache: bool = True,
        watcher: str | None = None,
    ) -> SweepJob:
        """Start (or reuse) a lambda sweep; it takes one worker like a run (same concurrency cap), and
        stops when every session watching it has left."""
        job = SweepJob(base, list(lambdas), list(seeds), references)
        if use_cache and (cached := self.sweep_cache.get(job.key)) is not None:
            job.status, job.runs, job.fraction, job.from_cache = FINISHED, cached, 1.0, True
            self._register(job, watcher)
            return job
        self._register(job, watcher)
        self._enqueue(job)
        return job

    def _enqueue(self, job: Job | SweepJob) -> None:
        if isinstance(job, Job) and job._resume is None and self.max_batch > 1 and batches(job.config):
            job._group = group_key(job.config)
        with self._lock:
            self._queue.append(job)
        self._pool.submit(self._turn)

    # --- steering ---
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
        self.rooms.replace_job(job, fork, watcher)  # the watcher's entry in a room follows its run
        with self._lock:
            started = job._trainer is not None or job._member is not None
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
        self._enqueue(fork)

    def stop(self, job: Job | SweepJob, watcher: str | None = None) -> None:
        """Stop `job` for `watcher`: a run other sessions still watch goes on for them."""
        job.watchers.pop(watcher, None)
        if watcher is None or not job.watchers:
            job.stop()

    def _hand_out_forks(self, job: Job, copy: Callable[[], Trainer]) -> None:
        """Called by the worker between steps: hand each requested copy its own trainer."""
        with self._lock:
            forks, job._forks = job._forks, []
        for fork in forks:
            clone = copy()
            clone.set_lambda(fork._lambda)
            fork.history, fork.snapshots = list(clone.history), dict(clone.snapshots)
            fork._resume = clone
            self._enqueue(fork)

    def abandoned(self, job: Job | SweepJob) -> bool:
        """Every session that watched `job` has disconnected (for LEAVE_GRACE_SECONDS)."""
        if self.session_alive is None or not job.watchers:
            return False
        now = time.time()
        for session in list(job.watchers):
            if self.session_alive(session):
                job.watchers[session] = now
        return all(now - seen > LEAVE_GRACE_SECONDS for seen in job.watchers.values())

    # --- what the pages ask ---
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
        """How many queued jobs are ahead of this one (0 = next to start)."""
        with self._lock:
            return self._queue.index(job) if job in self._queue else 0

    def idle(self) -> bool:
        """Nothing queued and no worker training."""
        with self._lock:
            return not self._queue and self._busy == 0

    def _count(self, *statuses: str) -> int:
        with self._lock:
            return sum(1 for j in self._jobs.values() if j.status in statuses)

    def running_count(self) -> int:
        """Runs training now (each member of a batch counts)."""
        return self._count(RUNNING)

    def in_progress_count(self) -> int:
        """Runs queued or training (each member of a batch counts): how busy the class keeps the server."""
        return self._count(QUEUED, RUNNING)

    def any_run_ended(self) -> bool:
        """Whether some run has ended (finished, stopped or failed) since start-up. Forgetting old jobs
        keeps the newest MAX_JOBS, so an ended one stays among them."""
        return self._count(FINISHED, STOPPED, FAILED) > 0

    def idle_cores(self) -> int:
        """CPU cores no worker is using (at least 1): what a projection may take."""
        with self._lock:
            busy = self._busy
        return max(1, (os.cpu_count() or 1) - busy * threads_per_job(self.max_concurrent))

    # --- the workers ---
    def _turn(self) -> None:
        """One worker's turn: take the next job (and its company) from the queue and train it."""
        with self._lock:
            first = self._queue[0] if self._queue else None
        if first is None:
            return  # another turn took this job into its batch
        if isinstance(first, Job) and first._group is not None and not self._takes_joiners(first):
            # Triton's max queue delay: a run waits a moment for others that can train with it. A batch that
            # takes members as it trains needs no wait: the others join it within log_every steps.
            time.sleep(max(0.0, first.submitted_at + self.batch_window - time.time()))
        with self._lock:
            batch = self._take_batch()
            if batch:
                self._busy += 1
        if not batch:
            return
        try:
            if isinstance(batch[0], SweepJob):
                self._work_sweep(batch[0])
            elif batch[0]._group is not None:
                self._work_batch(batch)  # it decides whether a lone run trains as a batch others may join
            else:
                self._work(batch[0])
        finally:
            with self._lock:
                self._busy -= 1

    def _take_batch(self) -> list[Job | SweepJob]:
        """The oldest queued job that no batch under way or being built will take, and, when it can batch, every queued
        run that can train with it (up to max_batch). Called with the lock held."""
        first = next((j for j in self._queue if not self._awaits_batch(j)), None)
        if first is None:
            return []
        self._queue.remove(first)
        if not isinstance(first, Job) or first._group is None:
            return [first]
        if self._takes_joiners(first):
            self._starting[first._group] += 1  # until _work_batch registers the batch (or gives up)
        return [first, *self._take_company(first._group, self.max_batch - 1)]

    def _awaits_batch(self, job: Job | SweepJob) -> bool:
        """Whether `job` is left in the queue for a batch of its group: one under way with room, or one
        being built. Called with the lock held."""
        if self._batch_for(job) is not None:
            return True
        return self.join_running and isinstance(job, Job) and self._starting[job._group] > 0

    def _batch_for(self, job: Job | SweepJob) -> EnsembleTrainer | None:
        """The batch under way that `job` will join at its next log step: the smallest of its group that
        takes members and has room. A second batch of the same group beside it trained the class's runs
        about three times slower on 2 cores (two training threads of one process share its GIL:
        scripts/loadtest.py, docs/benchmarks.md). Called with the lock held."""
        if not self.join_running or not isinstance(job, Job) or job._group is None:
            return None
        open_ = [b for b in self._batches if b.key == job._group and b.resizable and b.k < self.max_batch]
        return min(open_, key=lambda b: b.k, default=None)

    def _takes_joiners(self, job: Job) -> bool:
        """Whether a batch started for `job` takes the runs that come while it trains."""
        return self.join_running and accepts_members(job.config)

    def _take_company(self, group: str, room: int) -> list[Job]:
        """Up to `room` queued runs of `group`, oldest first, out of the queue. Called with the lock held."""
        company = [j for j in self._queue if isinstance(j, Job) and j._group == group][: max(0, room)]
        for j in company:
            self._queue.remove(j)
        return company

    def _joiners(self, ensemble: EnsembleTrainer) -> list[Job]:
        """Queued runs that join `ensemble` now: those of its group for which it is the batch to join
        (_batch_for), up to max_batch."""
        with self._lock:
            if not self._queue or self._batch_for(self._queue_of(ensemble.key)) is not ensemble:
                return []
            return self._take_company(ensemble.key, self.max_batch - ensemble.k)

    def _end_batch(self, ensemble: EnsembleTrainer) -> None:
        """`ensemble` takes no more members: runs of its group that were left for it start on a worker."""
        with self._lock:
            if ensemble not in self._batches:
                return
            self._batches.remove(ensemble)
        self._wake(ensemble.key)

    def _built(self, key: str, ensemble: EnsembleTrainer | None) -> None:
        """A batch taken for group `key` is registered (`ensemble`) or was not built: either way it is no
        longer being built, and runs left for one that never came start on a worker."""
        with self._lock:
            self._starting[key] -= 1
            if ensemble is not None:
                self._batches.append(ensemble)
        if ensemble is None:
            self._wake(key)

    def _wake(self, key: str) -> None:
        """A worker turn for queued runs of group `key` that no batch takes any more."""
        with self._lock:
            waiting = self._queue_of(key) is not None
        if waiting:
            self._pool.submit(self._turn)

    def _queue_of(self, group: str) -> Job | None:
        """The oldest queued run of `group`. Called with the lock held."""
        return next((j for j in self._queue if isinstance(j, Job) and j._group == group), None)

    def _not_started(self, job: Job) -> bool:
        """A queued run that was stopped, or whose every watcher left, does not start."""
        if job._stop.is_set() or self.abandoned(job):
            job.notice = "Not started: nobody is watching this run any more."
            job.status = STOPPED
            log.info("run %s not started (%s)", job.id, "stopped" if job._stop.is_set() else "its sessions left")
            return True
        return False

    def _work(self, job: Job) -> None:
        if self._not_started(job):
            return
        job.status = RUNNING
        try:
            self._train(job, job.config, job._resume)
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
                job._trainer, job._resume = None, None
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
                self._refresh_pictures(job, trainer)
            if trainer.notice and not job.notice:  # e.g. a CUDA graph that could not be captured
                job.notice = trainer.notice
            # Pictures first, then the record: a page that sees the record also sees its pictures.
            job.history.append(record)

        def should_stop() -> bool:
            if job._forks:
                self._hand_out_forks(job, trainer.clone)
            if trainer.step % 64 == 0 and self.abandoned(job):
                job.notice = "Stopped: every session watching this run has left."
                job.stop()
            return job._stop.is_set()

        result = trainer.run(
            on_progress=on_progress,
            on_snapshot=lambda s: job.snapshots.__setitem__(s.step, s),
            should_stop=should_stop,
        )
        self._finish(job, result)

    @staticmethod
    def _refresh_pictures(job: Job, trainer: Trainer) -> None:
        if trainer.has_input_plane:
            job.input_plane = trainer.input_plane()
        elif trainer.pair.is_image:
            job.gallery = trainer.gallery()

    def _finish(self, job: Job, result: RunResult) -> None:
        # The job's pictures become the final ones, so pages read the job alone.
        job.input_plane, job.gallery, job.result = result.input_plane, result.gallery, result
        job.notice = job.notice or exploding_loss_note(result.history)
        job.status = STOPPED if result.metrics["stopped"] else FINISHED
        # Only an untouched, complete run is the result of its config; a steered one is not.
        if job.status == FINISHED and not result.lambda_changes:
            self.cache.put(job.config.stable_hash(), result)

    def _work_batch(self, jobs: list[Job]) -> None:
        """Train `jobs` as one EnsembleTrainer, which queued runs of the same group may join while it
        trains; each member reports to its own job."""
        key, joinable = jobs[0]._group, self._takes_joiners(jobs[0])  # _take_batch marked a joinable one
        jobs = [j for j in jobs if not self._not_started(j)]
        if not jobs or (len(jobs) == 1 and not joinable):
            if joinable:
                self._built(key, None)
            for job in jobs:
                self._work(job)
            return
        try:
            ensemble = EnsembleTrainer([j.config for j in jobs])
        except Exception as e:  # noqa: BLE001 - the grouped model cannot take these: train them one by one
            log.warning("batch of %d could not be built (%s); training them one by one", len(jobs), e)
            if joinable:
                self._built(key, None)
            for job in jobs:
                self._work(job)
            return
        members = list(jobs)  # member number -> its job
        dataset = jobs[0].config.dataset
        started = time.perf_counter()
        last_picture: dict[int, float] = {}

        def start(i: int, job: Job) -> None:
            job.status, job._member = RUNNING, (ensemble, i)
            if job._lambda is not None:
                ensemble.set_member_lambda(i, job._lambda)

        for i, job in enumerate(jobs):
            start(i, job)
        if joinable:
            self._built(key, ensemble)
        log.info("batch of %d %s runs started", len(jobs), dataset)

        def on_record(i: int, record: ProgressRecord) -> None:
            job, now = members[i], time.perf_counter()
            job.batch_size = ensemble.company(i)
            # A lone member refreshes its picture as often as a run alone; K pictures cost K times one; a class's
            # pages draw no picture while their runs train (class_redraw_seconds), so a class's batch skips them.
            every = PICTURE_SECONDS if ensemble.k == 1 else BATCH_PICTURE_SECONDS
            if ensemble.k >= CLASS_RUNS and record.step != job.config.steps:
                every = float("inf")
            if now - last_picture.get(i, 0.0) >= every or record.step == job.config.steps:
                last_picture[i] = now
                self._refresh_pictures(job, ensemble.members[i])  # synced by its record
            job.history.append(record)

        def between_steps(e: EnsembleTrainer) -> None:
            check_leaving = e.step % 64 == 0
            for i in e.active:
                job = members[i]
                if job._pending_lambda is not None:
                    value, job._pending_lambda = job._pending_lambda, None
                    e.set_member_lambda(i, value)
                if job._forks:
                    self._hand_out_forks(job, lambda i=i: e.member_trainer(i))
                if check_leaving and self.abandoned(job):
                    job.notice = "Stopped: every session watching this run has left."
                    job.stop()
                if job._stop.is_set():
                    self._finish(job, e.stop_member(i))
            if e.admits_now:
                joined = 0
                for job in self._joiners(e):
                    if self._not_started(job):
                        continue
                    try:
                        i = e.add_member(job.config)
                    except Exception as error:  # noqa: BLE001 - say why (a data file gone, say); the batch goes on
                        self._fail(job, error)
                        continue
                    members.append(job)
                    start(i, job)
                    joined += 1
                if joined:
                    log.info("%d %s run(s) joined a batch; %d training in it", joined, dataset, e.k)

        def on_end(i: int, outcome: RunResult | TrainingDiverged) -> None:
            if isinstance(outcome, TrainingDiverged):
                self._fail(members[i], outcome)
            else:
                self._finish(members[i], outcome)

        try:
            outcomes = ensemble.run(
                on_record=on_record,
                on_snapshot=lambda i, snap: members[i].snapshots.__setitem__(snap.step, snap),
                between_steps=between_steps,
                on_end=on_end,
            )
        except Exception as e:  # noqa: BLE001 - one batch's failure must not end 30 students' runs
            log.exception("batch of %d failed; training its runs one by one", len(members))
            self._end_batch(ensemble)
            for job in members:
                if not job.done:
                    job._member, job.batch_size = None, 1
                    job.history.clear()
                    job.snapshots.clear()
                    job.notice = f"Trained alone: the batch it was in failed ({type(e).__name__})."
                    self._work(job)
            return
        finally:
            self._end_batch(ensemble)
            for job in members:
                with self._lock:
                    job._member = None
                    orphans, job._forks = job._forks, []
                for fork in orphans:
                    self._start_from_step_zero(fork)
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
        for i, (job, outcome) in enumerate(zip(members, outcomes, strict=True)):
            if not job.done:  # every member ends through on_end or its Stop; this is the safety net
                on_end(i, outcome)
        seconds = round(time.perf_counter() - started, 2)
        most = max(ensemble.company(i) for i in range(len(members)))
        if len(members) > 1:
            self.batch_log.append({"size": len(members), "most_at_once": most, "dataset": dataset, "seconds": seconds})
        log.info("batch of %d %s runs done in %.1f s (at most %d at once)", len(members), dataset, seconds, most)

    def _work_sweep(self, job: SweepJob) -> None:
        from dann_demo.sweep import run_sweep

        if job._stop.is_set() or self.abandoned(job):
            job.status = STOPPED
            return
        job.status = RUNNING
        last_check = [time.monotonic()]

        def should_stop() -> bool:
            # Cancel on leaving, as for runs: checked every 2 s, not every step.
            if time.monotonic() - last_check[0] > 2.0:
                last_check[0] = time.monotonic()
                if self.abandoned(job):
                    job.notice = "Stopped: every session watching this sweep has left."
                    job.stop()
            return job._stop.is_set()

        try:
            runs = run_sweep(
                job.base,
                job.lambdas,
                job.seeds,
                references=job.references,
                on_progress=lambda f: setattr(job, "fraction", f),
                should_stop=should_stop,
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

    @staticmethod
    def _fail(job: Job, error: Exception) -> None:
        # The message first: a page that sees FAILED must also see why.
        if isinstance(error, (TrainingDiverged, DataFileError, ConfigError)):
            job.error = str(error)
        else:
            log.exception("job %s failed", job.id)
            job.error = f"The run failed: {type(error).__name__}: {error}"
        job.status = FAILED
