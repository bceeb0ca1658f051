"""Train the K models of a sweep at once: stacked weights, batched matmuls, grouped convolutions.

Each member stays the run it stands for: its seed gives its data, initial weights and batches (its
own generator draws what Trainer's would), and it has its own mode and lambda (constant, or the
paper's schedule with its own ceiling and gamma). The members share no weights, so one backward
pass over the sum of their losses gives each member exactly its own gradients, and SGD is
elementwise. tests/test_ensemble.py checks every member against the same config trained alone.

Each member keeps a `Trainer` for everything but the step (data, evaluation subset, generator,
records, snapshots, results); at log steps the member's slice of the stacked weights is copied
into that Trainer's model, which then records exactly what it would have recorded alone.

Members may join a running ensemble and leave it (continuous batching, as an inference server batches
a stream of requests): every member has its own step counter, so its own lambda and learning rate at
its own progress, and its own logging window. A member joins at a step where the members in training
record (so records stay one grouped evaluation), and its rows are dropped when it ends. A CUDA-graph
ensemble keeps the members it started with (a captured graph has fixed shapes).
"""

from __future__ import annotations

import time
from collections.abc import Callable

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


def accepts_members(config: RunConfig) -> bool:
    """Whether an ensemble of `config` can take members while it trains: it pays to batch, and its step
    is no CUDA graph (whose shapes are fixed once captured)."""
    return ensemble_pays(config) and resolve_step_mode("auto", resolve_device(config.device)) != "graph"


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
    at this step; it trains no more), `member_trainer` (a standalone Trainer at its state), and new
    members join with `add_member` where `admits_now` says so. Members are numbered in the order they
    came (0 .. K-1 for the configs given), and keep their number when others leave."""

    def __init__(self, configs: list[RunConfig], step_mode: str = "auto"):
        if not configs or len({group_key(c) for c in configs}) != 1:
            raise ValueError("an ensemble's configs must differ only in " + ", ".join(member_fields(configs[0])))
        self.config = c = configs[0]
        self.key = group_key(c)
        self.device = resolve_device(c.device)
        self.step_mode, self.notice = graph_notice(resolve_step_mode(step_mode, self.device), self.device)
        # A captured CUDA graph reads tensors of fixed shapes: its members stay until the end.
        self.resizable = self.step_mode != "graph"
        trainers = [Trainer(cfg, device=self.device, step_mode="plain", channels_last=False) for cfg in configs]
        self._template = template = trainers[0]  # the layers, shapes and evaluation split every member shares
        if not supports(template.model):
            raise ValueError("this model has a layer the grouped forward does not know")
        self.is_image = len(template.pair.input_shape) == 3
        self._parts = [
            _layers(part, name)
            for name, part in (
                ("feature_extractor", template.model.feature_extractor),
                ("label_classifier", template.model.label_classifier),
                ("domain_classifier", template.model.domain_classifier),
            )
        ]
        self._eval_source = torch.as_tensor(template._eval_domain == 0, device=self.device)
        steps = c.steps
        self._lr_table = torch.tensor(
            [lr_at(c, s / steps) for s in range(steps + 1)], dtype=torch.float32, device=self.device
        )
        self._schedules: dict[tuple, torch.Tensor] = {}  # members that share a lambda schedule share its column
        self.step = 0  # steps the ensemble has taken; each member in training takes every one
        self._seconds = 0.0
        # Per member (by number): its Trainer, the ensemble step it joined at, the ensemble's seconds then,
        # where its logging window starts (its own steps), the most members it trained with.
        self.members: list[Trainer] = []
        self._joined: list[int] = []
        self._joined_seconds: list[float] = []
        self._window_start: list[int] = []
        self._company: list[int] = []
        self._ended_at: dict[int, int] = {}  # member -> its last own step, once its rows are gone
        self.failed: dict[int, TrainingDiverged] = {}  # member -> why it stopped
        self.stopped: dict[int, RunResult] = {}  # members stopped on their own, with their results
        self.finished: dict[int, RunResult] = {}  # members that reached their last step
        # The rows of the stacked tensors: _live[r] is the member in row r.
        self._live: list[int] = []
        self._row: dict[int, int] = {}
        # On the CPU each member's batch indices are drawn INDEX_CHUNK steps at a time, from its own
        # generator in the order Trainer draws them (source b, target b, step after step): the same
        # numbers, one call a member per chunk instead of two a step. CUDA draws step by step (its
        # generator's stream depends on how the draws are split), inside the CUDA graph.
        n_src, n_tgt = len(template._source_x), len(template._target_x)
        self._chunked = self.device.type == "cpu" and n_src == n_tgt
        self._chunk_states: dict[int, torch.Tensor] = {}  # member -> its generator state at its chunk's start
        self._chunk_start: dict[int, int] = {}  # member -> the own step its chunk starts at
        self._refill_at: dict[int, int] = {}  # member -> the ensemble step its chunk runs out
        self._next_refill = 0  # the earliest of those (a left member's may linger: it only costs a look)
        self.params: dict[str, torch.Tensor] = {}  # params[name][r]: row r's tensor `name`
        self._momentum: dict[str, torch.Tensor] = {}  # SGD's momentum buffers, stacked the same way
        self._add(trainers)
        self._graphed = (
            GraphedStep(self._device_step, [m._generator for m in self.members], self.device)
            if self.step_mode == "graph"
            else None
        )

    # --- who is in it ---
    @property
    def k(self) -> int:
        """Members in training now (rows of the stacked tensors)."""
        return len(self._live)

    @property
    def active(self) -> list[int]:
        """The members still training."""
        return [i for i in self._live if i not in self.failed and i not in self.stopped and i not in self.finished]

    def company(self, i: int) -> int:
        """The most members that trained together while member i did, itself included."""
        return self._company[i]

    def own_step(self, i: int) -> int:
        """The steps member i has taken."""
        return self._ended_at.get(i, self.step - self._joined[i])

    @property
    def admits_now(self) -> bool:
        """Whether a member may join before the next step: at a step where the members in training
        record (their records then stay one grouped evaluation), and never into a CUDA graph."""
        if not self.resizable:
            return False
        live = self.active
        return not live or self.own_step(live[0]) % self.config.log_every == 0

    def add_member(self, config: RunConfig) -> int:
        """Member `config` joins from its step 0 (call between steps, where admits_now). Returns its number."""
        if not self.admits_now:
            raise ValueError("a member joins only where admits_now says so")
        if group_key(config) != self.key:
            raise ValueError("an ensemble's configs must differ only in " + ", ".join(member_fields(config)))
        self._add([Trainer(config, device=self.device, step_mode="plain", channels_last=False)])
        return len(self.members) - 1

    def _add(self, trainers: list[Trainer]) -> None:
        """New members at their step 0: append their rows to every stacked tensor."""
        t = self._template
        for m in trainers:
            if m._source_x.shape != t._source_x.shape or m._target_x.shape != t._target_x.shape:
                raise ValueError("the members' data sets differ in size")
        first = len(self.members)
        for m in trainers:
            self.members.append(m)
            self._joined.append(self.step)
            self._joined_seconds.append(self._seconds)
            self._window_start.append(0)
            self._company.append(0)
        new = list(range(first, first + len(trainers)))
        dev = self.device

        def grow(old: torch.Tensor | None, rows: torch.Tensor, dim: int = 0) -> torch.Tensor:
            return rows if old is None else torch.cat([old, rows], dim)

        def stack(tensors: list) -> torch.Tensor:
            return torch.stack([torch.as_tensor(x, device=dev) for x in tensors])

        grad = {}
        for name, _ in t.model.named_parameters():
            rows = torch.stack([dict(m.model.named_parameters())[name].detach() for m in trainers])
            old = self.params.get(name)
            grad[name] = grow(None if old is None else old.detach(), rows)
            self._momentum[name] = grow(self._momentum.get(name), torch.zeros_like(rows))
        self.params = {name: p.requires_grad_() for name, p in grad.items()}
        get = self.__dict__.get
        self._source_x = grow(get("_source_x"), stack([m._source_x for m in trainers]))
        self._target_x = grow(get("_target_x"), stack([m._target_x for m in trainers]))
        self._eval_x = grow(get("_eval_x"), stack([m._eval_x for m in trainers]))
        self._eval_y = grow(get("_eval_y"), stack([m._eval_y for m in trainers]))
        self._source_y = grow(get("_source_y"), stack([m.pair.source_y for m in trainers]))
        oracle = torch.tensor([m.config.mode == "target_oracle" for m in trainers], device=dev)
        self._oracle = grow(get("_oracle"), oracle)
        # Target training labels reach the device only when a member is the target oracle.
        if get("_target_y") is not None:
            self._target_y = grow(self._target_y, stack([m.pair.target_y for m in trainers]))
        elif bool(self._oracle.any()):
            self._target_y = stack([self.members[i].pair.target_y for i in self._live + new])
        else:
            self._target_y = None
        sign = torch.tensor([GRL_SIGN[m.config.mode] for m in trainers], device=dev, dtype=torch.float32)
        self._sign = grow(get("_sign"), sign.view(-1, 1, 1))
        self._weights = grow(get("_weights"), torch.ones(len(trainers), device=dev))
        self._member_step = grow(get("_member_step"), torch.zeros(len(trainers), dtype=torch.long, device=dev))
        self._slot = grow(get("_slot"), torch.zeros(len(trainers), dtype=torch.long, device=dev))
        window = torch.zeros(self.config.log_every, len(trainers), 2, device=dev)
        self._window = grow(get("_window"), window, 1)
        columns = torch.stack([self._schedule(m.config) for m in trainers], 1)
        self._lambda_table = grow(get("_lambda_table"), columns, 1)
        if self._chunked:
            b = self.config.batch_size
            self._chunk = grow(get("_chunk"), torch.zeros(len(trainers), INDEX_CHUNK, 2 * b, dtype=torch.long))
            self._chunk_pos = grow(get("_chunk_pos"), torch.zeros(len(trainers), dtype=torch.long))
        self._live += new
        self._rows_changed()
        if self._chunked:
            for i in new:
                self._refill(i)
            self._next_refill = min(self._refill_at[i] for i in self._live)

    def _schedule(self, config: RunConfig) -> torch.Tensor:
        """lambda at each of the run's steps, computed in float64 on the host once (as Trainer does per
        step) and looked up on the device by the member's step counter: the step never waits for the host."""
        key = (config.lambda_schedule, config.lambda_value, config.gamma)
        if key not in self._schedules:
            steps = config.steps
            values = [lambda_at(config, s / steps) for s in range(steps + 1)]
            self._schedules[key] = torch.tensor(values, dtype=torch.float32, device=self.device)
        return self._schedules[key]

    def _rows_changed(self) -> None:
        k = self.k
        self._row = {i: r for r, i in enumerate(self._live)}
        self._rows = torch.arange(k, device=self.device)
        self._rows_col = self._rows.unsqueeze(1)
        b = self.config.batch_size
        self._domain_labels = torch.cat([torch.zeros(b), torch.ones(b)]).to(self.device).expand(k, -1)
        # Each parameter's shape for a per-row learning rate: (K, 1, ...) against (K, out, in, ...).
        self._lr_shapes = [(k,) + (1,) * (p.dim() - 1) for p in self.params.values()]
        for i in self._live:
            self._company[i] = max(self._company[i], k)

    def _drop(self) -> None:
        """Members that ended leave: their rows go from every stacked tensor (a CUDA graph keeps them,
        their weights frozen)."""
        ended = [i for i in self._live if i in self.failed or i in self.stopped or i in self.finished]
        if not ended or not self.resizable:
            return
        for i in ended:
            self._ended_at[i] = self.step - self._joined[i]
        keep_members = [i for i in self._live if i not in ended]
        keep = torch.tensor([self._row[i] for i in keep_members], dtype=torch.long, device=self.device)
        self.params = {n: p.detach().index_select(0, keep).requires_grad_() for n, p in self.params.items()}
        self._momentum = {n: m.index_select(0, keep) for n, m in self._momentum.items()}
        for name in ("_source_x", "_target_x", "_eval_x", "_eval_y", "_source_y", "_oracle", "_sign", "_weights",
                     "_member_step", "_slot"):  # fmt: skip
            setattr(self, name, getattr(self, name).index_select(0, keep))
        if self._target_y is not None:
            self._target_y = self._target_y.index_select(0, keep)
        self._window = self._window.index_select(1, keep)
        self._lambda_table = self._lambda_table.index_select(1, keep)
        if self._chunked:
            keep_cpu = keep.cpu()
            self._chunk, self._chunk_pos = (
                self._chunk.index_select(0, keep_cpu),
                self._chunk_pos.index_select(0, keep_cpu),
            )
            for i in ended:
                self._refill_at.pop(i, None)
        self._live = keep_members
        self._rows_changed()

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
    def _refill(self, i: int) -> None:
        """Draw member i's next chunk of batch indices (CPU), from its own generator."""
        b, r, own = self.config.batch_size, self._row[i], self.own_step(i)
        n = min(INDEX_CHUNK, self.config.steps - own)
        m = self.members[i]
        self._chunk_states[i], self._chunk_start[i] = m._generator.get_state(), own
        if n > 0:
            drawn = torch.randint(self._source_x.shape[1], (n * 2 * b,), generator=m._generator)
            self._chunk[r, :n] = drawn.view(n, 2 * b)
        self._chunk_pos[r] = 0
        self._refill_at[i] = self.step + max(n, 1)

    def _draw(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Every row's (source, target) batch indices for this step, (K, b) each."""
        b = self.config.batch_size
        if not self._chunked:
            n_src, n_tgt = self._source_x.shape[1], self._target_x.shape[1]
            draws = [
                (
                    torch.randint(n_src, (b,), device=self.device, generator=self.members[i]._generator),
                    torch.randint(n_tgt, (b,), device=self.device, generator=self.members[i]._generator),
                )
                for i in self._live
            ]
            return torch.stack([d[0] for d in draws]), torch.stack([d[1] for d in draws])
        if self._next_refill <= self.step:
            for i in [i for i in self._live if self._refill_at[i] <= self.step]:
                self._refill(i)
            self._next_refill = min(self._refill_at[i] for i in self._live)
        rows = self._chunk[self._rows, self._chunk_pos]
        self._chunk_pos.add_(1)
        return rows[:, :b], rows[:, b:]

    def _device_step(self, i_src: torch.Tensor | None = None, i_tgt: torch.Tensor | None = None) -> None:
        """One SGD step of every row; device work only (so it can be a CUDA graph). Each row reads its
        lambda and learning rate at its own step."""
        b, k = self.config.batch_size, self.k
        if i_src is None:
            i_src, i_tgt = self._draw()
        x = torch.cat([self._source_x[self._rows_col, i_src], self._target_x[self._rows_col, i_tgt]], dim=1)
        lam = self._lambda_table[self._member_step, self._rows].view(k, 1, 1)
        _, class_logits, domain_logits = self.forward(x, self._sign * lam)
        labelled, labels = class_logits[:, :b], self._source_y[self._rows_col, i_src]
        if self._target_y is not None:
            oracle = self._oracle.view(k, 1)
            labelled = torch.where(oracle.unsqueeze(2), class_logits[:, b:], labelled)
            labels = torch.where(oracle, self._target_y[self._rows_col, i_tgt], labels)
        label_loss = F.cross_entropy(labelled.flatten(0, 1), labels.flatten(), reduction="none").view(k, b).mean(1)
        domain_loss = paper_domain_loss(domain_logits, self._domain_labels, b)
        params = list(self.params.values())
        for p in params:
            p.grad = None
        ((label_loss + domain_loss) * self._weights).sum().backward()
        self._sgd(params)
        losses = torch.stack([label_loss, domain_loss / 2], 1).detach()  # per example, as Trainer records
        self._window.index_put_((self._slot, self._rows), losses)
        self._slot.add_(1).remainder_(self.config.log_every)
        self._member_step.add_(1)

    @torch.no_grad()
    def _sgd(self, params: list[torch.Tensor]) -> None:
        """torch.optim.SGD's momentum step (buffer = momentum * buffer + grad; weights -= lr * buffer),
        with each row's learning rate at its own step. A zero buffer at the first step gives the
        gradient itself, as SGD's first step does."""
        buffers = list(self._momentum.values())
        torch._foreach_mul_(buffers, self.config.momentum)
        torch._foreach_add_(buffers, [p.grad for p in params])
        neg_lr = self._lr_table.index_select(0, self._member_step).neg()
        torch._foreach_addcmul_(params, [neg_lr.view(shape) for shape in self._lr_shapes], buffers)

    def train_step(self) -> None:
        if self._chunked and self._graphed is None:
            self._device_step(*self._draw())
        else:
            run_device_step(self)
        self.step += 1

    def _sync_member(self, i: int) -> Trainer:
        """Hand member i its current weights, losses and clock, so its Trainer can record."""
        m, r, own = self.members[i], self._row[i], self.own_step(i)
        with torch.no_grad():
            for name, p in m.model.named_parameters():
                p.copy_(self.params[name][r])
            if own:  # the lambda of the member's last step, as a Trainer's GRL holds it
                m.model.grl.set_lambda(self._lambda_table[own - 1, r])
        m._window.copy_(self._window[:, r])
        m.step, m._window_start, m._seconds = own, self._window_start[i], self._seconds - self._joined_seconds[i]
        return m

    # --- steering one member (between steps, on the training thread) ---
    def set_member_lambda(self, i: int, value: float) -> None:
        """Member i uses `value` as lambda (or its schedule's ceiling) from its next step on."""
        m, own = self.members[i], self.own_step(i)
        m.step = own
        m.set_lambda(value)  # its record of the change, and the lambda its records report
        steps, c = self.config.steps, m.config
        column = [lambda_at(c, s / steps, float(value)) for s in range(own, steps + 1)]
        self._lambda_table[own:, self._row[i]] = torch.tensor(column, dtype=torch.float32, device=self.device)

    def stop_member(self, i: int) -> RunResult:
        """Member i stops here: its result is what Trainer's stop at this step gives, and it trains no
        more (its rows leave; in a CUDA graph its loss gives no gradient and its momentum is zero)."""
        if i in self.stopped:
            return self.stopped[i]
        m = self._sync_member(i)
        if not m.history or m.history[-1].step != m.step:  # as Trainer does when stopped between two records
            m.record()
        self.stopped[i] = self._result(i, stopped=True)
        r = self._row[i]
        self._weights[r] = 0.0
        for buffer in self._momentum.values():
            buffer[r].zero_()
        return self.stopped[i]

    def member_trainer(self, i: int) -> Trainer:
        """A standalone Trainer at member i's current step: its weights, momentum, sampling generator,
        lambda, history and snapshots. Training it on gives what the member would (a forked run)."""
        trainer = self._sync_member(i).clone()
        r = self._row[i]
        for name, p in trainer.model.named_parameters():
            trainer.optimizer.state[p]["momentum_buffer"] = self._momentum[name][r].detach().clone()
        if self._chunked:
            # The member's generator has drawn its whole chunk: replay up to this step from the chunk's start.
            g = trainer._generator
            g.set_state(self._chunk_states[i])
            used = (self.own_step(i) - self._chunk_start[i]) * 2 * self.config.batch_size
            if used:
                torch.randint(self._source_x.shape[1], (used,), generator=g)
        return trainer

    def _due(self, i: int) -> bool:
        own = self.own_step(i)
        return own % self.config.log_every == 0 or own == self.config.steps

    def record(
        self, on_record: Callable[[int, ProgressRecord], None] | None = None, due: list[int] | None = None
    ) -> None:
        """Members `due` (default: every one in training) record what their Trainer's record() would:
        the window's mean losses (a non-finite one ends that member with TrainingDiverged) and
        accuracies on its held-out subset, every row evaluated in one grouped forward pass."""
        c = self.config
        due = self.active if due is None else due
        if not due:
            return
        with torch.no_grad():
            _, class_logits, domain_logits = self.forward(self._eval_x, torch.zeros(self.k, 1, 1, device=self.device))
        src = self._eval_source
        right = class_logits.argmax(dim=2) == self._eval_y
        source_acc = right[:, src].float().mean(dim=1).tolist()
        target_acc = right[:, ~src].float().mean(dim=1).tolist()
        domain_acc = (
            ((domain_logits[:, src] < 0).float().mean(1) + (domain_logits[:, ~src] >= 0).float().mean(1)) / 2
        ).tolist()
        # Each member's window holds the steps since its last record (all the same but for a member
        # that ends or stops between two log steps): the checks and means, once per window length.
        lengths = {i: min(self.own_step(i) - self._window_start[i], c.log_every) for i in due}
        finite, means = {}, {}
        for n in set(lengths.values()):
            window = self._window[:n]
            finite[n] = torch.isfinite(window).all(dim=2).all(dim=0).tolist() if n else [True] * self.k
            means[n] = window.mean(dim=0).tolist() if n else [[float("nan")] * 2] * self.k
        reset = []
        for i in due:
            m, r, own, n = self.members[i], self._row[i], self.own_step(i), lengths[i]
            if not finite[n][r]:
                bad = (~torch.isfinite(self._window[:n, r])).any(dim=1).nonzero()[0, 0].item()
                self.failed[i] = TrainingDiverged(self._window_start[i] + bad + 1, m.config)
                self._weights[r] = 0.0
                continue
            label_loss, domain_loss = means[n][r]
            m.step, m._seconds = own, self._seconds - self._joined_seconds[i]
            p = own / c.steps
            record = ProgressRecord(
                step=own, p=p, lambda_=m.lambda_now(), lr=lr_at(m.config, p), label_loss=label_loss,
                domain_loss=domain_loss, domain_acc=domain_acc[r], source_acc=source_acc[r],
                # Own data may come without target labels: then target accuracy is unknown (NaN), not 0.
                target_acc=target_acc[r] if m.pair.has_target_labels else float("nan"), seconds=m._seconds,
            )  # fmt: skip
            m.history.append(record)
            self._window_start[i] = own
            reset.append(r)
            if on_record:
                on_record(i, record)
        if reset:
            self._slot.index_fill_(0, torch.tensor(reset, device=self.device), 0)

    def run(
        self,
        on_progress: Callable[[int], None] | None = None,
        should_stop: Callable[[], bool] | None = None,
        on_record: Callable[[int, ProgressRecord], None] | None = None,
        on_snapshot: Callable[[int, FeatureSnapshot], None] | None = None,
        between_steps: Callable[[EnsembleTrainer], None] | None = None,
        on_end: Callable[[int, RunResult | TrainingDiverged], None] | None = None,
    ) -> list[RunResult | TrainingDiverged]:
        """Train every member to its last step, or until `should_stop()` (all of them) or until none is
        left. between_steps(self) before each step, to steer members and let new ones join;
        on_record(member, record) and on_snapshot(member, snapshot) as each member's Trainer would emit
        them; on_progress(step) at the steps where members record; on_end(member, outcome) when a member
        reaches its last step or its loss goes non-finite (a member stopped with stop_member is not
        reported: the caller has its result)."""
        c = self.config
        snap_at = {0, c.steps, *c.snapshot_steps}
        stopped = False
        while True:
            if between_steps:
                between_steps(self)
            due = [i for i in self.active if self._due(i)]
            if due:
                self.record(on_record, due)
                if on_progress:
                    on_progress(self.step)
                for i in due:
                    if i in self.failed and on_end:
                        on_end(i, self.failed[i])
            for i in self.active:
                own = self.own_step(i)
                if own in snap_at and own not in self.members[i].snapshots:
                    snap = self._sync_member(i).snapshot()
                    if on_snapshot:
                        on_snapshot(i, snap)
                if own >= c.steps:
                    self.finished[i] = self._result(i, False)
                    if on_end:
                        on_end(i, self.finished[i])
            self._drop()
            if not self.active:
                break
            if should_stop and should_stop():
                stopped = True
                self.record(on_record, [i for i in self.active if self.members[i].history[-1].step != self.own_step(i)])
                break
            t0 = time.perf_counter()
            self.train_step()
            if self.device.type == "cuda" and any(self._due(i) for i in self.active):
                torch.cuda.synchronize(self.device)
            self._seconds += time.perf_counter() - t0
            if self.step % 16 == 0:
                time.sleep(0)  # hand the interpreter to other threads (see Trainer.run)
        return [self.outcome(i, stopped) for i in range(len(self.members))]

    def outcome(self, i: int, stopped: bool = False) -> RunResult | TrainingDiverged:
        """Member i's result (or why it failed), once training has ended for it."""
        for ended in (self.failed, self.stopped, self.finished):
            if i in ended:
                return ended[i]
        return self._result(i, stopped)

    def _result(self, i: int, stopped: bool) -> RunResult:
        result = self._sync_member(i).result(stopped)
        result.metrics.update(step_mode=self.step_mode, ensemble_size=self.company(i))
        return result
