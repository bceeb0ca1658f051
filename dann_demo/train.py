"""Step-wise DANN training (Ganin & Lempitsky 2015) that emits progress records; the UI and the CLI subscribe.

One step of DANN, as `Trainer.train_step` and `Trainer.dann_step` take it:

1. set lambda_p in the gradient reversal layer (GRL) and lr_p in the optimiser, p = step / steps;
2. sample b labelled source and b unlabelled target examples (index tensors on the device: the data
   sits there, no DataLoader in the loop);
3. one forward pass of both halves: feature extractor, label classifier, and (behind the GRL) the
   domain classifier;
4. the label loss on the labelled half, the domain loss on both halves (source = 0, target = 1);
5. backward through their sum: the GRL multiplies the domain gradient by -lambda on its way into the
   feature extractor, which so learns features the domain classifier cannot tell apart;
6. one SGD step with momentum.

The rest of this file is bookkeeping (records, snapshots, pictures). How a step can run faster without
changing what it computes (device tensors, a CUDA graph, channels-last memory) is in fast_step.py.
"""

from __future__ import annotations

import copy
import functools
import time
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F

from dann_demo.config import RunConfig
from dann_demo.datasets import DomainPair, load_pair
from dann_demo.devices import device_label, resolve_device
from dann_demo.fast_step import GraphedStep, graph_notice, prefers_channels_last, resolve_step_mode, run_device_step
from dann_demo.metrics import accuracy, domain_accuracy, domain_probe_accuracy, proxy_a_distance
from dann_demo.models import DANN, build_model
from dann_demo.results import (
    FeatureSnapshot,
    Gallery,
    InputPlane,
    ProgressRecord,
    RunResult,
    display_images,
    history_frame,
)
from dann_demo.schedules import lambda_at, lr_at

EVAL_POINTS_PER_DOMAIN = 500  # held-out points per domain for accuracies, snapshots and PAD
PLANE_RESOLUTION = 60  # grid points per axis of the input-plane pictures

__all__ = ["RunResult", "Trainer", "TrainingDiverged", "history_frame", "train", "resolve_device", "device_label"]


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite; training stopped at `step`."""

    def __init__(self, step: int, config: RunConfig):
        self.step = step
        super().__init__(
            f"non-finite loss at step {step}: training diverged (lr={config.lr:g}, "
            f"lambda={config.lambda_value:g}). Try a smaller learning rate or lambda."
        )


def paper_domain_loss(domain_logits: torch.Tensor, domain_labels: torch.Tensor, b: int) -> torch.Tensor:
    """The paper's domain loss: the mean binary cross-entropy over the b source examples plus the mean
    over the b target examples (JMLR 2016, the objective E). Logits and labels are (..., 2b), source first;
    the result has the leading shape. Its half, the mean per example, is what the curves show: ln 2
    when the domain classifier is guessing."""
    bce = F.binary_cross_entropy_with_logits(domain_logits, domain_labels, reduction="none")
    return bce[..., :b].mean(-1) + bce[..., b:].mean(-1)


class Trainer:
    """Trains one DANN step by step. Call `run()`, or `train_step()` yourself.

    `step_mode` and `channels_last` choose how a step runs, not what it computes (tests check that
    every choice gives the same weights); None/"auto" pick what was measured fastest on the device.
    """

    def __init__(
        self,
        config: RunConfig,
        pair: DomainPair | None = None,
        device: torch.device | None = None,
        step_mode: str = "auto",
        channels_last: bool | None = None,
    ):
        self.config = config
        self.pair = pair if pair is not None else load_pair(config)
        self.device = device if device is not None else resolve_device(config.device)
        # Something the user should know, e.g. a CUDA graph asked for without CUDA, or one that fell back.
        self.step_mode, self.notice = graph_notice(resolve_step_mode(step_mode, self.device), self.device)
        if channels_last is None:
            channels_last = prefers_channels_last(self.device, self.pair.input_shape)
        self._memory_format = torch.channels_last if channels_last else torch.contiguous_format
        self.model: DANN = build_model(config, self.pair.input_shape, self.pair.n_classes).to(self.device)
        self.model.to(memory_format=self._memory_format)
        # lr lives in a device tensor on the fast paths: a captured graph reads it at replay.
        self._lr = torch.tensor(config.lr, device=self.device) if self.step_mode != "plain" else None
        # The fused kernel updates all parameters in one call: 7% faster per step on moons (CPU),
        # where optimiser overhead is a quarter of the step.
        fused = True if self.device.type in ("cpu", "cuda") else None
        self.optimizer = torch.optim.SGD(
            self.model.parameters(),
            lr=config.lr if self._lr is None else self._lr,
            momentum=config.momentum,
            fused=fused,
        )
        self.step = 0
        self.history: list[ProgressRecord] = []
        self.snapshots: dict[int, FeatureSnapshot] = {}
        self.lambda_changes: list[tuple[int, float]] = []
        self._lambda_override: float | None = None
        self._seconds = 0.0

        def on_device(a: np.ndarray) -> torch.Tensor:
            t = torch.as_tensor(a, device=self.device)
            return t.contiguous(memory_format=self._memory_format) if t.ndim == 4 else t

        p = self.pair
        self._source_x, self._target_x = on_device(p.source_x), on_device(p.target_x)
        # target_oracle learns labels on the target half of each batch, every other mode on the
        # source half. Target training labels reach the device only when the oracle needs them.
        self._oracle = config.mode == "target_oracle"
        self._labelled_y = on_device(p.target_y if self._oracle else p.source_y)
        b = config.batch_size
        self._domain_labels = torch.cat([torch.zeros(b), torch.ones(b)]).to(self.device)
        self._generator = torch.Generator(device=self.device).manual_seed(config.seed)
        # A fixed, seeded evaluation subset of each domain's held-out data.
        rng = np.random.RandomState(config.seed)
        n = EVAL_POINTS_PER_DOMAIN
        si = rng.permutation(len(p.source_test_x))[:n]
        ti = rng.permutation(len(p.target_test_x))[:n]
        self._eval_x = on_device(np.concatenate([p.source_test_x[si], p.target_test_x[ti]]))
        self._eval_y = np.concatenate([p.source_test_y[si], p.target_test_y[ti]])
        self._eval_domain = np.concatenate([np.zeros(len(si), np.int64), np.ones(len(ti), np.int64)])
        self._n_eval_source = len(si)
        # Per-step losses of the current logging window, kept on the device (no sync per step).
        self._window = torch.zeros(config.log_every, 2, device=self.device)
        self._window_start = 0
        self._slot = torch.zeros(1, dtype=torch.long, device=self.device)  # the window's next row, fast paths
        self._graphed = (
            GraphedStep(self._device_step, [self._generator], self.device) if self.step_mode == "graph" else None
        )

    # --- the DANN step ---
    def train_step(self) -> None:
        """Step 1 (lambda_p into the GRL, lr_p into the optimiser), then the DANN step."""
        c = self.config
        p = self.progress
        self.model.grl.set_lambda(lambda_at(c, p, self._lambda_override))
        if self.step_mode == "plain":
            for group in self.optimizer.param_groups:
                group["lr"] = lr_at(c, p)
            label_loss, domain_loss = self.dann_step()
            slot = (self.step - self._window_start) % c.log_every
            self._window[slot] = torch.stack([label_loss, domain_loss])
        else:
            # fill_ with a Python number is a kernel argument: no copy to the device, no sync.
            self._lr.fill_(lr_at(c, p))
            run_device_step(self)
        self.step += 1

    def dann_step(self) -> tuple[torch.Tensor, torch.Tensor]:
        """One SGD step on a batch sampled on the device (steps 2-6 above; lambda and lr are set).
        Returns (label loss, domain loss), detached."""
        b = self.config.batch_size
        g = self._generator
        i_src = torch.randint(len(self._source_x), (b,), device=self.device, generator=g)
        i_tgt = torch.randint(len(self._target_x), (b,), device=self.device, generator=g)
        _, class_logits, domain_logits = self.model(torch.cat([self._source_x[i_src], self._target_x[i_tgt]]))
        if self._oracle:
            label_loss = F.cross_entropy(class_logits[b:], self._labelled_y[i_tgt])
        else:
            label_loss = F.cross_entropy(class_logits[:b], self._labelled_y[i_src])
        domain_loss = paper_domain_loss(domain_logits, self._domain_labels, b)
        self.optimizer.zero_grad(set_to_none=True)
        (label_loss + domain_loss).backward()
        self.optimizer.step()
        return label_loss.detach(), domain_loss.detach() / 2  # recorded per example: ln 2 when guessing

    # --- knobs that may change while the run goes on ---
    def set_lambda(self, value: float) -> None:
        """Use `value` as lambda (constant) or as the schedule's ceiling from the next step on."""
        value = float(value)
        if value != self.current_lambda_value:
            self.lambda_changes.append((self.step, value))
        self._lambda_override = value

    @property
    def current_lambda_value(self) -> float:
        return self.config.lambda_value if self._lambda_override is None else self._lambda_override

    @property
    def progress(self) -> float:
        return self.step / self.config.steps

    def lambda_now(self) -> float:
        return lambda_at(self.config, self.progress, self._lambda_override)

    def clone(self) -> Trainer:
        """An independent copy of this run at its current step: same weights, optimiser state,
        sampling generator and history. Training both copies on gives what training this one
        would (used when one of several sessions sharing a run steers it)."""
        other = Trainer(
            self.config,
            pair=self.pair,
            device=self.device,
            step_mode=self.step_mode,
            channels_last=self._memory_format == torch.channels_last,
        )
        other.model.load_state_dict(self.model.state_dict())
        other.optimizer.load_state_dict(copy.deepcopy(self.optimizer.state_dict()))  # no shared buffers
        if other._lr is not None:  # loading replaced the lr tensor the fast paths update in place
            for group in other.optimizer.param_groups:
                group["lr"] = other._lr
        other._generator.set_state(self._generator.get_state())
        other.step, other._seconds, other._lambda_override = self.step, self._seconds, self._lambda_override
        other.history, other.snapshots = list(self.history), dict(self.snapshots)
        other.lambda_changes = list(self.lambda_changes)
        # In place: a CUDA graph captured later reads these very tensors.
        other._window.copy_(self._window)
        other._slot.copy_(self._slot)
        other._window_start = self._window_start
        return other

    # --- bookkeeping ---
    def _device_step(self) -> None:
        """The step of the fast paths: the losses go to the window row that a device counter names."""
        label_loss, domain_loss = self.dann_step()
        self._window.index_copy_(0, self._slot, torch.stack([label_loss, domain_loss]).unsqueeze(0))
        self._slot.add_(1).remainder_(self.config.log_every)

    @torch.no_grad()
    def _predict(self, x: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(features, class logits, domain logits) in eval mode; x defaults to the evaluation subset."""
        self.model.eval()
        out = self.model(self._eval_x if x is None else x)
        self.model.train()
        return out

    def record(self) -> ProgressRecord:
        """Close the logging window: check the losses, evaluate on held-out data."""
        n = min(self.step - self._window_start, self.config.log_every)  # wraps if record() was skipped
        window = self._window[:n]
        if n and not torch.isfinite(window).all():
            bad = (~torch.isfinite(window)).any(dim=1).nonzero()[0, 0].item()
            raise TrainingDiverged(self._window_start + bad + 1, self.config)
        label_loss, domain_loss = window.mean(dim=0).tolist() if n else (float("nan"), float("nan"))
        _, class_logits, domain_logits = self._predict()
        y = torch.as_tensor(self._eval_y, device=self.device)
        src = torch.as_tensor(self._eval_domain == 0, device=self.device)
        rec = ProgressRecord(
            step=self.step,
            p=self.progress,
            lambda_=self.lambda_now(),
            lr=lr_at(self.config, self.progress),
            label_loss=label_loss,
            domain_loss=domain_loss,
            domain_acc=domain_accuracy(domain_logits[src], domain_logits[~src]),
            source_acc=accuracy(class_logits[src], y[src]),
            # Own data may come without target labels: then target accuracy is unknown (NaN), not 0.
            target_acc=accuracy(class_logits[~src], y[~src]) if self.pair.has_target_labels else float("nan"),
            seconds=self._seconds,
        )
        self._window_start = self.step
        self._slot.zero_()
        self.history.append(rec)
        return rec

    def snapshot(self) -> FeatureSnapshot:
        features, class_logits, domain_logits = self._predict()
        snap = FeatureSnapshot(
            step=self.step,
            features=features.float().cpu().numpy(),
            domain=self._eval_domain,
            label=self._eval_y,
            predicted=class_logits.argmax(1).cpu().numpy(),
            domain_prob=torch.sigmoid(domain_logits).cpu().numpy(),
        )
        self.snapshots[self.step] = snap
        return snap

    @property
    def has_input_plane(self) -> bool:
        return self.pair.input_shape == (2,)

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
    def input_plane(self) -> InputPlane:
        """Both classifiers' outputs over the 2-D input plane."""
        xs, ys, grid = self._plane_grid
        _, class_logits, domain_logits = self._predict(grid)
        class_prob = torch.softmax(class_logits, 1)[:, 1] if class_logits.shape[1] == 2 else class_logits.argmax(1)
        shape = (len(ys), len(xs))
        return InputPlane(
            xs,
            ys,
            class_prob.float().cpu().numpy().reshape(shape),
            torch.sigmoid(domain_logits).cpu().numpy().reshape(shape),
        )

    @torch.no_grad()
    def gallery(self, per_domain: int = 8) -> Gallery:
        """The first held-out evaluation images of each domain, with predictions."""
        n, s = per_domain, self._n_eval_source
        idx = np.r_[0 : min(n, s), s : min(s + n, len(self._eval_y))]
        x = self._eval_x[idx]
        predicted = self._predict(x)[1].argmax(1).cpu().numpy()
        images = display_images(x.float().cpu().numpy())
        return Gallery(images, self._eval_y[idx], predicted, self._eval_domain[idx])

    def run(
        self,
        on_progress: Callable[[ProgressRecord], None] | None = None,
        on_snapshot: Callable[[FeatureSnapshot], None] | None = None,
        should_stop: Callable[[], bool] | None = None,
    ) -> RunResult:
        """Train to `config.steps` (or until `should_stop()`), emitting records and snapshots."""
        c = self.config
        snap_at = {0, c.steps, *c.snapshot_steps}
        stopped = False
        # Torch ops release the GIL, but a tight Python loop still starves the UI thread on 2
        # cores; a zero sleep every few steps hands the interpreter over.
        while True:
            if self.step % c.log_every == 0 or self.step == c.steps:
                rec = self.record()
                if on_progress:
                    on_progress(rec)
            if self.step in snap_at and self.step not in self.snapshots:
                snap = self.snapshot()
                if on_snapshot:
                    on_snapshot(snap)
            if self.step >= c.steps:
                break
            if should_stop and should_stop():
                stopped = True
                if self.history[-1].step != self.step:
                    self.record()
                break
            t0 = time.perf_counter()
            self.train_step()
            if self.device.type == "cuda" and (self.step % c.log_every == 0 or self.step == c.steps):
                torch.cuda.synchronize(self.device)  # so that seconds count the GPU's work, not its queue
            self._seconds += time.perf_counter() - t0
            if self.step % 16 == 0:
                time.sleep(0)
        return self.result(stopped)

    def final_metrics(self, stopped: bool = False) -> dict[str, float | str | bool]:
        last = self.history[-1]
        snap = self.snapshots.get(self.step) or self.snapshot()
        source, target = snap.features[snap.domain == 0], snap.features[snap.domain == 1]
        pad = proxy_a_distance(source, target, self.config.seed)
        # A fresh probe beside the trained domain classifier: the adversary may be beaten while the
        # features still show the domain (metrics.domain_probe_accuracy).
        probe = domain_probe_accuracy(source, target, self.config.seed)
        return {
            "source_acc": last.source_acc,
            "target_acc": last.target_acc,
            "domain_acc": last.domain_acc,
            "label_loss": last.label_loss,
            "domain_loss": last.domain_loss,
            "pad": pad,
            "probe_acc": probe,
            "steps": self.step,
            "seconds": round(self._seconds, 3),
            "steps_per_second": round(self.step / self._seconds, 1) if self._seconds else 0.0,
            "device": device_label(self.device),
            "step_mode": self.step_mode,
            "stopped": stopped,
        }

    def result(self, stopped: bool = False) -> RunResult:
        metrics = self.final_metrics(stopped)
        state = {k: v.detach().cpu().clone() for k, v in self.model.state_dict().items()}
        plane = self.input_plane() if self.has_input_plane else None
        gallery = self.gallery() if self.pair.is_image else None
        return RunResult(
            self.config,
            list(self.history),
            metrics,
            dict(self.snapshots),
            state,
            list(self.lambda_changes),
            plane,
            gallery,
        )


def exploding_loss_note(history: list[ProgressRecord]) -> str | None:
    """A finite but runaway label loss (say lr 10): not an error, but the user should know why
    the accuracies are poor. A uniform guess over 10 classes scores ln 10 = 2.3, so a final loss
    above 5 means training went wrong. None when the loss behaved."""
    losses = [r.label_loss for r in history if np.isfinite(r.label_loss)]
    if not losses or losses[-1] <= 5.0:
        return None
    return (
        f"The label loss ended at {losses[-1]:.3g}, far above a guess (at most 2.3): training ran away. "
        "Try a smaller learning rate μ0 (or λ)."
    )


def train(config: RunConfig, **run_kwargs) -> RunResult:
    """Train `config` start to finish: the one-call entry point for the CLI and scripts."""
    return Trainer(config).run(**run_kwargs)


def warm_up_training() -> None:
    """A two-step moons run, so that a fresh process's first real run does not pay for torch's lazy
    imports (the first optimiser imports torch._dynamo, 1.8 s on 2 cores) or scikit-learn's."""
    Trainer(RunConfig.for_dataset("moons", steps=2, log_every=1, n_samples=100)).run()
