"""DomainPair: a labelled source domain and a target domain whose labels training never sees."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

UNLABELLED = -1  # the label of a target example whose file gave no label (own data without target_y)
DATA_DIR_VARIABLE = "DANN_DATA_DIR"


def is_image_shape(input_shape: tuple[int, ...]) -> bool:
    """The one answer to "is this images?" for data in hand: one example is (C, H, W)."""
    return len(input_shape) == 3


@dataclass(frozen=True)
class DomainPair:
    """Arrays of one source/target problem. x: (N, D) tables or (N, C, H, W) images; y: int64."""

    name: str
    source_x: np.ndarray
    source_y: np.ndarray
    target_x: np.ndarray
    target_y: np.ndarray  # used only by target_oracle and to report accuracy, never for DANN
    source_test_x: np.ndarray
    source_test_y: np.ndarray
    target_test_x: np.ndarray
    target_test_y: np.ndarray
    n_classes: int
    note: str = ""  # something a user should know about where the data came from (printed, shown)

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.source_x.shape[1:])

    @property
    def is_image(self) -> bool:
        return is_image_shape(self.input_shape)

    @property
    def has_input_plane(self) -> bool:
        """Points in the plane: the pages draw both classifiers over it."""
        return self.input_shape == (2,)

    @property
    def has_target_labels(self) -> bool:
        """False for own data without target labels: then target accuracy cannot be measured."""
        return bool(len(self.target_test_y)) and bool((self.target_test_y != UNLABELLED).all())


def resolve_data_dir(data_dir: str | os.PathLike | None = None) -> Path:
    """The data folder (MNIST, MNIST-M's cache, uploads): `data_dir` if given, else $DANN_DATA_DIR,
    else ~/.cache/dann_playground."""
    if data_dir:
        return Path(data_dir).expanduser()
    if os.environ.get(DATA_DIR_VARIABLE):
        return Path(os.environ[DATA_DIR_VARIABLE]).expanduser()
    return Path.home() / ".cache" / "dann_playground"
