"""The one training loop, for a Trainer (one run) and an EnsembleTrainer (runs side by side).

A stepper holds members (a Trainer has one, number 0) that each record at their own log steps,
take feature snapshots at set steps and end at their last step; `run` drives it and tells its caller
what happens through an `Events` object (minGPT's callbacks, as methods), until every member has
ended or the caller says stop.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Protocol

import torch

from dann_demo.config import RunConfig
from dann_demo.method.recorder import TrainingDiverged
from dann_demo.method.results import FeatureSnapshot, ProgressRecord, RunResult

Outcome = RunResult | TrainingDiverged
YIELD_EVERY = 16  # steps between two hand-overs of the interpreter to other threads


class Stepper(Protocol):
    """What the loop needs of a trainer: members numbered from 0, each at its own step."""

    config: RunConfig
    device: torch.device
    step: int  # steps the stepper has taken

    @property
    def training(self) -> list[int]: ...  # the members still training

    def own_step(self, i: int) -> int: ...
    def last_recorded(self, i: int) -> int: ...  # the step of member i's last record
    def record(self, due: list[int]) -> dict[int, ProgressRecord | TrainingDiverged]: ...
    def has_snapshot(self, i: int, step: int) -> bool: ...
    def snapshot(self, i: int) -> FeatureSnapshot: ...
    def end(self, i: int, stopped: bool) -> RunResult: ...  # member i's result; it trains no more
    def leave(self) -> None: ...  # members that ended give up their place
    def train_step(self) -> None: ...
    def add_seconds(self, seconds: float) -> None: ...  # time spent training, for the records


class Events:
    """What the loop tells its caller. Override what you need; each does nothing by default."""

    def between_steps(self, stepper: Stepper) -> None:
        """Before each step: steer members, let new ones join."""

    def on_record(self, i: int, record: ProgressRecord) -> None:
        """Member i recorded."""

    def on_snapshot(self, i: int, snapshot: FeatureSnapshot) -> None:
        """Member i took a feature snapshot."""

    def on_end(self, i: int, outcome: Outcome) -> None:
        """Member i reached its last step, or its loss went non-finite (a member its stepper stopped on its
        own is not reported: whoever stopped it has its result)."""

    def should_stop(self) -> bool:
        """Whether every member stops now (each keeps a record of the step it stopped at)."""
        return False


class Callbacks(Events):
    """Events from plain functions, for callers that need one or two."""

    def __init__(
        self,
        on_record: Callable[[int, ProgressRecord], None] | None = None,
        on_snapshot: Callable[[int, FeatureSnapshot], None] | None = None,
        on_end: Callable[[int, Outcome], None] | None = None,
        between_steps: Callable[[Stepper], None] | None = None,
        should_stop: Callable[[], bool] | None = None,
    ):
        self._functions = (on_record, on_snapshot, on_end, between_steps, should_stop)

    def on_record(self, i: int, record: ProgressRecord) -> None:
        if self._functions[0]:
            self._functions[0](i, record)

    def on_snapshot(self, i: int, snapshot: FeatureSnapshot) -> None:
        if self._functions[1]:
            self._functions[1](i, snapshot)

    def on_end(self, i: int, outcome: Outcome) -> None:
        if self._functions[2]:
            self._functions[2](i, outcome)

    def between_steps(self, stepper: Stepper) -> None:
        if self._functions[3]:
            self._functions[3](stepper)

    def should_stop(self) -> bool:
        return bool(self._functions[4] and self._functions[4]())


def due(stepper: Stepper, i: int) -> bool:
    """Whether member i records before the next step: at its log steps and its last step, once (a run
    resumed from a copy may have recorded its step already)."""
    own = stepper.own_step(i)
    return (own % stepper.config.log_every == 0 or own == stepper.config.steps) and stepper.last_recorded(i) != own


def report(records: dict[int, ProgressRecord | TrainingDiverged], events: Events) -> None:
    for i, outcome in records.items():
        if isinstance(outcome, TrainingDiverged):
            events.on_end(i, outcome)
        else:
            events.on_record(i, outcome)


def run(stepper: Stepper, events: Events) -> bool:
    """Train every member to its last step, or until events.should_stop(); True when stopped."""
    c = stepper.config
    snap_at = {0, c.steps, *c.snapshot_steps}
    while True:
        events.between_steps(stepper)
        report(stepper.record([i for i in stepper.training if due(stepper, i)]), events)
        for i in stepper.training:
            own = stepper.own_step(i)
            if own in snap_at and not stepper.has_snapshot(i, own):
                events.on_snapshot(i, stepper.snapshot(i))
            if own >= c.steps:
                events.on_end(i, stepper.end(i, stopped=False))
        stepper.leave()
        if not stepper.training:
            return False
        if events.should_stop():
            # Each member keeps a record of the step it stopped at, as at the end of a run.
            report(
                stepper.record([i for i in stepper.training if stepper.last_recorded(i) != stepper.own_step(i)]), events
            )
            return True
        t0 = time.perf_counter()
        stepper.train_step()
        if stepper.device.type == "cuda" and any(due(stepper, i) for i in stepper.training):
            torch.cuda.synchronize(stepper.device)  # so that seconds count the GPU's work, not its queue
        stepper.add_seconds(time.perf_counter() - t0)
        # Torch ops release the GIL, but a tight Python loop still starves the page threads on 2 cores:
        # a zero sleep every few steps hands the interpreter over.
        if stepper.step % YIELD_EVERY == 0:
            time.sleep(0)
