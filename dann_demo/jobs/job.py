"""A run (Job) and a lambda sweep (SweepJob) as the pages see them: what they are, where they stand,
and what sessions ask of them. A job is state only: the store (store.py) writes it, the runners
(runners.py) report to the store, and pages read it and ask through the manager (manager.py)."""

from __future__ import annotations

import math
import time
import uuid
from dataclasses import dataclass, field
from enum import StrEnum

import pandas as pd

from dann_demo.config import RunConfig
from dann_demo.method.results import FeatureSnapshot, Gallery, InputPlane, ProgressRecord, RunResult


class Status(StrEnum):
    """Where a job stands. A StrEnum: its members compare equal to their words ("queued", ...)."""

    QUEUED = "queued"
    RUNNING = "running"
    FINISHED = "finished"
    STOPPED = "stopped"
    FAILED = "failed"

    @property
    def done(self) -> bool:
        return self in DONE


QUEUED, RUNNING, FINISHED, STOPPED, FAILED = Status
DONE = frozenset({FINISHED, STOPPED, FAILED})


def new_id() -> str:
    return uuid.uuid4().hex[:12]


@dataclass
class Job:
    """One run: its config and status, what it has recorded so far, and what sessions asked of it."""

    config: RunConfig
    id: str = field(default_factory=new_id)
    status: Status = QUEUED
    history: list[ProgressRecord] = field(default_factory=list)
    snapshots: dict[int, FeatureSnapshot] = field(default_factory=dict)
    input_plane: InputPlane | None = None
    gallery: Gallery | None = None
    lambda_changes: list[tuple[int, float]] = field(default_factory=list)  # (step, lambda) the user set
    result: RunResult | None = None
    error: str | None = None
    notice: str | None = None  # something the user should know that is not an error
    from_cache: bool = False
    submitted_at: float = field(default_factory=time.time)
    batch_size: int = 1  # the most runs it trained together with, itself included (1: alone)
    watchers: dict[str, float] = field(default_factory=dict)  # session id -> when it last looked
    # What sessions asked: read by its runner between two steps.
    lambda_value: float | None = None  # the lambda a session set (None: the config's)
    lambda_pending: bool = False  # set and not yet applied by the runner
    stop_requested: bool = False

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
    def steered(self) -> bool:
        return self.lambda_value is not None

    @property
    def shareable(self) -> bool:
        """An identical, untouched run still under way: a new request for its config can join it."""
        return self.status in (QUEUED, RUNNING) and not self.steered and not self.stop_requested


@dataclass
class SweepJob:
    """A lambda sweep as the Sweep page sees it: progress while it runs, then one row per run."""

    base: RunConfig
    lambdas: list[float | str]
    seeds: list[int]
    references: bool = True  # also source_only and target_oracle on the same seeds
    id: str = field(default_factory=new_id)
    status: Status = QUEUED
    fraction: float = 0.0  # of all the sweep's training steps
    runs: pd.DataFrame | None = None  # sweep.run_sweep's table, once finished (or stopped after some ran)
    error: str | None = None
    notice: str | None = None
    from_cache: bool = False
    submitted_at: float = field(default_factory=time.time)
    watchers: dict[str, float] = field(default_factory=dict)  # session id -> when it last looked
    stop_requested: bool = False

    @property
    def done(self) -> bool:
        return self.status in DONE

    @property
    def key(self) -> str:
        """Same settings, same sweep: the cache key."""
        return f"{self.base.stable_hash()}|{self.lambdas}|{self.seeds}|{self.references}"


AnyJob = Job | SweepJob
