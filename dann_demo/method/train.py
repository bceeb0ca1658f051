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

What the run records (progress records, snapshots, pictures, the result) is its Recorder's
(recorder.py), and the loop that drives the steps and the records is loop.py's, the same for one run
and for an ensemble. How a step can run faster without changing what it computes (device tensors, a
CUDA graph, channels-last memory) is in fast_step.py.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from dann_demo.config import RunConfig
from dann_demo.datasets import DomainPair, load_pair
from dann_demo.devices import resolve_device
from dann_demo.method import loop
from dann_demo.method.fast_step import (
    GraphedStep,
    ReportsStepMode,
    graph_notice,
    prefers_channels_last,
    resolve_step_mode,
)
from dann_demo.method.models import DANN, build_model
from dann_demo.method.recorder import Recorder, TrainingDiverged, eval_accuracies, window_losses
from dann_demo.method.results import FeatureSnapshot, Gallery, InputPlane, ProgressRecord, RunResult, history_frame
from dann_demo.method.schedules import lambda_at, lr_at

__all__ = ["RunResult", "RunState", "Trainer", "TrainingDiverged", "history_frame", "train"]


def paper_domain_loss(domain_logits: torch.Tensor, domain_labels: torch.Tensor, b: int) -> torch.Tensor:
    """The paper's domain loss: the mean binary cross-entropy over the b source examples plus the mean
    over the b target examples (JMLR 2016, the objective E). Logits and labels are (..., 2b), source first;
    the result has the leading shape. Its half, the mean per example, is what the curves show: ln 2
    when the domain classifier is guessing."""
    bce = F.binary_cross_entropy_with_logits(domain_logits, domain_labels, reduction="none")
    return bce[..., :b].mean(-1) + bce[..., b:].mean(-1)


@dataclass
class RunState:
    """A run between two steps, enough to go on training exactly as it would have: its weights, SGD's
    momentum buffers (by parameter name), its sampling generator, its live lambda, the losses of its open
    logging window, and its records so far."""

    step: int
    seconds: float
    weights: dict[str, torch.Tensor]
    momentum: dict[str, torch.Tensor]
    generator: torch.Tensor
    lambda_override: float | None
    window: torch.Tensor  # (log_every, 2): the losses of the steps since window_start
    window_start: int
    recorder: Recorder


class Trainer(ReportsStepMode):
    """Trains one DANN step by step. Call `run()`, or `train_step()` (and `record()`) yourself.

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
        # Something the user should know, e.g. a CUDA graph asked for without CUDA.
        self._step_mode, self._notice = graph_notice(resolve_step_mode(step_mode, self.device), self.device)
        if channels_last is None:
            channels_last = prefers_channels_last(self.device, self.pair.input_shape)
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format
        self.model: DANN = build_model(config, self.pair.input_shape, self.pair.n_classes).to(self.device)
        self.model.to(memory_format=self.memory_format)
        # lr lives in a device tensor on the fast paths: a captured graph reads it at replay.
        self._lr = torch.tensor(config.lr, device=self.device) if self._step_mode != "plain" else None
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
        self.seconds = 0.0  # spent in training steps
        self._lambda_override: float | None = None
        self.recorder = Recorder(config, self.pair, self.device, self.memory_format)

        def on_device(a: np.ndarray) -> torch.Tensor:
            t = torch.as_tensor(a, device=self.device)
            return t.contiguous(memory_format=self.memory_format) if t.ndim == 4 else t

        p = self.pair
        self._source_x, self._target_x = on_device(p.source_x), on_device(p.target_x)
        # target_oracle learns labels on the target half of each batch, every other mode on the
        # source half. Target training labels reach the device only when the oracle needs them.
        self._oracle = config.mode == "target_oracle"
        self._labelled_y = on_device(p.target_y if self._oracle else p.source_y)
        b = config.batch_size
        self._domain_labels = torch.cat([torch.zeros(b), torch.ones(b)]).to(self.device)
        self._generator = torch.Generator(device=self.device).manual_seed(config.seed)
        # Per-step losses of the current logging window, kept on the device (no sync per step).
        self._window = torch.zeros(config.log_every, 2, device=self.device)
        self._window_start = 0
        self._slot = torch.zeros(1, dtype=torch.long, device=self.device)  # the window's next row, fast paths
        self._graphed = (
            GraphedStep(self._device_step, [self._generator], self.device) if self._step_mode == "graph" else None
        )

    # --- the DANN step ---
    def train_step(self) -> None:
        """Step 1 (lambda_p into the GRL, lr_p into the optimiser), then the DANN step."""
        c = self.config
        p = self.progress
        self.model.grl.set_lambda(lambda_at(c, p, self._lambda_override))
        if self._step_mode == "plain":
            for group in self.optimizer.param_groups:
                group["lr"] = lr_at(c, p)
            label_loss, domain_loss = self.dann_step()
            slot = (self.step - self._window_start) % c.log_every
            self._window[slot] = torch.stack([label_loss, domain_loss])
        else:
            # fill_ with a Python number is a kernel argument: no copy to the device, no sync.
            self._lr.fill_(lr_at(c, p))
            (self._graphed or self._device_step)()
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

    def _device_step(self) -> None:
        """The step of the fast paths: the losses go to the window row that a device counter names."""
        label_loss, domain_loss = self.dann_step()
        self._window.index_copy_(0, self._slot, torch.stack([label_loss, domain_loss]).unsqueeze(0))
        self._slot.add_(1).remainder_(self.config.log_every)

    # --- knobs that may change while the run goes on ---
    def set_lambda(self, value: float) -> None:
        """Use `value` as lambda (constant) or as the schedule's ceiling from the next step on."""
        value = float(value)
        self.recorder.lambda_set(self.step, self.current_lambda_value, value)
        self._lambda_override = value

    @property
    def current_lambda_value(self) -> float:
        return self.config.lambda_value if self._lambda_override is None else self._lambda_override

    @property
    def progress(self) -> float:
        return self.step / self.config.steps

    def lambda_now(self) -> float:
        return lambda_at(self.config, self.progress, self._lambda_override)

    # --- a copy to go on from ---
    def state(self) -> RunState:
        """This run as it stands, copied: a Trainer resumed from it trains on as this one would."""
        buffers = {}
        for name, p in self.model.named_parameters():
            buffer = self.optimizer.state.get(p, {}).get("momentum_buffer")
            if buffer is not None:
                buffers[name] = buffer.detach().clone()
        return RunState(
            step=self.step,
            seconds=self.seconds,
            weights={k: v.detach().clone() for k, v in self.model.state_dict().items()},
            momentum=buffers,
            generator=self._generator.get_state(),
            lambda_override=self._lambda_override,
            window=self._window.clone(),
            window_start=self._window_start,
            recorder=self.recorder.copy(),
        )

    @classmethod
    def resume(
        cls,
        config: RunConfig,
        state: RunState,
        pair: DomainPair | None = None,
        device: torch.device | None = None,
        step_mode: str = "auto",
        channels_last: bool | None = None,
    ) -> Trainer:
        """A Trainer that goes on from `state` (of a run of `config`)."""
        trainer = cls(config, pair, device, step_mode, channels_last)
        trainer._load(state)
        return trainer

    def _load(self, state: RunState) -> None:
        self.model.load_state_dict(state.weights)
        for name, p in self.model.named_parameters():
            if name in state.momentum:  # in p's own memory layout, as SGD keeps it
                self.optimizer.state[p]["momentum_buffer"] = torch.empty_like(p).copy_(state.momentum[name])
        self._generator.set_state(state.generator)
        self.step, self.seconds, self._lambda_override = state.step, state.seconds, state.lambda_override
        # In place: a CUDA graph captured later reads these very tensors.
        self._window.copy_(state.window)
        self._window_start = state.window_start
        self._slot.fill_((state.step - state.window_start) % self.config.log_every)
        self.recorder = state.recorder

    def clone(self) -> Trainer:
        """An independent copy of this run at its current step: training both copies on gives what
        training this one would (used when one of several sessions sharing a run steers it)."""
        channels_last = self.memory_format == torch.channels_last
        return Trainer.resume(self.config, self.state(), self.pair, self.device, self._step_mode, channels_last)

    # --- what it records (its Recorder's) ---
    @property
    def history(self) -> list[ProgressRecord]:
        return self.recorder.history

    @property
    def snapshots(self) -> dict[int, FeatureSnapshot]:
        return self.recorder.snapshots

    @property
    def lambda_changes(self) -> list[tuple[int, float]]:
        return self.recorder.lambda_changes

    def record(self) -> ProgressRecord:
        """Close the logging window: check the losses, evaluate on held-out data."""
        n = min(self.step - self._window_start, self.config.log_every)  # wraps if record() was skipped
        (losses,) = window_losses(self._window[:n].unsqueeze(1))
        _, class_logits, domain_logits = self.recorder.predict(self.model)
        accuracies = eval_accuracies(class_logits, domain_logits, self.recorder.eval_labels, self.recorder.eval_source)
        start, self._window_start = self._window_start, self.step
        self._slot.zero_()
        return self.recorder.record(self.step, self.lambda_now(), losses, start, accuracies.tolist(), self.seconds)

    def snapshot(self) -> FeatureSnapshot:
        return self.recorder.snapshot(self.model, self.step)

    def pictures(self) -> tuple[InputPlane | None, Gallery | None]:
        return self.recorder.pictures(self.model)

    def result(self, stopped: bool = False) -> RunResult:
        return self.recorder.result(self.model, self.step, self.seconds, stopped, self.step_mode)

    def run(
        self,
        on_progress: Callable[[ProgressRecord], None] | None = None,
        on_snapshot: Callable[[FeatureSnapshot], None] | None = None,
        should_stop: Callable[[], bool] | None = None,
        events: loop.Events | None = None,
    ) -> RunResult:
        """Train to `config.steps` (or until `should_stop()`), emitting records and snapshots (or telling
        `events`, as member 0, instead of the three callbacks). A loss that goes non-finite raises
        TrainingDiverged."""
        one = OneRun(self)
        if events is None:
            events = loop.Callbacks(
                on_record=(lambda _, record: on_progress(record)) if on_progress else None,
                on_snapshot=(lambda _, snap: on_snapshot(snap)) if on_snapshot else None,
                should_stop=should_stop,
            )
        stopped = loop.run(one, events)
        if isinstance(one.outcome, TrainingDiverged):
            raise one.outcome
        return one.outcome or self.result(stopped)


class OneRun:
    """A Trainer as the training loop's stepper of one member (number 0)."""

    def __init__(self, trainer: Trainer):
        self.trainer, self.config, self.device = trainer, trainer.config, trainer.device
        self.outcome: RunResult | TrainingDiverged | None = None  # once it has ended

    @property
    def step(self) -> int:
        return self.trainer.step

    @property
    def training(self) -> list[int]:
        return [] if self.outcome is not None else [0]

    def own_step(self, i: int) -> int:
        return self.trainer.step

    def last_recorded(self, i: int) -> int:
        return self.trainer.history[-1].step if self.trainer.history else -1

    def record(self, due: list[int]) -> dict[int, ProgressRecord | TrainingDiverged]:
        if not due:
            return {}
        try:
            return {0: self.trainer.record()}
        except TrainingDiverged as e:
            self.outcome = e
            return {0: e}

    def has_snapshot(self, i: int, step: int) -> bool:
        return step in self.trainer.snapshots

    def snapshot(self, i: int) -> FeatureSnapshot:
        return self.trainer.snapshot()

    def end(self, i: int, stopped: bool) -> RunResult:
        self.outcome = self.trainer.result(stopped)
        return self.outcome

    def leave(self) -> None:
        pass

    def train_step(self) -> None:
        self.trainer.train_step()

    def add_seconds(self, seconds: float) -> None:
        self.trainer.seconds += seconds


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
