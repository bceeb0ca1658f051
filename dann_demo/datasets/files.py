"""Your own data: a .npz file, or a source and a target .csv file, as a DomainPair.

Every check says which file, which array or column, what it found and what it expects, in words a
student understands (`DataFileError`). Files are read without pickle (`allow_pickle=False`): a
data file can never run code. Tables are standardised with the source training data's statistics
and feed the MLP; images are resized to 28 x 28 for the paper's MNIST network.
"""

from __future__ import annotations

import functools
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

import dann_demo.datasets.file_checks as checks
from dann_demo.datasets.file_checks import DataFileError, Domains
from dann_demo.datasets.pair import UNLABELLED, DomainPair
from dann_demo.datasets.photos import channel_statistics, standardise

# --- reading ---


def _check_size(path: Path) -> None:
    if not path.is_file():
        raise DataFileError(path, "the file", "nothing at this path", "an existing file")
    size = path.stat().st_size
    if size > checks.MAX_FILE_MB * 2**20:
        raise DataFileError(path, "the file", f"{size / 2**20:.0f} MB", f"at most {checks.MAX_FILE_MB} MB")


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
    if unpacked > checks.MAX_UNPACKED_MB * 2**20:
        raise DataFileError(
            path,
            "the arrays",
            f"{unpacked / 2**20:.0f} MB once unpacked",
            f"at most {checks.MAX_UNPACKED_MB} MB in all",
        )
    arrays: dict[str, np.ndarray] = {}
    try:
        with np.load(path, allow_pickle=False) as npz:
            names = list(npz.files)
            for name in checks.REQUIRED_ARRAYS:
                if name not in names:
                    raise DataFileError(
                        path,
                        f"array '{name}'",
                        f"no such array (the file has {_listing(names)})",
                        f"arrays named {', '.join(checks.REQUIRED_ARRAYS)} "
                        f"(and optionally {', '.join(checks.OPTIONAL_ARRAYS)})",
                    )
            for name in (*checks.REQUIRED_ARRAYS, *checks.OPTIONAL_ARRAYS):
                if name in names:
                    arrays[name] = _read_member(npz, name, path)
    except (zipfile.BadZipFile, OSError, EOFError) as e:
        raise DataFileError(path, "the file", f"a damaged archive ({e})", "a file written by numpy.savez")
    return checks.check_domains(path, arrays)


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
    return checks.check_domains(
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
        frame = pd.read_csv(path, nrows=checks.MAX_ROWS + 1, skipinitialspace=True)
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
    if len(frame) > checks.MAX_ROWS:
        raise DataFileError(path, "the rows", f"more than {checks.MAX_ROWS:,} rows", f"at most {checks.MAX_ROWS:,}")
    if len(frame.columns) > checks.MAX_FEATURES + 1:
        raise DataFileError(
            path,
            "the columns",
            f"{len(frame.columns):,} columns",
            f"at most {checks.MAX_FEATURES:,} feature columns and the label column",
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


# --- building the domain pair ---


def _split(n: int, y: np.ndarray | None, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Train and test indices with checks.TEST_FRACTION held out, stratified by class where the counts allow."""
    from sklearn.model_selection import train_test_split

    idx = np.arange(n)
    if y is not None:
        try:
            return train_test_split(idx, test_size=checks.TEST_FRACTION, random_state=seed, stratify=y)
        except ValueError:  # a class with one example, or more classes than test examples
            pass
    return train_test_split(idx, test_size=checks.TEST_FRACTION, random_state=seed)


def _as_images(x: np.ndarray, channels: int) -> np.ndarray:
    """(N, H, W[, C]) uint8 0-255 or float 0-1 -> (N, channels, 28, 28) float32 0-1."""
    out = np.empty((len(x), channels, checks.IMAGE_SIZE, checks.IMAGE_SIZE), np.float32)
    scale = 255.0 if x.dtype.kind in "iu" else 1.0
    for start in range(0, len(x), 1024):  # in chunks: a float copy of all images at once could be large
        chunk = torch.from_numpy(np.asarray(x[start : start + 1024], dtype=np.float32) / scale)
        chunk = chunk.unsqueeze(1) if chunk.ndim == 3 else chunk.permute(0, 3, 1, 2)
        if chunk.shape[2:] != (checks.IMAGE_SIZE, checks.IMAGE_SIZE):
            # antialias: shrinking a large image without it keeps only every few pixels
            chunk = F.interpolate(
                chunk, size=(checks.IMAGE_SIZE, checks.IMAGE_SIZE), mode="bilinear", align_corners=False, antialias=True
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


def load_file_pair(
    data_file: str, target_file: str, label_column: str, seed: int, needs_target_labels: bool = False
) -> DomainPair:
    """The DomainPair of `data_file` (and `target_file`); cached by path, size and time.
    `needs_target_labels`: a run that trains on the target labels (the target oracle) asks for them."""
    try:
        stamp = _stamp(data_file, target_file)
    except OSError:
        raise DataFileError(data_file, "the file", "nothing at this path", "an existing file")
    pair = _cached_pair(data_file, target_file, label_column, seed, stamp)
    if needs_target_labels and (pair.target_y == UNLABELLED).any():
        raise DataFileError(
            target_file or data_file,
            "target labels",
            "none (or not for every training example)",
            "target labels for the target oracle, which trains on them; choose another mode",
        )
    return pair
