"""Lambda sweeps: train every (lambda, seed) pair and summarise target accuracy against lambda.

Each lambda is a constant, or "paper" for the paper's schedule. Runs train one after another
here; training the K models of a sweep together is future work (see README, "Known limits").
"""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd

from dann_demo.config import ConfigError, RunConfig
from dann_demo.train import RunResult, Trainer

PAPER = "paper"


def parse_lambdas(text: str) -> list[float | str]:
    """'0,0.1,1,paper' -> [0.0, 0.1, 1.0, 'paper']."""
    out: list[float | str] = []
    for part in (p.strip() for p in text.split(",")):
        if part == PAPER:
            out.append(PAPER)
            continue
        try:
            out.append(float(part))
        except ValueError:
            raise ConfigError("lambdas", part, "comma-separated numbers from 0 to 10, or 'paper'")
    if not out:
        raise ConfigError("lambdas", text, "at least one value")
    return out


def sweep_config(base: RunConfig, lam: float | str, seed: int) -> RunConfig:
    """One member of the sweep: DANN with a constant lambda, or with the paper's schedule."""
    if lam == PAPER:
        return base.replace(mode="dann", lambda_schedule="paper", lambda_value=1.0, seed=seed)
    return base.replace(mode="dann", lambda_schedule="constant", lambda_value=float(lam), seed=seed)


def run_sweep(base: RunConfig, lambdas: list[float | str], seeds: list[int],
              on_result: Callable[[RunResult], None] | None = None) -> pd.DataFrame:  # fmt: skip
    """Train every (lambda, seed) pair; one row per run."""
    configs = [sweep_config(base, lam, s) for lam in lambdas for s in seeds]  # validates them all first
    rows = []
    for lam, config in zip([lam for lam in lambdas for _ in seeds], configs, strict=True):
        result = Trainer(config).run()
        if on_result:
            on_result(result)
        m = result.metrics
        rows.append({"lambda": str(lam), "seed": config.seed, "target_acc": m["target_acc"],
                     "source_acc": m["source_acc"], "domain_acc": m["domain_acc"], "pad": m["pad"],
                     "seconds": m["seconds"]})  # fmt: skip
    return pd.DataFrame(rows)


def summarise_sweep(runs: pd.DataFrame) -> pd.DataFrame:
    """Mean and standard deviation (over seeds, ddof 0 as in `train --seeds`) per lambda, in the
    order the lambdas were given."""
    metrics = ["target_acc", "domain_acc", "pad"]
    groups = runs.groupby("lambda", sort=False)[metrics]
    summary = groups.mean().add_suffix("_mean").join(groups.std(ddof=0).add_suffix("_std"))
    summary["seeds"] = groups.size()
    return summary.reset_index()
