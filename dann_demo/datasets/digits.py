"""digits -> digits-M: scikit-learn's 8x8 digits as the source, the same digits over photo crops as the
target (the MNIST-M recipe, offline)."""

from __future__ import annotations

import functools

import numpy as np

from dann_demo.datasets.pair import DomainPair
from dann_demo.datasets.photos import background_photos, blend_over_photos, channel_statistics, standardise

DIGITS_IMAGE_SIZE = 16  # scikit-learn's 8x8 digits, upsampled 2x (docs/defaults.md)


@functools.lru_cache(maxsize=8)
def digits(
    seed: int = 0, test_fraction: float = 0.3, size: int = DIGITS_IMAGE_SIZE, crops_per_side: int = 10
) -> DomainPair:
    """digits -> digits-M: scikit-learn's 8x8 digits as source; the target blends the same training
    digits over photo crops (as MNIST-M does), its test set from held-out digits."""
    import torch
    import torch.nn.functional as F
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    x, y = load_digits(return_X_y=True)
    x = torch.from_numpy(x.reshape(-1, 1, 8, 8).astype(np.float32) / 16.0)
    x = F.interpolate(x, size=size, mode="bilinear", align_corners=False)
    x = x.clamp(0, 1).repeat(1, 3, 1, 1).numpy()  # grey source made 3-channel like the target
    x_train, x_test, y_train, y_test = train_test_split(
        x, y.astype(np.int64), test_size=test_fraction, stratify=y, random_state=seed
    )
    rng = np.random.RandomState(seed + 1)
    photos = background_photos(size, crops_per_side)
    t_train, t_test = blend_over_photos(x_train, rng, photos), blend_over_photos(x_test, rng, photos)
    mean, std = channel_statistics([x_train, t_train])

    def norm(a: np.ndarray) -> np.ndarray:
        return standardise(a, mean, std)

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
