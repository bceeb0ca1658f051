"""Two moons (the JMLR toy): the source is scikit-learn's two moons, the target new moons rotated."""

from __future__ import annotations

import functools

import numpy as np

from dann_demo.datasets.pair import DomainPair


def rotate(points: np.ndarray, degrees: float) -> np.ndarray:
    """Rotate 2-D points about the origin."""
    t = np.deg2rad(degrees)
    r = np.array([[np.cos(t), -np.sin(t)], [np.sin(t), np.cos(t)]])
    return points @ r.T


@functools.lru_cache(maxsize=64)
def moons(n_samples: int = 600, noise: float = 0.05, rotation: float = 25.0, seed: int = 0) -> DomainPair:
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
