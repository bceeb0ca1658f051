"""RunConfig: every setting of one training run, validated in one place."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DATASETS = ("moons", "digits", "mnist", "blobs", "file")
MODES = ("source_only", "dann", "no_reversal", "target_oracle")
LAMBDA_SCHEDULES = ("constant", "paper")
DEVICES = ("auto", "cpu", "cuda", "mps")

# Per-data-set defaults, chosen so that one click on Train gives a good run (see README,
# "Defaults and why"). Fields not named here take the dataclass defaults below.
DATASET_DEFAULTS: dict[str, dict[str, Any]] = {
    "moons": {"steps": 3000, "lambda_schedule": "paper", "lr": 0.1, "lr_alpha": 1.0, "hidden_units": 32},
    "digits": {"steps": 3000, "lambda_schedule": "paper", "lambda_value": 3.0, "lr": 0.01, "batch_size": 32},
    "blobs": {"steps": 3000, "lambda_schedule": "paper", "lr": 0.1, "lr_alpha": 1.0, "hidden_units": 32},
    "file": {"steps": 3000, "lambda_schedule": "paper", "lr": 0.01, "batch_size": 32},
    # The paper's MNIST -> MNIST-M settings: batch 64 + 64, lr 0.01 / (1 + 10 p)^0.75, lambda schedule up to 1.
    "mnist": {
        "steps": 3000,
        "lambda_schedule": "paper",
        "lambda_value": 1.0,
        "lr": 0.01,
        "batch_size": 64,
        "n_samples": 20_000,
    },
}
# Data sets that need files (or a download): left out of `bench` unless named.
FILE_DATASETS = ("mnist", "file")  # need files from the user (or a download): not in the default bench
BENCH_DATASETS = tuple(d for d in DATASETS if d not in FILE_DATASETS)  # what `bench` measures by default

# Upper bounds keep a classroom machine usable when someone types 10**9 into a box.
LIMITS = {
    "steps": (1, 100_000),
    "batch_size": (2, 1024),
    "n_samples": (20, 60_000),
    "hidden_units": (1, 1024),
    "log_every": (1, 10_000),
    "seed": (0, 2**31 - 1),
}


class ConfigError(ValueError):
    """A RunConfig field has a value that is not allowed; the message names field and range."""

    def __init__(self, field_name: str, value: Any, allowed: str):
        self.field = field_name
        self.value = value
        self.allowed = allowed
        super().__init__(f"{field_name}={value!r} is not allowed: {allowed}")


@dataclass(frozen=True)
class RunConfig:
    """One DANN training run: data set, mode, schedules, optimiser, and where it runs."""

    # --- data ---
    dataset: str = "moons"  # "moons" (2-D, JMLR toy), "digits" (digits -> digits-M), "mnist" (MNIST -> MNIST-M)
    rotation: float = 35.0  # moons: target = source rotated by this many degrees
    noise: float = 0.05  # moons: std of Gaussian noise added to the points (0.05 in the JMLR toy)
    n_samples: int = 600  # moons, blobs: points per domain in each split; mnist: training digits per domain (at most)
    blob_shift: float = 2.0  # blobs: the target's centre moves this far from the source's ...
    blob_angle: float = 90.0  # blobs: ... in this direction (degrees, counter-clockwise from +x)
    blob_scale: float = 1.5  # blobs: the target is the source scaled by this about the origin (then shifted)
    data_file: str = ""  # file: a .npz with source_x, source_y, target_x[, target_y], or the source .csv
    target_file: str = ""  # file: the target .csv (only with a source .csv)
    label_column: str = "label"  # file: the label column of the .csv files
    data_dir: str = ""  # mnist: folder of the MNIST files; "" = --data-dir / $DANN_DATA_DIR / ~/.cache/...
    # --- method ---
    mode: str = "dann"  # source_only | dann | no_reversal | target_oracle
    lambda_schedule: str = "paper"  # "paper": 2/(1+exp(-gamma p)) - 1; "constant": lambda_value
    lambda_value: float = 1.0  # the constant lambda (also the ceiling of the paper schedule)
    gamma: float = 10.0  # steepness of the paper's lambda schedule
    # --- optimiser: lr_p = lr / (1 + lr_alpha p)^lr_beta, SGD with momentum ---
    lr: float = 0.01  # mu0
    lr_alpha: float = 10.0
    lr_beta: float = 0.75
    momentum: float = 0.9
    steps: int = 3000
    batch_size: int = 64  # examples per domain in a batch: 64 source + 64 target
    hidden_units: int = 32  # width of the MLP feature extractor's two layers (2-D / tabular data)
    # --- bookkeeping ---
    seed: int = 0
    device: str = "auto"  # auto picks cuda, then mps, then cpu
    log_every: int = 50  # a progress record every this many steps
    snapshot_steps: tuple[int, ...] = field(default=())  # extra steps with a feature snapshot

    def __post_init__(self) -> None:
        # Tuples arrive as lists from JSON; normalise before validating so equality and hash agree.
        object.__setattr__(self, "snapshot_steps", tuple(int(s) for s in self.snapshot_steps))
        self.validate()

    @classmethod
    def for_dataset(cls, dataset: str = "moons", **overrides: Any) -> RunConfig:
        """The defaults that suit `dataset`, with `overrides` on top."""
        if dataset not in DATASET_DEFAULTS:
            raise ConfigError("dataset", dataset, f"one of {', '.join(DATASETS)}")
        return cls(**{"dataset": dataset, **DATASET_DEFAULTS[dataset], **overrides})

    def validate(self) -> None:
        _one_of("dataset", self.dataset, DATASETS)
        _one_of("mode", self.mode, MODES)
        _one_of("lambda_schedule", self.lambda_schedule, LAMBDA_SCHEDULES)
        _one_of("device", self.device, DEVICES)
        _number("rotation", self.rotation, -180.0, 180.0)
        _number("noise", self.noise, 0.0, 1.0)
        _number("blob_shift", self.blob_shift, 0.0, 10.0)
        _number("blob_angle", self.blob_angle, -360.0, 360.0)
        _number("blob_scale", self.blob_scale, 0.1, 5.0)
        self._validate_files()
        _number("lambda_value", self.lambda_value, 0.0, 10.0)
        _number("gamma", self.gamma, 0.0, 100.0)
        _number("lr", self.lr, 1e-6, 10.0)
        _number("lr_alpha", self.lr_alpha, 0.0, 1000.0)
        _number("lr_beta", self.lr_beta, 0.0, 10.0)
        _number("momentum", self.momentum, 0.0, 0.999)
        if not isinstance(self.data_dir, str) or len(self.data_dir) > 1000 or "\x00" in self.data_dir:
            raise ConfigError("data_dir", self.data_dir, "a folder path (text up to 1000 characters)")
        for name, (lo, hi) in LIMITS.items():
            _integer(name, getattr(self, name), lo, hi)
        for s in self.snapshot_steps:
            if not 0 <= s <= self.steps:
                raise ConfigError("snapshot_steps", s, f"steps between 0 and steps={self.steps}")

    def _validate_files(self) -> None:
        """dataset "file" names files that exist; other data sets name none (so their hash is unchanged)."""
        for name in ("data_file", "target_file", "label_column"):
            if not isinstance(getattr(self, name), str):
                raise ConfigError(name, getattr(self, name), "a text (a path or a column name)")
        if self.dataset != "file":
            for name in ("data_file", "target_file"):
                if getattr(self, name):
                    raise ConfigError(name, getattr(self, name), 'empty unless dataset="file"')
            return
        suffix = Path(self.data_file).suffix.lower()
        if suffix not in (".npz", ".csv"):
            raise ConfigError("data_file", self.data_file, "a .npz file, or the source .csv (with target_file)")
        _existing_file("data_file", self.data_file)
        if suffix == ".npz" and self.target_file:
            raise ConfigError("target_file", self.target_file, "empty with a .npz data_file (it holds both domains)")
        if suffix == ".csv":
            if Path(self.target_file).suffix.lower() != ".csv":
                raise ConfigError("target_file", self.target_file, "the target .csv, beside the source .csv")
            _existing_file("target_file", self.target_file)
            if not self.label_column.strip():
                raise ConfigError("label_column", self.label_column, "the name of the label column of the .csv files")

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
        return self.dataset in ("digits", "mnist")


def _one_of(name: str, value: Any, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ConfigError(name, value, f"one of {', '.join(allowed)}")


def _existing_file(name: str, path: str) -> None:
    if not Path(path).is_file():
        raise ConfigError(name, path, "an existing file (this one was not found)")


def _number(name: str, value: Any, lo: float, hi: float) -> None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or not lo <= value <= hi:
        raise ConfigError(name, value, f"a number from {lo:g} to {hi:g}")


def _integer(name: str, value: Any, lo: int, hi: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or not lo <= value <= hi:
        raise ConfigError(name, value, f"a whole number from {lo} to {hi}")
