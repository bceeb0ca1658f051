"""Every quantitative claim a student reads, as data beside its text, checked by runs.

A claim names the runs it rests on (setups: a data set's defaults with a few fields changed), the
seeds, a condition over their figures, and its text. The text quotes the figures of the last
measurement (claims_measured.json, written by `dann-playground claims --write`) as a mean ± spread or a
range over those seeds, never one seed; pages and presets show `claim_text(id)`, so a text cannot
drift from what the code does. `dann-playground claims` re-runs every setup over seeds 0-4 and
reports each claim as holds / fails with its figures; a CI test checks the cheap ones on moons.
"""

from __future__ import annotations

import inspect
import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from dann_demo.config import RunConfig

MEASURED = Path(__file__).with_name("claims_measured.json")
SEEDS = (0, 1, 2, 3, 4)
METRICS = ("target_acc", "source_acc", "domain_acc", "probe_acc", "pad")

# (data set, setup) -> RunConfig fields over the data set's defaults.
SETUPS: dict[tuple[str, str], dict[str, Any]] = {
    ("moons", "source_only"): {"mode": "source_only"},
    ("moons", "dann"): {},
    ("moons", "lambda_zero"): {"lambda_schedule": "constant", "lambda_value": 0.0},
    ("moons", "lambda_small"): {"lambda_schedule": "constant", "lambda_value": 0.01},
    ("moons", "lambda_eight"): {"lambda_schedule": "constant", "lambda_value": 8.0},
    ("moons", "no_reversal"): {"mode": "no_reversal"},
    ("moons", "alpha_one"): {"lr_alpha": 1.0},
    ("moons", "rotation35_dann"): {"rotation": 35.0},
    ("moons", "rotation70_source_only"): {"mode": "source_only", "rotation": 70.0},
    ("moons", "rotation70_dann"): {"rotation": 70.0},
    ("digits", "source_only"): {"mode": "source_only"},
    ("digits", "dann"): {},
    ("digits", "no_reversal"): {"mode": "no_reversal"},
    ("digits", "target_oracle"): {"mode": "target_oracle"},
}

Figures = dict[str, dict[str, list[float]]]  # setup -> metric -> per-seed values


@dataclass(frozen=True)
class Claim:
    id: str
    dataset: str
    where: str  # the page or preset that says it
    text: str  # with {setup.metric} (mean ± spread) and {setup.metric|range} placeholders
    condition: str  # what must hold, in words
    holds: Callable[[Figures], bool]
    cheap: bool = False  # checked in CI on moons with 3 seeds and short runs


def _m(f: Figures, setup: str, metric: str = "target_acc") -> np.ndarray:
    return np.asarray(f[setup][metric], dtype=float)


CLAIMS: dict[str, Claim] = {
    c.id: c
    for c in (
        Claim(
            "lambda_zero_is_source_only",
            "moons",
            "preset lambda_zero, How it works",
            "With λ = 0 the reversal layer passes no gradient into the features: the run learns exactly what "
            "source only learns (target accuracy {lambda_zero.target_acc} on moons, identical seed for seed), and "
            "the domain classifier keeps telling the domains apart ({lambda_zero.domain_acc}).",
            "λ = 0 gives source only's target accuracy on every seed",
            lambda f: bool(np.array_equal(_m(f, "lambda_zero"), _m(f, "source_only"))),
            cheap=True,
        ),
        Claim(
            "paper_schedule_adapts",
            "moons",
            "preset paper_schedule, Train live",
            "With the paper's schedule DANN beats source only on every seed: target accuracy {dann.target_acc} "
            "against {source_only.target_acc} on moons; the domain classifier ends near chance "
            "({dann.domain_acc}).",
            "DANN > source only on every seed, and the domain classifier's mean accuracy below 60%",
            lambda f: bool((_m(f, "dann") > _m(f, "source_only")).all() and _m(f, "dann", "domain_acc").mean() < 0.6),
            cheap=True,
        ),
        Claim(
            "lambda_eight_beaten_but_seen",
            "moons",
            "preset lambda_too_large, How it works",
            "A constant λ of 8 from the first step beats the domain classifier at once (its accuracy "
            "{lambda_eight.domain_acc}), yet a fresh classifier trained afterwards still tells the domains apart "
            "({lambda_eight.probe_acc}): the features were pushed around before they learnt the classes. Source "
            "accuracy stays at {lambda_eight.source_acc}, but target accuracy ends at {lambda_eight.target_acc} "
            "({lambda_eight.target_acc|range} over the seeds), below the paper schedule's {dann.target_acc}.",
            "λ = 8: domain classifier ≤ 56%, fresh probe ≥ 60%, source ≥ 97% on every seed, target mean below the "
            "paper schedule's",
            lambda f: bool(
                _m(f, "lambda_eight", "domain_acc").mean() <= 0.56
                and _m(f, "lambda_eight", "probe_acc").mean() >= 0.6
                and _m(f, "lambda_eight", "source_acc").min() >= 0.97
                and _m(f, "lambda_eight").mean() < _m(f, "dann").mean()
            ),
            cheap=True,
        ),
        Claim(
            "no_reversal_domain_wins",
            "moons",
            "preset no_reversal, How it works",
            "Without the reversal the feature extractor helps the domain classifier, which wins: its accuracy "
            "{no_reversal.domain_acc} on moons (above 85% on every seed), and the domain loss falls toward 0.",
            "no reversal: domain classifier ≥ 85% on every seed",
            lambda f: bool(_m(f, "no_reversal", "domain_acc").min() >= 0.85),
            cheap=True,
        ),
        Claim(
            "no_reversal_does_not_adapt_moons",
            "moons",
            "preset no_reversal, How it works",
            "It does not adapt: on moons its target accuracy, {no_reversal.target_acc} "
            "({no_reversal.target_acc|range}), stays within 10 points of source only's {source_only.target_acc} "
            "and far below DANN's {dann.target_acc}.",
            "no reversal: mean target within 10 points of source only's, and below DANN's on every seed",
            lambda f: bool(
                abs(_m(f, "no_reversal").mean() - _m(f, "source_only").mean()) <= 0.10
                and (_m(f, "no_reversal") < _m(f, "dann")).all()
            ),
        ),
        Claim(
            "no_reversal_hurts_digits",
            "digits",
            "How it works",
            "On digits → digits-M it does worse than source only: {no_reversal.target_acc} against "
            "{source_only.target_acc}.",
            "no reversal: mean target below source only's",
            lambda f: bool(_m(f, "no_reversal").mean() < _m(f, "source_only").mean()),
        ),
        Claim(
            "small_lambda_already_moves",
            "moons",
            "Lambda sweep",
            "λ = 0 is source only ({lambda_zero.target_acc}); already a constant λ of 0.01 moves target accuracy "
            "to {lambda_small.target_acc} ({lambda_small.target_acc|range}: some seeds adapt fully, others barely "
            "move), while the paper's schedule adapts every seed ({dann.target_acc|range}).",
            "λ = 0.01: some seed at least 10 points above source only's mean, and the mean below the paper schedule's",
            lambda f: bool(
                _m(f, "lambda_small").max() >= _m(f, "source_only").mean() + 0.10
                and _m(f, "lambda_small").mean() < _m(f, "dann").mean()
            ),
        ),
        Claim(
            "mild_decay_still_adapts",
            "moons",
            "How it works",
            "Moons uses the paper's α = 10 (the learning rate falls to a sixth by the end): DANN reaches "
            "{dann.target_acc}. With a mild decay (α = 1) it still adapts, {alpha_one.target_acc} "
            "({alpha_one.target_acc|range}), but over 20 seeds the high late learning rate lets some of them "
            "drift off (docs/defaults.md).",
            "α = 1: DANN still beats source only on every seed",
            lambda f: bool((_m(f, "alpha_one") > _m(f, "source_only")).all()),
        ),
        Claim(
            "rotation_ambiguous",
            "moons",
            "preset rotation_ambiguous",
            "At 35° (the JMLR paper's toy) the rotated tips of one moon lie on the other source moon, and "
            "aligning the domains can match them either way: DANN's target accuracy spreads over "
            "{rotation35_dann.target_acc|range} across the seeds, against {dann.target_acc|range} at 25°. Try "
            "a few seeds and watch where the tips go.",
            "35°: DANN's lowest seed below its lowest at 25°, and its mean still above source only's at 25°",
            lambda f: bool(
                _m(f, "rotation35_dann").min() < _m(f, "dann").min()
                and _m(f, "rotation35_dann").mean() > _m(f, "source_only").mean()
            ),
        ),
        Claim(
            "rotation_harder",
            "moons",
            "preset rotation_harder",
            "At 70° instead of 25° source only falls to {rotation70_source_only.target_acc} (the moons swap "
            "places) and DANN recovers part of it, {rotation70_dann.target_acc}, with a wide spread over the seeds "
            "({rotation70_dann.target_acc|range}).",
            "70°: source only's mean below 45%, DANN's mean at least 15 points above it",
            lambda f: bool(
                _m(f, "rotation70_source_only").mean() < 0.45
                and _m(f, "rotation70_dann").mean() >= _m(f, "rotation70_source_only").mean() + 0.15
            ),
        ),
        Claim(
            "digits_dann_wins",
            "digits",
            "How it works, docs",
            "On digits → digits-M DANN beats source only on every seed: target accuracy {dann.target_acc} "
            "against {source_only.target_acc}, with the target oracle at {target_oracle.target_acc}.",
            "DANN > source only on every seed, and DANN closes at least 40% of the gap from source only to the "
            "target oracle (means)",
            lambda f: bool(
                (_m(f, "dann") > _m(f, "source_only")).all()
                and _m(f, "dann").mean() - _m(f, "source_only").mean()
                >= 0.4 * (_m(f, "target_oracle").mean() - _m(f, "source_only").mean())
            ),
        ),
    )
}


# --- the figures ---
def _percent(values: np.ndarray) -> str:
    return f"{values.mean():.0%} ± {100 * values.std():.0f}"


def format_figure(values: list[float], metric: str, style: str = "") -> str:
    """Per-seed values as the texts quote them: a mean ± spread, or a range ("range")."""
    v = np.asarray(values, dtype=float)
    if metric == "pad":
        return f"{v.min():.2f}–{v.max():.2f}" if style == "range" else f"{v.mean():.2f} ± {v.std():.2f}"
    if style == "range":  # one decimal where whole percents would read "100%–100%"
        decimals = 0 if f"{v.min():.0%}" != f"{v.max():.0%}" else 1
        return f"{v.min():.{decimals}%}–{v.max():.{decimals}%}"
    return _percent(v)


_PLACEHOLDER = re.compile(r"\{(\w+)\.(\w+)(?:\|(\w+))?\}")


def fill(text: str, figures: Figures) -> str:
    """The text with its placeholders replaced by the figures ("(not measured)" where there are none)."""

    def figure(m: re.Match) -> str:
        values = figures.get(m.group(1), {}).get(m.group(2))
        return format_figure(values, m.group(2), m.group(3) or "") if values else "(not measured)"

    return _PLACEHOLDER.sub(figure, text)


def load_measured(path: Path = MEASURED) -> dict[str, Figures]:
    """{data set: figures} of the last `claims --write`."""
    return json.loads(path.read_text())["figures"] if path.is_file() else {}


_measured_cache: dict[str, Figures] | None = None


def claim_text(claim_id: str) -> str:
    """A claim's sentence with the measured figures in it (what pages and presets show)."""
    global _measured_cache
    if _measured_cache is None:
        _measured_cache = load_measured()
    claim = CLAIMS[claim_id]
    return fill(claim.text, _measured_cache.get(claim.dataset, {}))


# --- measuring ---
def setups_of(claims: list[Claim]) -> set[str]:
    """The setups these claims' texts and conditions rest on (read off their placeholders and checks)."""
    names = {m.group(1) for c in claims for m in _PLACEHOLDER.finditer(c.text)}
    return names | {
        name
        for c in claims
        for name in re.findall(r'"(\w+)"', inspect.getsource(c.holds))
        if (c.dataset, name) in SETUPS
    }


def setup_configs(
    dataset: str, seeds: tuple[int, ...] = SEEDS, only: set[str] | None = None, **overrides: Any
) -> dict[str, list[RunConfig]]:
    """The configs of every setup of `dataset` (or those in `only`), one per seed (overrides on top: say
    fewer steps)."""
    return {
        setup: [RunConfig.for_dataset(dataset, seed=s, **{**fields, **overrides}) for s in seeds]
        for (d, setup), fields in SETUPS.items()
        if d == dataset and (only is None or setup in only)
    }


def measure(dataset: str, seeds: tuple[int, ...] = SEEDS, only: set[str] | None = None, **overrides: Any) -> Figures:
    """Train the setups of `dataset` over `seeds` (together where that pays) and collect the figures."""
    from dann_demo.experiments.sweep import train_many

    configs = setup_configs(dataset, seeds, only, **overrides)
    flat = [c for cs in configs.values() for c in cs]
    outcomes = iter(train_many(flat))
    figures: Figures = {}
    for setup, cs in configs.items():
        runs = [next(outcomes) for _ in cs]
        figures[setup] = {
            m: [float(r.metrics[m]) if hasattr(r, "metrics") else math.nan for r in runs] for m in METRICS
        }
    return figures


def check(figures_by_dataset: dict[str, Figures], only: Callable[[Claim], bool] = lambda c: True) -> list[dict]:
    """Each claim (of the data sets measured) with whether it holds and its text filled from these figures."""
    rows = []
    for claim in CLAIMS.values():
        figures = figures_by_dataset.get(claim.dataset)
        if figures is None or not only(claim):
            continue
        rows.append(
            {
                "claim": claim.id,
                "dataset": claim.dataset,
                "where": claim.where,
                "holds": claim.holds(figures),
                "condition": claim.condition,
                "text": fill(claim.text, figures),
            }
        )
    return rows


def write_measured(figures_by_dataset: dict[str, Figures], seeds: tuple[int, ...], path: Path = MEASURED) -> None:
    path.write_text(json.dumps({"seeds": list(seeds), "figures": figures_by_dataset}, indent=1) + "\n")
