"""DANN Playground's library: domain-adversarial training, metrics, projections, jobs. No UI here."""

import os

# Before torch or scikit-learn load OpenMP: threads that wait for work sleep instead of spinning. On
# a small shared machine (2 cores, training, a browser) spinning threads starved each other: a 2000-
# point t-SNE on 2 threads took 23 s instead of 3.6 s, and CLI runs took minutes instead of seconds.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from dann_demo.config import ConfigError, RunConfig  # noqa: E402 - after the setting above
from dann_demo.method.results import RunResult  # noqa: E402
from dann_demo.method.train import Trainer, TrainingDiverged, train  # noqa: E402

__all__ = ["ConfigError", "RunConfig", "RunResult", "Trainer", "TrainingDiverged", "train"]
