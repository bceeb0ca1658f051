"""Does a data set's default lesson hold on every seed and on every machine? (`bench --robustness`)

The adversarial game can amplify a rounding difference (another CPU's kernels, a batched matrix
product, a thread count) until a run lands somewhere else. So each seed is trained several ways that
should not matter, and the figures are the mean and the minimum over seeds, and, per seed, the spread
between the ways: a default whose spread is large gives another lesson on another machine.

The ways (`PERTURBATIONS`):
- `alone`: the seed trained by itself on one torch thread (the CLI's `train`);
- `batch`: all the seeds as one stacked model (`EnsembleTrainer`, the class's and the sweep's path);
- `threads2`: alone on two torch threads (other reductions inside the kernels);
- `init1e-6`: alone, every initial weight moved by 1e-6 times a standard normal draw (a different
  rounding of the first step, in effect).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import torch

from dann_demo.config import RunConfig
from dann_demo.method.ensemble import EnsembleTrainer
from dann_demo.method.train import Trainer, TrainingDiverged

INIT_NUDGE = 1e-6


@contextlib.contextmanager
def torch_threads(n: int) -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def nudge_weights(model: torch.nn.Module, seed: int, scale: float = INIT_NUDGE) -> None:
    """Move every parameter by `scale` times a standard normal draw (its own generator: the run's own
    random numbers stay the same)."""
    g = torch.Generator().manual_seed(10_000 + seed)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn(p.shape, generator=g).to(p.device, p.dtype) * scale)


def _target_acc(outcome: Any) -> float:
    return float("nan") if isinstance(outcome, TrainingDiverged) else float(outcome.metrics["target_acc"])


def _alone(config: RunConfig, threads: int = 1, nudge: bool = False) -> float:
    with torch_threads(threads):
        trainer = Trainer(config, step_mode="plain")
        if nudge:
            nudge_weights(trainer.model, config.seed)
        try:
            return float(trainer.run().metrics["target_acc"])
        except TrainingDiverged:
            return float("nan")


def _batch(configs: list[RunConfig]) -> list[float]:
    with torch_threads(1):
        return [_target_acc(o) for o in EnsembleTrainer(configs).run()]


# perturbation -> how the configs (one per seed) are trained; target accuracy in their order
WAYS: dict[str, Callable[[list[RunConfig]], list[float]]] = {
    "alone": lambda configs: [_alone(c) for c in configs],
    "batch": _batch,
    "threads2": lambda configs: [_alone(c, threads=2) for c in configs],
    "init1e-6": lambda configs: [_alone(c, nudge=True) for c in configs],
}
PERTURBATIONS = tuple(WAYS)


def seed_runs(configs: list[RunConfig], perturbations: tuple[str, ...] = PERTURBATIONS) -> dict[str, list[float]]:
    """Target accuracy of every config (one per seed) under each perturbation, in the configs' order."""
    unknown = [p for p in perturbations if p not in WAYS]
    if unknown:
        raise ValueError(f"perturbation: one of {', '.join(PERTURBATIONS)}, not {unknown[0]!r}")
    return {name: WAYS[name](configs) for name in perturbations}


def summarise(runs: dict[str, list[float]], seeds: list[int]) -> dict[str, Any]:
    """Mean and minimum over every run, each perturbation's mean, and per seed the spread (max - min)
    across perturbations; a diverged run (NaN) counts as the worst."""
    table = np.array([runs[p] for p in runs], dtype=float)  # perturbation x seed
    worst = np.where(np.isnan(table), 0.0, table)
    spread = worst.max(axis=0) - worst.min(axis=0)
    return {
        "mean": float(worst.mean()),
        "min": float(worst.min()),
        "per_perturbation": {p: round(float(np.mean(worst[i])), 4) for i, p in enumerate(runs)},
        "spread_max": float(spread.max()),
        "spread_mean": float(spread.mean()),
        "widest_seed": int(seeds[int(spread.argmax())]),
        "diverged": int(np.isnan(table).sum()),
        "per_seed": {str(s): {p: round(float(runs[p][j]), 4) for p in runs} for j, s in enumerate(seeds)},
    }


def robustness(
    datasets: tuple[str, ...],
    modes: tuple[str, ...] = ("dann", "source_only"),
    seeds: list[int] | None = None,
    steps: int | None = None,
    perturbations: tuple[str, ...] = PERTURBATIONS,
    say: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Each data set's defaults, per mode, over `seeds` (0-19 by default) and the perturbations."""
    seeds = list(range(20)) if seeds is None else seeds
    extra = {"steps": steps} if steps else {}
    report: dict[str, Any] = {}
    for name in datasets:
        for mode in modes:
            t0 = time.perf_counter()
            configs = [RunConfig.for_dataset(name, mode=mode, seed=s, **extra) for s in seeds]
            row = summarise(seed_runs(configs, perturbations), seeds)
            row["seconds"] = round(time.perf_counter() - t0, 1)
            report.setdefault(name, {})[mode] = row
            ways = ", ".join(f"{p} {v:.3f}" for p, v in row["per_perturbation"].items())
            say(
                f"{name:7s} {mode:12s} target acc mean {row['mean']:.3f}, min {row['min']:.3f} over {len(seeds)} "
                f"seeds x {len(perturbations)} ways ({ways}); spread across ways of one seed: max "
                f"{row['spread_max']:.3f} (seed {row['widest_seed']}), mean {row['spread_mean']:.3f}"
                + (f"; {row['diverged']} diverged" if row["diverged"] else "")
            )
    return report
