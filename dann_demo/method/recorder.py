"""What one run records while it trains: its progress records, feature snapshots, pictures and result.

A `Recorder` belongs to one run. It holds the run's fixed, seeded evaluation subset of each domain's
held-out data and writes down what the stepper hands it: the losses of the steps since the last record
(a non-finite one ends the run with TrainingDiverged) and the accuracies of the model on the
evaluation subset. A `Trainer` feeds one recorder; an `EnsembleTrainer` feeds one per member, from one
grouped evaluation pass, so a member records exactly what its run alone would.
"""

from __future__ import annotations

import copy
import functools
from dataclasses import dataclass

import numpy as np
import torch

from dann_demo.config import RunConfig
from dann_demo.datasets import DomainPair
from dann_demo.devices import device_label
from dann_demo.method.metrics import accuracy, domain_accuracy, domain_probe_accuracy, proxy_a_distance
from dann_demo.method.models import DANN
from dann_demo.method.results import FeatureSnapshot, Gallery, InputPlane, ProgressRecord, RunResult, display_images
from dann_demo.method.schedules import lr_at

EVAL_POINTS_PER_DOMAIN = 500  # held-out points per domain for accuracies, snapshots and PAD
PLANE_RESOLUTION = 60  # grid points per axis of the input-plane pictures


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite; training stopped at `step`."""

    def __init__(self, step: int, config: RunConfig):
        self.step = step
        super().__init__(
            f"non-finite loss at step {step}: training diverged (lr={config.lr:g}, "
            f"lambda={config.lambda_value:g}). Try a smaller learning rate or lambda."
        )


@dataclass(frozen=True)
class WindowLosses:
    """The losses of the steps since a run's last record: their means per example, and how many steps
    into the window the first non-finite one came (None: every one was finite)."""

    label_loss: float
    domain_loss: float
    first_bad: int | None


def window_losses(window: torch.Tensor) -> list[WindowLosses]:
    """window (n, K, 2): each step's (label loss, domain loss) since the last record, for K runs side by
    side. One summary per run, with two reads from the device in all."""
    n, k = window.shape[0], window.shape[1]
    if n == 0:  # the record at step 0: no step yet, no loss
        return [WindowLosses(float("nan"), float("nan"), None)] * k
    bad = ~torch.isfinite(window).all(dim=2)  # (n, K)
    first_bad = torch.where(bad.any(dim=0), bad.float().argmax(dim=0), torch.full((k,), n, device=window.device))
    means = window.mean(dim=0).tolist()
    return [
        WindowLosses(label, domain, None if at == n else at)
        for (label, domain), at in zip(means, first_bad.tolist(), strict=True)
    ]


def eval_accuracies(
    class_logits: torch.Tensor, domain_logits: torch.Tensor, labels: torch.Tensor, source: torch.Tensor
) -> torch.Tensor:
    """(..., 3): source, target and domain accuracy on an evaluation subset. Logits (..., n, C) and (..., n)
    for one run or runs side by side, labels (..., n), `source` (n,) marks the source examples."""
    return torch.stack(
        [
            accuracy(class_logits[..., source, :], labels[..., source]),
            accuracy(class_logits[..., ~source, :], labels[..., ~source]),
            domain_accuracy(domain_logits[..., source], domain_logits[..., ~source]),
        ],
        dim=-1,
    )


class Recorder:
    """Records one run: its evaluation subset, progress records, snapshots, lambda changes, pictures and
    result. Every method that reads the network takes it as an argument, so the same recorder serves a
    Trainer's model and an ensemble member's weights."""

    def __init__(
        self,
        config: RunConfig,
        pair: DomainPair,
        device: torch.device,
        memory_format: torch.memory_format = torch.contiguous_format,
    ):
        self.config, self.pair, self.device = config, pair, device
        # A fixed, seeded evaluation subset of each domain's held-out data.
        rng = np.random.RandomState(config.seed)
        n = EVAL_POINTS_PER_DOMAIN
        si = rng.permutation(len(pair.source_test_x))[:n]
        ti = rng.permutation(len(pair.target_test_x))[:n]
        x = torch.as_tensor(np.concatenate([pair.source_test_x[si], pair.target_test_x[ti]]), device=device)
        self.eval_x = x.contiguous(memory_format=memory_format) if x.ndim == 4 else x
        self.eval_y = np.concatenate([pair.source_test_y[si], pair.target_test_y[ti]])
        self.eval_domain = np.concatenate([np.zeros(len(si), np.int64), np.ones(len(ti), np.int64)])
        self.n_eval_source = len(si)
        self.eval_labels = torch.as_tensor(self.eval_y, device=device)
        self.eval_source = torch.as_tensor(self.eval_domain == 0, device=device)
        self.history: list[ProgressRecord] = []
        self.snapshots: dict[int, FeatureSnapshot] = {}
        self.lambda_changes: list[tuple[int, float]] = []  # (step, lambda) where the user moved lambda

    def copy(self) -> Recorder:
        """The same run's records so far, to go on from independently (a forked run)."""
        other = copy.copy(self)  # shares the read-only evaluation subset and the plane grid
        other.history, other.snapshots, other.lambda_changes = (
            list(self.history),
            dict(self.snapshots),
            list(self.lambda_changes),
        )
        return other

    def lambda_set(self, step: int, old: float, new: float) -> None:
        """The user set lambda to `new` (it was `old`) before `step`: a change is kept, a repeat is not."""
        if new != old:
            self.lambda_changes.append((step, new))

    # --- progress records ---
    def record(
        self,
        step: int,
        lambda_: float,
        losses: WindowLosses,
        window_start: int,
        accuracies: list[float],
        seconds: float,
    ) -> ProgressRecord:
        """Close the logging window at `step`: a non-finite loss raises TrainingDiverged at the step it came,
        otherwise the record (losses of the window, `accuracies` as eval_accuracies gives them) is kept."""
        if losses.first_bad is not None:
            raise TrainingDiverged(window_start + losses.first_bad + 1, self.config)
        source_acc, target_acc, domain_acc = accuracies
        p = step / self.config.steps
        rec = ProgressRecord(
            step=step,
            p=p,
            lambda_=lambda_,
            lr=lr_at(self.config, p),
            label_loss=losses.label_loss,
            domain_loss=losses.domain_loss,
            domain_acc=domain_acc,
            source_acc=source_acc,
            # Own data may come without target labels: then target accuracy is unknown (NaN), not 0.
            target_acc=target_acc if self.pair.has_target_labels else float("nan"),
            seconds=seconds,
        )
        self.history.append(rec)
        return rec

    # --- reading the network ---
    @torch.no_grad()
    def predict(self, model: DANN, x: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(features, class logits, domain logits) in eval mode; x defaults to the evaluation subset."""
        model.eval()
        out = model(self.eval_x if x is None else x)
        model.train()
        return out

    def snapshot(self, model: DANN, step: int) -> FeatureSnapshot:
        """The features of the evaluation subset at `step`, kept."""
        features, class_logits, domain_logits = self.predict(model)
        snap = FeatureSnapshot(
            step=step,
            features=features.float().cpu().numpy(),
            domain=self.eval_domain,
            label=self.eval_y,
            predicted=class_logits.argmax(1).cpu().numpy(),
            domain_prob=torch.sigmoid(domain_logits).cpu().numpy(),
        )
        self.snapshots[step] = snap
        return snap

    # --- pictures ---
    @functools.cached_property
    def _plane_grid(self) -> tuple[np.ndarray, np.ndarray, torch.Tensor]:
        """The input-plane grid, built once: a grid covering the training points of both domains."""
        resolution, margin = PLANE_RESOLUTION, 0.5
        pts = np.concatenate([self.pair.source_x, self.pair.target_x])
        lo, hi = pts.min(0) - margin, pts.max(0) + margin
        xs, ys = np.linspace(lo[0], hi[0], resolution), np.linspace(lo[1], hi[1], resolution)
        grid = np.stack(np.meshgrid(xs, ys), -1).reshape(-1, 2).astype(np.float32)
        return xs, ys, torch.as_tensor(grid, device=self.device)

    @torch.no_grad()
    def input_plane(self, model: DANN) -> InputPlane:
        """Both classifiers' outputs over the 2-D input plane."""
        xs, ys, grid = self._plane_grid
        _, class_logits, domain_logits = self.predict(model, grid)
        class_prob = torch.softmax(class_logits, 1)[:, 1] if class_logits.shape[1] == 2 else class_logits.argmax(1)
        shape = (len(ys), len(xs))
        return InputPlane(
            xs,
            ys,
            class_prob.float().cpu().numpy().reshape(shape),
            torch.sigmoid(domain_logits).cpu().numpy().reshape(shape),
        )

    @torch.no_grad()
    def gallery(self, model: DANN, per_domain: int = 8) -> Gallery:
        """The first held-out evaluation images of each domain, with predictions."""
        n, s = per_domain, self.n_eval_source
        idx = np.r_[0 : min(n, s), s : min(s + n, len(self.eval_y))]
        x = self.eval_x[idx]
        predicted = self.predict(model, x)[1].argmax(1).cpu().numpy()
        images = display_images(x.float().cpu().numpy())
        return Gallery(images, self.eval_y[idx], predicted, self.eval_domain[idx])

    def pictures(self, model: DANN) -> tuple[InputPlane | None, Gallery | None]:
        """What a page shows of the network: the input plane for 2-D data, a gallery for images."""
        if self.pair.has_input_plane:
            return self.input_plane(model), None
        if self.pair.is_image:
            return None, self.gallery(model)
        return None, None

    # --- the end ---
    def result(
        self, model: DANN, step: int, seconds: float, stopped: bool, step_mode: str, **metrics: float | int
    ) -> RunResult:
        """The run's RunResult at `step`: final metrics (beside the last record's, the proxy A-distance and a
        fresh domain probe on the final features), the weights, pictures; `metrics` adds to them."""
        last = self.history[-1]
        snap = self.snapshots.get(step) or self.snapshot(model, step)
        source, target = snap.features[snap.domain == 0], snap.features[snap.domain == 1]
        summary: dict[str, float | str | bool] = {
            "source_acc": last.source_acc,
            "target_acc": last.target_acc,
            "domain_acc": last.domain_acc,
            "label_loss": last.label_loss,
            "domain_loss": last.domain_loss,
            "pad": proxy_a_distance(source, target, self.config.seed),
            # A fresh probe beside the trained domain classifier: the adversary may be beaten while the
            # features still show the domain (metrics.domain_probe_accuracy).
            "probe_acc": domain_probe_accuracy(source, target, self.config.seed),
            "steps": step,
            "seconds": round(seconds, 3),
            "steps_per_second": round(step / seconds, 1) if seconds else 0.0,
            "device": device_label(self.device),
            "step_mode": step_mode,
            "stopped": stopped,
            **metrics,
        }
        state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
        plane, gallery = self.pictures(model)
        return RunResult(
            self.config,
            list(self.history),
            summary,
            dict(self.snapshots),
            state,
            list(self.lambda_changes),
            plane,
            gallery,
        )
