"""This process's trainers: a bounded pool of threads that train what the BatchScheduler hands them (a
WorkQueue, queue.py). The runners (runners.py) report to the store and call back here between steps:
a copy asked for resumes here from its run's weights, a batch takes joiners, a member leaves.

It also decides when a run's sessions have all left (Leaving): a run nobody watches is stopped.
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

from dann_demo.jobs.job import QUEUED, RUNNING, AnyJob, Job, SweepJob
from dann_demo.jobs.runners import BatchRun, LoneRun, SweepRun
from dann_demo.jobs.scheduler import Batch, BatchScheduler, Ticket
from dann_demo.jobs.store import ClassStore
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


class Leaving:
    """When every session watching a run has left (cancel on leaving): each was last seen more than
    `grace` seconds ago. `session_alive(id)`, where given, refreshes the sessions still connected (one
    process); in a cluster the app processes refresh them in the store (cluster.WatchBeat)."""

    def __init__(
        self, store: ClassStore, session_alive: Callable[[str], bool] | None = None, grace: float | None = None
    ):
        self.store, self.session_alive = store, session_alive
        self.grace = LEAVE_GRACE_SECONDS if grace is None else grace

    def abandoned(self, job: AnyJob) -> bool:
        watchers = self.store.watchers(job.id)
        if not watchers:
            return False
        now = time.time()
        if self.session_alive is not None:
            for session in watchers:
                if self.session_alive(session):
                    self.store.watch(job.id, session, now)
                    watchers[session] = now
        return all(now - seen > self.grace for seen in watchers.values())


class LocalTrainers:
    """Trains jobs on `max_concurrent` threads, batching the runs that can train together. Sets torch's
    intra-op thread count for the process (threads_per_job): one per process. Without `leaving`, runs
    always finish. `on_put(job_id)` hears of every job put here (a worker holds its copies by it)."""

    def __init__(
        self,
        store: ClassStore,
        max_concurrent: int = 2,
        max_batch: int = batching.MAX_BATCH,
        batch_window: float = BATCH_WINDOW_S,
        join_running: bool = JOIN_RUNNING,
        leaving: Leaving | None = None,
        on_put: Callable[[str], None] | None = None,
        stop_at_exit: bool = True,
    ):
        torch.set_num_threads(threads_per_job(max_concurrent))
        self.store, self.leaving, self.on_put = store, leaving, on_put
        self.max_concurrent = max_concurrent
        self.scheduler = BatchScheduler(max_batch, join_running, batch_window)
        self.batch_log: deque[dict] = deque(maxlen=500)  # the batches trained: size, data set, seconds
        self._resumes: dict[str, Trainer] = {}  # copies waiting to go on from another run's step
        self._pool = ThreadPoolExecutor(
            max_workers=max_concurrent, thread_name_prefix="dann-job", initializer=name_trainer_thread
        )
        self._busy = 0  # threads training now
        self._lock = threading.Lock()  # guards the scheduler, _resumes and _busy
        self.stop_at_exit = stop_at_exit
        if stop_at_exit:
            # At interpreter exit the pool's threads are joined: stop the runs first, or a long run would
            # keep a finished test session or a stopped server alive until it ends. (This hook runs before
            # that join; plain atexit would run after it.) A worker leaves its runs to the others instead.
            getattr(threading, "_register_atexit", atexit.register)(self.stop_all)

    # --- the WorkQueue ---
    def put(self, job: AnyJob, resume: Trainer | None = None) -> None:
        """Queue `job`; `resume`: the trainer a copy goes on from (another run's, at its step)."""
        group, joinable = None, False
        if isinstance(job, Job) and resume is None and self.scheduler.max_batch > 1:
            group = batching.batch_group(job.config)
            joinable = group is not None and batching.accepts_members(job.config)
        if self.on_put is not None:
            self.on_put(job.id)
        with self._lock:
            if resume is not None:
                self._resumes[job.id] = resume
            self.scheduler.enqueue(Ticket(job.id, group, joinable, job.submitted_at))
        self._pool.submit(self._turn)

    def withdraw(self, job_id: str) -> bool:
        with self._lock:
            self._resumes.pop(job_id, None)  # a steered copy stopped while queued: its weights go too
            return self.scheduler.withdraw(job_id)

    def position(self, job_id: str) -> int:
        with self._lock:
            return self.scheduler.position(job_id)

    def idle(self) -> bool:
        with self._lock:
            return not self.scheduler.queue and self._busy == 0

    def free_cores(self) -> int:
        with self._lock:
            busy = self._busy
        return max(1, (os.cpu_count() or 1) - busy * threads_per_job(self.max_concurrent))

    def close(self) -> None:
        if self.stop_at_exit:
            self.stop_all()
        self._pool.shutdown(wait=False, cancel_futures=True)

    def stop_all(self) -> None:
        for job in self.store.jobs(QUEUED, RUNNING):
            self.store.request_stop(job.id)

    def held_trainers(self) -> int:
        """Copies waiting with another run's weights (each holds a network in memory)."""
        with self._lock:
            return len(self._resumes)

    # --- a thread's turn ---
    def _turn(self) -> None:
        """One thread's turn: take the next batch from the scheduler and train it."""
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
            jobs = [j for j in self.store.get_many(batch.ids) if j is not None]
            if not jobs:
                self.close_batch(batch)
            elif isinstance(jobs[0], SweepJob):
                SweepRun(self, jobs[0]).train()
            elif batch.group is not None:
                BatchRun(self, batch, jobs).train()  # it decides whether a lone run trains as a batch others may join
            else:
                LoneRun(self, jobs[0], resume).train()
        finally:
            with self._lock:
                self._busy -= 1

    # --- what the runners call (runners.Host) ---
    def abandoned(self, job: AnyJob) -> bool:
        return self.leaving is not None and self.leaving.abandoned(job)

    def resume(self, copy_id: str, trainer: Trainer) -> None:
        """A copy of a run goes on from `trainer` (another run's, at its current step), with its own lambda."""
        value = self.store.take_lambda(copy_id)
        if value is not None:
            trainer.set_lambda(value)
        self.store.continue_from(copy_id, trainer.history, trainer.snapshots, trainer.lambda_changes)
        if (copy := self.store.get(copy_id)) is not None:
            self.put(copy, resume=trainer)

    def restart(self, copy_id: str) -> None:
        """A copy that found no run to copy (it was queued, or had just ended) trains from step 0 with its
        own lambda."""
        self.store.restart(copy_id)
        if (copy := self.store.get(copy_id)) is not None:
            self.put(copy)

    def built(self, batch: Batch) -> None:
        with self._lock:
            self.scheduler.built(batch)

    def joiners(self, batch: Batch) -> list[Job]:
        with self._lock:
            tickets = self.scheduler.joiners(batch)
        return [j for j in self.store.get_many([t.id for t in tickets]) if isinstance(j, Job)]

    def left(self, batch: Batch, job_id: str) -> None:
        with self._lock:
            self.scheduler.left(batch, job_id)

    def close_batch(self, batch: Batch) -> None:
        """`batch` takes no more members: runs of its group left for it get a thread's turn."""
        with self._lock:
            waiting = self.scheduler.close(batch)
        if waiting:
            self._pool.submit(self._turn)

    def log_batch(self, entry: dict) -> None:
        self.batch_log.append(entry)
