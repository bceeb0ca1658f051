"""A class beyond one process: the work queue of an app process, which trains nothing (its runs go to the
training workers through Redis), and the beat by which it says which of its sessions still watch.

    app process (JobManager + StreamQueue)     Redis                      worker (worker.py: JobManager +
    submit -> store.add, stream.submit    ->   {p}:work stream       ->   LocalTrainers fed from the stream)
    pages read the store                  <-   jobs, records, results <-  runners report to the store
    Stop, lambda -> store                 ->   asked sets             ->  runners take them between steps
    WatchBeat: watchers still here        ->   watchers hashes        ->  a run nobody watches is stopped

Everything else (sharing identical runs, the result cache, copies of a steered run, continuous
batching) is the one JobManager's and the one LocalTrainers', in both shapes.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable

from dann_demo.jobs.job import QUEUED, RUNNING, AnyJob
from dann_demo.jobs.redis_keys import job_key
from dann_demo.jobs.redis_store import RedisStore
from dann_demo.jobs.trainers import LEAVE_GRACE_SECONDS
from dann_demo.jobs.work_stream import WorkStream

log = logging.getLogger("dann_demo.jobs")

WATCH_BEAT_S = 2.0  # how often an app process says which of its sessions still watch their runs
# A worker stops a run whose every watcher has been silent this long: a page reload or a landing on
# another app process comes back sooner.
WATCH_TIMEOUT_S = LEAVE_GRACE_SECONDS + 3 * WATCH_BEAT_S


def queue_position(store: RedisStore, job_id: str) -> int:
    """How many queued jobs were submitted before this one (0: next, or not queued)."""
    ids = list(store.r.smembers(f"{store.p}:status:queued"))
    if not ids:
        return 0
    mine = store.r.zscore(f"{store.p}:jobs", job_id)
    scores = store.r.zmscore(f"{store.p}:jobs", ids)
    return 0 if mine is None else sum(1 for s in scores if s is not None and s < mine)


def active_watchers(store: RedisStore) -> dict[str, dict[str, float]]:
    """The watchers of every queued or running job, in two round trips (no records, no pictures)."""
    ids = sorted({i.decode() for s in ("queued", "running") for i in store.r.smembers(f"{store.p}:status:{s}")})
    pipe = store.r.pipeline()
    for job_id in ids:
        pipe.hgetall(job_key(store.p, job_id, "watchers"))
    return {job_id: {k.decode(): float(v) for k, v in w.items()} for job_id, w in zip(ids, pipe.execute(), strict=True)}


class WatchBeat:
    """Every WATCH_BEAT_S, the sessions of this process that still watch a queued or running run say so,
    for the worker that would stop it once nobody does. Redis away: said once, tried again."""

    def __init__(self, store: RedisStore, session_alive: Callable[[str], bool]):
        self.store, self.session_alive = store, session_alive
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name="dann-watch-beat", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def _beat(self) -> None:
        failing = False
        while not self._stop.wait(WATCH_BEAT_S):
            try:
                now = time.time()
                for job_id, watchers in active_watchers(self.store).items():
                    for session in watchers:
                        if self.session_alive(session):
                            self.store.watch(job_id, session, now)
                failing = False
            except Exception as e:  # noqa: BLE001 - Redis away: the next beat tries again
                if not failing:
                    log.warning("watchers not refreshed (%s); trying again every %g s", e, WATCH_BEAT_S)
                failing = True


class StreamQueue:
    """The WorkQueue of an app process in a cluster: a job goes onto the class's work stream, and a worker
    trains it. Nothing trains here, so nothing here is stopped when the process goes."""

    def __init__(self, store: RedisStore, session_alive: Callable[[str], bool] | None = None):
        self.store = store
        self.stream = WorkStream(store.r, store.p)
        self.stream.ensure_group()
        self.beat = WatchBeat(store, session_alive) if session_alive is not None else None

    def put(self, job: AnyJob) -> None:
        self.stream.submit(job.id)

    def withdraw(self, job_id: str) -> bool:
        """A job still waiting in the stream: the worker that takes it sees it stopped and skips it."""
        return self.store.statuses([job_id])[job_id] == QUEUED

    def position(self, job_id: str) -> int:
        return queue_position(self.store, job_id)

    def idle(self) -> bool:
        return self.store.count(QUEUED, RUNNING) == 0

    def free_cores(self) -> int:
        return os.cpu_count() or 1  # the workers train elsewhere

    def close(self) -> None:
        if self.beat is not None:
            self.beat.close()
