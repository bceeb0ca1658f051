"""One member of an EnsembleTrainer (ensemble.py): the run it stands for and where it stands."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from dann_demo.config import RunConfig
from dann_demo.datasets import DomainPair
from dann_demo.method.models import DANN
from dann_demo.method.recorder import Recorder, TrainingDiverged
from dann_demo.method.results import RunResult

Outcome = RunResult | TrainingDiverged


@dataclass
class Member:
    """One run of an ensemble: its config, data, sampling generator and recorder, and where it stands.
    `model` holds its weights as of its last sync, for its snapshots, pictures and result."""

    config: RunConfig
    pair: DomainPair
    model: DANN
    generator: torch.Generator
    recorder: Recorder
    joined: int  # the ensemble step it joined at
    joined_seconds: float  # the ensemble's training seconds then
    window_start: int = 0  # its own step where its logging window starts
    company: int = 0  # the most members that trained together while it did, itself included
    lambda_override: float | None = None  # the lambda a user set
    ended_at: int | None = None  # its last own step, once its rows are gone
