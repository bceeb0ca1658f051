"""What a run produces: progress records, feature snapshots, the input-plane and gallery pictures,
and the finished RunResult. Plain data, safe to cache, save and compare."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd
import torch

from dann_demo.config import RunConfig


@dataclass
class ProgressRecord:
    """One point of the curves. Losses are means over the steps since the last record;
    accuracies are measured on held-out data at `step`."""

    step: int
    p: float
    lambda_: float
    lr: float
    label_loss: float
    domain_loss: float  # per example: ln 2 = 0.693 when the domain classifier is guessing
    domain_acc: float
    source_acc: float
    target_acc: float
    seconds: float


@dataclass
class FeatureSnapshot:
    """The feature extractor's output on the fixed evaluation subset at one step."""

    step: int
    features: np.ndarray  # (n, F) float32
    domain: np.ndarray  # (n,) 0 = source, 1 = target
    label: np.ndarray  # (n,) true class
    predicted: np.ndarray  # (n,) the label classifier's class
    domain_prob: np.ndarray  # (n,) the domain classifier's P(target)


@dataclass
class InputPlane:
    """The two classifiers over a grid of the 2-D input plane (JMLR Figure 2's panels)."""

    xs: np.ndarray  # (R,) grid x coordinates
    ys: np.ndarray  # (R,) grid y coordinates
    class_prob: np.ndarray  # (R, R) P(class 1) of the label classifier; with more classes, the predicted class
    domain_prob: np.ndarray  # (R, R) P(target) of the domain classifier


def display_images(x: np.ndarray) -> np.ndarray:
    """(n, C, H, W) images as (n, H, W, 3) floats in [0, 1] to show: each rescaled to its own range (the
    data sets are standardised), grey ones as RGB."""
    img = np.asarray(x, dtype=np.float32).transpose(0, 2, 3, 1)
    if img.shape[3] == 1:
        img = img.repeat(3, axis=3)
    lo = img.min(axis=(1, 2, 3), keepdims=True)
    hi = img.max(axis=(1, 2, 3), keepdims=True)
    return (img - lo) / np.maximum(hi - lo, 1e-8)


@dataclass
class Gallery:
    """A few held-out images of each domain with the label classifier's guesses."""

    images: np.ndarray  # (n, H, W, 3) float in [0, 1], rescaled per image for display
    label: np.ndarray
    predicted: np.ndarray
    domain: np.ndarray


@dataclass
class RunResult:
    """A finished (or stopped) run: plain data, safe to cache, save and compare."""

    config: RunConfig
    history: list[ProgressRecord]
    metrics: dict[str, float | str | bool]
    snapshots: dict[int, FeatureSnapshot] = field(default_factory=dict)
    state_dict: dict[str, torch.Tensor] = field(default_factory=dict)
    lambda_changes: list[tuple[int, float]] = field(default_factory=list)
    input_plane: InputPlane | None = None  # 2-D data sets only
    gallery: Gallery | None = None  # image data sets only

    def history_frame(self) -> pd.DataFrame:
        return history_frame(self.history)

    def to_json_dict(self) -> dict:
        return {
            "config": self.config.to_dict(),
            "metrics": self.metrics,
            "history": [asdict(r) for r in self.history],
            "lambda_changes": self.lambda_changes,
        }


def history_frame(history: list[ProgressRecord]) -> pd.DataFrame:
    columns = list(ProgressRecord.__dataclass_fields__)
    return pd.DataFrame([asdict(r) for r in history], columns=columns).rename(columns={"lambda_": "lambda"})
