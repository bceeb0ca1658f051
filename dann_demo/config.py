"""RunConfig: every setting of one training run, each declared once with its type, range and help.

A field's `Spec` (its metadata) is the one place a setting is described: validation, the CLI's
options, the page widgets, the link parser and the feature-map settings are all derived from it, in
the spirit of scikit-learn's parameter constraints. A bad value is a ConfigError that names the field,
the value and what is allowed.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dann_demo.datasets import DATASETS, REGISTRY, data_kind, defaults
from dann_demo.spec import ConfigError, Spec, setting, specs, validate_fields

MODES = ("source_only", "dann", "no_reversal", "target_oracle")
LAMBDA_SCHEDULES = ("constant", "paper")
DEVICES = ("auto", "cpu", "cuda", "mps")


def _number(lo: float, hi: float, label: str, **kw: Any) -> Spec:
    return Spec("float", lo, hi, label=label, **kw)


def _whole(lo: int, hi: int, label: str, **kw: Any) -> Spec:
    return Spec("int", lo, hi, label=label, **kw)


@dataclass(frozen=True)
class RunConfig:
    """One DANN training run: data set, mode, schedules, optimiser, and where it runs."""

    # --- data (each data set's own settings: datasets.REGISTRY) ---
    dataset: str = setting("moons", Spec("choice", choices=DATASETS, label="Data set", widget="select"))
    rotation: float = setting(
        25.0,
        _number(
            -180,
            180,
            "Target rotation (degrees)",
            step=5.0,
            widget="slider",
            help=(
                "The target domain is the source's two moons rotated by this angle. The JMLR toy used 35°; "
                "there the tips of one rotated moon lie on the other source moon and the seed decides how "
                "DANN matches them (docs/defaults.md)."
            ),
        ),
    )
    noise: float = setting(
        0.05,
        _number(
            0,
            1,
            "Noise",
            step=0.01,
            widget="slider",
            help="Standard deviation of the Gaussian noise on the points (0.05 in the JMLR toy).",
        ),
    )
    n_samples: int = setting(
        600,
        _whole(
            20,
            60_000,
            "Points per domain",
            step=100,
            advanced=True,
            help="moons, blobs: points per domain and split; mnist: training digits per domain "
            "(the paper used all 60,000; fewer load faster and use less memory).",
        ),
    )
    blob_shift: float = setting(
        2.0,
        _number(
            0,
            10,
            "Target shift (distance)",
            step=0.1,
            widget="slider",
            help="How far the target's classes move from the source's.",
        ),
    )
    blob_angle: float = setting(
        90.0,
        _number(
            -180,
            180,
            "Shift direction (degrees)",
            step=15.0,
            widget="slider",
            help="The direction of the shift, counter-clockwise from +x.",
        ),
    )
    blob_scale: float = setting(
        1.5,
        _number(
            0.1,
            5,
            "Target spread (x source)",
            step=0.1,
            widget="slider",
            help="The target is the source scaled by this about the origin (centres and "
            "spreads), then shifted: how much wider the target's classes are.",
        ),
    )
    data_file: str = setting(
        "",
        Spec(
            "text",
            in_links=False,
            label="Data file",
            help="A .npz with source_x, source_y, target_x[, target_y], or the source .csv.",
        ),
    )
    target_file: str = setting(
        "", Spec("text", in_links=False, label="Target file", help="The target .csv (only with a source .csv).")
    )
    label_column: str = setting("label", Spec("text", label="Label column", help="The label column of the .csv files."))
    data_dir: str = setting(
        "",
        Spec(
            "text",
            in_links=False,
            label="MNIST folder",
            help="Folder of the MNIST files; empty: $DANN_DATA_DIR, else ~/.cache/dann_playground.",
        ),
    )
    # --- method ---
    mode: str = setting("dann", Spec("choice", choices=MODES, label="Mode", widget="select"))
    lambda_schedule: str = setting(
        "paper",
        Spec(
            "choice",
            choices=LAMBDA_SCHEDULES,
            label="Lambda",
            widget="radio",
            help="Paper: λ_p = 2/(1+exp(-γp)) − 1, rising from 0 to 1 (times the ceiling "
            "below). Constant: λ stays at the value below.",
        ),
    )
    lambda_value: float = setting(
        1.0,
        _number(
            0,
            10,
            "λ (constant value, or the schedule's ceiling)",
            step=0.05,
            widget="slider",
            help="Move it during training: the running job uses it from the next step.",
        ),
    )
    gamma: float = setting(
        10.0,
        _number(
            0,
            100,
            "γ (how fast λ rises)",
            step=0.5,
            widget="slider",
            help="Steepness of the paper's λ schedule (10 in the paper).",
        ),
    )
    # --- optimiser: lr_p = lr / (1 + lr_alpha p)^lr_beta, SGD with momentum ---
    lr: float = setting(0.01, _number(1e-6, 10, "Learning rate μ0", help="μ0 of lr_p = μ0 / (1 + α p)^β."))
    lr_alpha: float = setting(
        10.0, _number(0, 1000, "lr decay α", advanced=True, help="lr_p = μ0 / (1 + α p)^β; α = 0 keeps it fixed.")
    )
    lr_beta: float = setting(0.75, _number(0, 10, "lr decay β", advanced=True))
    momentum: float = setting(0.9, _number(0, 0.999, "Momentum", advanced=True))
    steps: int = setting(3000, _whole(1, 100_000, "Steps", step=500))
    batch_size: int = setting(
        64,
        _whole(
            2,
            1024,
            "Batch size (per domain)",
            advanced=True,
            help="Examples per domain in a batch: 64 source + 64 target.",
        ),
    )
    hidden_units: int = setting(
        32,
        _whole(
            1,
            1024,
            "Hidden units",
            advanced=True,
            help="Width of the MLP feature extractor's two layers (2-D points and tables).",
        ),
    )
    domain_hidden_units: int = setting(
        100,
        _whole(
            1,
            2048,
            "Domain classifier width",
            advanced=True,
            help="Units in each hidden layer of the domain classifier (the paper's MNIST net: one layer of 100).",
        ),
    )
    domain_hidden_layers: int = setting(
        1,
        _whole(
            1,
            3,
            "Domain classifier layers",
            advanced=True,
            help="Hidden ReLU layers of the domain classifier. A stronger adversary finds more of the domain "
            "in the features, so the reversed gradient has more to remove.",
        ),
    )
    # --- bookkeeping ---
    seed: int = setting(
        0,
        _whole(
            0, 2**31 - 1, "Seed", help="The same seed gives the same data, initial weights and batches in every mode."
        ),
    )
    device: str = setting(
        "auto",
        Spec(
            "choice",
            choices=DEVICES,
            label="Device",
            widget="select",
            advanced=True,
            help="auto picks the GPU when there is one (cuda, then mps), else the CPU.",
        ),
    )
    log_every: int = setting(
        50, _whole(1, 10_000, "Log every", in_links=False, help="A progress record every this many steps.")
    )
    snapshot_steps: tuple[int, ...] = field(default=())  # extra steps with a feature snapshot

    def __post_init__(self) -> None:
        # Tuples arrive as lists from JSON; normalise before validating so equality and hash agree.
        object.__setattr__(self, "snapshot_steps", tuple(int(s) for s in self.snapshot_steps))
        self.validate()

    @classmethod
    def for_dataset(cls, dataset: str = "moons", **overrides: Any) -> RunConfig:
        """The defaults that suit `dataset` (for own data, those of its file's kind), `overrides` on top."""
        if dataset not in REGISTRY:
            raise ConfigError("dataset", dataset, f"one of {', '.join(DATASETS)}")
        kind = data_kind({"dataset": dataset, **overrides})
        return cls(**{"dataset": dataset, **defaults(dataset, kind), **overrides})

    def validate(self) -> None:
        validate_fields(self)
        self._validate_files()
        for s in self.snapshot_steps:
            if not 0 <= s <= self.steps:
                raise ConfigError("snapshot_steps", s, f"steps between 0 and steps={self.steps}")

    def _validate_files(self) -> None:
        """dataset "file" names files of the right kinds; other data sets name none (so their hash is
        unchanged). Whether the files exist is not asked here: a config is data, decoded from a store or a
        link on a machine that may not see the file (check_files, where a run is submitted)."""
        if self.dataset != "file":
            for name in ("data_file", "target_file"):
                if getattr(self, name):
                    raise ConfigError(name, getattr(self, name), 'empty unless dataset="file"')
            return
        suffix = Path(self.data_file).suffix.lower()
        if suffix not in (".npz", ".csv"):
            raise ConfigError("data_file", self.data_file, "a .npz file, or the source .csv (with target_file)")
        if suffix == ".npz" and self.target_file:
            raise ConfigError("target_file", self.target_file, "empty with a .npz data_file (it holds both domains)")
        if suffix == ".csv":
            if Path(self.target_file).suffix.lower() != ".csv":
                raise ConfigError("target_file", self.target_file, "the target .csv, beside the source .csv")
            if not self.label_column.strip():
                raise ConfigError("label_column", self.label_column, "the name of the label column of the .csv files")

    def check_files(self) -> None:
        """The files a run of own data reads exist here (asked where a run is submitted: the page, the CLI;
        a run whose file has gone by the time it trains fails with the file named)."""
        for name in ("data_file", "target_file"):
            if (path := getattr(self, name)) and not Path(path).is_file():
                raise ConfigError(name, path, "an existing file (this one was not found)")

    def replace(self, **changes: Any) -> RunConfig:
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["snapshot_steps"] = list(self.snapshot_steps)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RunConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ConfigError(unknown[0], d[unknown[0]], f"a RunConfig field ({', '.join(sorted(known))})")
        return cls(**d)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> RunConfig:
        return cls.from_dict(json.loads(text))

    def stable_hash(self) -> str:
        """Same settings -> same hash, across processes and machines (used as a cache key)."""
        return hashlib.sha256(self.to_json().encode()).hexdigest()[:16]

    @property
    def is_image(self) -> bool:
        """Images (the paper's conv net) or points and tables (the MLP); own data is told by its file."""
        return data_kind(self) == "images"


RUN_SPECS = specs(RunConfig)
LIMITS = {name: (int(s.lo), int(s.hi)) for name, s in RUN_SPECS.items() if s.kind == "int"}


def dataset_defaults(dataset: str, kind: str | None = None) -> dict[str, Any]:
    """Every field's default for `dataset` (without building a config: own data needs a file)."""
    fields = {f.name: f.default for f in dataclasses.fields(RunConfig)}
    return {**fields, **defaults(dataset, kind)}


def belongs_to(name: str, dataset: str) -> bool:
    """Whether RunConfig field `name` is a setting of `dataset` (a data set's own settings belong to it
    alone; every other field belongs to all)."""
    own = {s for d in REGISTRY.values() for s in d.settings}
    return name not in own or name in REGISTRY[dataset].settings
