"""`dann-playground worker`: a training worker of a class beyond one process (docs/deploy.md).

It takes runs from the class's work stream in Redis (work_stream.py) and trains them with the same
continuous batching as one process (the one-process JobManager and LocalTrainers, fed from the stream),
reporting to the Redis store that every app process reads. One worker per GPU, or per core or two on a
CPU box. It also looks after the others: a worker whose heartbeat has gone quiet has died, and its runs
are claimed here and trained again from step 0, with a notice on the student's page.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
import threading
import time

import redis
import torch

from dann_demo import devices
from dann_demo.jobs.cluster import WATCH_TIMEOUT_S
from dann_demo.jobs.job import QUEUED, Status
from dann_demo.jobs.redis_store import RedisStore
from dann_demo.jobs.trainers import Leaving, LocalTrainers
from dann_demo.jobs.work_stream import HEARTBEAT_S, HEARTBEAT_TTL_S, WorkStream, worker_name
from dann_demo.method import batching

log = logging.getLogger("dann_demo.jobs.worker")

CLAIMED = "Its training worker stopped, so this run started again from step 0 on another."
RECLAIM_S = 2.0  # how often a worker looks for dead ones
OUTAGE_S = 3.0  # a turn of the loop this long was a wait for Redis (a turn blocks at most 0.5 s otherwise)


class RedisUnreachable(RuntimeError):
    pass


def check_redis(url: str) -> RedisStore:
    """A store for `url`, or RedisUnreachable with one line that says what was tried."""
    store = RedisStore(url, prefix=os.environ.get("DANN_REDIS_PREFIX", "dann"))
    try:
        store.ping()
    except (redis.ConnectionError, redis.TimeoutError, ValueError) as e:
        raise RedisUnreachable(f"cannot reach Redis at {url} ({e}); start redis-server or fix DANN_REDIS_URL") from e
    return store


class Worker:
    """Takes runs from the work stream into this process's trainers (LocalTrainers, as in one process)
    and acknowledges each entry once its run has ended."""

    def __init__(
        self, url: str, jobs: int = 1, name: str | None = None, max_batch: int = batching.MAX_BATCH, threads: int = 1
    ):
        check_redis(url)
        self.name = name or worker_name()
        prefix = os.environ.get("DANN_REDIS_PREFIX", "dann")
        # Retry for ever once running: a Redis that goes away pauses the training until it is back.
        self.store = RedisStore(url, prefix=prefix, wait=True)
        self.stream = WorkStream(self.store.r, prefix)
        self.stream.ensure_group()
        self.entries: dict[str, str] = {}  # job id -> its stream entry, until the run ends
        self._local: set[str] = set()  # copies trained here without an entry
        self._held_lock = threading.Lock()
        # A run's watchers are known by when the app processes last said they were there (cluster.WatchBeat).
        self.trainers = LocalTrainers(
            self.store,
            max_concurrent=jobs,
            max_batch=max_batch,
            leaving=Leaving(self.store, grace=WATCH_TIMEOUT_S),
            on_put=self._hold,
            stop_at_exit=False,  # a worker that goes away leaves its runs to the others, it stops none
        )
        torch.set_num_threads(threads)  # a worker per core (or two): its own share, not the machine's
        # Runs it holds at once: a batch of max_batch per concurrent slot; the rest wait in the stream for
        # whichever worker has room first.
        self.capacity = max(1, jobs * max_batch)
        self._stop = threading.Event()

    # --- what this worker holds ---
    def take(self, job_id: str, entry_id: str, notice: str | None = None) -> None:
        """Train a run taken from the stream (or claimed from a dead worker: from step 0, with `notice`)."""
        job = self.store.get(job_id)
        if job is None or job.done:
            self.stream.done(entry_id)
            return
        if notice:
            self.store.restart(job_id, notice)
            self.store.set_status(job_id, QUEUED)
            job = self.store.get(job_id)
        with self._held_lock:
            self.entries[job_id] = entry_id
        self.trainers.put(job)

    def _hold(self, job_id: str) -> None:
        """A copy of a run (resumed from its weights, or from step 0 when there was nothing to copy) trains
        here; the stream has no entry for it, so the worker holds it in its local set."""
        with self._held_lock:
            if job_id not in self.entries and job_id not in self._local:
                self._local.add(job_id)
                self.stream.hold_local(self.name, job_id)

    def held(self) -> int:
        with self._held_lock:
            return len(self.entries) + len(self._local)

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
                self.stream.done(entry_id)
            else:
                self.stream.drop_local(self.name, job_id)

    def beat_for_ever(self) -> None:
        while not self._stop.is_set():
            try:
                self.stream.beat(self.name)
            except redis.RedisError as e:
                log.warning("heartbeat failed: %s", e)
            self._stop.wait(HEARTBEAT_S)

    def stop(self, *_args) -> None:
        self._stop.set()

    def run(self) -> None:
        self.stream.beat(self.name)
        threading.Thread(target=self.beat_for_ever, name="dann-heartbeat", daemon=True).start()
        log.info("worker %s: taking runs from %s", self.name, self.stream.stream)
        last_reclaim = 0.0
        # Since when Redis has answered without a break: after an outage every heartbeat has expired, so a
        # worker looks for dead ones only once the live ones have had time to beat again.
        connected_since = time.monotonic()
        while not self._stop.is_set():
            began = time.monotonic()
            try:
                self.release_ended()
                now = time.monotonic()
                if now - last_reclaim > RECLAIM_S and now - connected_since > HEARTBEAT_TTL_S:
                    last_reclaim = time.monotonic()
                    self.reclaim()
                room = self.capacity - self.held()
                if room <= 0:
                    self._stop.wait(0.2)
                    continue
                for entry_id, job_id in self.stream.take(self.name, room, block_ms=500):
                    self.take(job_id, entry_id)
                if time.monotonic() - began > OUTAGE_S:  # the client waited for Redis to come back
                    connected_since = time.monotonic()
            except redis.RedisError as e:  # Redis away: say so once a second, go on when it is back
                log.warning("worker %s: Redis unreachable (%s); trying again", self.name, e)
                self._stop.wait(1.0)
                connected_since = time.monotonic()
        # Leaving: what ended is acknowledged; what still trains here is left pending, and with this
        # worker's heartbeat gone another claims it at once (from step 0), as if this one had died.
        with contextlib.suppress(redis.RedisError):
            self.release_ended()
            self.stream.leave(self.name)

    def reclaim(self) -> None:
        for dead in self.stream.dead_workers(self.name):
            claimed, local = self.stream.claim(dead, self.name)
            if claimed or local:
                log.warning("worker %s died: %d run(s) claimed, %d copies requeued", dead, len(claimed), len(local))
            for entry_id, job_id in claimed:
                self.take(job_id, entry_id, notice=CLAIMED)
            for job_id in local:
                job = self.store.get(job_id)
                if job is not None and not job.done:
                    self.store.restart(job_id, CLAIMED)
                    self.store.set_status(job_id, QUEUED)
                    self.stream.submit(job_id)


def serve(url: str, jobs: int = 1, device: str = "auto", name: str | None = None, threads: int = 1) -> int:
    """The `worker` command: train the class's runs until SIGTERM or Ctrl-C."""
    devices.check_device(device)
    devices.AUTO = device
    worker = Worker(url, jobs=jobs, name=name, threads=threads)
    signal.signal(signal.SIGTERM, worker.stop)
    signal.signal(signal.SIGINT, worker.stop)
    where = devices.device_label(devices.resolve_device(device))
    print(f"worker {worker.name}: training on {where}, {jobs} batch(es) at once, {threads} thread(s); Redis {url}")
    worker.run()
    print(f"worker {worker.name}: stopped; its unfinished runs go to the other workers", flush=True)
    sys.stderr.flush()
    os._exit(0)  # the training threads are not waited for: their runs are another worker's now
