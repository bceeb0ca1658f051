"""Lambda sweeps: train every (lambda, seed) pair and summarise target accuracy against lambda.

Each lambda is a constant, or "paper" for the paper's schedule. With `references`, source_only and
target_oracle are trained on the same seeds too: the floor and the ceiling of the chart. Where it
pays (`batching.ensemble_pays`), the runs train together in ensembles (dann_demo/method/ensemble.py) of at
most batching.MAX_BATCH, the class's policy; otherwise one after another. Either way each run
computes what it would compute alone.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import pandas as pd

from dann_demo.config import LIMITS, RUN_SPECS, ConfigError, RunConfig
from dann_demo.method import batching
from dann_demo.method.ensemble import EnsembleTrainer
from dann_demo.method.train import RunResult, Trainer, TrainingDiverged

PAPER = "paper"
REFERENCE_MODES = ("source_only", "target_oracle")
NO_LAMBDA = "none"  # the lambda column of the reference runs
ENSEMBLE_CHOICES = ("auto", "on", "off")
LAMBDA_RANGE = (RUN_SPECS["lambda_value"].lo, RUN_SPECS["lambda_value"].hi)  # what RunConfig allows


MAX_LIST_TEXT = 1000  # characters of a list a person types (a seed range, lambdas): more is refused unread
MAX_LAMBDAS = 20  # lambdas of one sweep


def _shown(text: str) -> str:
    """A typed value as a message quotes it: at most 40 characters of it."""
    return text if len(text) <= 40 else f"{text[:40]}... ({len(text)} characters)"


def parse_lambdas(text: str, max_count: int = MAX_LAMBDAS) -> list[float | str]:
    """'0,0.1,1,paper' -> [0.0, 0.1, 1.0, 'paper']; repeats are dropped. Time and memory are bounded by the
    text's length, checked first."""
    allowed = (
        f"comma-separated numbers from {LAMBDA_RANGE[0]:g} to {LAMBDA_RANGE[1]:g}, or 'paper': at most "
        f"{max_count} values in {MAX_LIST_TEXT} characters"
    )
    if len(text) > MAX_LIST_TEXT or text.count(",") >= max_count:
        raise ConfigError("lambdas", _shown(text), allowed)
    out: list[float | str] = []
    for part in (p.strip() for p in text.split(",")):
        if part == PAPER:
            value: float | str = PAPER
        else:
            try:
                value = float(part)
            except ValueError:
                raise ConfigError("lambdas", _shown(part), allowed)
            if not LAMBDA_RANGE[0] <= value <= LAMBDA_RANGE[1]:  # also refuses nan and inf
                raise ConfigError("lambdas", _shown(part), allowed)
        if value not in out:
            out.append(value)
    return out


def parse_seeds(text: str, max_count: int = 100) -> list[int]:
    """'3' -> [3]; '0-4' -> [0, 1, 2, 3, 4]; '0,2,5' -> [0, 2, 5]. Every range is counted before it is
    built, and the text's length is checked first: `0-1000000000` is refused at once, not built."""
    top = LIMITS["seed"][1]
    allowed = f"a number, a range like 0-4 or a list like 0,2,5: between 1 and {max_count} seeds from 0 to {top}"
    if len(text) > MAX_LIST_TEXT:
        raise ConfigError("seeds", _shown(text), allowed)
    parts: list[tuple[int, int]] = []
    try:
        for part in text.split(","):
            lo, _, hi = part.strip().partition("-")
            parts.append((int(lo), int(hi) if hi else int(lo)))
    except ValueError:
        raise ConfigError("seeds", _shown(text), allowed)
    if not parts or min(lo for lo, _ in parts) < 0 or max(hi for _, hi in parts) > top:
        raise ConfigError("seeds", _shown(text), allowed)
    if sum(max(0, hi - lo + 1) for lo, hi in parts) > max_count:
        raise ConfigError("seeds", _shown(text), allowed)
    seeds = [s for lo, hi in parts for s in range(lo, hi + 1)]
    if not seeds:
        raise ConfigError("seeds", _shown(text), allowed)
    return seeds


def sweep_config(base: RunConfig, lam: float | str, seed: int) -> RunConfig:
    """One member of the sweep: DANN with a constant lambda, or with the paper's schedule."""
    if lam == PAPER:
        return base.replace(mode="dann", lambda_schedule="paper", lambda_value=1.0, seed=seed)
    return base.replace(mode="dann", lambda_schedule="constant", lambda_value=float(lam), seed=seed)


def sweep_configs(
    base: RunConfig, lambdas: list[float | str], seeds: list[int], references: bool = False
) -> list[tuple[str, RunConfig]]:
    """(lambda label, config) of every run of the sweep, validated (a bad lambda raises ConfigError)."""
    runs = [(str(lam), sweep_config(base, lam, s)) for lam in lambdas for s in seeds]
    if references:
        runs += [(NO_LAMBDA, base.replace(mode=mode, seed=s)) for mode in REFERENCE_MODES for s in seeds]
    return runs


def _row(label: str, config: RunConfig, outcome: RunResult | TrainingDiverged, together: int) -> dict:
    if isinstance(outcome, TrainingDiverged):
        nan = math.nan
        metrics = {"target_acc": nan, "source_acc": nan, "domain_acc": nan, "pad": nan, "seconds": nan}
        note = f"diverged at step {outcome.step}"
    else:
        metrics, note = outcome.metrics, ""
    return {
        "lambda": label,
        "seed": config.seed,
        "target_acc": metrics["target_acc"],
        "source_acc": metrics["source_acc"],
        "domain_acc": metrics["domain_acc"],
        "pad": metrics["pad"],
        "seconds": metrics["seconds"],
        "mode": config.mode,
        "trained_together": together,
        "note": note,
    }


def run_sweep(
    base: RunConfig,
    lambdas: list[float | str],
    seeds: list[int],
    on_result: Callable[[RunResult], None] | None = None,
    *,
    references: bool = False,
    ensemble: str = "auto",
    on_progress: Callable[[float], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> pd.DataFrame:
    """Train every run of the sweep; one row per run. A run whose loss went non-finite gets NaN
    metrics and a note. `ensemble`: "auto" trains the runs together where that was measured to be
    faster, "on"/"off" force it. on_progress(fraction of all steps done); should_stop() ends the
    sweep early, keeping the runs that finished."""
    if ensemble not in ENSEMBLE_CHOICES:
        raise ConfigError("ensemble", ensemble, f"one of {', '.join(ENSEMBLE_CHOICES)}")
    runs = sweep_configs(base, lambdas, seeds, references)  # validates them all first
    together = ensemble == "on" or (ensemble == "auto" and batching.ensemble_pays(base))
    groups = [[runs[i] for i in batch] for batch in batching.plan([c for _, c in runs], together)]
    total, done = len(runs) * base.steps, 0
    rows: list[dict] = []
    for group in groups:
        if should_stop and should_stop():
            break

        def progress(step: int, before: int = done, group_size: int = len(group)) -> None:
            if on_progress:
                on_progress((before + group_size * step) / total)

        outcomes, stopped = _train_group([c for _, c in group], progress, should_stop)
        if stopped:
            break
        for (label, config), outcome in zip(group, outcomes, strict=True):
            if on_result and isinstance(outcome, RunResult):
                on_result(outcome)
            rows.append(_row(label, config, outcome, len(group)))
        done += len(group) * base.steps
    return pd.DataFrame(
        rows,
        columns=[
            "lambda",
            "seed",
            "target_acc",
            "source_acc",
            "domain_acc",
            "pad",
            "seconds",
            "mode",
            "trained_together",
            "note",
        ],
    )


Outcome = RunResult | TrainingDiverged


def _train_group(
    configs: list[RunConfig], progress: Callable[[float], None], should_stop: Callable[[], bool] | None
) -> tuple[list[Outcome], bool]:
    """Train configs as one ensemble, or one after another where they cannot be (a model with a
    layer the grouped forward does not know, data sets of different sizes). Returns (outcomes,
    stopped early)."""
    if len(configs) > 1:
        try:
            trainer = EnsembleTrainer(configs)
        except ValueError:
            trainer = None
        if trainer is not None:
            outcomes = trainer.run(on_record=lambda i, record: progress(record.step), should_stop=should_stop)
            return outcomes, trainer.step < configs[0].steps
    outcomes: list[Outcome] = []
    steps = configs[0].steps
    for i, config in enumerate(configs):
        try:
            result = Trainer(config).run(
                on_progress=lambda rec, i=i: progress((i * steps + rec.step) / len(configs)), should_stop=should_stop
            )
        except TrainingDiverged as e:
            outcomes.append(e)
            continue
        if result.metrics["stopped"]:
            return outcomes, True
        outcomes.append(result)
    return outcomes, False


def summarise_sweep(runs: pd.DataFrame) -> pd.DataFrame:
    """Mean and standard deviation (over seeds, ddof 0 as in `train --seeds`) per lambda (and per
    reference mode), in the order the runs were given; runs that diverged count in `diverged`."""
    metrics = ["target_acc", "domain_acc", "pad"]
    by = runs.groupby(["lambda", "mode"], sort=False)
    summary = by[metrics].mean().add_suffix("_mean").join(by[metrics].std(ddof=0).add_suffix("_std"))
    summary["seeds"] = by["target_acc"].count()
    summary["diverged"] = by.size() - summary["seeds"]
    return summary.reset_index()


def train_many(configs: list[RunConfig], on_result: Callable[[RunResult], None] | None = None) -> list[Outcome]:
    """Train every config, in the batches batching.plan makes (together where that pays, one after
    another otherwise). Outcomes in the configs' order."""
    outcomes: list[Outcome | None] = [None] * len(configs)
    for batch in batching.plan(configs):
        results, _ = _train_group([configs[i] for i in batch], lambda f: None, None)
        for i, outcome in zip(batch, results, strict=True):
            outcomes[i] = outcome
            if on_result and isinstance(outcome, RunResult):
                on_result(outcome)
    return outcomes
