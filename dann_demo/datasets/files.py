"""Your own data: a .npz file, or a source and a target .csv file, as a DomainPair.

Every check says which file, which array or column, what it found and what it expects, in words a
student understands (`DataFileError`). Files are read without pickle (`allow_pickle=False`): a
data file can never run code. Tables are standardised with the source training data's statistics
and feed the MLP; images are resized to 28 x 28 for the paper's MNIST network.
"""

from __future__ import annotations

import functools
import hashlib
import io
import os
import re
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from dann_demo.datasets.pair import UNLABELLED, DomainPair, resolve_data_dir
from dann_demo.datasets.photos import blend_over_photos, channel_statistics, standardise

if TYPE_CHECKING:
    from dann_demo.config import RunConfig

# Limits, so that one upload cannot take a shared classroom server down (docs/defaults.md, "Your own data").
MAX_FILE_MB = 100  # each file, as uploaded
MAX_UNPACKED_MB = 400  # a .npz's arrays together, once decompressed (a small zip can hold a huge array)
MAX_ROWS = 20_000  # rows (examples) of each array or .csv file
MAX_FEATURES = 1_000  # columns of a table
MAX_IMAGE_SIDE = 256  # pixels of an image's height and width
MAX_VALUES = 50_000_000  # numbers in one array (rows x features, or rows x height x width x channels)
MAX_CLASSES = 100  # labels are whole numbers 0 .. 99
UPLOAD_MAX_AGE_DAYS = 7  # uploads older than this are deleted when the next one is saved
UPLOAD_MAX_TOTAL_MB = 1000  # and the oldest go first while all uploads together take more than this
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


# --- reading ---


def _check_size(path: Path) -> None:
    if not path.is_file():
        raise DataFileError(path, "the file", "nothing at this path", "an existing file")
    size = path.stat().st_size
    if size > MAX_FILE_MB * 2**20:
        raise DataFileError(path, "the file", f"{size / 2**20:.0f} MB", f"at most {MAX_FILE_MB} MB")


def read_npz(path: str | Path) -> Domains:
    """The arrays of a .npz file, each checked (see module docstring)."""
    path = Path(path)
    _check_size(path)
    if not zipfile.is_zipfile(path):
        hint = " (a .npy file holds one array: save all of them with np.savez)" if _is_npy(path) else ""
        raise DataFileError(
            path,
            "the file",
            "something that is not a .npz archive" + hint,
            "a file written by numpy.savez or numpy.savez_compressed",
        )
    with zipfile.ZipFile(path) as z:
        unpacked = sum(i.file_size for i in z.infolist())
    if unpacked > MAX_UNPACKED_MB * 2**20:
        raise DataFileError(
            path, "the arrays", f"{unpacked / 2**20:.0f} MB once unpacked", f"at most {MAX_UNPACKED_MB} MB in all"
        )
    arrays: dict[str, np.ndarray] = {}
    try:
        with np.load(path, allow_pickle=False) as npz:
            names = list(npz.files)
            for name in REQUIRED_ARRAYS:
                if name not in names:
                    raise DataFileError(
                        path,
                        f"array '{name}'",
                        f"no such array (the file has {_listing(names)})",
                        f"arrays named {', '.join(REQUIRED_ARRAYS)} (and optionally {', '.join(OPTIONAL_ARRAYS)})",
                    )
            for name in (*REQUIRED_ARRAYS, *OPTIONAL_ARRAYS):
                if name in names:
                    arrays[name] = _read_member(npz, name, path)
    except (zipfile.BadZipFile, OSError, EOFError) as e:
        raise DataFileError(path, "the file", f"a damaged archive ({e})", "a file written by numpy.savez")
    return _check_domains(path, arrays)


def _is_npy(path: Path) -> bool:
    with open(path, "rb") as f:
        return f.read(6) == b"\x93NUMPY"


def _listing(names: list[str]) -> str:
    return ", ".join(names) if names else "no arrays"


def _read_member(npz, name: str, path: Path) -> np.ndarray:
    try:
        return npz[name]
    except ValueError as e:
        if "allow_pickle" in str(e) or "pickled" in str(e):
            raise DataFileError(
                path,
                f"array '{name}'",
                "Python objects (dtype object), which can only be read by "
                "unpickling, and this app never unpickles a file (it could run code)",
                "numbers: save it as x.astype(np.float32), or uint8 images",
            )
        raise DataFileError(path, f"array '{name}'", f"an array numpy cannot read ({e})", "a plain numeric array")


def read_csv_pair(source_path: str | Path, target_path: str | Path, label_column: str) -> Domains:
    """A source and a target .csv with the same numeric feature columns; the target's labels are optional."""
    source_path, target_path = Path(source_path), Path(target_path)
    source = _read_csv(source_path)
    target = _read_csv(target_path)
    if label_column not in source.columns:
        raise DataFileError(
            source_path,
            f"label column '{label_column}'",
            f"no such column (the columns are {_columns(source.columns)})",
            "the name of the column that holds the classes",
        )
    features = [c for c in source.columns if c != label_column]
    if not features:
        raise DataFileError(
            source_path,
            "the columns",
            f"only the label column '{label_column}'",
            "at least one feature column besides it",
        )
    target_features = [c for c in target.columns if c != label_column]
    missing = [c for c in features if c not in target_features]
    extra = [c for c in target_features if c not in features]
    if missing or extra:
        parts = ([f"{_columns(missing)} missing"] if missing else []) + ([f"{_columns(extra)} extra"] if extra else [])
        raise DataFileError(
            target_path,
            "the columns",
            " and ".join(parts),
            f"the same feature columns as {source_path.name} ({_columns(features)})",
        )
    source_x = _numeric_table(source, features, source_path)
    target_x = _numeric_table(target, features, target_path)
    source_y = _csv_labels(source[label_column], source_path, label_column)
    target_y = _csv_labels(target[label_column], target_path, label_column) if label_column in target else None
    return _check_domains(
        source_path,
        {
            "source_x": source_x,
            "source_y": source_y,
            "target_x": target_x,
            **({"target_y": target_y} if target_y is not None else {}),
        },
        target_file=target_path,
    )


def _columns(names) -> str:
    names = [str(n) for n in names]
    shown = ", ".join(f"'{n}'" for n in names[:8])
    return shown + (f" and {len(names) - 8} more" if len(names) > 8 else "")


def _read_csv(path: Path) -> pd.DataFrame:
    _check_size(path)
    try:
        frame = pd.read_csv(path, nrows=MAX_ROWS + 1, skipinitialspace=True)
    except pd.errors.EmptyDataError:
        raise DataFileError(path, "the file", "no data", "comma-separated values with a header line of column names")
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise DataFileError(
            path,
            "the file",
            f"text that is not valid CSV ({first})",
            "comma-separated values with a header line of column names",
        )
    if len(frame) > MAX_ROWS:
        raise DataFileError(path, "the rows", f"more than {MAX_ROWS:,} rows", f"at most {MAX_ROWS:,}")
    if len(frame.columns) > MAX_FEATURES + 1:
        raise DataFileError(
            path,
            "the columns",
            f"{len(frame.columns):,} columns",
            f"at most {MAX_FEATURES:,} feature columns and the label column",
        )
    frame.columns = [str(c).strip() for c in frame.columns]
    return frame


def _line(index: int) -> int:
    """The line of the file that holds data row `index` (line 1 is the header)."""
    return int(index) + 2


def _numeric_table(frame: pd.DataFrame, features: list[str], path: Path) -> np.ndarray:
    for col in features:
        values = frame[col]
        numbers = pd.to_numeric(values, errors="coerce")
        text = numbers.isna() & values.notna()
        if text.any():
            i = int(np.flatnonzero(text.to_numpy())[0])
            raise DataFileError(
                path,
                f"column '{col}'",
                f"text {str(values.iloc[i])!r} on line {_line(i)} ({int(text.sum())} such cells)",
                "numbers in every feature column (drop the column, or encode it as numbers)",
            )
        bad = ~np.isfinite(numbers.to_numpy(dtype=np.float64, na_value=np.nan))
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise DataFileError(
                path,
                f"column '{col}'",
                f"{int(bad.sum())} empty, NaN or infinite cells (the first on line {_line(i)})",
                "a finite number in every cell",
            )
    return frame[features].apply(pd.to_numeric).to_numpy(dtype=np.float64)


def _csv_labels(values: pd.Series, path: Path, column: str) -> np.ndarray:
    numbers = pd.to_numeric(values, errors="coerce")
    missing = values.isna()
    if missing.any():
        i = int(np.flatnonzero(missing.to_numpy())[0])
        raise DataFileError(
            path,
            f"label column '{column}'",
            f"{int(missing.sum())} empty cells (the first on line {_line(i)})",
            "a label in every row (leave the column out of the target file when it has no labels)",
        )
    text = numbers.isna()
    if text.any():
        i = int(np.flatnonzero(text.to_numpy())[0])
        raise DataFileError(
            path,
            f"label column '{column}'",
            f"text {str(values.iloc[i])!r} on line {_line(i)}",
            "whole numbers 0, 1, 2, ... for the classes (number your class names)",
        )
    return numbers.to_numpy()


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


def _check_domains(path: Path, arrays: dict[str, np.ndarray], target_file: Path | None = None) -> Domains:
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


# --- building the domain pair ---


def _split(n: int, y: np.ndarray | None, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Train and test indices with TEST_FRACTION held out, stratified by class where the counts allow."""
    from sklearn.model_selection import train_test_split

    idx = np.arange(n)
    if y is not None:
        try:
            return train_test_split(idx, test_size=TEST_FRACTION, random_state=seed, stratify=y)
        except ValueError:  # a class with one example, or more classes than test examples
            pass
    return train_test_split(idx, test_size=TEST_FRACTION, random_state=seed)


def _as_images(x: np.ndarray, channels: int) -> np.ndarray:
    """(N, H, W[, C]) uint8 0-255 or float 0-1 -> (N, channels, 28, 28) float32 0-1."""
    out = np.empty((len(x), channels, IMAGE_SIZE, IMAGE_SIZE), np.float32)
    scale = 255.0 if x.dtype.kind in "iu" else 1.0
    for start in range(0, len(x), 1024):  # in chunks: a float copy of all images at once could be large
        chunk = torch.from_numpy(np.asarray(x[start : start + 1024], dtype=np.float32) / scale)
        chunk = chunk.unsqueeze(1) if chunk.ndim == 3 else chunk.permute(0, 3, 1, 2)
        if chunk.shape[2:] != (IMAGE_SIZE, IMAGE_SIZE):
            # antialias: shrinking a large image without it keeps only every few pixels
            chunk = F.interpolate(
                chunk, size=(IMAGE_SIZE, IMAGE_SIZE), mode="bilinear", align_corners=False, antialias=True
            ).clamp(0, 1)
        out[start : start + len(chunk)] = chunk.expand(-1, channels, -1, -1).numpy()
    return out


def _channels(x: np.ndarray) -> int:
    return x.shape[3] if x.ndim == 4 else 1


def build_pair(d: Domains, seed: int, name: str = "file") -> DomainPair:
    """Split, scale and shape checked arrays into a DomainPair (float32 x, int64 y; no target labels = -1)."""
    s_train, s_test = _split(len(d.source_x), d.source_y, seed)
    if d.target_test_x is not None:
        t_train, t_test = np.arange(len(d.target_x)), None
    else:
        t_train, t_test = _split(len(d.target_x), d.target_y, seed)

    def labels_or_unlabelled(y: np.ndarray | None, n: int) -> np.ndarray:
        return y if y is not None else np.full(n, UNLABELLED, np.int64)

    target_y = labels_or_unlabelled(d.target_y, len(d.target_x))
    if t_test is None:
        target_test_x, target_test_y = d.target_test_x, d.target_test_y
    else:
        target_test_x, target_test_y = d.target_x[t_test], target_y[t_test]
    xs = [d.source_x[s_train], d.target_x[t_train], d.source_x[s_test], target_test_x]
    if d.is_image:
        # Grey and colour mixed across the domains: all become 3-channel (grey repeated).
        channels = max(_channels(x) for x in xs)
        xs = [_as_images(x, channels) for x in xs]
        mean, std = channel_statistics(xs[:2])  # the training data's per-channel statistics only
        xs = [standardise(x, mean, std) for x in xs]
    else:
        # Standardised with the source training data's statistics: the target's shift stays visible.
        xs = [x.astype(np.float64) for x in xs]
        mean, std = xs[0].mean(axis=0), xs[0].std(axis=0)
        std = np.where(std > 1e-8, std, 1.0)  # a constant column is left unscaled
        xs = [((x - mean) / std).astype(np.float32) for x in xs]
    n_classes = int(d.source_y.max()) + 1
    return DomainPair(
        name,
        xs[0],
        d.source_y[s_train],
        xs[1],
        target_y[t_train],
        xs[2],
        d.source_y[s_test],
        xs[3],
        target_test_y,
        n_classes=n_classes,
    )


def read_files(data_file: str | Path, target_file: str | Path = "", label_column: str = "label") -> Domains:
    """The checked arrays of a .npz, or of a source .csv and a target .csv."""
    if Path(data_file).suffix.lower() == ".csv":
        return read_csv_pair(data_file, target_file, label_column)
    return read_npz(data_file)


def data_kind(data_file: str | Path) -> str:
    """ "images" or "table": what a data file holds, read from its header alone (a .npz's source_x
    shape; a .csv is always a table), so the right defaults apply before the file is loaded."""
    path = Path(data_file)
    if path.suffix.lower() != ".npz" or not path.is_file():
        return "table"  # (a missing file is reported by the config's own check)
    _check_size(path)
    try:
        with zipfile.ZipFile(path) as z, z.open("source_x.npy") as f:
            version = np.lib.format.read_magic(f)
            read_header = (
                np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
            )
            shape = read_header(f)[0]
    except (KeyError, ValueError, OSError, zipfile.BadZipFile):
        return "table"  # the full read reports what is wrong with the file
    return "images" if len(shape) >= 3 else "table"


@functools.lru_cache(maxsize=4)
def _cached_pair(data_file: str, target_file: str, label_column: str, seed: int, stamp: tuple[int, ...]) -> DomainPair:
    """`stamp` (size and modification time of the files) makes an edited file load afresh."""
    return build_pair(read_files(data_file, target_file, label_column), seed, name=f"file:{Path(data_file).name}")


def _stamp(*paths: str) -> tuple[int, ...]:
    out: list[int] = []
    for p in paths:
        if p:
            st = Path(p).stat()
            out += [st.st_size, st.st_mtime_ns]
    return tuple(out)


def load_file_pair(config: RunConfig) -> DomainPair:
    """The DomainPair of `config.data_file` (and `target_file`); cached by path, size and time."""
    try:
        stamp = _stamp(config.data_file, config.target_file)
    except OSError:
        raise DataFileError(config.data_file, "the file", "nothing at this path", "an existing file")
    pair = _cached_pair(config.data_file, config.target_file, config.label_column, config.seed, stamp)
    if config.mode == "target_oracle" and (pair.target_y == UNLABELLED).any():
        target = config.target_file or config.data_file
        raise DataFileError(
            target,
            "target labels",
            "none (or not for every training example)",
            "target labels for the target oracle, which trains on them; choose another mode",
        )
    return pair


# --- uploads and examples ---


def upload_dir() -> Path:
    """Where uploaded files are kept: the data folder's uploads/ ($DANN_DATA_DIR, else ~/.cache/dann_playground)."""
    return resolve_data_dir() / "uploads"


def prune_uploads(keep: Path | None = None, now: float | None = None) -> list[Path]:
    """Delete uploads older than UPLOAD_MAX_AGE_DAYS, then the oldest until all together take at most
    UPLOAD_MAX_TOTAL_MB; `keep` (the upload just saved) is never deleted. Returns the folders deleted."""
    root = upload_dir()
    if not root.is_dir():
        return []
    now = time.time() if now is None else now
    folders = []
    for folder in root.iterdir():
        files = [f for f in folder.iterdir() if f.is_file()] if folder.is_dir() else []
        if files:
            folders.append((max(f.stat().st_mtime for f in files), sum(f.stat().st_size for f in files), folder))
    folders.sort()  # oldest first
    total = sum(size for _, size, _ in folders)
    deleted = []
    for mtime, size, folder in folders:
        too_old = now - mtime > UPLOAD_MAX_AGE_DAYS * 86400
        if (too_old or total > UPLOAD_MAX_TOTAL_MB * 2**20) and (keep is None or keep.parent != folder):
            for f in folder.iterdir():
                f.unlink(missing_ok=True)
            folder.rmdir()
            total -= size
            deleted.append(folder)
    return deleted


def save_upload(name: str, data: bytes) -> Path:
    """Keep uploaded bytes as uploads/<sha256 of the content>/<name>; the same content gets the same path.

    So a config (and the result cache keyed by its hash) refers to the content, and two people who
    upload different files under the same name never share a path. The name is kept so messages
    name the file the student chose.
    """
    if len(data) > MAX_FILE_MB * 2**20:
        raise DataFileError(name, "the file", f"{len(data) / 2**20:.0f} MB", f"at most {MAX_FILE_MB} MB")
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", Path(name).name)[-100:].lstrip(".") or "upload"
    if Path(safe).suffix.lower() not in (".npz", ".csv"):
        raise DataFileError(name, "the file name", f"the ending '{Path(name).suffix}'", "a .npz or a .csv file")
    folder = upload_dir() / hashlib.sha256(data).hexdigest()
    path = folder / safe
    if not path.is_file() or path.stat().st_size != len(data):
        folder.mkdir(parents=True, exist_ok=True)
        tmp = folder / f".{safe}.{os.getpid()}.tmp"
        tmp.write_bytes(data)
        os.replace(tmp, path)  # atomic: a concurrent reader sees the whole file or none
    else:
        os.utime(path)  # uploaded again: it counts as new for pruning
    prune_uploads(keep=path)
    return path


def example_npz(kind: str = "table") -> bytes:
    """A small example file in the expected format: "table" (2-D blobs, float32) or "images"
    (scikit-learn digits: grey 8 x 8 uint8 as the source, colour 16 x 16 uint8 on photo crops as the target)."""
    buffer = io.BytesIO()
    if kind == "table":
        from dann_demo.datasets.blobs import blobs

        p = blobs(seed=0)  # the blobs data set's default size, shift, direction and spread
        np.savez_compressed(buffer, source_x=p.source_x, source_y=p.source_y, target_x=p.target_x, target_y=p.target_y)
        return buffer.getvalue()
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    grey = x.reshape(-1, 8, 8) / 16.0
    n_source = 1000  # the rest become the target: other digits, in colour, on photo crops
    big = torch.from_numpy(grey[n_source:, None].astype(np.float32))
    big = F.interpolate(big, size=16, mode="bilinear", align_corners=False).clamp(0, 1).repeat(1, 3, 1, 1).numpy()
    colour = blend_over_photos(big, np.random.RandomState(0)).transpose(0, 2, 3, 1)
    np.savez_compressed(
        buffer,
        source_x=(grey[:n_source] * 255).round().astype(np.uint8),
        source_y=y[:n_source].astype(np.int64),
        target_x=(colour * 255).round().astype(np.uint8),
        target_y=y[n_source:].astype(np.int64),
    )
    return buffer.getvalue()
