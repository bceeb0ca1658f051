"""Lesson presets: one click sets up a run that teaches one thing about DANN.

Each preset is a full setup: the data set's defaults with a few fields changed, so what the class
sees does not depend on what was on the screen before. What a preset tells the class to look for is
made of claims (claims.py): sentences whose figures were measured over seeds 0-4 and are re-checked
by `dann-playground claims`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from dann_demo.config import RunConfig
from dann_demo.experiments.claims import claim_text


@dataclass(frozen=True)
class Preset:
    id: str
    title: str
    claims: tuple[str, ...]  # what to look for, shown when the preset is applied (claims.CLAIMS ids)
    dataset: str = "moons"
    values: dict[str, Any] = field(default_factory=dict)

    @property
    def lesson(self) -> str:
        return " ".join(claim_text(c) for c in self.claims)

    def config(self, seed: int = 0) -> RunConfig:
        return RunConfig.for_dataset(self.dataset, seed=seed, **self.values)


PRESETS: dict[str, Preset] = {
    p.id: p
    for p in (
        Preset(
            "lambda_zero",
            "λ = 0 is source only",
            ("lambda_zero_is_source_only",),
            values={"mode": "dann", "lambda_schedule": "constant", "lambda_value": 0.0},
        ),
        Preset(
            "paper_schedule",
            "The paper's schedule",
            ("paper_schedule_adapts",),
            values={"mode": "dann", "lambda_schedule": "paper", "lambda_value": 1.0, "gamma": 10.0},
        ),
        Preset(
            "lambda_too_large",
            "λ too large",
            ("lambda_eight_beaten_but_seen",),
            values={"mode": "dann", "lambda_schedule": "constant", "lambda_value": 8.0},
        ),
        Preset(
            "no_reversal",
            "No reversal: the domain classifier wins",
            ("no_reversal_domain_wins", "no_reversal_does_not_adapt_moons"),
            values={"mode": "no_reversal"},
        ),
        Preset(
            "rotation_harder",
            "Rotation makes it harder",
            ("rotation_harder",),
            values={"mode": "dann", "rotation": 70.0},
        ),
        Preset(
            "rotation_ambiguous",
            "35°: the seed decides the match",
            ("rotation_ambiguous",),
            values={"mode": "dann", "rotation": 35.0},
        ),
    )
}
