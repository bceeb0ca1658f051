"""What students in a room may do, as its teacher set it: the data sets and modes they may train, the most
steps a run may have, the pages they may use beside Train live, how many runs each may have queued or
training, and the room's lesson (a preset whose settings every run takes).

Checked where a run is submitted in the room (teaching.submit_in_room), not only hidden in a page: a
link edited by hand, a fresh tab or a call of the library gets the room's limit, and one line that says so.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from dann_demo.config import LIMITS, MODES, RunConfig, dataset_defaults
from dann_demo.datasets import DATASETS
from dann_demo.presets import PRESETS
from dann_demo.spec import ConfigError

PAGES = ("sweep", "features")  # the pages beside Train live that a room may turn off
# What a run keeps when the room moves it to another data set: the student's choices about the method.
KEPT_ACROSS_DATASETS = ("seed", "mode", "lambda_schedule", "lambda_value", "gamma")
PAGE_TITLES = {"sweep": "Lambda sweep", "features": "Feature maps"}
MAX_RUNS_PER_STUDENT = 20


@dataclass(frozen=True)
class RoomLimits:
    datasets: tuple[str, ...] = ()  # the data sets students may train (empty: all)
    modes: tuple[str, ...] = ()  # the modes they may train (empty: all)
    max_steps: int = 0  # the most steps a run may have (0: the data set's default)
    pages: tuple[str, ...] = PAGES  # the pages beside Train live they may use
    runs_per_student: int = 1  # runs one student may have queued or training at once
    lesson: str = ""  # a lesson preset whose settings every run of the room takes ("": none)

    def __post_init__(self) -> None:
        for name, allowed in (("datasets", DATASETS), ("modes", MODES), ("pages", PAGES)):
            value = tuple(getattr(self, name))
            object.__setattr__(self, name, value)
            if not set(value) <= set(allowed):
                raise ConfigError(name, list(value), f"some of {', '.join(allowed)}")
        top = LIMITS["steps"][1]
        if not isinstance(self.max_steps, int) or not 0 <= self.max_steps <= top:
            raise ConfigError("max_steps", self.max_steps, f"a whole number from 0 (the data set's default) to {top}")
        if not isinstance(self.runs_per_student, int) or not 1 <= self.runs_per_student <= MAX_RUNS_PER_STUDENT:
            allowed = f"a whole number from 1 to {MAX_RUNS_PER_STUDENT}"
            raise ConfigError("runs_per_student", self.runs_per_student, allowed)
        if self.lesson and self.lesson not in PRESETS:
            raise ConfigError("lesson", self.lesson, f"empty or one of {', '.join(PRESETS)}")

    def to_dict(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RoomLimits:
        known = {k: v for k, v in d.items() if k in cls.__dataclass_fields__}
        return cls(**known)

    def allows_page(self, page: str) -> bool:
        return page not in PAGES or page in self.pages

    def steps_limit(self, dataset: str) -> int:
        return self.max_steps or int(dataset_defaults(dataset)["steps"])

    def fixed_settings(self) -> dict[str, Any]:
        """The settings the room's lesson fixes (its widgets are hidden on the students' pages)."""
        if not self.lesson:
            return {}
        preset = PRESETS[self.lesson]
        return {"dataset": preset.dataset, **preset.values}

    def apply(self, config: RunConfig) -> tuple[RunConfig, list[str]]:
        """`config` within the room's limits, and one line for each thing that had to change."""
        notes = []
        if self.datasets and config.dataset not in self.datasets:
            notes.append(f"This room trains on {' and '.join(self.datasets)} only (its teacher's limit), not "
                         f"{config.dataset}.")  # fmt: skip
            config = RunConfig.for_dataset(self.datasets[0], **_kept(config))
        fixed = self.fixed_settings()
        if fixed:
            title = PRESETS[self.lesson].title
            if fixed["dataset"] != config.dataset:
                config = RunConfig.for_dataset(fixed["dataset"], **_kept(config))
            changed = {k: v for k, v in fixed.items() if getattr(config, k) != v}
            if changed:
                config = config.replace(**{k: v for k, v in changed.items() if k != "dataset"})
                notes.append(f"This room's lesson ({title}) sets {', '.join(sorted(changed))}.")
        if self.modes and config.mode not in self.modes:
            notes.append(f"This room trains the modes {', '.join(self.modes)} only, not {config.mode}.")
            config = config.replace(mode=self.modes[0])
        limit = self.steps_limit(config.dataset)
        if config.steps > limit:
            notes.append(f"This room allows at most {limit} steps a run: {config.steps} became {limit}.")
            config = config.replace(steps=limit, snapshot_steps=tuple(s for s in config.snapshot_steps if s <= limit))
        return config, notes

    def describe(self) -> str:
        """One line for the students' pages: what this room allows."""
        parts = [
            f"data sets: {', '.join(self.datasets) if self.datasets else 'all'}",
            f"modes: {', '.join(self.modes) if self.modes else 'all'}",
            f"steps: at most {self.max_steps}" if self.max_steps else "steps: at most each data set's default",
            f"{self.runs_per_student} run(s) at a time each",
        ]
        if self.lesson:
            parts.append(f"lesson: {PRESETS[self.lesson].title}")
        return "; ".join(parts)


def _kept(config: RunConfig) -> dict[str, Any]:
    return {name: getattr(config, name) for name in KEPT_ACROSS_DATASETS}
