"""The job manager: what pages call. Submit a run or a sweep, steer lambda, stop, ask where a job
stands. Identical untouched runs are shared and finished ones come from the cache; the scheduler
(scheduler.py) decides who trains with whom, a bounded pool of worker threads trains (runners.py),
and every piece of state that sessions share goes through the store (store.py).

The page's script thread never trains: a worker appends progress to the store and the page reads it
on each redraw, so a rerun (any widget) never touches the training.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import torch

from dann_demo.config import RunConfig
from dann_demo.jobs.job import FAILED, FINISHED, QUEUED, RUNNING, STOPPED, AnyJob, Job, SweepJob
from dann_demo.jobs.runners import BatchRun, LoneRun, SweepRun
from dann_demo.jobs.scheduler import Batch, BatchScheduler, Ticket
from dann_demo.jobs.store import ClassStore, MemoryStore
from dann_demo.method import batching
from dann_demo.method.train import Trainer

log = logging.getLogger("dann_demo.jobs")

LEAVE_GRACE_SECONDS = 10.0  # a watcher disconnected this long has left (a page reload reconnects sooner)
BATCH_WINDOW_S = float(os.environ.get("DANN_BATCH_WINDOW", "0.2"))  # how long a run waits for company
JOIN_RUNNING = os.environ.get("DANN_BATCH_JOIN", "1") != "0"  # runs may join a batch under way


TRAINER_THREAD_NAME = b"dann-job"  # what `top -H` and /proc/PID/task/*/comm show for a training thread


def name_trainer_thread() -> None:
    """Name the calling worker thread at the OS level too (Python names it only for itself), so per-thread
    CPU figures tell training from the pages' work (scripts/loadtest.py reads them). Threads it starts,
    torch's OpenMP helpers among them, inherit the name. Linux only; elsewhere nothing happens."""
    with contextlib.suppress(OSError, AttributeError):  # no libc prctl: not Linux
        ctypes.CDLL(None).prctl(15, TRAINER_THREAD_NAME, 0, 0, 0)  # 15: PR_SET_NAME


def threads_per_job(max_concurrent: int) -> int:
    """Share the CPU cores among the concurrent jobs: on 2 cores small models run faster on one thread
    each (docs/benchmarks.md)."""
    return max(1, (os.cpu_count() or 1) // max_concurrent)


class JobManager:
    """Runs jobs on a bounded pool of worker threads, batching the runs that can train together.
    Sets torch's intra-op thread count for the process (threads_per_job): one manager per process."""

    def __init__(
        self,
        max_concurrent: int = 2,
        cache_entries: int = 32,
        session_alive: Callable[[str], bool] | None = None,
        max_batch: int = batching.MAX_BATCH,
        batch_window: float = BATCH_WINDOW_S,
        join_running: bool = JOIN_RUNNING,
        store: ClassStore | None = None,
    ):
        """`session_alive(id)` tells whether a watching session is still connected; with it, a run
        whose watchers have all left is stopped (cancel on leaving). Without it, runs always finish."""
        torch.set_num_threads(threads_per_job(max_concurrent))
        self.max_concurrent = max_concurrent
        self.session_alive = session_alive
        self.store: ClassStore = store if store is not None else MemoryStore(cache_entries)
        self.scheduler = BatchScheduler(max_batch, join_running, batch_window)
        self.batch_log: deque[dict] = deque(maxlen=500)  # the batches trained: size, data set, seconds
        self._resumes: dict[str, Trainer] = {}  # copies waiting to go on from another run's step
        self._pool = ThreadPoolExecutor(
            max_workers=max_concurrent, thread_name_prefix="dann-job", initializer=name_trainer_thread
        )
        self._busy = 0  # workers training now
        self._lock = threading.Lock()  # guards the scheduler, _resumes and _busy
        # At interpreter exit the pool's threads are joined: stop the runs first, or a long run would keep
        # a finished test session or a stopped server alive until it ends. (This hook runs before that
        # join; plain atexit would run after it.)
        getattr(threading, "_register_atexit", atexit.register)(self.stop_all)

    # --- submitting ---
    def submit(self, config: RunConfig, use_cache: bool = True, watcher: str | None = None) -> Job:
        """Start (or reuse) a run of `config` for session `watcher`. A cached result comes back as a
        finished job; an identical untouched run under way is shared (30 students pressing Train on
        the same settings get one training)."""
        if use_cache and (cached := self.store.cached_result(config.stable_hash())) is not None:
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
            self.store.add(job, watcher)
            return job
        job = Job(config)
        if use_cache:
            if (shared := self.store.add_shared(job, watcher)) is not job:
                return shared
        else:
            self.store.add(job, watcher)
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
        if use_cache and (cached := self.store.cached_sweep(job.key)) is not None:
            job.status, job.runs, job.fraction, job.from_cache = FINISHED, cached, 1.0, True
            self.store.add(job, watcher)
            return job
        self.store.add(job, watcher)
        self._enqueue(job)
        return job

    def _enqueue(self, job: AnyJob, resume: Trainer | None = None) -> None:
        group, joinable = None, False
        if isinstance(job, Job) and resume is None and self.scheduler.max_batch > 1:
            group = batching.batch_group(job.config)
            joinable = group is not None and batching.accepts_members(job.config)
        with self._lock:
            if resume is not None:
                self._resumes[job.id] = resume
            self.scheduler.enqueue(Ticket(job.id, group, joinable, job.submitted_at))
        self._pool.submit(self._turn)

    # --- steering ---
    def set_lambda(self, job: Job, value: float, watcher: str | None = None) -> Job:
        """Steer `job` for `watcher`; returns the job that now carries the watcher's run.

        A run shared with other sessions is not steered under their feet: the watcher gets its own copy
        of the run from the current step (made between two steps), and steers that. The caller moves
        whatever names the watcher's run (a room entry) to the job returned."""
        others = [w for w in job.watchers if w != watcher]
        if watcher is None or not others or job.done:
            self.store.request_lambda(job.id, value)
            return job
        copy = Job(
            job.config,
            history=list(job.history),
            snapshots=dict(job.snapshots),
            input_plane=job.input_plane,
            gallery=job.gallery,
            lambda_changes=list(job.lambda_changes),
        )
        self.store.add(copy, watcher)
        self.store.request_lambda(copy.id, value)
        self.store.unwatch(job.id, watcher)
        if not self.store.request_copy(job.id, copy.id):  # still queued: nothing to copy
            self.restart(copy.id)
        return copy

    def stop(self, job: AnyJob, watcher: str | None = None) -> None:
        """Stop `job` for `watcher`: a run other sessions still watch goes on for them. A queued job that
        nobody wants any more leaves the queue at once."""
        left = self.store.unwatch(job.id, watcher) if watcher is not None else 0
        if watcher is not None and left:
            return
        self.store.request_stop(job.id)
        if self._withdraw(job.id):
            self.store.add_notice(job.id, "Stopped before it started.")
            self.store.set_status(job.id, STOPPED)

    def _withdraw(self, job_id: str) -> bool:
        """Take a queued job out of the queue (it will not start); whether it was queued."""
        with self._lock:
            return self.scheduler.withdraw(job_id)

    def stop_all(self) -> None:
        for job in self.store.jobs(QUEUED, RUNNING):
            self.store.request_stop(job.id)

    def abandoned(self, job: AnyJob) -> bool:
        """Every session that watched `job` has disconnected (for LEAVE_GRACE_SECONDS)."""
        if self.session_alive is None or not job.watchers:
            return False
        now = time.time()
        for session in list(job.watchers):
            if self.session_alive(session):
                self.store.watch(job.id, session, now)
        return all(now - seen > LEAVE_GRACE_SECONDS for seen in list(job.watchers.values()))

    # --- what the pages ask ---
    def get(self, job_id: str | None) -> AnyJob | None:
        return self.store.get(job_id)

    def wait_end(self, job: AnyJob, timeout: float) -> AnyJob:
        """`job` as it stands once it has ended, or after `timeout` seconds (a store may hand out copies,
        so the job is read again when it ended)."""
        if self.store.wait_done(job.id, timeout) and not job.done:
            return self.store.get(job.id) or job
        return job

    def get_many(self, ids: list[str]) -> dict[str, AnyJob]:
        """The known jobs of `ids`, by id, read at once."""
        return {i: j for i, j in zip(ids, self.store.get_many(list(ids)), strict=True) if j is not None}

    def watch(self, job: AnyJob, session: str) -> None:
        """`session` is looking at `job` (called on every redraw)."""
        self.store.watch(job.id, session)

    def queue_position(self, job: AnyJob) -> int:
        """How many queued jobs are ahead of this one (0 = next to start)."""
        with self._lock:
            return self.scheduler.position(job.id)

    def idle(self) -> bool:
        """Nothing queued and no worker training."""
        with self._lock:
            return not self.scheduler.queue and self._busy == 0

    def running_count(self) -> int:
        """Runs training now (each member of a batch counts)."""
        return self.store.count(RUNNING)

    def in_progress_count(self) -> int:
        """Runs queued or training (each member of a batch counts): how busy the class keeps the server."""
        return self.store.count(QUEUED, RUNNING)

    def any_run_ended(self) -> bool:
        """Whether some run has ended since start-up (forgetting old jobs keeps the newest ones)."""
        return self.store.count(FINISHED, STOPPED, FAILED) > 0

    def idle_cores(self) -> int:
        """CPU cores no worker is using (at least 1): what a projection may take."""
        with self._lock:
            busy = self._busy
        return max(1, (os.cpu_count() or 1) - busy * threads_per_job(self.max_concurrent))

    # --- the workers (runners.Host) ---
    def _turn(self) -> None:
        """One worker's turn: take the next batch from the scheduler and train it."""
        with self._lock:
            wait = self.scheduler.wait(time.time())
        if wait:
            time.sleep(wait)
        with self._lock:
            batch = self.scheduler.take()
            if batch is None:
                return  # another turn took this job into its batch, or it waits for one under way
            self._busy += 1
            resume = self._resumes.pop(batch.ids[0], None)
        try:
            jobs = [j for j in map(self.store.get, batch.ids) if j is not None]
            if not jobs:
                self.close(batch)
            elif isinstance(jobs[0], SweepJob):
                SweepRun(self, jobs[0]).train()
            elif batch.group is not None:
                BatchRun(self, batch, jobs).train()  # it decides whether a lone run trains as a batch others may join
            else:
                LoneRun(self, jobs[0], resume).train()
        finally:
            with self._lock:
                self._busy -= 1

    def resume(self, copy_id: str, trainer: Trainer) -> None:
        """A copy of a run goes on from `trainer` (another run's, at its current step), with its own lambda."""
        value = self.store.take_lambda(copy_id)
        if value is not None:
            trainer.set_lambda(value)
        self.store.continue_from(copy_id, trainer.history, trainer.snapshots, trainer.lambda_changes)
        if (copy := self.store.get(copy_id)) is not None:
            self._enqueue(copy, resume=trainer)

    def restart(self, copy_id: str) -> None:
        """A copy that found no run to copy (it was queued, or had just ended) trains from step 0 with its
        own lambda."""
        self.store.restart(copy_id)
        if (copy := self.store.get(copy_id)) is not None:
            self._enqueue(copy)

    def built(self, batch: Batch) -> None:
        with self._lock:
            self.scheduler.built(batch)

    def joiners(self, batch: Batch) -> list[Job]:
        with self._lock:
            tickets = self.scheduler.joiners(batch)
        return [j for j in map(self.store.get, (t.id for t in tickets)) if isinstance(j, Job)]

    def left(self, batch: Batch, job_id: str) -> None:
        with self._lock:
            self.scheduler.left(batch, job_id)

    def close(self, batch: Batch) -> None:
        """`batch` takes no more members: runs of its group left for it get a worker's turn."""
        with self._lock:
            waiting = self.scheduler.close(batch)
        if waiting:
            self._pool.submit(self._turn)

    def log_batch(self, entry: dict) -> None:
        self.batch_log.append(entry)
