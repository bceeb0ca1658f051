"""The job manager: what pages call. Submit a run or a sweep, steer lambda, stop, ask where a job
stands. Identical untouched runs are shared and finished ones come from the cache; every piece of
state that sessions share goes through the store (store.py), and a job to train goes to the work
queue (queue.py): this process's trainers, or the class's work stream in a cluster.

The page's script thread never trains: a trainer appends progress to the store and the page reads it
on each redraw, so a rerun (any widget) never touches the training.
"""

from __future__ import annotations

from typing import Any

from dann_demo.config import RunConfig
from dann_demo.jobs.job import FAILED, FINISHED, QUEUED, RUNNING, STOPPED, AnyJob, Job, SweepJob
from dann_demo.jobs.queue import WorkQueue
from dann_demo.jobs.store import ClassStore, MemoryStore
from dann_demo.jobs.trainers import Leaving, LocalTrainers


class JobManager:
    """One per process, shared by every session. By default the class's state is in this process
    (MemoryStore) and its runs train here (LocalTrainers, built from `trainers`: max_concurrent,
    max_batch, batch_window, join_running); `session_alive(id)` tells whether a watching session is still
    connected, and with it a run whose watchers have all left is stopped (cancel on leaving)."""

    def __init__(
        self,
        store: ClassStore | None = None,
        queue: WorkQueue | None = None,
        *,
        cache_entries: int = 32,
        session_alive=None,
        **trainers: Any,
    ):
        if queue is not None and (trainers or session_alive is not None):
            raise TypeError("trainer settings and session_alive are the default queue's: give them to your queue")
        self.store: ClassStore = store if store is not None else MemoryStore(cache_entries)
        if queue is None:
            leaving = Leaving(self.store, session_alive) if session_alive is not None else None
            queue = LocalTrainers(self.store, leaving=leaving, **trainers)
        self.queue: WorkQueue = queue

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
        self.queue.put(job)
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
        """Start (or reuse) a lambda sweep; it takes one trainer like a run (same concurrency cap), and
        stops when every session watching it has left."""
        job = SweepJob(base, list(lambdas), list(seeds), references)
        if use_cache and (cached := self.store.cached_sweep(job.key)) is not None:
            job.status, job.runs, job.fraction, job.from_cache = FINISHED, cached, 1.0, True
            self.store.add(job, watcher)
            return job
        self.store.add(job, watcher)
        self.queue.put(job)
        return job

    # --- steering ---
    def set_lambda(self, job: Job, value: float, watcher: str | None = None) -> Job:
        """Steer `job` for `watcher`; returns the job that now carries the watcher's run.

        A run shared with other sessions is not steered under their feet: the watcher gets its own copy
        of the run from the current step (made between two steps, by whoever trains it), and steers that.
        The caller moves whatever names the watcher's run (a room entry) to the job returned."""
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
        if not self.store.request_copy(job.id, copy.id):  # still queued: nothing to copy, so from step 0
            self.store.restart(copy.id)
            self.queue.put(copy)
        return copy

    def stop(self, job: AnyJob, watcher: str | None = None) -> None:
        """Stop `job` for `watcher`: a run other sessions still watch goes on for them. A queued job that
        nobody wants any more leaves the queue at once."""
        left = self.store.unwatch(job.id, watcher) if watcher is not None else 0
        if watcher is not None and left:
            return
        self.store.request_stop(job.id)
        if self.queue.withdraw(job.id):
            self.store.add_notice(job.id, "Stopped before it started.")
            self.store.set_status(job.id, STOPPED)

    def close(self) -> None:
        """The process is going: the queue ends its threads (this process's trainers stop their runs)."""
        self.queue.close()

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
        """How many queued jobs start before this one (0 = next to start)."""
        return self.queue.position(job.id)

    def idle(self) -> bool:
        """Nothing queued and nothing training."""
        return self.queue.idle()

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
        """CPU cores no trainer of this machine is using (at least 1): what a projection may take."""
        return self.queue.free_cores()
