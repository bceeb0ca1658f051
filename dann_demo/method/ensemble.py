"""Train K runs at once as one stacked model (stacked.py): batched matmuls, grouped convolutions.

Each member stays the run it stands for: its seed gives its data, initial weights and batches (its
own generator draws what a Trainer's would), and it has its own mode and lambda (constant, or the
paper's schedule with its own ceiling and gamma). Each member has its own Recorder, fed from one
grouped evaluation pass per log step, so it records exactly what its run alone would; its snapshots,
pictures and result read its row of the stacked weights, copied into a network of its own.
tests/test_ensemble.py checks every member against the same config trained alone.

Members may join a running ensemble and leave it (continuous batching, as an inference server batches
a stream of requests): every member has its own step counter, so its own lambda and learning rate at
its own progress, and its own logging window. A member joins at a step where the members in training
record (so records stay one grouped evaluation), and its rows are dropped when it ends. A CUDA-graph
ensemble keeps the members it started with (a captured graph has fixed shapes).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from dann_demo.config import RunConfig
from dann_demo.datasets import load_pair
from dann_demo.devices import resolve_device
from dann_demo.method import loop
from dann_demo.method.batching import group_key, member_fields
from dann_demo.method.ensemble_member import Member, Outcome
from dann_demo.method.fast_step import GraphedStep, ReportsStepMode, graph_notice, resolve_step_mode
from dann_demo.method.index_chunks import IndexChunks
from dann_demo.method.models import GRL_SIGN, build_model
from dann_demo.method.recorder import Recorder, TrainingDiverged, eval_accuracies, window_losses
from dann_demo.method.results import FeatureSnapshot, ProgressRecord, RunResult
from dann_demo.method.schedules import lambda_at, lr_at
from dann_demo.method.stacked import StackedDANN
from dann_demo.method.train import RunState, Trainer, paper_domain_loss


class EnsembleTrainer(ReportsStepMode):
    """Trains configs that differ only in member_fields as one stacked model. `run()` returns one
    RunResult per member, or the TrainingDiverged of a member whose loss went non-finite.

    Each member can be steered on its own while the others train on (between steps):
    `set_member_lambda` (from the next step, as Trainer.set_lambda), `stop_member` (its outcome at this
    step; it trains no more), `member_trainer` (a standalone Trainer at its state), and new members join
    with `add_member` where `admits_now` says so. Members are numbered in the order they came (0 .. K-1
    for the configs given), and keep their number when others leave."""

    def __init__(self, configs: list[RunConfig], step_mode: str = "auto"):
        if not configs or len({group_key(c) for c in configs}) != 1:
            raise ValueError("an ensemble's configs must differ only in " + ", ".join(member_fields(configs[0])))
        self.config = c = configs[0]
        self.key = group_key(c)
        self.device = resolve_device(c.device)
        self._step_mode, self._notice = graph_notice(resolve_step_mode(step_mode, self.device), self.device)
        # A captured CUDA graph reads tensors of fixed shapes: its members stay until the end.
        self.resizable = self._step_mode != "graph"
        self.step = 0  # steps the ensemble has taken; each member in training takes every one
        self.seconds = 0.0
        first = self._member(c)
        self.is_image = first.pair.is_image
        self.stack = StackedDANN(first.model, self.is_image)
        self._eval_source = first.recorder.eval_source  # the same split for every member
        steps = c.steps
        self._lr_table = torch.tensor(
            [lr_at(c, s / steps) for s in range(steps + 1)], dtype=torch.float32, device=self.device
        )
        self._schedules: dict[tuple, torch.Tensor] = {}  # members that share a lambda schedule share its column
        self.members: list[Member] = []
        self.failed: dict[int, TrainingDiverged] = {}  # member -> why it stopped
        self.stopped: dict[int, RunResult] = {}  # members stopped on their own, with their results
        self.finished: dict[int, RunResult] = {}  # members that reached their last step
        # The rows of the stacked tensors: _live[r] is the member in row r.
        self._live: list[int] = []
        self._row: dict[int, int] = {}
        self._target_y: torch.Tensor | None = None  # target training labels, only with a target oracle
        # On the CPU each member's batch indices are drawn many steps at a time from its own generator, the
        # same numbers as a Trainer's (index_chunks.py). CUDA draws step by step (its generator's stream
        # depends on how the draws are split), inside the CUDA graph.
        chunked = self.device.type == "cpu" and len(first.pair.source_x) == len(first.pair.target_x)
        self._chunks = IndexChunks(c.batch_size, len(first.pair.source_x), c.steps) if chunked else None
        self._add([first] + [self._member(cfg) for cfg in configs[1:]])
        self._graphed = (
            GraphedStep(self._device_step, [m.generator for m in self.members], self.device)
            if self._step_mode == "graph"
            else None
        )

    def _member(self, config: RunConfig) -> Member:
        """A new member at its step 0: the data, initial weights, generator and evaluation subset a
        Trainer of `config` would have."""
        pair = load_pair(config)
        model = build_model(config, pair.input_shape, pair.n_classes).to(self.device)
        generator = torch.Generator(device=self.device).manual_seed(config.seed)
        return Member(config, pair, model, generator, Recorder(config, pair, self.device), self.step, self.seconds)

    # --- who is in it ---
    @property
    def k(self) -> int:
        """Members in training now (rows of the stacked tensors)."""
        return len(self._live)

    @property
    def active(self) -> list[int]:
        """The members still training."""
        return [i for i in self._live if i not in self.failed and i not in self.stopped and i not in self.finished]

    training = active  # the loop's name for it

    def company(self, i: int) -> int:
        """The most members that trained together while member i did, itself included."""
        return self.members[i].company

    def own_step(self, i: int) -> int:
        """The steps member i has taken."""
        m = self.members[i]
        return m.ended_at if m.ended_at is not None else self.step - m.joined

    def last_recorded(self, i: int) -> int:
        history = self.members[i].recorder.history
        return history[-1].step if history else -1

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
        self._add([self._member(config)])
        return len(self.members) - 1

    def _add(self, members: list[Member]) -> None:
        """New members at their step 0: append their rows to every stacked tensor."""
        shape = self.members[0].pair if self.members else members[0].pair
        for m in members:
            if m.pair.source_x.shape != shape.source_x.shape or m.pair.target_x.shape != shape.target_x.shape:
                raise ValueError("the members' data sets differ in size")
        new = list(range(len(self.members), len(self.members) + len(members)))
        self.members += members
        dev, n = self.device, len(members)

        def rows(arrays) -> torch.Tensor:
            return torch.stack([torch.as_tensor(a, device=dev) for a in arrays])

        def grow(name: str, added: torch.Tensor, dim: int = 0) -> None:
            old = getattr(self, name, None)
            setattr(self, name, added if old is None else torch.cat([old, added], dim))

        self.stack.append([m.model for m in members])
        grow("_source_x", rows(m.pair.source_x for m in members))
        grow("_target_x", rows(m.pair.target_x for m in members))
        grow("_eval_x", torch.stack([m.recorder.eval_x for m in members]))
        grow("_eval_y", torch.stack([m.recorder.eval_labels for m in members]))
        grow("_source_y", rows(m.pair.source_y for m in members))
        grow("_oracle", torch.tensor([m.config.mode == "target_oracle" for m in members], device=dev))
        # Target training labels reach the device only when a member is the target oracle.
        if self._target_y is not None:
            grow("_target_y", rows(m.pair.target_y for m in members))
        elif bool(self._oracle.any()):
            self._target_y = rows(self.members[i].pair.target_y for i in self._live + new)
        sign = torch.tensor([GRL_SIGN[m.config.mode] for m in members], device=dev, dtype=torch.float32)
        grow("_sign", sign.view(-1, 1, 1))
        grow("_weights", torch.ones(n, device=dev))
        grow("_member_step", torch.zeros(n, dtype=torch.long, device=dev))
        grow("_slot", torch.zeros(n, dtype=torch.long, device=dev))
        grow("_window", torch.zeros(self.config.log_every, n, 2, device=dev), 1)
        grow("_lambda_table", torch.stack([self._schedule(m.config) for m in members], 1), 1)
        if self._chunks is not None:
            self._chunks.add_rows(n)
        self._live += new
        self._rows_changed()
        if self._chunks is not None:
            for i in new:
                self._refill(i)
            self._chunks.started(self._live)

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
        for i in self._live:
            self.members[i].company = max(self.members[i].company, k)

    def leave(self) -> None:
        """Members that ended leave: their rows go from every stacked tensor (a CUDA graph keeps them,
        their weights frozen)."""
        ended = [i for i in self._live if i in self.failed or i in self.stopped or i in self.finished]
        if not ended or not self.resizable:
            return
        for i in ended:
            self.members[i].ended_at = self.step - self.members[i].joined
        keep_members = [i for i in self._live if i not in ended]
        keep = torch.tensor([self._row[i] for i in keep_members], dtype=torch.long, device=self.device)
        self.stack.keep(keep)
        for name in ("_source_x", "_target_x", "_eval_x", "_eval_y", "_source_y", "_oracle", "_sign", "_weights",
                     "_member_step", "_slot"):  # fmt: skip
            setattr(self, name, getattr(self, name).index_select(0, keep))
        if self._target_y is not None:
            self._target_y = self._target_y.index_select(0, keep)
        self._window = self._window.index_select(1, keep)
        self._lambda_table = self._lambda_table.index_select(1, keep)
        if self._chunks is not None:
            self._chunks.keep(keep, ended)
        self._live = keep_members
        self._rows_changed()

    # --- training ---
    def _refill(self, i: int) -> None:
        """Draw member i's next chunk of batch indices (CPU), from its own generator."""
        self._chunks.refill(i, self._row[i], self.own_step(i), self.members[i].generator, self.step)

    def _draw(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Every row's (source, target) batch indices for this step, (K, b) each."""
        b = self.config.batch_size
        if self._chunks is None:
            n_src, n_tgt = self._source_x.shape[1], self._target_x.shape[1]
            draws = [
                (
                    torch.randint(n_src, (b,), device=self.device, generator=self.members[i].generator),
                    torch.randint(n_tgt, (b,), device=self.device, generator=self.members[i].generator),
                )
                for i in self._live
            ]
            return torch.stack([d[0] for d in draws]), torch.stack([d[1] for d in draws])
        return self._chunks.draw(self._live, self._rows, self.step, self._refill)

    def _device_step(self, i_src: torch.Tensor | None = None, i_tgt: torch.Tensor | None = None) -> None:
        """One SGD step of every row; device work only (so it can be a CUDA graph). Each row reads its
        lambda and learning rate at its own step."""
        b, k = self.config.batch_size, self.k
        if i_src is None:
            i_src, i_tgt = self._draw()
        x = torch.cat([self._source_x[self._rows_col, i_src], self._target_x[self._rows_col, i_tgt]], dim=1)
        lam = self._lambda_table[self._member_step, self._rows].view(k, 1, 1)
        _, class_logits, domain_logits = self.stack.forward(x, self._sign * lam)
        labelled, labels = class_logits[:, :b], self._source_y[self._rows_col, i_src]
        if self._target_y is not None:
            oracle = self._oracle.view(k, 1)
            labelled = torch.where(oracle.unsqueeze(2), class_logits[:, b:], labelled)
            labels = torch.where(oracle, self._target_y[self._rows_col, i_tgt], labels)
        label_loss = F.cross_entropy(labelled.flatten(0, 1), labels.flatten(), reduction="none").view(k, b).mean(1)
        domain_loss = paper_domain_loss(domain_logits, self._domain_labels, b)
        self.stack.zero_grad()
        ((label_loss + domain_loss) * self._weights).sum().backward()
        self.stack.sgd(self._lr_table.index_select(0, self._member_step), self.config.momentum)
        losses = torch.stack([label_loss, domain_loss / 2], 1).detach()  # per example, as Trainer records
        self._window.index_put_((self._slot, self._rows), losses)
        self._slot.add_(1).remainder_(self.config.log_every)
        self._member_step.add_(1)

    def train_step(self) -> None:
        if self._graphed is not None:
            self._graphed()
        elif self._chunks is not None:
            self._device_step(*self._draw())
        else:
            self._device_step()
        self.step += 1

    def add_seconds(self, seconds: float) -> None:
        self.seconds += seconds

    def _sync(self, i: int) -> Member:
        """Member i's network takes its row of the stacked weights (and the lambda of its last step, which
        a Trainer's GRL holds), for its snapshots, pictures and result."""
        m, own = self.members[i], self.own_step(i)
        r = self._row[i]
        self.stack.copy_row_to(r, m.model)
        if own:
            m.model.grl.set_lambda(self._lambda_table[own - 1, r])
        return m

    # --- steering one member (between steps, on the training thread) ---
    def set_member_lambda(self, i: int, value: float) -> None:
        """Member i uses `value` as lambda (or its schedule's ceiling) from its next step on."""
        m, own, value = self.members[i], self.own_step(i), float(value)
        m.recorder.lambda_set(own, m.config.lambda_value if m.lambda_override is None else m.lambda_override, value)
        m.lambda_override = value
        steps = self.config.steps
        column = [lambda_at(m.config, s / steps, value) for s in range(own, steps + 1)]
        self._lambda_table[own:, self._row[i]] = torch.tensor(column, dtype=torch.float32, device=self.device)

    def lambda_changes(self, i: int) -> list[tuple[int, float]]:
        """(step, lambda) where member i's lambda was set, as its Trainer's lambda_changes."""
        return list(self.members[i].recorder.lambda_changes)

    def stop_member(self, i: int) -> Outcome:
        """Member i stops here: its outcome is what Trainer's stop at this step gives (its result, or
        TrainingDiverged where the steps since its last record went non-finite), and it trains no more
        (its rows leave; in a CUDA graph its loss gives no gradient and its momentum is zero)."""
        if i in self.stopped or i in self.failed:
            return self.stopped.get(i) or self.failed[i]
        if self.last_recorded(i) != self.own_step(i):  # as Trainer does when stopped between two records
            self.record([i])
        r = self._row[i]
        self._weights[r] = 0.0
        self.stack.freeze_row(r)
        return self.failed[i] if i in self.failed else self.end(i, stopped=True)

    def member_state(self, i: int) -> RunState:
        """Member i as it stands (weights, momentum, generator, lambda, window, records), copied."""
        m, r, own = self._sync(i), self._row[i], self.own_step(i)
        generator = m.generator.get_state()
        if self._chunks is not None:  # its generator has drawn its whole chunk: as of this step instead
            generator = self._chunks.generator_state(i, own)
        return RunState(
            step=own,
            seconds=self.seconds - m.joined_seconds,
            weights={k: v.detach().clone() for k, v in m.model.state_dict().items()},
            momentum=self.stack.row_momentum(r),
            generator=generator,
            lambda_override=m.lambda_override,
            window=self._window[:, r].clone(),
            window_start=m.window_start,
            recorder=m.recorder.copy(),
        )

    def member_trainer(self, i: int) -> Trainer:
        """A standalone Trainer at member i's current step. Training it on gives what the member would
        (a forked run)."""
        m = self.members[i]
        return Trainer.resume(m.config, self.member_state(i), m.pair, self.device, "plain", channels_last=False)

    # --- what members record ---
    def record(self, due: list[int]) -> dict[int, ProgressRecord | TrainingDiverged]:
        """Members `due` record what their Trainer's record() would: the window's mean losses (a non-finite
        one ends that member with TrainingDiverged) and accuracies on its held-out subset, every row
        evaluated in one grouped forward pass."""
        if not due:
            return {}
        log_every = self.config.log_every
        with torch.no_grad():
            zero = torch.zeros(self.k, 1, 1, device=self.device)
            _, class_logits, domain_logits = self.stack.forward(self._eval_x, zero)
        accuracies = eval_accuracies(class_logits, domain_logits, self._eval_y, self._eval_source).tolist()
        # Each member's window holds the steps since its last record (all the same but for a member that
        # ends or stops between two log steps): the checks and means, once per window length.
        lengths = {i: min(self.own_step(i) - self.members[i].window_start, log_every) for i in due}
        losses = {n: window_losses(self._window[:n]) for n in set(lengths.values())}
        out: dict[int, ProgressRecord | TrainingDiverged] = {}
        reset = []
        for i in due:
            m, r, own = self.members[i], self._row[i], self.own_step(i)
            lambda_ = lambda_at(m.config, own / self.config.steps, m.lambda_override)
            try:
                out[i] = m.recorder.record(
                    own, lambda_, losses[lengths[i]][r], m.window_start, accuracies[r], self.seconds - m.joined_seconds
                )
            except TrainingDiverged as e:
                out[i] = self.failed[i] = e
                self._weights[r] = 0.0
                continue
            m.window_start = own
            reset.append(r)
        if reset:
            self._slot.index_fill_(0, torch.tensor(reset, device=self.device), 0)
        return out

    def has_snapshot(self, i: int, step: int) -> bool:
        return step in self.members[i].recorder.snapshots

    def snapshot(self, i: int) -> FeatureSnapshot:
        m = self._sync(i)
        return m.recorder.snapshot(m.model, self.own_step(i))

    def pictures(self, i: int):
        """Member i's input plane or gallery, as its Trainer's pictures()."""
        m = self._sync(i)
        return m.recorder.pictures(m.model)

    def end(self, i: int, stopped: bool) -> RunResult:
        """Member i's result at its step; it trains no more."""
        m = self._sync(i)
        seconds = self.seconds - m.joined_seconds
        result = m.recorder.result(m.model, self.own_step(i), seconds, stopped, self.step_mode, ensemble_size=m.company)
        (self.stopped if stopped else self.finished)[i] = result
        return result

    def run(self, events: loop.Events | None = None, **callbacks) -> list[Outcome]:
        """Train every member to its last step, or until every one should stop, or none is left; one
        outcome per member. `events` (or loop.Callbacks' keyword arguments) hear of records, snapshots
        and ends, and may steer members and let new ones join between steps."""
        stopped = loop.run(self, events or loop.Callbacks(**callbacks))
        return [self.outcome(i, stopped) for i in range(len(self.members))]

    def outcome(self, i: int, stopped: bool = False) -> Outcome:
        """Member i's result (or why it failed), once training has ended for it."""
        for ended in (self.failed, self.stopped, self.finished):
            if i in ended:
                return ended[i]
        return self.end(i, stopped)
