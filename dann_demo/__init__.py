"""DANN Playground's library: domain-adversarial training, metrics, projections, jobs. No UI here."""

from dann_demo.config import ConfigError, RunConfig
from dann_demo.train import RunResult, Trainer, TrainingDiverged, train

__all__ = ["ConfigError", "RunConfig", "RunResult", "Trainer", "TrainingDiverged", "train"]
