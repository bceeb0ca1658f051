"""What trains a job: a lone run (a Trainer), a batch (an EnsembleTrainer whose members are jobs), a
lambda sweep. Each runner is the training loop's Events (loop.py): between two steps it applies what
sessions asked through the store (lambda, Stop, copies to steer), and it reports records, pictures,
the end and a failure to the store in one way (`Runner.report_*`).
"""

from __future__ import annotations

import logging
import math
import time
from typing import Protocol

import torch

from dann_demo.config import ConfigError
from dann_demo.datasets import DataFileError
from dann_demo.jobs.job import FINISHED, RUNNING, STOPPED, Job, SweepJob
from dann_demo.jobs.scheduler import Batch
from dann_demo.jobs.store import ClassStore
from dann_demo.method import loop
from dann_demo.method.ensemble import EnsembleTrainer
from dann_demo.method.results import FeatureSnapshot, ProgressRecord, RunResult
from dann_demo.method.train import Trainer, TrainingDiverged, exploding_loss_note

log = logging.getLogger("dann_demo.jobs")

PICTURE_SECONDS = 0.25  # how often a lone running job refreshes its input-plane or gallery picture
BATCH_PICTURE_SECONDS = 1.0  # the same for each member of a batch (K pictures cost K times one)
# From this many runs at once a batch draws no pictures mid-run: a class's pages draw none while their
# runs train (pages/pace.py), and K pictures per record would slow the class's training.
CLASS_RUNS = 6
LEAVE_CHECK_STEPS = 64  # steps between two looks at whether a run's sessions have all left
ABANDONED = "Stopped: every session watching this run has left."
NOT_STARTED = "Not started: nobody is watching this run any more."


class Host(Protocol):
    """What runners need of the manager that started them."""

    store: ClassStore

    def abandoned(self, job: Job | SweepJob) -> bool: ...
    def resume(self, copy_id: str, trainer: Trainer) -> None: ...  # a copy goes on from `trainer`
    def restart(self, copy_id: str) -> None: ...  # a copy with nothing to copy trains from step 0
    def built(self, batch: Batch) -> None: ...
    def joiners(self, batch: Batch) -> list[Job]: ...
    def left(self, batch: Batch, job_id: str) -> None: ...
    def close_batch(self, batch: Batch) -> None: ...
    def log_batch(self, entry: dict) -> None: ...


def failure_message(error: Exception) -> str:
    """What the page says of a run that raised: the error's own words where it is the user's to fix."""
    if isinstance(error, (TrainingDiverged, DataFileError, ConfigError)):
        return str(error)
    return f"The run failed: {type(error).__name__}: {error}"


class Runner(loop.Events):
    def __init__(self, host: Host):
        self.host, self.store = host, host.store

    # --- one way to report ---
    def report_end(self, job: Job, result: RunResult) -> None:
        """A run ended with a result: the store keeps it (and the cache, when it is its config's result),
        and copies asked for as it ended train from step 0."""
        if note := exploding_loss_note(result.history):
            self.store.add_notice(job.id, note)
        status = STOPPED if result.metrics["stopped"] else FINISHED
        self.store.finish(job.id, result, status)
        # Only an untouched, complete run is the result of its config; a steered one is not.
        if status == FINISHED and not result.lambda_changes:
            self.store.cache_result(job.config.stable_hash(), result)
        self._orphans(job)

    def report_failure(self, job: Job, error: Exception) -> None:
        if not isinstance(error, (TrainingDiverged, DataFileError, ConfigError)):
            log.error("job %s failed", job.id, exc_info=error)
        self.store.fail(job.id, failure_message(error))
        self._orphans(job)

    def _orphans(self, job: Job) -> None:
        for copy_id in self.store.take_copies(job.id):
            self.host.restart(copy_id)

    def begin(self, job: Job | SweepJob) -> bool:
        """The job starts training (True), unless nobody wants it any more (not_started)."""
        if self.not_started(job):
            return False
        self.store.set_status(job.id, RUNNING)
        return True

    def not_started(self, job: Job | SweepJob) -> bool:
        """A queued job that was stopped, or whose every watcher left, does not start."""
        stopped = self.store.stop_requested(job.id)
        if stopped or self.host.abandoned(job):
            self.store.add_notice(job.id, NOT_STARTED)
            self.store.set_status(job.id, STOPPED)
            log.info("run %s not started (%s)", job.id, "stopped" if stopped else "its sessions left")
            return True
        return False

    def leave_if_abandoned(self, job: Job | SweepJob, step: int) -> None:
        """Cancel on leaving: every LEAVE_CHECK_STEPS steps, a job nobody watches any more is stopped."""
        if step % LEAVE_CHECK_STEPS == 0 and self.host.abandoned(job):
            self.store.add_notice(job.id, ABANDONED)
            self.store.request_stop(job.id)


class LoneRun(Runner):
    """One job trained by its own Trainer (or one it resumes: a copy of another run)."""

    def __init__(self, host: Host, job: Job, trainer: Trainer | None = None):
        super().__init__(host)
        self.job, self.trainer = job, trainer
        self._last_picture = -math.inf

    def train(self) -> None:
        job = self.job
        if not self.begin(job):
            return
        try:
            self._train(self.trainer or Trainer(job.config))
        except torch.OutOfMemoryError:
            # A full GPU should not end the lesson: run the same config on the CPU instead.
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
            self.store.restart(job.id, "The GPU ran out of memory, so this run continued on the CPU.")
            try:
                self._train(Trainer(job.config.replace(device="cpu")))
            except Exception as e:  # noqa: BLE001 - reported to the user
                self.report_failure(job, e)
        except Exception as e:  # noqa: BLE001 - a job that raises is reported, never a traceback
            self.report_failure(job, e)
        finally:
            if torch.cuda.is_available():
                torch.cuda.empty_cache()

    def _train(self, trainer: Trainer) -> None:
        self.trainer = trainer
        self._apply_lambda()
        self.report_end(self.job, trainer.run(events=self))

    def _apply_lambda(self) -> None:
        value = self.store.take_lambda(self.job.id)
        if value is not None:
            self.trainer.set_lambda(value)
            self.store.set_progress(self.job.id, lambda_changes=list(self.trainer.lambda_changes))

    # --- the loop's events ---
    def between_steps(self, stepper) -> None:
        self._apply_lambda()
        for copy_id in self.store.take_copies(self.job.id):
            self.host.resume(copy_id, self.trainer.clone())
        self.leave_if_abandoned(self.job, self.trainer.step)

    def on_record(self, i: int, record: ProgressRecord) -> None:
        # Refreshing the pictures more often than a page redraws only slows training (on moons the input
        # plane costs twice what the record itself does).
        plane = gallery = None
        now = time.perf_counter()
        if now - self._last_picture >= PICTURE_SECONDS or record.step == self.job.config.steps:
            self._last_picture = now
            plane, gallery = self.trainer.pictures()
        if self.trainer.notice:  # e.g. a CUDA graph that could not be captured
            self.store.add_notice(self.job.id, self.trainer.notice)
        self.store.add_record(self.job.id, record, plane, gallery)

    def on_snapshot(self, i: int, snapshot: FeatureSnapshot) -> None:
        self.store.add_snapshot(self.job.id, snapshot)

    def should_stop(self) -> bool:
        return self.store.stop_requested(self.job.id)


class BatchRun(Runner):
    """Jobs of one group trained as one EnsembleTrainer, which later jobs of the group join while it
    trains (where the batch is joinable). Each member reports to its own job."""

    def __init__(self, host: Host, batch: Batch, jobs: list[Job]):
        super().__init__(host)
        self.batch, self.jobs = batch, jobs
        self.members: list[Job] = []  # member number -> its job
        self.ensemble: EnsembleTrainer | None = None
        self._last_picture: dict[int, float] = {}
        # Members that ended, by job id: kept here, not read off the jobs, which in a shared store are
        # copies read when the batch started.
        self.ended: set[str] = set()

    def train(self) -> None:
        batch, host = self.batch, self.host
        jobs = [j for j in self.jobs if not self.not_started(j)]
        if not jobs or (len(jobs) == 1 and not batch.joinable):
            return self._alone(jobs)
        try:
            self.ensemble = EnsembleTrainer([j.config for j in jobs])
        except Exception as e:  # noqa: BLE001 - the grouped model cannot take these: train them one by one
            log.warning("batch of %d could not be built (%s); training them one by one", len(jobs), e)
            return self._alone(jobs)
        for job in jobs:
            self._start(len(self.members), job)
        host.built(batch)
        dataset, started = jobs[0].config.dataset, time.perf_counter()
        log.info("batch of %d %s runs started", len(jobs), dataset)
        try:
            outcomes = self.ensemble.run(self)
        except Exception as e:  # noqa: BLE001 - one batch's failure must not end 30 students' runs
            log.exception("batch of %d failed; training its runs one by one", len(self.members))
            host.close_batch(batch)
            for job in self.members:
                if job.id not in self.ended:
                    self.store.restart(job.id, f"Trained alone: the batch it was in failed ({type(e).__name__}).")
                    LoneRun(host, job).train()
            return
        finally:
            host.close_batch(batch)
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
        for i, outcome in enumerate(outcomes):
            # Every member ends through on_end or its Stop; this is the safety net.
            if self.members[i].id not in self.ended:
                self.on_end(i, outcome)
        seconds = round(time.perf_counter() - started, 2)
        most = max(self.ensemble.company(i) for i in range(len(self.members)))
        if len(self.members) > 1:
            host.log_batch({"size": len(self.members), "most_at_once": most, "dataset": dataset, "seconds": seconds})
        log.info("batch of %d %s runs done in %.1f s (at most %d at once)", len(self.members), dataset, seconds, most)

    def _alone(self, jobs: list[Job]) -> None:
        self.host.close_batch(self.batch)
        for job in jobs:
            LoneRun(self.host, job).train()

    def _start(self, i: int, job: Job) -> None:
        self.members.append(job)
        self.store.set_status(job.id, RUNNING)
        self._apply_lambda(i)

    def _apply_lambda(self, i: int) -> None:
        value = self.store.take_lambda(self.members[i].id)
        if value is not None:
            self.ensemble.set_member_lambda(i, value)
            self.store.set_progress(self.members[i].id, lambda_changes=self.ensemble.lambda_changes(i))

    def _ended(self, i: int, outcome: RunResult | TrainingDiverged) -> None:
        job = self.members[i]
        self.ended.add(job.id)
        self.host.left(self.batch, job.id)
        if isinstance(outcome, TrainingDiverged):
            self.report_failure(job, outcome)
        else:
            self.report_end(job, outcome)

    # --- the loop's events ---
    def between_steps(self, stepper) -> None:
        e = self.ensemble
        for i in e.training:
            job = self.members[i]
            self._apply_lambda(i)
            for copy_id in self.store.take_copies(job.id):
                self.host.resume(copy_id, e.member_trainer(i))
            self.leave_if_abandoned(job, e.step)
            if self.store.stop_requested(job.id):
                self._ended(i, e.stop_member(i))
        if not e.admits_now:
            return
        joined = 0
        for job in self.host.joiners(self.batch):
            if self.not_started(job):
                self.host.left(self.batch, job.id)
                continue
            try:
                i = e.add_member(job.config)
            except Exception as error:  # noqa: BLE001 - say why (a data file gone, say); the batch goes on
                self.host.left(self.batch, job.id)
                self.report_failure(job, error)
                continue
            self._start(i, job)
            joined += 1
        if joined:
            log.info("%d %s run(s) joined a batch; %d training in it", joined, job.config.dataset, e.k)

    def on_record(self, i: int, record: ProgressRecord) -> None:
        e, job, now = self.ensemble, self.members[i], time.perf_counter()
        if job.batch_size != e.company(i):
            self.store.set_progress(job.id, batch_size=e.company(i))
        # A lone member refreshes its picture as often as a run alone; K pictures cost K times one; a class's
        # batch draws none mid-run.
        every = PICTURE_SECONDS if e.k == 1 else BATCH_PICTURE_SECONDS
        last = record.step == job.config.steps
        if e.k >= CLASS_RUNS and not last:
            every = math.inf
        plane = gallery = None
        if last or now - self._last_picture.get(i, -math.inf) >= every:
            self._last_picture[i] = now
            plane, gallery = e.pictures(i)
        self.store.add_record(job.id, record, plane, gallery)

    def on_snapshot(self, i: int, snapshot: FeatureSnapshot) -> None:
        self.store.add_snapshot(self.members[i].id, snapshot)

    def on_end(self, i: int, outcome: RunResult | TrainingDiverged) -> None:
        self._ended(i, outcome)


class SweepRun(Runner):
    """A lambda sweep (sweep.run_sweep) on one worker, stopped when every session watching it has left."""

    def __init__(self, host: Host, job: SweepJob):
        super().__init__(host)
        self.job = job
        self._last_check = time.monotonic()

    def train(self) -> None:
        from dann_demo.experiments.sweep import run_sweep

        job = self.job
        if not self.begin(job):
            return
        try:
            runs = run_sweep(
                job.base,
                job.lambdas,
                job.seeds,
                references=job.references,
                on_progress=lambda f: self.store.set_progress(job.id, fraction=f),
                should_stop=self.should_stop,
            )
        except Exception as e:  # noqa: BLE001 - reported to the user, never a traceback
            log.exception("sweep %s failed", job.id)
            self.store.fail(job.id, f"The sweep failed: {type(e).__name__}: {e}")
            return
        finally:
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
        stopped = self.store.stop_requested(job.id)
        self.store.finish_sweep(job.id, runs, STOPPED if stopped else FINISHED)
        if not stopped:
            self.store.cache_sweep(job.key, runs)

    def should_stop(self) -> bool:
        # Cancel on leaving, as for runs: checked every 2 s, not every step.
        if time.monotonic() - self._last_check > 2.0:
            self._last_check = time.monotonic()
            if self.host.abandoned(self.job):
                self.store.add_notice(self.job.id, "Stopped: every session watching this sweep has left.")
                self.store.request_stop(self.job.id)
        return self.store.stop_requested(self.job.id)
