"""Lesson presets: one click sets up a run that teaches one thing about DANN.

Each preset is a full setup: the data set's defaults with a few fields changed, so what the class
sees does not depend on what was on the screen before. The figures in `expect` were measured with
`python -m dann_demo train --dataset moons ... --seeds 0-1` (README, "In a classroom").
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from dann_demo.config import RunConfig


@dataclass(frozen=True)
class Preset:
    id: str
    title: str
    lesson: str  # what to look for, shown when the preset is applied
    dataset: str = "moons"
    values: dict[str, Any] = field(default_factory=dict)

    def config(self, seed: int = 0) -> RunConfig:
        return RunConfig.for_dataset(self.dataset, seed=seed, **self.values)


PRESETS: dict[str, Preset] = {
    p.id: p
    for p in (
        Preset(
            "lambda_zero",
            "λ = 0 is source only",
            "With λ = 0 the reversal layer passes no gradient into the features: the run learns exactly what "
            "source only learns. Target accuracy stays near 70% and the domain classifier keeps winning.",
            values={"mode": "dann", "lambda_schedule": "constant", "lambda_value": 0.0},
        ),
        Preset(
            "paper_schedule",
            "The paper's schedule",
            "λ rises from 0 to 1 as 2/(1+exp(−10p))−1. The domain loss climbs to ln 2 and domain accuracy "
            "falls to 50% as the features align; target accuracy climbs to near 100%.",
            values={"mode": "dann", "lambda_schedule": "paper", "lambda_value": 1.0, "gamma": 10.0},
        ),
        Preset(
            "lambda_too_large",
            "λ too large",
            "A constant λ of 8 from the first step: the domain classifier is beaten at once (domain accuracy "
            "50%), but the features were pushed around before they learnt the classes: target accuracy stops "
            "near 80%, where the paper's rising schedule reaches about 99%.",
            values={"mode": "dann", "lambda_schedule": "constant", "lambda_value": 8.0},
        ),
        Preset(
            "no_reversal",
            "No reversal: the domain classifier wins",
            "The domain head is trained with the features instead of against them: the domain loss falls toward "
            "0, domain accuracy above 90%, and target accuracy stays near source only's (about 75% against 70%).",
            values={"mode": "no_reversal"},
        ),
        Preset(
            "rotation_harder",
            "Rotation makes it harder",
            "The target is rotated by 70° instead of 35°: source only falls to about 23% (the moons swap "
            "places), and DANN recovers only part of it (about 74%, varying with the seed). Compare with 35°.",
            values={"mode": "dann", "rotation": 70.0},
        ),
    )
}
