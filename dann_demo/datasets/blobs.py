"""Blobs: covariate shift in the plane, three Gaussian classes moved and scaled in the target."""

from __future__ import annotations

import functools

import numpy as np

from dann_demo.datasets.pair import DomainPair

# Three Gaussian classes around the origin, placed unevenly (and of unequal spread) so that no
# rotation or mirror maps the source onto itself with the classes swapped: the only way to align
# the target with the source is the right one.
BLOB_CENTRES = np.array([[-1.2, -0.6], [1.2, -0.9], [0.2, 1.2]])
BLOB_STDS = np.array([0.35, 0.45, 0.4])
BLOB_WEIGHTS = np.array([0.5, 0.3, 0.2])


@functools.lru_cache(maxsize=64)
def blobs(
    n_samples: int = 600, shift: float = 2.0, angle: float = 90.0, scale: float = 1.5, seed: int = 0
) -> DomainPair:
    """Three Gaussian classes as the source; the target is the same classes scaled `scale` times about
    the origin (centres and spreads), then moved `shift` along `angle` degrees."""
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
