"""Images: the MNIST-M recipe (a digit over a photo crop) and per-channel standardisation."""

from __future__ import annotations

import functools
from collections.abc import Sequence

import numpy as np


@functools.lru_cache(maxsize=4)
def background_photos(crop_size: int = 16, crops_per_side: int = 10, turned: bool = False) -> tuple[np.ndarray, ...]:
    """Varied colour photos that ship inside scikit-learn and scikit-image (no download).

    Two photos are not enough: crops from only scikit-learn's pair made DANN hurt (docs/design.md).
    Each is scaled so that its shorter side is `crops_per_side` crops long: a crop then holds texture
    and edges rather than a flat patch of colour.
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
        scale = crops_per_side * crop_size / min(p.shape[:2])
        photo = rescale(p, scale, channel_axis=2, anti_aliasing=True).astype(np.float32)
        # `turned`: each photo also mirrored and turned by 90, 180 and 270 degrees (8 views of it).
        views = [np.rot90(v, k) for v in (photo, photo[:, ::-1]) for k in range(4)] if turned else [photo]
        out += [np.ascontiguousarray(v) for v in views]
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
        photos = background_photos(digits.shape[2])
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


def channel_statistics(training_images: Sequence[np.ndarray], chunk: int = 4096) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and standard deviation of training images, in [0, 1] units.

    Each array is (N, C, H, W), float in [0, 1] or uint8 in 0-255; grey (C = 1) counts toward every
    channel of the colour arrays beside it. Accumulated in float64 chunk by chunk, so 60,000 uint8
    digits need no float copy. Statistics come from training data only; a constant channel gets std 1.
    """
    channels = max(a.shape[1] for a in training_images)
    total, squares, count = np.zeros(channels), np.zeros(channels), 0
    for a in training_images:
        scale = 1 / 255 if a.dtype == np.uint8 else 1.0
        for start in range(0, len(a), chunk):
            block = a[start : start + chunk].astype(np.float64) * scale
            for c in range(channels):
                values = block[:, c % block.shape[1]]
                total[c] += values.sum()
                squares[c] += np.square(values).sum()
        count += a.shape[0] * a.shape[2] * a.shape[3]
    mean = total / count
    std = np.sqrt(np.maximum(squares / count - mean**2, 0.0))
    return mean.astype(np.float32), np.where(std > 1e-6, std, 1.0).astype(np.float32)


def standardise(images: np.ndarray, mean: np.ndarray, std: np.ndarray, chunk: int = 4096) -> np.ndarray:
    """(x - mean) / std per channel as float32 (N, len(mean), H, W): the paper mean-subtracts, and we
    also divide by the std. uint8 input is read as 0-255; grey input is repeated to every channel."""
    n, _, h, w = images.shape
    scale = 1 / 255 if images.dtype == np.uint8 else 1.0
    out = np.empty((n, len(mean), h, w), np.float32)
    for start in range(0, n, chunk):  # chunk by chunk: no float64 copy of the whole set
        block = images[start : start + chunk].astype(np.float32) * scale
        if block.shape[1] != len(mean):
            block = np.repeat(block, len(mean), axis=1)
        out[start : start + chunk] = (block - mean[:, None, None]) / std[:, None, None]
    return out
