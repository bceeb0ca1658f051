"""Domain pairs: a labelled source domain and a target domain whose labels training never sees.

Each builder returns a `DomainPair` of float32 arrays: source train, target train (its labels are
kept only for the `target_oracle` upper bound), and held-out test sets of both domains.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from dann_demo.config import RunConfig

DIGITS_IMAGE_SIZE = 16  # scikit-learn's 8x8 digits, upsampled 2x (see README, "digits -> digits-M")
UNLABELLED = -1  # the label of a target example whose file gave no label (own data without target_y)


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
        return self.source_x.ndim == 4

    @property
    def has_target_labels(self) -> bool:
        """False for own data without target labels: then target accuracy cannot be measured."""
        return bool(len(self.target_test_y)) and bool((self.target_test_y != UNLABELLED).all())


def load_pair(config: RunConfig) -> DomainPair:
    """The domain pair `config` asks for (cached: the same settings give the same arrays)."""
    if config.dataset == "moons":
        return moons(config.n_samples, config.noise, config.rotation, config.seed)
    if config.dataset == "blobs":
        return blobs(config.n_samples, config.blob_shift, config.blob_angle, config.blob_scale, config.seed)
    if config.dataset == "file":
        from dann_demo.userdata import load_file_pair

        return load_file_pair(config)
    if config.dataset == "mnist":
        from dann_demo.mnist import mnist_pair  # mnist.py builds on this module's blending

        return mnist_pair(config.data_dir, config.n_samples)
    return digits(config.seed)


def rotate(points: np.ndarray, degrees: float) -> np.ndarray:
    """Rotate 2-D points about the origin."""
    t = np.deg2rad(degrees)
    r = np.array([[np.cos(t), -np.sin(t)], [np.sin(t), np.cos(t)]])
    return points @ r.T


@functools.lru_cache(maxsize=32)
def moons(n_samples: int = 600, noise: float = 0.05, rotation: float = 35.0, seed: int = 0) -> DomainPair:
    """The JMLR toy: two moons as source; the target is new moons rotated about their centre."""
    from sklearn.datasets import make_moons

    rng = np.random.RandomState(seed)

    def draw(rotated: bool) -> tuple[np.ndarray, np.ndarray]:
        x, y = make_moons(n_samples, noise=noise, random_state=rng)
        x = x - np.array([0.5, 0.25])  # the centre of the two moons, so rotation keeps them in view
        return (rotate(x, rotation) if rotated else x).astype(np.float32), y.astype(np.int64)

    sx, sy = draw(False)
    tx, ty = draw(True)
    stx, sty = draw(False)
    ttx, tty = draw(True)
    return DomainPair("moons", sx, sy, tx, ty, stx, sty, ttx, tty, n_classes=2)


# Three Gaussian classes around the origin, placed unevenly (and of unequal spread) so that no
# rotation or mirror maps the source onto itself with the classes swapped: the only way to align
# the target with the source is the right one.
BLOB_CENTRES = np.array([[-1.2, -0.6], [1.2, -0.9], [0.2, 1.2]])
BLOB_STDS = np.array([0.35, 0.45, 0.4])
BLOB_WEIGHTS = np.array([0.5, 0.3, 0.2])


@functools.lru_cache(maxsize=32)
def blobs(
    n_samples: int = 600, shift: float = 2.0, angle: float = 90.0, scale: float = 1.5, seed: int = 0
) -> DomainPair:
    """Covariate shift in the plane: three Gaussian classes as the source; the target is the same
    classes scaled `scale` times about the origin (centres and spreads), then moved `shift` along
    `angle` degrees."""
    rng = np.random.RandomState(seed)
    direction = np.array([np.cos(np.deg2rad(angle)), np.sin(np.deg2rad(angle))])

    def draw(shifted: bool) -> tuple[np.ndarray, np.ndarray]:
        y = rng.choice(len(BLOB_CENTRES), size=n_samples, p=BLOB_WEIGHTS)
        x = BLOB_CENTRES[y] + rng.randn(n_samples, 2) * BLOB_STDS[y, None]
        if shifted:
            x = x * scale + shift * direction
        return x.astype(np.float32), y.astype(np.int64)

    sx, sy = draw(False)
    tx, ty = draw(True)
    stx, sty = draw(False)
    ttx, tty = draw(True)
    return DomainPair("blobs", sx, sy, tx, ty, stx, sty, ttx, tty, n_classes=len(BLOB_CENTRES))


@functools.lru_cache(maxsize=2)
def background_photos(crop_size: int = DIGITS_IMAGE_SIZE) -> tuple[np.ndarray, ...]:
    """Varied colour photos that ship inside scikit-learn and scikit-image (no download).

    Two photos are not enough: crops from only scikit-learn's pair made DANN hurt (DESIGN.md).
    Each is scaled so that its shorter side is ten crops long: a crop then holds texture and edges
    rather than a flat patch of colour.
    """
    import skimage.data
    from skimage.transform import rescale
    from sklearn.datasets import load_sample_images

    photos = list(load_sample_images().images)
    for name in ("astronaut", "chelsea", "coffee", "rocket", "immunohistochemistry", "retina", "hubble_deep_field"):
        photos.append(getattr(skimage.data, name)())
    out = []
    for p in photos:
        p = p[..., :3].astype(np.float32) / 255.0
        scale = 10 * crop_size / min(p.shape[:2])
        out.append(rescale(p, scale, channel_axis=2, anti_aliasing=True).astype(np.float32))
    return tuple(out)


def blend_over_photos(
    digits: np.ndarray, rng: np.random.RandomState, photos: Sequence[np.ndarray] | None = None
) -> np.ndarray:
    """The MNIST-M recipe: |digit - patch| per channel, patch a random crop of a random photo.

    digits: (N, 3, H, W) in [0, 1]. photos: (h, w, 3) arrays, float in [0, 1] or uint8 (kept as
    uint8 where there are many: BSDS500's 500 photos take 4x the memory as floats); by default
    the bundled photos. Returns the digits' shape.
    """
    if photos is None:
        photos = background_photos()
    n, _, h, w = digits.shape
    out = np.empty_like(digits)
    for i in range(n):
        p = photos[rng.randint(len(photos))]
        top, left = rng.randint(p.shape[0] - h + 1), rng.randint(p.shape[1] - w + 1)
        patch = p[top : top + h, left : left + w].transpose(2, 0, 1)
        if patch.dtype == np.uint8:
            patch = patch.astype(np.float32) / 255.0
        out[i] = np.abs(digits[i] - patch)
    return out


@functools.lru_cache(maxsize=8)
def digits(seed: int = 0, test_fraction: float = 0.3) -> DomainPair:
    """digits -> digits-M: scikit-learn's 8x8 digits as source; the target blends the same
    training digits over photo crops (as MNIST-M does), its test set from held-out digits."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    x, y = load_digits(return_X_y=True)
    x = torch.from_numpy(x.reshape(-1, 1, 8, 8).astype(np.float32) / 16.0)
    x = F.interpolate(x, size=DIGITS_IMAGE_SIZE, mode="bilinear", align_corners=False)
    x = x.clamp(0, 1).repeat(1, 3, 1, 1).numpy()  # grey source made 3-channel like the target
    x_train, x_test, y_train, y_test = train_test_split(
        x, y.astype(np.int64), test_size=test_fraction, stratify=y, random_state=seed
    )
    rng = np.random.RandomState(seed + 1)
    t_train, t_test = blend_over_photos(x_train, rng), blend_over_photos(x_test, rng)
    # Mean-subtract (as the paper does) with per-channel statistics of the training pool only.
    pool = np.concatenate([x_train, t_train])
    mean = pool.mean(axis=(0, 2, 3), keepdims=True)
    std = pool.std(axis=(0, 2, 3), keepdims=True)

    def norm(a: np.ndarray) -> np.ndarray:
        return ((a - mean) / std).astype(np.float32)

    return DomainPair(
        "digits",
        norm(x_train),
        y_train,
        norm(t_train),
        y_train.copy(),
        norm(x_test),
        y_test,
        norm(t_test),
        y_test.copy(),
        n_classes=10,
    )
