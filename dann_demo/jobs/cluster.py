"""A class beyond one process: the job manager of an app process that trains nothing (its runs go to the
training workers through Redis), and the one a training worker runs.

    app process (ClusterManager)          Redis                       worker (WorkerManager, worker.py)
    submit -> store.add, work.submit  ->  {p}:work stream        ->  take -> its own BatchScheduler,
    pages read the store              <-  jobs, records, results <-  runners report to the store
    Stop, lambda -> store             ->  asked sets             ->  runners take them between steps
    heartbeat: watchers still here    ->  watchers hashes        ->  a run nobody watches is stopped

Everything else (sharing identical runs, the result cache, copies of a steered run, continuous
batching) is the one-process JobManager's, unchanged: these two only replace where a run waits and how
a worker knows its watchers are still there.
"""

from __future__ import annotations

import logging
import os
import threading
import time

from dann_demo.jobs.job import QUEUED, RUNNING, AnyJob, Status
from dann_demo.jobs.manager import LEAVE_GRACE_SECONDS, JobManager
from dann_demo.jobs.redis_store import RedisStore
from dann_demo.jobs.work_queue import WorkQueue
from dann_demo.method.train import Trainer

log = logging.getLogger("dann_demo.jobs")

WATCH_BEAT_S = 2.0  # how often an app process says which of its sessions still watch their runs
# A worker stops a run whose every watcher has been silent this long: a page reload or a landing on
# another app process comes back sooner.
WATCH_TIMEOUT_S = LEAVE_GRACE_SECONDS + 3 * WATCH_BEAT_S
NO_WORKER = "No training worker is running: the run waits until one starts (docs/deploy.md)."


class ClusterManager(JobManager):
    """The job manager of an app process in a cluster: submits to the work stream, trains nothing."""

    def __init__(self, store: RedisStore, session_alive=None, **kw):
        super().__init__(max_concurrent=1, store=store, session_alive=session_alive, **kw)
        self.work = WorkQueue(store.r, store.p)
        self.work.ensure_group()
        self._stop_beat = threading.Event()
        if session_alive is not None:
            threading.Thread(target=self._watch_beat, name="dann-watch-beat", daemon=True).start()

    def _enqueue(self, job: AnyJob, resume: Trainer | None = None) -> None:
        if resume is not None:  # copies resume in the worker that holds the weights, never here
            raise RuntimeError("an app process of a cluster trains nothing")
        self.work.submit(job.id)

    def _withdraw(self, job_id: str) -> bool:
        """A run still waiting in the stream: the worker that takes it sees it stopped and skips it."""
        return self.store.statuses([job_id])[job_id] == QUEUED

    def stop_all(self) -> None:
        """Nothing: the runs are the class's, not this process's; an app process that exits stops none."""

    def queue_position(self, job: AnyJob) -> int:
        return self.store.position(job.id)

    def idle(self) -> bool:
        return self.store.count(QUEUED, RUNNING) == 0

    def idle_cores(self) -> int:
        return os.cpu_count() or 1  # the workers train elsewhere

    def workers_alive(self) -> bool:
        return bool(self.work.workers())

    def close(self) -> None:
        """Stop saying which sessions watch (the process is going)."""
        self._stop_beat.set()

    def _watch_beat(self) -> None:
        """Every WATCH_BEAT_S: the sessions of this process that still watch a queued or running run say
        so, for the worker that would stop it once nobody does. Redis away: said once, tried again."""
        failing = False
        while not self._stop_beat.wait(WATCH_BEAT_S):
            try:
                now = time.time()
                for job_id, watchers in self.store.active_watchers().items():
                    for session in watchers:
                        if self.session_alive(session):
                            self.store.watch(job_id, session, now)
                failing = False
            except Exception as e:  # noqa: BLE001 - Redis away: the next beat tries again
                if not failing:
                    log.warning("watchers not refreshed (%s); trying again every %g s", e, WATCH_BEAT_S)
                failing = True


class WorkerManager(JobManager):
    """The job manager of a training worker: the one-process manager, fed from the work stream. It knows a
    run's watchers by when the app processes last said they were there."""

    def __init__(self, store: RedisStore, name: str, max_concurrent: int = 1, **kw):
        super().__init__(max_concurrent=max_concurrent, store=store, session_alive=None, **kw)
        self.name = name
        self.work = WorkQueue(store.r, store.p)
        self.entries: dict[str, str] = {}  # job id -> its stream entry, until the run ends
        self._local: set[str] = set()  # copies trained here without an entry
        self._held_lock = threading.Lock()

    def take(self, job_id: str, entry_id: str, notice: str | None = None) -> None:
        """Train a run taken from the stream (or claimed from a dead worker: from step 0, with `notice`)."""
        job = self.store.get(job_id)
        if job is None or job.done:
            self.work.done(entry_id)
            return
        if notice:
            self.store.restart(job_id, notice)
            self.store.set_status(job_id, QUEUED)
            job = self.store.get(job_id)
        with self._held_lock:
            self.entries[job_id] = entry_id
        super()._enqueue(job)

    def held(self) -> int:
        with self._held_lock:
            return len(self.entries) + len(self._local)

    def _enqueue(self, job: AnyJob, resume: Trainer | None = None) -> None:
        """A copy of a run (resumed from its weights, or from step 0 when there was nothing to copy) trains
        here; the stream has no entry for it, so the worker holds it in its local set."""
        with self._held_lock:
            if job.id not in self.entries:
                self._local.add(job.id)
                self.work.hold_local(self.name, job.id)
        super()._enqueue(job, resume)

    def release_ended(self) -> None:
        """Acknowledge the entries of the runs that have ended (finished, stopped, failed, or forgotten),
        and let go of ended copies: what this worker holds is what still trains or waits here."""
        with self._held_lock:
            entries, local = dict(self.entries), set(self._local)
        statuses = self.store.statuses([*entries, *local])
        for job_id, status in statuses.items():
            if status is not None and not Status(status).done:
                continue
            with self._held_lock:
                entry_id = self.entries.pop(job_id, None)
                self._local.discard(job_id)
            if entry_id is not None:
                self.work.done(entry_id)
            else:
                self.work.drop_local(self.name, job_id)

    def stop_all(self) -> None:
        """Nothing: a worker that goes away leaves its runs to the others (worker.py), it stops none."""

    def abandoned(self, job: AnyJob) -> bool:
        watchers = self.store.watchers(job.id)
        if not watchers:
            return False
        return all(time.time() - seen > WATCH_TIMEOUT_S for seen in watchers.values())
