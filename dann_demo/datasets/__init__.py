"""The data sets: each is one module that builds a DomainPair, and one entry of REGISTRY below.

An entry holds what the rest of the app needs to know about a data set: its label, its loader, its
own settings (RunConfig fields shown only for it), whether it is images, the defaults that make one
click on Train a good run, and which of its settings ensemble members may set each on their own.
The modules of this package never import this file back: adding a data set is one module and one entry.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from dann_demo.datasets import blobs, digits, files, mnist, mnist_download, moons
from dann_demo.datasets.files import DataFileError
from dann_demo.datasets.pair import UNLABELLED, DomainPair, resolve_data_dir
from dann_demo.datasets.photos import background_photos, blend_over_photos

# The settings of a small MLP on 2-D points or tables (docs/defaults.md): moons, blobs, own tables.
TABLE_DEFAULTS: dict[str, Any] = {
    "steps": 3000,
    "lambda_schedule": "paper",
    "lr": 0.1,
    "lr_alpha": 1.0,
    "hidden_units": 32,
    "domain_hidden_units": 32,
}
# Moons: the table defaults with the paper's learning-rate decay (alpha = 10). With rotation 25 degrees
# (RunConfig's default) this adapted every seed of 0-19 on every way of training them; at 35 degrees, or
# with alpha = 1, some seeds match part of a moon to the wrong class (docs/defaults.md).
MOONS_DEFAULTS: dict[str, Any] = {**TABLE_DEFAULTS, "lr_alpha": 10.0}
# The paper's MNIST network and lambda schedule on small images, with what was measured best on
# digits -> digits-M (docs/defaults.md): a domain classifier of two layers of 256, no learning-rate decay,
# batch 32 + 32. digits -> digits-M and own images.
IMAGE_DEFAULTS: dict[str, Any] = {
    "steps": 3000,
    "lambda_schedule": "paper",
    "lambda_value": 1.0,
    "lr": 0.01,
    "lr_alpha": 0.0,
    "batch_size": 32,
    "domain_hidden_units": 256,
    "domain_hidden_layers": 2,
}


@dataclass(frozen=True)
class Dataset:
    """One data set as the app, the CLI and the job manager see it."""

    name: str
    label: str  # how the data set box names it
    # RunConfig -> DomainPair (cached by the module): the one adapter from a config to the loader's own
    # parameters, so that no data set module knows RunConfig.
    load: Callable[[Any], DomainPair]
    images: bool | None  # None: decided by the file (own data)
    defaults: dict[str, Any] = field(default_factory=dict)  # RunConfig fields that differ from the dataclass
    settings: tuple[str, ...] = ()  # RunConfig fields that belong to this data set only
    needs_files: bool = False  # files from the user or a download: not in the default bench
    # Settings each member of a trained-together batch may have on its own: members draw their own
    # data from their own seed anyway, so these cost nothing (moons and blobs; data of one size).
    member_settings: tuple[str, ...] = ()
    labels: dict[str, str] = field(default_factory=dict)  # a setting's label where this data set names it its own way


def _mnist(config) -> DomainPair:
    return mnist.mnist_pair(config.data_dir, config.n_samples, download=mnist_download.download)


REGISTRY: dict[str, Dataset] = {
    d.name: d
    for d in (
        Dataset(
            "moons",
            "two moons (2-D points)",
            lambda c: moons.moons(c.n_samples, c.noise, c.rotation, c.seed),
            images=False,
            defaults=MOONS_DEFAULTS,
            settings=("rotation", "noise", "n_samples", "hidden_units"),
            member_settings=("rotation", "noise"),
        ),
        Dataset(
            "digits",
            "digits → digits-M (images)",
            lambda c: digits.digits(c.seed),
            images=True,
            defaults=IMAGE_DEFAULTS,
        ),
        Dataset(
            "blobs",
            "blobs: shifted and scaled (2-D points)",
            lambda c: blobs.blobs(c.n_samples, c.blob_shift, c.blob_angle, c.blob_scale, c.seed),
            images=False,
            defaults=TABLE_DEFAULTS,
            settings=("blob_shift", "blob_angle", "blob_scale", "n_samples", "hidden_units"),
            member_settings=("blob_shift", "blob_angle", "blob_scale"),
        ),
        Dataset(
            "file",
            "your own data (.npz or .csv)",
            lambda c: files.load_file_pair(
                c.data_file, c.target_file, c.label_column, c.seed, needs_target_labels=c.mode == "target_oracle"
            ),
            images=None,
            defaults=TABLE_DEFAULTS,
            settings=("data_file", "target_file", "label_column", "hidden_units"),
            needs_files=True,
        ),
        # The paper's MNIST -> MNIST-M settings: batch 64 + 64, lr 0.01 / (1 + 10 p)^0.75, lambda schedule up to 1.
        Dataset(
            "mnist",
            "MNIST → MNIST-M (paper's benchmark)",
            _mnist,
            images=True,
            defaults={
                "steps": 3000,
                "lambda_schedule": "paper",
                "lambda_value": 1.0,
                "lr": 0.01,
                "batch_size": 64,
                "n_samples": 20_000,
            },
            settings=("n_samples", "data_dir"),
            needs_files=True,
            labels={"n_samples": "Training digits per domain"},
        ),
    )
}
DATASETS = tuple(REGISTRY)
BENCH_DATASETS = tuple(name for name, d in REGISTRY.items() if not d.needs_files)  # what `bench` measures


def data_kind(config_or_values) -> str:
    """ "images" or "table" for a config (or a dict of its fields); own data is told by its file."""
    get = (
        config_or_values.get
        if isinstance(config_or_values, dict)
        else lambda k, d=None: getattr(config_or_values, k, d)
    )
    entry = REGISTRY[get("dataset", "moons")]
    if entry.images is None:
        return files.data_kind(get("data_file", "")) if get("data_file", "") else "table"
    return "images" if entry.images else "table"


def defaults(dataset: str, kind: str | None = None) -> dict[str, Any]:
    """The defaults of `dataset` (RunConfig fields); for own data those of its kind ("table" or "images")."""
    entry = REGISTRY[dataset]
    if entry.images is None and kind == "images":
        return IMAGE_DEFAULTS
    return entry.defaults


def load_pair(config) -> DomainPair:
    """The domain pair `config` asks for (cached by each module: the same settings give the same arrays)."""
    return REGISTRY[config.dataset].load(config)


__all__ = [
    "BENCH_DATASETS",
    "DATASETS",
    "IMAGE_DEFAULTS",
    "MOONS_DEFAULTS",
    "REGISTRY",
    "TABLE_DEFAULTS",
    "UNLABELLED",
    "DataFileError",
    "Dataset",
    "DomainPair",
    "background_photos",
    "blend_over_photos",
    "data_kind",
    "defaults",
    "load_pair",
    "resolve_data_dir",
]
