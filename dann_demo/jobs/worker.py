"""`dann-playground worker`: a training worker of a class beyond one process (docs/deploy.md).

It takes runs from the class's work stream in Redis (work_queue.py) and trains them with the same
continuous batching as one process (a WorkerManager: the one-process JobManager fed from the stream),
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
from dann_demo.jobs.cluster import WorkerManager
from dann_demo.jobs.job import QUEUED
from dann_demo.jobs.redis_store import RedisStore
from dann_demo.jobs.work_queue import HEARTBEAT_S, HEARTBEAT_TTL_S, WorkQueue, worker_name
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
    def __init__(
        self, url: str, jobs: int = 1, name: str | None = None, max_batch: int = batching.MAX_BATCH, threads: int = 1
    ):
        check_redis(url)
        self.name = name or worker_name()
        prefix = os.environ.get("DANN_REDIS_PREFIX", "dann")
        # Retry for ever once running: a Redis that goes away pauses the training until it is back.
        self.store = RedisStore(url, prefix=prefix, wait=True)
        self.work = WorkQueue(self.store.r, prefix)
        self.work.ensure_group()
        self.manager = WorkerManager(self.store, self.name, max_concurrent=jobs, max_batch=max_batch)
        torch.set_num_threads(threads)  # a worker per core (or two): its own share, not the machine's
        # Runs it holds at once: a batch of max_batch per concurrent slot; the rest wait in the stream for
        # whichever worker has room first.
        self.capacity = max(1, jobs * max_batch)
        self._stop = threading.Event()

    def beat_for_ever(self) -> None:
        while not self._stop.is_set():
            try:
                self.work.beat(self.name)
            except redis.RedisError as e:
                log.warning("heartbeat failed: %s", e)
            self._stop.wait(HEARTBEAT_S)

    def stop(self, *_args) -> None:
        self._stop.set()

    def run(self) -> None:
        self.work.beat(self.name)
        threading.Thread(target=self.beat_for_ever, name="dann-heartbeat", daemon=True).start()
        log.info("worker %s: taking runs from %s", self.name, self.work.stream)
        last_reclaim = 0.0
        # Since when Redis has answered without a break: after an outage every heartbeat has expired, so a
        # worker looks for dead ones only once the live ones have had time to beat again.
        connected_since = time.monotonic()
        while not self._stop.is_set():
            began = time.monotonic()
            try:
                self.manager.release_ended()
                now = time.monotonic()
                if now - last_reclaim > RECLAIM_S and now - connected_since > HEARTBEAT_TTL_S:
                    last_reclaim = time.monotonic()
                    self.reclaim()
                room = self.capacity - self.manager.held()
                if room <= 0:
                    self._stop.wait(0.2)
                    continue
                for entry_id, job_id in self.work.take(self.name, room, block_ms=500):
                    self.manager.take(job_id, entry_id)
                if time.monotonic() - began > OUTAGE_S:  # the client waited for Redis to come back
                    connected_since = time.monotonic()
            except redis.RedisError as e:  # Redis away: say so once a second, go on when it is back
                log.warning("worker %s: Redis unreachable (%s); trying again", self.name, e)
                self._stop.wait(1.0)
                connected_since = time.monotonic()
        # Leaving: what ended is acknowledged; what still trains here is left pending, and with this
        # worker's heartbeat gone another claims it at once (from step 0), as if this one had died.
        with contextlib.suppress(redis.RedisError):
            self.manager.release_ended()
            self.work.leave(self.name)

    def reclaim(self) -> None:
        for dead in self.work.dead_workers(self.name):
            claimed, local = self.work.claim(dead, self.name)
            if claimed or local:
                log.warning("worker %s died: %d run(s) claimed, %d copies requeued", dead, len(claimed), len(local))
            for entry_id, job_id in claimed:
                self.manager.take(job_id, entry_id, notice=CLAIMED)
            for job_id in local:
                job = self.store.get(job_id)
                if job is not None and not job.done:
                    self.store.restart(job_id, CLAIMED)
                    self.store.set_status(job_id, QUEUED)
                    self.work.submit(job_id)


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
