"""What a data file must be, checked: the limits, the error that names the file, the array or column, what
it found and what it expects (`DataFileError`), and the checks of the arrays as read (`check_domains`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

# Limits, so that one upload cannot take a shared classroom server down (docs/defaults.md, "Your own data").
MAX_FILE_MB = 100  # each file, as uploaded
MAX_UNPACKED_MB = 400  # a .npz's arrays together, once decompressed (a small zip can hold a huge array)
MAX_ROWS = 20_000  # rows (examples) of each array or .csv file
MAX_FEATURES = 1_000  # columns of a table
MAX_IMAGE_SIDE = 256  # pixels of an image's height and width
MAX_VALUES = 50_000_000  # numbers in one array (rows x features, or rows x height x width x channels)
MAX_CLASSES = 100  # labels are whole numbers 0 .. 99
MIN_ROWS = 10  # examples of each domain, so that both keep some for training and some for testing
IMAGE_SIZE = 28  # the paper's MNIST network takes 28 x 28 images
TEST_FRACTION = 0.25  # held out for testing when the file has no separate test data
REQUIRED_ARRAYS = ("source_x", "source_y", "target_x")
OPTIONAL_ARRAYS = ("target_y", "target_test_x", "target_test_y")


class DataFileError(ValueError):
    """A data file the app cannot use: which file, which array or column, what was found, what is expected."""

    def __init__(self, file: str | Path, item: str, found: str, expected: str):
        self.file = Path(file).name
        self.item = item
        self.found = found
        self.expected = expected
        super().__init__(f"{self.file}, {item}: found {found}; expected {expected}.")


@dataclass
class Domains:
    """The arrays as read from the file(s), checked but not yet split or scaled. y may be None."""

    source_x: np.ndarray
    source_y: np.ndarray
    target_x: np.ndarray
    target_y: np.ndarray | None
    target_test_x: np.ndarray | None = None
    target_test_y: np.ndarray | None = None

    @property
    def is_image(self) -> bool:
        return self.source_x.ndim >= 3


# --- checking ---


def _describe(a: np.ndarray) -> str:
    return f"a {a.ndim}-D array of shape {a.shape}"


def _kind(a: np.ndarray) -> str:
    kinds = {
        "U": "text",
        "S": "bytes",
        "O": "Python objects",
        "b": "True/False values",
        "c": "complex numbers",
        "M": "dates",
        "m": "time spans",
        "V": "records (a structured array)",
    }
    return f"{kinds.get(a.dtype.kind, 'values')} (dtype {a.dtype})"


def _check_x(path: Path, name: str, a: np.ndarray, image: bool | None) -> None:
    """One input array: a table (N x D) or images (N x H x W [x C]); numbers, finite, within the limits."""
    item = f"array '{name}'"
    if a.dtype.kind not in "iuf":
        raise DataFileError(path, item, _kind(a), "numbers: floats for a table; uint8 0-255 or floats 0-1 for images")
    if a.ndim not in (2, 3, 4):
        hint = " (one feature per example? use x.reshape(-1, 1))" if a.ndim == 1 else ""
        raise DataFileError(
            path, item, _describe(a) + hint, "a table (examples x features) or images (N x H x W, or N x H x W x C)"
        )
    if image is not None and (a.ndim >= 3) != image:
        raise DataFileError(
            path,
            item,
            f"{'images' if a.ndim >= 3 else 'a table'}: {_describe(a)}",
            f"{'images' if image else 'a table'}, like source_x",
        )
    if not MIN_ROWS <= len(a) <= MAX_ROWS and name in ("source_x", "target_x"):
        raise DataFileError(path, item, f"{len(a):,} examples", f"from {MIN_ROWS} to {MAX_ROWS:,} examples")
    if not 1 <= len(a) <= MAX_ROWS:
        raise DataFileError(path, item, f"{len(a):,} examples", f"from 1 to {MAX_ROWS:,} examples")
    if a.size > MAX_VALUES:
        raise DataFileError(path, item, f"{a.size:,} numbers ({_describe(a)})", f"at most {MAX_VALUES:,} in one array")
    if a.ndim == 2:
        if not 1 <= a.shape[1] <= MAX_FEATURES:
            raise DataFileError(path, item, f"{a.shape[1]:,} features", f"from 1 to {MAX_FEATURES:,} features")
    else:
        if a.ndim == 4 and a.shape[3] not in (1, 3):
            hint = (
                " (channels first? use x.transpose(0, 2, 3, 1))"
                if a.shape[1] in (1, 3)
                else " (RGBA? drop the alpha channel: x[..., :3])"
                if a.shape[3] == 4
                else ""
            )
            raise DataFileError(
                path,
                item,
                f"{a.shape[3]} channels in {_describe(a)}{hint}",
                "images N x H x W x C with C = 1 (grey) or 3 (colour)",
            )
        h, w = a.shape[1:3]
        if max(h, w) > MAX_IMAGE_SIDE:
            raise DataFileError(
                path,
                item,
                f"images of {h} x {w} pixels",
                f"at most {MAX_IMAGE_SIDE} x {MAX_IMAGE_SIDE} (they are resized to {IMAGE_SIZE} x {IMAGE_SIZE} anyway)",
            )
    if a.dtype.kind == "f":
        bad = ~np.isfinite(a)
        if bad.any():
            n_nan, n_inf = int(np.isnan(a).sum()), int(np.isinf(a).sum())
            where = np.argwhere(bad)[0]
            raise DataFileError(
                path,
                item,
                f"{n_nan} NaN and {n_inf} infinite values (the first in example "
                f"{where[0]}, at index {tuple(int(i) for i in where)})",
                "finite numbers only",
            )
    if a.ndim >= 3:
        lo, hi = float(a.min()), float(a.max())
        if a.dtype.kind == "f" and (lo < 0 or hi > 1):
            n = int(((a < 0) | (a > 1)).sum())
            hint = " (they look like 0-255: divide by 255, or save as uint8)" if hi <= 255 and lo >= 0 else ""
            raise DataFileError(
                path,
                item,
                f"{n:,} pixel values outside 0-1 (from {lo:g} to {hi:g}){hint}",
                "float pixels from 0 to 1, or uint8 pixels from 0 to 255",
            )
        if a.dtype.kind in "iu" and (lo < 0 or hi > 255):
            raise DataFileError(
                path,
                item,
                f"whole-number pixels from {lo:g} to {hi:g}",
                "uint8 pixels from 0 to 255, or float pixels from 0 to 1",
            )


def _check_y(path: Path, name: str, y: np.ndarray, n: int, x_name: str) -> np.ndarray:
    """Labels: one whole number 0 .. MAX_CLASSES-1 per example of x. Returns them as int64."""
    item = f"array '{name}'"
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        hint = " (one-hot? use y.argmax(1))" if y.ndim == 2 else ""
        raise DataFileError(path, item, _describe(y) + hint, "one label per example: a 1-D array")
    if y.dtype.kind not in "iuf":
        raise DataFileError(path, item, _kind(y), "whole numbers 0, 1, 2, ... for the classes")
    if len(y) != n:
        raise DataFileError(
            path, item, f"{len(y):,} labels for the {n:,} examples of '{x_name}'", "one label per example"
        )
    if y.dtype.kind == "f":
        bad = ~np.isfinite(y)
        if bad.any():
            raise DataFileError(
                path,
                item,
                f"{int(bad.sum())} NaN or infinite labels (the first at index {int(np.flatnonzero(bad)[0])})",
                "a whole number for every example",
            )
        fractional = y != np.round(y)
        if fractional.any():
            i = int(np.flatnonzero(fractional)[0])
            raise DataFileError(
                path,
                item,
                f"labels that are not whole numbers ({y[i]:g} at index {i})",
                "whole numbers 0, 1, 2, ... for the classes",
            )
    if len(y) and (y.min() < 0 or y.max() >= MAX_CLASSES):
        raise DataFileError(
            path, item, f"labels from {y.min():g} to {y.max():g}", f"whole numbers from 0 to {MAX_CLASSES - 1}"
        )
    return y.astype(np.int64)


def check_domains(path: Path, arrays: dict[str, np.ndarray], target_file: Path | None = None) -> Domains:
    """Every array alone, then how they fit together. CSV targets are reported against the target file."""
    target_path = target_file or path

    def where(name: str) -> Path:
        return target_path if name.startswith("target") else path

    if ("target_test_x" in arrays) != ("target_test_y" in arrays):
        given, absent = (
            ("target_test_x", "target_test_y") if "target_test_x" in arrays else ("target_test_y", "target_test_x")
        )
        raise DataFileError(path, f"array '{absent}'", f"'{given}' without '{absent}'", "both or neither")
    source_image = arrays["source_x"].ndim >= 3
    for name in ("source_x", "target_x", "target_test_x"):
        if name in arrays:
            _check_x(where(name), name, arrays[name], None if name == "source_x" else source_image)
    labels = {}
    for name, x_name in (("source_y", "source_x"), ("target_y", "target_x"), ("target_test_y", "target_test_x")):
        if name in arrays:
            labels[name] = _check_y(where(name), name, arrays[name], len(arrays[x_name]), x_name)
    if not source_image:
        d = arrays["source_x"].shape[1]
        for name in ("target_x", "target_test_x"):
            if name in arrays and arrays[name].shape[1] != d:
                raise DataFileError(
                    where(name),
                    f"array '{name}'",
                    f"{arrays[name].shape[1]} features",
                    f"{d} features, as many as source_x",
                )
    source_classes = np.unique(labels["source_y"])
    if len(source_classes) < 2:
        raise DataFileError(
            path,
            "array 'source_y'",
            f"a single class ({source_classes[0]})" if len(source_classes) else "no labels",
            "at least 2 classes to tell apart",
        )
    for name in ("target_y", "target_test_y"):
        if name in labels:
            unknown = np.setdiff1d(np.unique(labels[name]), source_classes)
            if len(unknown):
                raise DataFileError(
                    where(name),
                    f"array '{name}'",
                    f"classes {', '.join(map(str, unknown))} that source_y does not have",
                    f"only the source's classes ({', '.join(map(str, source_classes))}): the "
                    "label classifier learns them from the source alone",
                )
    return Domains(
        arrays["source_x"],
        labels["source_y"],
        arrays["target_x"],
        labels.get("target_y"),
        arrays.get("target_test_x"),
        labels.get("target_test_y"),
    )
