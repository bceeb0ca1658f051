"""Train the K models of a sweep at once: stacked weights, batched matmuls, grouped convolutions.

Each member stays the run it stands for: its seed gives its data, initial weights and batches (its
own generator draws what Trainer's would), and it has its own mode and lambda (constant, or the
paper's schedule with its own ceiling and gamma). The members share no weights, so one backward
pass over the sum of their losses gives each member exactly its own gradients, and SGD is
elementwise. tests/test_ensemble.py checks every member against the same config trained alone.

Each member keeps a `Trainer` for everything but the step (data, evaluation subset, generator,
records, snapshots, results); at log steps the member's slice of the stacked weights is copied
into that Trainer's model, which then records exactly what it would have recorded alone.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from dann_demo.config import RunConfig
from dann_demo.datasets import REGISTRY
from dann_demo.devices import resolve_device
from dann_demo.fast_step import GraphedStep, graph_notice, resolve_step_mode, run_device_step
from dann_demo.grl import scale_gradient
from dann_demo.models import GRL_SIGN
from dann_demo.results import FeatureSnapshot, ProgressRecord, RunResult
from dann_demo.schedules import lambda_at, lr_at
from dann_demo.train import Trainer, TrainingDiverged, paper_domain_loss

# What may differ between the members of one ensemble; everything else is shared.
MEMBER_FIELDS = ("seed", "mode", "lambda_schedule", "lambda_value", "gamma")
MAX_MEMBERS = 64  # a bigger sweep trains in several ensembles (memory grows with K)
INDEX_CHUNK = 64  # steps of batch indices drawn at once on the CPU (one call per member, not two a step)
_LAYERS = (nn.Linear, nn.Conv2d, nn.Tanh, nn.ReLU, nn.Sigmoid, nn.MaxPool2d, nn.Flatten)


def member_fields(config: RunConfig) -> tuple[str, ...]:
    """What members may set each on their own: MEMBER_FIELDS, and the data settings a data set draws
    per member from its seed anyway (moons' rotation and noise, blobs' shift, direction and spread)."""
    return MEMBER_FIELDS + REGISTRY[config.dataset].member_settings


def group_key(config: RunConfig) -> str:
    """Configs with the same key differ only in member_fields and can train as one ensemble."""
    defaults = {name: RunConfig.__dataclass_fields__[name].default for name in member_fields(config)}
    return config.replace(**defaults).stable_hash()


def ensemble_pays(config: RunConfig) -> bool:
    """Whether training a sweep's runs together is faster than one after another. On 2 CPU cores, as
    measured (docs/benchmarks.md, "Sweeps"): yes for the small MLPs, where a step is mostly per-op
    overhead, and no for images, where oneDNN's grouped convolutions ran slower than separate ones. On
    CUDA yes: K models cost one kernel launch per layer instead of K (no GPU figure in the docs yet)."""
    device = resolve_device(config.device)
    return device.type == "cuda" or (device.type == "cpu" and not config.is_image)


def _layers(part: nn.Module, prefix: str) -> list[tuple[str, nn.Module]]:
    """(parameter-name prefix, layer) for a Sequential or a single layer."""
    if isinstance(part, nn.Sequential):
        return [(f"{prefix}.{name}", layer) for name, layer in part.named_children()]
    return [(prefix, part)]


def supports(model: nn.Module) -> bool:
    """The grouped forward knows these layers (every model build_model makes today)."""
    parts = (model.feature_extractor, model.label_classifier, model.domain_classifier)
    layers = [layer for part in parts for _, layer in _layers(part, "")]
    return all(isinstance(layer, _LAYERS) for layer in layers) and all(
        layer.padding_mode == "zeros" and layer.groups == 1 for layer in layers if isinstance(layer, nn.Conv2d)
    )


class EnsembleTrainer:
    """Trains configs that differ only in member_fields as one stacked model. `run()` returns one
    RunResult per member, or the TrainingDiverged of a member whose loss went non-finite.

    Each member can be steered on its own while the others train on (the job manager does so between
    steps): `set_member_lambda` (from the next step, as Trainer.set_lambda), `stop_member` (its result
    at this step; its weights stop changing), `member_trainer` (a standalone Trainer at its state)."""

    def __init__(self, configs: list[RunConfig], step_mode: str = "auto"):
        if not configs or len({group_key(c) for c in configs}) != 1:
            raise ValueError("an ensemble's configs must differ only in " + ", ".join(member_fields(configs[0])))
        self.configs = configs
        self.config = configs[0]
        self.k = k = len(configs)
        self.device = resolve_device(self.config.device)
        self.members = [Trainer(c, device=self.device, step_mode="plain", channels_last=False) for c in configs]
        model = self.members[0].model
        if not supports(model):
            raise ValueError("this model has a layer the grouped forward does not know")
        self.is_image = len(self.members[0].pair.input_shape) == 3
        self._parts = [
            _layers(part, name)
            for name, part in (
                ("feature_extractor", model.feature_extractor),
                ("label_classifier", model.label_classifier),
                ("domain_classifier", model.domain_classifier),
            )
        ]
        # The members' weights, stacked: params[name][i] is member i's tensor `name`.
        self.params = {
            name: torch.stack([dict(m.model.named_parameters())[name].detach() for m in self.members]).requires_grad_()
            for name, _ in model.named_parameters()
        }

        def stacked(name: str) -> torch.Tensor:
            tensors = [getattr(m, name) for m in self.members]
            if len({t.shape for t in tensors}) != 1:
                raise ValueError("the members' data sets differ in size")
            return torch.stack(tensors)

        self._source_x, self._target_x = stacked("_source_x"), stacked("_target_x")
        # Every member's held-out evaluation subset, evaluated together at records.
        self._eval_x = stacked("_eval_x")
        self._eval_y = torch.as_tensor(np.stack([m._eval_y for m in self.members]), device=self.device)
        self._eval_source = torch.as_tensor(self.members[0]._eval_domain == 0, device=self.device)
        self._source_y = torch.stack([torch.as_tensor(m.pair.source_y, device=self.device) for m in self.members])
        self._oracle = torch.tensor([c.mode == "target_oracle" for c in configs], device=self.device)
        # Target training labels reach the device only when a member is the target oracle.
        self._target_y = (
            torch.stack([torch.as_tensor(m.pair.target_y, device=self.device) for m in self.members])
            if bool(self._oracle.any())
            else None
        )
        self._rows = torch.arange(k, device=self.device).unsqueeze(1)
        b = self.config.batch_size
        self._domain_labels = torch.cat([torch.zeros(b), torch.ones(b)]).to(self.device).expand(k, -1)
        self._sign = torch.tensor([GRL_SIGN[c.mode] for c in configs], device=self.device).view(k, 1, 1)
        # The schedules of every step, computed in float64 on the host once (as Trainer does per
        # step) and looked up on the device by a step counter: the step never waits for the host.
        steps = self.config.steps
        schedules: dict[tuple, list[float]] = {}  # members that share a schedule share its column
        for c in configs:
            key = (c.lambda_schedule, c.lambda_value, c.gamma)
            if key not in schedules:
                schedules[key] = [lambda_at(c, s / steps) for s in range(steps + 1)]
        columns = [schedules[(c.lambda_schedule, c.lambda_value, c.gamma)] for c in configs]
        self._lambda_table = torch.tensor(columns, dtype=torch.float32, device=self.device).T.contiguous()
        self._lr_table = torch.tensor(
            [lr_at(self.config, s / steps) for s in range(steps + 1)], dtype=torch.float32, device=self.device
        )
        self._step_index = torch.zeros(1, dtype=torch.long, device=self.device)
        self._lr = torch.tensor(self.config.lr, device=self.device)
        fused = True if self.device.type in ("cpu", "cuda") else None
        self.optimizer = torch.optim.SGD(
            list(self.params.values()), lr=self._lr, momentum=self.config.momentum, fused=fused
        )
        self._window = torch.zeros(self.config.log_every, k, 2, device=self.device)
        self._slot = torch.zeros(1, dtype=torch.long, device=self.device)
        self._window_start = 0
        self.step = 0
        self._seconds = 0.0
        self.failed: dict[int, TrainingDiverged] = {}  # member index -> why it stopped
        self.stopped: dict[int, RunResult] = {}  # members stopped on their own, with their results
        # 1 while a member trains, 0 once it stopped: its loss then gives no gradient, and with its
        # momentum zeroed its weights no longer change.
        self._weights = torch.ones(k, device=self.device)
        # On the CPU each member's batch indices are drawn INDEX_CHUNK steps at a time, from its own
        # generator in the order Trainer draws them (source b, target b, step after step): the same
        # numbers, two calls a member per chunk instead of two a step. CUDA draws step by step (its
        # generator's stream depends on how the draws are split), inside the CUDA graph.
        n_src, n_tgt = self._source_x.shape[1], self._target_x.shape[1]
        self._chunked = self.device.type == "cpu" and n_src == n_tgt
        self._chunk_start = 0
        self._chunk: torch.Tensor | None = None  # (K, steps in chunk, 2b)
        self._chunk_states: list[torch.Tensor] = []  # each member's generator state at the chunk's start
        self.step_mode, self.notice = graph_notice(resolve_step_mode(step_mode, self.device), self.device)
        self._graphed = (
            GraphedStep(self._device_step, [m._generator for m in self.members], self.device)
            if self.step_mode == "graph"
            else None
        )

    # --- the grouped model ---
    def _apply(self, layers: list[tuple[str, nn.Module]], x: torch.Tensor) -> torch.Tensor:
        """Run one part of every member. Rows: x is (K, n, features). Images: x is (n, K*C, H, W),
        member i's channels at i*C..(i+1)*C, so a convolution with groups=K is K convolutions."""
        for name, layer in layers:
            if isinstance(layer, nn.Linear):
                w, bias = self.params[f"{name}.weight"], self.params.get(f"{name}.bias")
                x = (
                    torch.bmm(x, w.transpose(1, 2))
                    if bias is None
                    else torch.baddbmm(bias.unsqueeze(1), x, w.transpose(1, 2))
                )
            elif isinstance(layer, nn.Conv2d):
                w, bias = self.params[f"{name}.weight"], self.params.get(f"{name}.bias")
                x = F.conv2d(
                    x,
                    w.flatten(0, 1),
                    None if bias is None else bias.flatten(),
                    layer.stride,
                    layer.padding,
                    layer.dilation,
                    groups=self.k,
                )
            elif isinstance(layer, nn.Flatten):
                x = x.reshape(x.shape[0], self.k, -1).transpose(0, 1)  # (n, K*C, h, w) -> (K, n, C*h*w)
            else:
                x = layer(x)  # elementwise or per channel: the same for every member
        return x

    def forward(self, x: torch.Tensor, coeff: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """x: (K, n, ...) one batch per member. Returns (features, class logits, domain logits), each
        with the member first; coeff (K, 1, 1) scales the domain gradient into each member's features."""
        if self.is_image:
            x = x.transpose(0, 1).flatten(1, 2)  # (K, n, C, H, W) -> (n, K*C, H, W)
        features = self._apply(self._parts[0], x)
        class_logits = self._apply(self._parts[1], features)
        domain_logits = self._apply(self._parts[2], scale_gradient(features, coeff)).squeeze(-1)
        return features, class_logits, domain_logits

    # --- training ---
    def _draw(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Every member's (source, target) batch indices for this step, (K, b) each."""
        b = self.config.batch_size
        if not self._chunked:
            n_src, n_tgt = self._source_x.shape[1], self._target_x.shape[1]
            draws = [
                (
                    torch.randint(n_src, (b,), device=self.device, generator=m._generator),
                    torch.randint(n_tgt, (b,), device=self.device, generator=m._generator),
                )
                for m in self.members
            ]
            return torch.stack([d[0] for d in draws]), torch.stack([d[1] for d in draws])
        j = self.step - self._chunk_start
        if self._chunk is None or j >= self._chunk.shape[1]:
            self._chunk_start, j = self.step, 0
            n = min(INDEX_CHUNK, self.config.steps - self.step)
            self._chunk_states = [m._generator.get_state() for m in self.members]
            self._chunk = torch.stack(
                [torch.randint(self._source_x.shape[1], (n * 2 * b,), generator=m._generator) for m in self.members]
            ).view(self.k, n, 2 * b)
        rows = self._chunk[:, j]
        return rows[:, :b], rows[:, b:]

    def _device_step(self, i_src: torch.Tensor | None = None, i_tgt: torch.Tensor | None = None) -> None:
        """One SGD step of every member; device work only (so it can be a CUDA graph)."""
        b, k = self.config.batch_size, self.k
        if i_src is None:
            i_src, i_tgt = self._draw()
        x = torch.cat([self._source_x[self._rows, i_src], self._target_x[self._rows, i_tgt]], dim=1)
        lam = self._lambda_table.index_select(0, self._step_index).view(k, 1, 1)
        self._lr.copy_(self._lr_table.index_select(0, self._step_index).squeeze(0))
        _, class_logits, domain_logits = self.forward(x, self._sign * lam)
        labelled, labels = class_logits[:, :b], self._source_y[self._rows, i_src]
        if self._target_y is not None:
            oracle = self._oracle.view(k, 1)
            labelled = torch.where(oracle.unsqueeze(2), class_logits[:, b:], labelled)
            labels = torch.where(oracle, self._target_y[self._rows, i_tgt], labels)
        label_loss = F.cross_entropy(labelled.flatten(0, 1), labels.flatten(), reduction="none").view(k, b).mean(1)
        domain_loss = paper_domain_loss(domain_logits, self._domain_labels, b)
        self.optimizer.zero_grad(set_to_none=True)
        ((label_loss + domain_loss) * self._weights).sum().backward()
        self.optimizer.step()
        losses = torch.stack([label_loss, domain_loss / 2], 1).detach()  # per example, as Trainer records
        self._window.index_copy_(0, self._slot, losses.unsqueeze(0))
        self._slot.add_(1).remainder_(self.config.log_every)
        self._step_index.add_(1)

    def train_step(self) -> None:
        if self._chunked and self._graphed is None:
            self._device_step(*self._draw())
        else:
            run_device_step(self)
        self.step += 1

    def _sync_member(self, i: int) -> Trainer:
        """Hand member i its current weights, losses and clock, so its Trainer can record."""
        m = self.members[i]
        with torch.no_grad():
            for name, p in m.model.named_parameters():
                p.copy_(self.params[name][i])
            if self.step:  # the lambda of the member's last step, as a Trainer's GRL holds it
                m.model.grl.set_lambda(self._lambda_table[self.step - 1, i])
        m._window.copy_(self._window[:, i])
        m.step, m._window_start, m._seconds = self.step, self._window_start, self._seconds
        return m

    @property
    def active(self) -> list[int]:
        """The members still training."""
        return [i for i in range(self.k) if i not in self.failed and i not in self.stopped]

    # --- steering one member (between steps, on the training thread) ---
    def set_member_lambda(self, i: int, value: float) -> None:
        """Member i uses `value` as lambda (or its schedule's ceiling) from the next step on."""
        m = self.members[i]
        m.step = self.step
        m.set_lambda(value)  # its record of the change, and the lambda its records report
        steps, c = self.config.steps, m.config
        column = [lambda_at(c, s / steps, float(value)) for s in range(self.step, steps + 1)]
        self._lambda_table[self.step :, i] = torch.tensor(column, dtype=torch.float32, device=self.device)

    def stop_member(self, i: int) -> RunResult:
        """Member i stops here: its result is what Trainer's stop at this step gives, and from now on its
        loss gives no gradient and its momentum is zero, so its weights no longer change."""
        if i in self.stopped:
            return self.stopped[i]
        m = self._sync_member(i)
        if m.history[-1].step != self.step:  # as Trainer does when stopped between two records
            m.record()
        self.stopped[i] = self._result(i, stopped=True)
        self._weights[i] = 0.0
        for p in self.params.values():
            buffer = self.optimizer.state.get(p, {}).get("momentum_buffer")
            if buffer is not None:
                buffer[i].zero_()
        return self.stopped[i]

    def member_trainer(self, i: int) -> Trainer:
        """A standalone Trainer at member i's current step: its weights, momentum, sampling generator,
        lambda, history and snapshots. Training it on gives what the member would (a forked run)."""
        trainer = self._sync_member(i).clone()
        for name, p in trainer.model.named_parameters():
            buffer = self.optimizer.state.get(self.params[name], {}).get("momentum_buffer")
            if buffer is not None:
                trainer.optimizer.state[p]["momentum_buffer"] = buffer[i].detach().clone()
        if self._chunked and self._chunk is not None:
            # The member's generator has drawn its whole chunk: replay up to this step from the chunk's start.
            g = trainer._generator
            g.set_state(self._chunk_states[i])
            used = (self.step - self._chunk_start) * 2 * self.config.batch_size
            if used:
                torch.randint(self._source_x.shape[1], (used,), generator=g)
        return trainer

    def record(self, on_record: Callable[[int, ProgressRecord], None] | None = None) -> None:
        """Every live member records what its Trainer's record() would: the window's mean losses (a
        non-finite one ends that member with TrainingDiverged) and accuracies on its held-out subset,
        all members evaluated in one grouped forward pass."""
        c, active = self.config, self.active
        n = min(self.step - self._window_start, c.log_every)
        window = self._window[:n]
        finite = torch.isfinite(window).all(dim=2).all(dim=0) if n else torch.ones(self.k, dtype=torch.bool)
        means = window.mean(dim=0).tolist() if n else [[float("nan")] * 2] * self.k
        if active:
            with torch.no_grad():
                _, class_logits, domain_logits = self.forward(
                    self._eval_x, torch.zeros(self.k, 1, 1, device=self.device)
                )
            src = self._eval_source
            right = class_logits.argmax(dim=2) == self._eval_y
            source_acc = right[:, src].float().mean(dim=1).tolist()
            target_acc = right[:, ~src].float().mean(dim=1).tolist()
            domain_acc = (
                ((domain_logits[:, src] < 0).float().mean(1) + (domain_logits[:, ~src] >= 0).float().mean(1)) / 2
            ).tolist()
        p = self.step / c.steps
        for i in active:
            m = self.members[i]
            m.step, m._seconds = self.step, self._seconds
            if not finite[i]:
                bad = (~torch.isfinite(window[:, i])).any(dim=1).nonzero()[0, 0].item()
                self.failed[i] = TrainingDiverged(self._window_start + bad + 1, m.config)
                self._weights[i] = 0.0
                continue
            record = ProgressRecord(
                step=self.step, p=p, lambda_=m.lambda_now(), lr=lr_at(m.config, p), label_loss=means[i][0],
                domain_loss=means[i][1], domain_acc=domain_acc[i], source_acc=source_acc[i],
                # Own data may come without target labels: then target accuracy is unknown (NaN), not 0.
                target_acc=target_acc[i] if m.pair.has_target_labels else float("nan"), seconds=self._seconds,
            )  # fmt: skip
            m.history.append(record)
            m._window_start = self.step
            if on_record:
                on_record(i, record)
        self._window_start = self.step
        self._slot.zero_()

    def run(
        self,
        on_progress: Callable[[int], None] | None = None,
        should_stop: Callable[[], bool] | None = None,
        on_record: Callable[[int, ProgressRecord], None] | None = None,
        on_snapshot: Callable[[int, FeatureSnapshot], None] | None = None,
        between_steps: Callable[[EnsembleTrainer], None] | None = None,
    ) -> list[RunResult | TrainingDiverged]:
        """Train every member to `steps`, or until `should_stop()` (all of them) or until none is left.
        on_progress(step) at log steps; on_record(member, record) and on_snapshot(member, snapshot) as
        each member's Trainer would emit them; between_steps(self) before each step, to steer members."""
        c = self.config
        snap_at = {0, c.steps, *c.snapshot_steps}
        stopped = False
        while True:
            if self.step % c.log_every == 0 or self.step == c.steps:
                self.record(on_record)
                if on_progress:
                    on_progress(self.step)
            if self.step in snap_at:
                for i in self.active:
                    snap = self._sync_member(i).snapshot()
                    if on_snapshot:
                        on_snapshot(i, snap)
            if self.step >= c.steps:
                break
            if between_steps:
                between_steps(self)
            if not self.active:
                break
            if should_stop and should_stop():
                stopped = True
                if self.step % c.log_every:
                    self.record(on_record)
                break
            t0 = time.perf_counter()
            self.train_step()
            if self.device.type == "cuda" and (self.step % c.log_every == 0 or self.step == c.steps):
                torch.cuda.synchronize(self.device)
            self._seconds += time.perf_counter() - t0
            if self.step % 16 == 0:
                time.sleep(0)  # hand the interpreter to other threads (see Trainer.run)
        return [self.outcome(i, stopped) for i in range(self.k)]

    def outcome(self, i: int, stopped: bool = False) -> RunResult | TrainingDiverged:
        """Member i's result (or why it failed), once training has ended for it."""
        if i in self.failed:
            return self.failed[i]
        if i in self.stopped:
            return self.stopped[i]
        return self._result(i, stopped)

    def _result(self, i: int, stopped: bool) -> RunResult:
        result = self._sync_member(i).result(stopped)
        result.metrics.update(step_mode=self.step_mode, ensemble_size=self.k)
        return result
