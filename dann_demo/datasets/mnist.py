"""MNIST from its standard IDX files, and MNIST-M built from it by the paper's recipe.

The files live in a data directory: an explicit argument (`--data-dir`), else the environment
variable DANN_DATA_DIR, else ~/.cache/dann_playground. Missing files are downloaded (with checksum
verification) when the machine is online. The ten thousand t10k test digits alone are enough: they
are then split into training and test digits, and the pair says so in its `note`.

MNIST-M (Ganin & Lempitsky 2015): each digit blended over a random 28x28 crop of a colour photo,
|digit - crop| per channel. The photos are BSDS500's (as in the paper) when a `BSR` folder is in the
data directory, else the pictures of a `photos` folder there, else the photos bundled with
scikit-learn and scikit-image. It is built once per IDX file, seed and photo source, and cached as
an npz beside the MNIST files.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import logging
import os
import struct
import threading
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dann_demo.datasets.pair import DATA_DIR_VARIABLE, DomainPair, resolve_data_dir
from dann_demo.datasets.photos import background_photos, blend_over_photos, channel_statistics, standardise

log = logging.getLogger(__name__)

ENV_VAR = DATA_DIR_VARIABLE
# role -> (standard file name, MD5 of the uncompressed file). Checking the uncompressed payload
# verifies a .gz and a plain file alike.
MIRRORS = ("https://ossci-datasets.s3.amazonaws.com/mnist/", "https://yann.lecun.com/exdb/mnist/")
FILES = {
    "train_images": ("train-images-idx3-ubyte", "6bbc9ace898e44ae57da46a324031adb"),
    "train_labels": ("train-labels-idx1-ubyte", "a25bea736e30d166cdddb491f175f624"),
    "test_images": ("t10k-images-idx3-ubyte", "2646ac647ad5339dbf082846283269ea"),
    "test_labels": ("t10k-labels-idx1-ubyte", "27ae3e4e09519cfbb04c329615203637"),
}
IMAGE_MAGIC, LABEL_MAGIC = 2051, 2049  # 0x0803: unsigned bytes, 3 dims; 0x0801: unsigned bytes, 1 dim
IMAGE_SIZE = 28
TEST_ONLY_FRACTION = 0.3  # with the t10k files alone: 7,000 digits to train on, 3,000 to test
MNIST_M_SEED = 0  # one fixed MNIST-M, as the paper had; the run's seed varies initial weights and batches
PHOTO_SUFFIXES = (".jpg", ".jpeg", ".png")
BSDS_IMAGES = Path("BSR", "BSDS500", "data", "images")

_build_lock = threading.Lock()  # concurrent jobs build (and write) one MNIST-M, not two


class MnistError(RuntimeError):
    """A problem with the MNIST files or their download, in words a user can act on."""


def _spellings(name: str) -> list[str]:
    """LeCun's site names the files `train-images-idx3-ubyte`; some copies `train-images.idx3-ubyte`."""
    dotted = name.replace("-idx", ".idx")
    return [n + gz for n in (name, dotted) for gz in (".gz", "")]


@dataclass(frozen=True)
class MnistFiles:
    """Where each of the four MNIST files is in a data directory (None: not there)."""

    data_dir: Path
    paths: dict[str, Path | None]

    @property
    def has_train(self) -> bool:
        return self.paths["train_images"] is not None and self.paths["train_labels"] is not None

    @property
    def has_test(self) -> bool:
        return self.paths["test_images"] is not None and self.paths["test_labels"] is not None

    @property
    def test_only(self) -> bool:
        """Only the t10k files: training uses a split of the 10,000 test digits."""
        return self.has_test and not self.has_train

    @property
    def missing(self) -> list[str]:
        return [FILES[role][0] + ".gz" for role, path in self.paths.items() if path is None]


def locate(data_dir: str | os.PathLike | None = None) -> MnistFiles:
    """Find the MNIST files in the data directory (also in its `mnist/` or torchvision's `MNIST/raw/`)."""
    root = resolve_data_dir(data_dir)
    folders = (root, root / "mnist", root / "MNIST" / "raw")
    paths: dict[str, Path | None] = {}
    for role, (name, _) in FILES.items():
        found = (folder / n for folder in folders for n in _spellings(name))
        paths[role] = next((p for p in found if p.is_file()), None)
    return MnistFiles(root, paths)


def missing_files_message(files: MnistFiles) -> str:
    """What to put where, and how to download it."""
    names = ", ".join(FILES[r][0] + ".gz" for r in FILES)
    return (
        f"MNIST files not found in {files.data_dir} (missing: {', '.join(files.missing)}). Put the four files "
        f"{names} there (gzipped or not); the two t10k files alone are enough for a smaller run. "
        f"Downloading them (about 11 MB) needs internet: `python -m dann_demo fetch-mnist`, or the app's "
        f"Download MNIST button, fetches them from {MIRRORS[0]}. Set another folder with --data-dir or "
        f"the environment variable {ENV_VAR}."
    )


def _read_bytes(path: Path) -> bytes:
    """The file's content, decompressed when it is gzip (recognised by its first bytes, not its name)."""
    try:
        raw = path.read_bytes()
        return gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw
    except (OSError, EOFError, zlib.error) as e:
        raise MnistError(f"{path}: cannot be read ({e}); delete it and download it again.")


def parse_idx(data: bytes, expected_magic: int, where: str) -> np.ndarray:
    """An IDX array (uint8): checks the magic number, the dimensions and the size the header promises."""
    kind = "image" if expected_magic == IMAGE_MAGIC else "label"
    n_dims = expected_magic & 0xFF
    header = 4 + 4 * n_dims
    magic = struct.unpack(">i", data[:4])[0] if len(data) >= 4 else None
    if magic is not None and magic != expected_magic:
        raise MnistError(
            f"{where}: magic number {magic}, expected {expected_magic} for an MNIST {kind} file "
            f"(is it the {'label' if kind == 'image' else 'image'} file, or not MNIST?)."
        )
    if len(data) < header:
        raise MnistError(f"{where}: only {len(data)} bytes, too short for an MNIST {kind} file.")
    dims = struct.unpack(f">{n_dims}i", data[4:header])
    if kind == "image" and dims[1:] != (IMAGE_SIZE, IMAGE_SIZE):
        raise MnistError(f"{where}: images of {dims[1]}x{dims[2]} pixels, expected {IMAGE_SIZE}x{IMAGE_SIZE}.")
    expected = int(np.prod(dims))
    if len(data) - header != expected:
        raise MnistError(
            f"{where}: {len(data) - header} bytes of data, the header promises {expected} "
            f"({' x '.join(map(str, dims))}); the file is truncated or damaged."
        )
    return np.frombuffer(data, np.uint8, offset=header).reshape(dims)


def read_images_and_labels(images_path: Path, labels_path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(N, 28, 28) uint8 images and (N,) int64 labels from a pair of IDX files."""
    x = parse_idx(_read_bytes(images_path), IMAGE_MAGIC, str(images_path))
    y = parse_idx(_read_bytes(labels_path), LABEL_MAGIC, str(labels_path)).astype(np.int64)
    if len(x) != len(y):
        raise MnistError(f"{images_path} holds {len(x)} images but {labels_path} holds {len(y)} labels.")
    if y.size and y.max() > 9:
        raise MnistError(f"{labels_path}: label {y.max()} found; MNIST labels are 0 to 9.")
    return x, y


def payload_md5(path: Path) -> str:
    return hashlib.md5(_read_bytes(path)).hexdigest()


def verify(files: MnistFiles) -> dict[str, bool]:
    """For each file present: does its uncompressed content match the official MNIST checksum?"""
    return {role: payload_md5(p) == FILES[role][1] for role, p in files.paths.items() if p is not None}


# --- MNIST-M ---


def _photo_files(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in PHOTO_SUFFIXES and p.is_file())


def photo_source(data_dir: str | os.PathLike | None = None) -> tuple[str, list[Path]]:
    """("bsds500" | "photos" | "bundled", photo files): where MNIST-M's backgrounds come from."""
    root = resolve_data_dir(data_dir)
    bsds = [p for split in ("train", "val", "test") for p in _photo_files(root / BSDS_IMAGES / split)]
    if bsds:
        return "bsds500", bsds
    own = _photo_files(root / "photos")
    if own:
        return "photos", own
    return "bundled", []


def photo_source_label(data_dir: str | os.PathLike | None = None) -> str:
    kind, paths = photo_source(data_dir)
    if kind == "bsds500":
        return f"BSDS500 photos ({len(paths)}, as in the paper)"
    if kind == "photos":
        return f"your {len(paths)} photos in {resolve_data_dir(data_dir) / 'photos'}"
    return "the 9 photos bundled with scikit-learn and scikit-image (not the paper's BSDS500)"


def _load_photo(path: Path, fit: bool) -> np.ndarray:
    """A uint8 (h, w, 3) photo. `fit`: scaled so its shorter side is ten crops long, like the bundled ones
    (BSDS500's 481x321 photos are used as they are, as in the paper)."""
    from skimage.io import imread
    from skimage.transform import rescale

    try:
        p = np.asarray(imread(path))
    except Exception as e:  # noqa: BLE001 - any decoder error means the same to the user
        raise MnistError(f"{path}: not a readable photo ({e}); remove it or replace it with a jpg or png.")
    p = np.repeat(p[..., None], 3, axis=2) if p.ndim == 2 else p[..., :3]
    if p.dtype != np.uint8:
        p = (p / p.max() * 255 if p.max() > 0 else p).astype(np.uint8)
    if fit:
        scale = 10 * IMAGE_SIZE / min(p.shape[:2])
        p = (rescale(p / 255.0, scale, channel_axis=2, anti_aliasing=scale < 1) * 255).round().astype(np.uint8)
    if min(p.shape[:2]) < IMAGE_SIZE:
        raise MnistError(f"{path}: {p.shape[1]}x{p.shape[0]} pixels, smaller than a {IMAGE_SIZE}x{IMAGE_SIZE} crop.")
    return p


def photo_key(data_dir: str | os.PathLike | None = None) -> str:
    """Names the photo source and, for files, hashes their names and sizes: other photos, other MNIST-M."""
    kind, paths = photo_source(data_dir)
    if kind == "bundled":
        return kind
    listing = "\n".join(f"{p.name}:{p.stat().st_size}" for p in paths)
    return f"{kind}-{hashlib.md5(listing.encode()).hexdigest()[:8]}"


def load_photos(data_dir: str | os.PathLike | None = None) -> Sequence[np.ndarray]:
    """MNIST-M's background photos (see photo_source)."""
    kind, paths = photo_source(data_dir)
    if kind == "bundled":
        return background_photos(IMAGE_SIZE)
    return tuple(_load_photo(p, fit=kind == "photos") for p in paths)


def build_mnist_m(
    digits: np.ndarray, photos: Sequence[np.ndarray], seed: int | list[int], chunk: int = 5000
) -> np.ndarray:
    """(N, 28, 28) uint8 digits -> (N, 3, 28, 28) uint8 MNIST-M: |digit - crop| per channel."""
    rng = np.random.RandomState(seed)
    out = np.empty((len(digits), 3, *digits.shape[1:]), np.uint8)
    for start in range(0, len(digits), chunk):  # in chunks: 60,000 float images would take 560 MB
        d = np.repeat(digits[start : start + chunk, None].astype(np.float32) / 255.0, 3, axis=1)
        out[start : start + chunk] = np.rint(blend_over_photos(d, rng, photos) * 255.0)
    return out


def mnist_m(
    digits: np.ndarray, split: str, data_dir: str | os.PathLike | None = None, seed: int = MNIST_M_SEED
) -> np.ndarray:
    """MNIST-M of one IDX file's digits (`split`: "train" or "t10k"), from the cache when it is there.

    The cache file is keyed by split, photo source and seed, and remembers a checksum of the digits
    it was built from, so replaced MNIST files are never paired with a stale MNIST-M.
    """
    root = resolve_data_dir(data_dir)
    digits_md5 = hashlib.md5(np.ascontiguousarray(digits).tobytes()).hexdigest()
    with _build_lock:
        path = root / f"mnist_m-{split}-{photo_key(root)}-seed{seed}.npz"
        if path.is_file():
            try:
                with np.load(path, allow_pickle=False) as cached:
                    if str(cached["digits_md5"]) == digits_md5:
                        return cached["images"]
                log.info("%s was built from other digits; building it again", path)
            except (OSError, KeyError, ValueError, zlib.error) as e:
                log.warning("ignoring the unreadable MNIST-M cache %s (%s)", path, e)
        # Different seeds per split, so train and test digits get different crops.
        images = build_mnist_m(digits, load_photos(root), seed=[seed, 0 if split == "train" else 1])
        part = path.with_name(path.stem + ".part.npz")
        try:
            np.savez(part, images=images, digits_md5=np.array(digits_md5))
            part.replace(path)  # atomic: another process never reads half a file
        except OSError as e:
            log.warning("could not cache MNIST-M in %s (%s); it will be built again next time", path, e)
        return images


# --- the domain pair ---


@functools.lru_cache(maxsize=2)
def _pair(data_dir: str, n_train: int, stamp: tuple) -> DomainPair:
    """`stamp` (the files' names and modification times, the photo source) is part of the cache key:
    downloaded training files or new photos are picked up without a restart."""
    files = locate(data_dir)
    test_x, test_y = read_images_and_labels(files.paths["test_images"], files.paths["test_labels"])
    test_m = mnist_m(test_x, "t10k", data_dir)
    note = ""
    if files.has_train:
        train_x, train_y = read_images_and_labels(files.paths["train_images"], files.paths["train_labels"])
        train_m = mnist_m(train_x, "train", data_dir)
    else:
        from sklearn.model_selection import train_test_split

        # A fixed split: every run (any seed) sees the same training and test digits.
        train_i, test_i = train_test_split(
            np.arange(len(test_y)), test_size=TEST_ONLY_FRACTION, stratify=test_y, random_state=0
        )
        train_x, train_y, train_m = test_x[train_i], test_y[train_i], test_m[train_i]
        test_x, test_y, test_m = test_x[test_i], test_y[test_i], test_m[test_i]
        note = (
            f"Only the MNIST test files (t10k) are in {files.data_dir}: training uses {len(train_i):,} of its "
            f"{len(train_i) + len(test_i):,} digits and tests on the other {len(test_i):,}. Download the "
            f"training files for the full benchmark."
        )
    # As in MNIST-M, the target's training digits are the source's own digits on photo crops.
    train_x, train_y, train_m = train_x[:n_train, None], train_y[:n_train], train_m[:n_train]
    # The paper subtracts the mean; we also divide by the std, with statistics of training data only.
    mean, std = channel_statistics([train_x, train_m])
    return DomainPair(
        "mnist",
        standardise(train_x, mean, std),
        train_y,
        standardise(train_m, mean, std),
        train_y.copy(),
        standardise(test_x[:, None], mean, std),
        test_y,
        standardise(test_m, mean, std),
        test_y.copy(),
        n_classes=10,
        note=note,
    )


_pair_lock = threading.Lock()


def mnist_pair(
    data_dir: str | os.PathLike | None = None,
    n_train: int = 60_000,
    download: Callable[..., MnistFiles] | None = None,
) -> DomainPair:
    """MNIST (grey, made 3-channel) -> MNIST-M (colour): the first `n_train` training digits of each
    domain, and the test digits. Missing files are fetched with `download` (mnist_download.download) where
    given, and online."""
    files = locate(data_dir)
    if not files.has_test:
        if download is None:
            raise MnistError(missing_files_message(files))
        files = download(files.data_dir, log_line=log.info)  # inside a training job: log, don't print
    stamp = tuple((str(p), p.stat().st_mtime_ns) for p in files.paths.values() if p is not None)
    with _pair_lock:  # jobs started together (the feature-map page) build the pair once
        return _pair(str(files.data_dir), n_train, (*stamp, photo_key(files.data_dir)))
