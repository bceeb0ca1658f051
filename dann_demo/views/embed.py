"""2-D maps of the feature extractor's output (PCA, t-SNE, UMAP), subsampled, stable across steps, cached.

The pictures show whether source and target features mix as training goes on. Three choices keep
them cheap and honest: at most a few thousand points (stratified by domain, so neither vanishes),
PCA to at most 50 dimensions before t-SNE/UMAP (their neighbour search is then fast, and the
dropped directions carry little variance), and one cache shared by every session of the app.
scikit-learn and umap are imported inside the functions that use them: umap pulls in numba, which
takes seconds to import, and the CLI should not pay for that when it draws no map.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
import warnings
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np

from dann_demo.config import RUN_SPECS, Spec, setting, validate_fields
from dann_demo.lru import LRU

METHODS = ("pca", "tsne", "umap")
MAX_INPUT_DIMS = 50  # t-SNE and UMAP see at most this many PCA components
MIN_POINTS = 5  # below this, t-SNE and UMAP have no neighbourhoods to speak of: PCA instead

T = TypeVar("T")

# _umap hands UMAP a distance matrix on purpose; its note that inverse_transform is then
# unavailable says nothing to a user (set once here, not on every projection).
warnings.filterwarnings("ignore", message="using precomputed metric", module="umap")


@dataclass(frozen=True)
class ProjectionSettings:
    """How to draw one map; validated on creation, like RunConfig (each field's Spec says what it may be)."""

    method: str = setting("pca", Spec("choice", choices=METHODS, label="Method", widget="radio"))
    # t-SNE: roughly the number of neighbours each point attends to
    perplexity: float = setting(30.0, Spec("float", 2.0, 100.0, label="Perplexity", step=1.0, widget="slider"))
    # UMAP: size of the neighbourhood that defines local structure
    n_neighbors: int = setting(15, Spec("int", 2, 200, label="n_neighbors", widget="slider"))
    # UMAP: how tightly points may pack in the map
    min_dist: float = setting(0.1, Spec("float", 0.0, 1.0, label="min_dist", step=0.01, widget="slider"))
    # subsample: at most this many source and this many target points
    points_per_domain: int = setting(500, Spec("int", 10, 5000, label="Points per domain", widget="slider"))
    seed: int = setting(0, RUN_SPECS["seed"])  # subsample and t-SNE/UMAP random state

    def __post_init__(self) -> None:
        validate_fields(self)  # raises ConfigError naming the field; nothing is clamped here

    def key(self) -> tuple:
        """A cache key holding only what changes this method's map, so that moving the t-SNE
        perplexity slider does not throw away cached PCA or UMAP maps."""
        common = (self.method, self.points_per_domain, self.seed)
        if self.method == "tsne":
            return (*common, float(self.perplexity))
        if self.method == "umap":
            return (*common, self.n_neighbors, float(self.min_dist))
        return common


def subsample_by_domain(domain: np.ndarray, per_domain: int, seed: int) -> np.ndarray:
    """Sorted indices of up to `per_domain` points of each domain (all of a smaller domain).

    Stratified, so that a map of 1000 source and 50 target points still shows all 50 targets.
    """
    if per_domain < 0:
        raise ValueError(f"per_domain={per_domain} must be >= 0")
    domain = np.asarray(domain)
    rng = np.random.default_rng(seed)
    keep = [np.empty(0, np.int64)]
    for d in np.unique(domain):
        idx = np.flatnonzero(domain == d)
        if len(idx) > per_domain:
            idx = rng.choice(idx, per_domain, replace=False)
        keep.append(idx)
    return np.sort(np.concatenate(keep)).astype(np.int64)


def project(
    features: np.ndarray, settings: ProjectionSettings, init: np.ndarray | None = None, threads: int = 1
) -> np.ndarray:
    """Map (n, F) features to (n, 2) float32 points with `settings.method`.

    `threads`: OpenMP threads for t-SNE's gradient. The caller passes more than one only when no
    training job needs the cores (see JobManager.idle_cores); the map is the same either way.

    `init`, an (n, 2) layout of the same points, starts t-SNE/UMAP from there (PCA ignores it):
    that is how maps of consecutive training steps stay alike. Degenerate input gives a picture,
    not an error: constant features map to zeros (all points coincide), and fewer than
    MIN_POINTS points are drawn with PCA whatever the method.
    t-SNE needs perplexity below the number of points (it looks at 3 * perplexity neighbours), so
    on a small subset a perplexity above (n - 1) / 3 is lowered to (n - 1) / 3; likewise UMAP's
    n_neighbors is lowered to n - 1. These are the only values changed, and only for tiny inputs.
    """
    x = np.asarray(features, dtype=np.float32)
    if x.ndim != 2:
        raise ValueError(f"features must be a 2-D array (points, features), got shape {x.shape}")
    if not np.isfinite(x).all():
        raise ValueError("features contain NaN or infinity; the run probably diverged")
    n = len(x)
    if init is not None and np.shape(init) != (n, 2):
        raise ValueError(f"init must have shape ({n}, 2), got {np.shape(init)}")
    if _is_constant(x):
        return np.zeros((n, 2), np.float32)
    if settings.method == "pca" or n < MIN_POINTS:
        return _fit_pca(x, settings.seed)(x)
    x = _reduce_dims(x, settings.seed)
    if settings.method == "tsne":
        return _tsne(x, settings, init, threads)
    return _umap(x, settings, init)


def next_map(features: np.ndarray, previous: np.ndarray, settings: ProjectionSettings, threads: int = 1) -> np.ndarray:
    """The map of the next training step of a run, carried on from `previous` (the map of the same
    points at the step before), so that the picture neither jumps, flips nor spins between steps:

    - PCA: fitted on these features (the map shows this network's own two main directions), then
      turned (rotated or reflected) and shifted onto the previous map, without scaling: distances
      stay the features' own, so a spreading or shrinking cloud is seen as such.
    - t-SNE: started from the previous map with no early exaggeration (the layout is already
      organised; exaggeration would tear it up), then rotated, scaled and shifted onto it.
    - UMAP: started from the previous map, then rotated, scaled and shifted onto it.

    (Rotation, reflection, one scale factor and a shift mean nothing in a t-SNE or UMAP map.)
    """
    x = np.asarray(features, dtype=np.float32)
    if _is_constant(x) or len(x) < MIN_POINTS:
        return project(x, settings, threads=threads)
    if settings.method == "pca":
        return align(_fit_pca(x, settings.seed)(x), previous, scale=False)
    reduced = _reduce_dims(x, settings.seed)
    if settings.method == "tsne":
        # 350 iterations: from an organised start the map settles sooner (250 is sklearn's least).
        xy = _tsne(reduced, settings, previous, threads, early_exaggeration=1.0, max_iter=350, continue_from=True)
    else:
        xy = _umap(reduced, settings, previous, continue_from=True)
    return align(xy, previous, scale=True)


def _is_constant(x: np.ndarray) -> bool:
    """All points equal (up to rounding): there is nothing to lay out."""
    largest_range = np.ptp(x, axis=0).max(initial=0.0) if len(x) else 0.0
    return bool(largest_range <= 1e-12 * max(1.0, float(np.abs(x).max(initial=0.0))))


def _fit_pca(x: np.ndarray, seed: int) -> Callable[[np.ndarray], np.ndarray]:
    """Fit PCA(2) on `x`; return the map onto its axes. With one feature or point, the missing
    axis is zeros."""
    from sklearn.decomposition import PCA

    k = min(2, *x.shape)
    if k == 0:
        return lambda a: np.zeros((len(a), 2), np.float32)
    pca = PCA(n_components=k, random_state=seed).fit(x)

    def to_2d(a: np.ndarray) -> np.ndarray:
        out = np.zeros((len(a), 2), np.float32)
        out[:, :k] = pca.transform(np.asarray(a, np.float32))
        return out

    return to_2d


def _reduce_dims(x: np.ndarray, seed: int) -> np.ndarray:
    """PCA to MAX_INPUT_DIMS before t-SNE/UMAP; fewer features are left alone (a rotation would
    not change their Euclidean distances)."""
    if x.shape[1] <= MAX_INPUT_DIMS:
        return x
    from sklearn.decomposition import PCA

    k = min(MAX_INPUT_DIMS, len(x))
    return PCA(n_components=k, random_state=seed).fit_transform(x).astype(np.float32)


def _usable_init(init: np.ndarray | None) -> np.ndarray | None:
    """An init layout with spread along both axes, or None (a collapsed one would divide by zero)."""
    if init is None:
        return None
    init = np.asarray(init, np.float64)
    if not np.isfinite(init).all() or np.ptp(init, axis=0).min() <= 0:
        return None
    return init


def _tsne(
    x: np.ndarray,
    settings: ProjectionSettings,
    init: np.ndarray | None,
    threads: int = 1,
    early_exaggeration: float = 12.0,
    max_iter: int = 500,
    continue_from: bool = False,
) -> np.ndarray:
    """t-SNE of x. `continue_from`: `init` is a finished map of nearly the same points (the step before):
    start from it at its own scale, with no exaggeration and the step size of the settled phase, so
    the map moves only as far as the features did."""
    from sklearn.manifold import TSNE
    from threadpoolctl import threadpool_limits

    n = len(x)
    perplexity = min(float(settings.perplexity), (n - 1) / 3)
    start: str | np.ndarray = "pca"
    init = _usable_init(init)
    learning_rate: str | float = "auto"
    if init is not None and continue_from:
        start = init - init.mean(axis=0)
        learning_rate = max(n / 12 / 4, 50)  # what "auto" gives with the default exaggeration of 12
    elif init is not None:
        # The scale scikit-learn gives its own PCA init (std 1e-4): the layout's shape guides the
        # optimisation, while early exaggeration works as it does from scratch.
        start = (init - init.mean(axis=0)) / init[:, 0].std() * 1e-4
    if x.shape[1] < 2:  # the PCA init needs two features; a zero column changes no distance
        x = np.hstack([x, np.zeros((n, 2 - x.shape[1]), np.float32)])
    # 500 iterations (250 of them early exaggeration) and a coarser Barnes-Hut angle than the
    # defaults (1000, 0.5): on 2000 points 14 s became about 4.5 s on one core, and the domain
    # mixing, which is what the page asks the reader to look at, does not change visibly.
    tsne = TSNE(
        n_components=2,
        early_exaggeration=early_exaggeration,
        perplexity=perplexity,
        init=start,
        learning_rate=learning_rate,
        random_state=settings.seed,
        max_iter=max_iter,
        angle=0.8,
    )
    # By default one OpenMP thread: on a 2-core machine that is also training, scikit-learn's threads
    # spin and wait for each other; 300 points took 5-45 s with 2 threads and 1.4 s with one. With
    # the cores idle, 2 threads take 2000 points from 3.7 s to 2.5 s. The limit applies to the
    # calling thread only (OpenMP keeps it per thread), so training threads are unaffected.
    with threadpool_limits(limits=max(1, int(threads)), user_api="openmp"):
        return tsne.fit_transform(x).astype(np.float32)


def _umap(
    x: np.ndarray, settings: ProjectionSettings, init: np.ndarray | None, continue_from: bool = False
) -> np.ndarray:
    """UMAP of x. `continue_from`: `init` is the map of nearly the same points at the step before: fewer
    epochs at a smaller step, so the layout moves only as far as the features did."""
    import umap
    from sklearn.metrics import pairwise_distances

    init = _usable_init(init)
    # Below 4096 points umap computes all distances with a Python-level loop over a numba metric
    # (13 of 15 s on 2000 points); handing it the BLAS-computed matrix does the same job in ms.
    distances = pairwise_distances(x.astype(np.float64))
    reducer = umap.UMAP(
        n_components=2,
        metric="precomputed",
        n_neighbors=min(settings.n_neighbors, len(x) - 1),
        min_dist=settings.min_dist,
        init="spectral" if init is None else init.astype(np.float32),
        random_state=settings.seed,  # deterministic, at the price of running on one thread
        n_jobs=1,  # what random_state implies anyway; saying it avoids umap's warning
        **({"n_epochs": 100, "learning_rate": 0.2} if continue_from and init is not None else {}),
    )
    return reducer.fit_transform(distances).astype(np.float32)


def align(points: np.ndarray, reference: np.ndarray, scale: bool = True) -> np.ndarray:
    """`points` rotated (or reflected), shifted and (with `scale`) scaled to lie as close as possible to
    `reference`, the same points in another map (orthogonal Procrustes)."""
    from scipy.linalg import orthogonal_procrustes

    a = points.astype(np.float64) - points.mean(axis=0)
    b = reference.astype(np.float64) - reference.mean(axis=0)
    norm_a = float((a**2).sum())
    if norm_a == 0 or not (b**2).sum():
        return (a + reference.mean(axis=0)).astype(np.float32)
    rotation, singular_sum = orthogonal_procrustes(a, b)
    factor = singular_sum / norm_a if scale else 1.0
    return (factor * a @ rotation + reference.mean(axis=0)).astype(np.float32)


@dataclass
class _Pending:
    """A computation one thread is running; others with the same key wait for it."""

    done: threading.Event = field(default_factory=threading.Event)
    value: Any = None
    failed: bool = False


class ProjectionCache:
    """A thread-safe LRU cache: each key is computed once, even when sessions ask at the same moment.

    Key it by (run hash, snapshot step or steps, settings.key()). Errors are not cached: a thread that
    waited on a failed computation tries again itself. Cached arrays are shared; treat them as read-only.
    """

    def __init__(self, max_entries: int = 64):
        self._entries: LRU[Hashable, Any] = LRU(max_entries)
        self._pending: dict[Hashable, _Pending] = {}
        self._lock = threading.Lock()

    def get_or_compute(self, key: tuple, fn: Callable[[], T]) -> T:
        while True:
            with self._lock:
                if key in self._entries:
                    return self._entries.get(key)
                pending = self._pending.get(key)
                owner = pending is None
                if owner:
                    pending = self._pending[key] = _Pending()
            if owner:
                return self._compute(key, fn, pending)
            pending.done.wait()
            if not pending.failed:
                return pending.value

    def _compute(self, key: tuple, fn: Callable[[], T], pending: _Pending) -> T:
        try:
            value = fn()
        except BaseException:
            pending.failed = True
            raise
        else:
            pending.value = value
            self._entries.put(key, value)
            return value
        finally:
            with self._lock:
                del self._pending[key]
            pending.done.set()

    @property
    def max_entries(self) -> int:
        return self._entries.max_entries

    def __len__(self) -> int:
        return len(self._entries)

    def clear(self) -> None:
        self._entries.clear()


default_cache = ProjectionCache()

_umap_warm = False
_umap_warm_lock = threading.Lock()
IDLE_BEFORE_WARM_UP_S = 3.0  # after a run, nothing queued or training for this long: the warm-up may start
WARM_UP_WITHOUT_A_RUN_S = 120.0  # or, when nobody has trained yet, this long after start-up


def warm_up_umap() -> None:
    """Run UMAP once on a tiny array, so numba compiles at app start-up and not in front of the class.

    Once per process; later calls return at once, concurrent ones wait for the first.
    """
    global _umap_warm
    with _umap_warm_lock:
        if _umap_warm:
            return
        x = np.random.default_rng(0).normal(size=(60, 5)).astype(np.float32)
        settings = ProjectionSettings(method="umap")
        # Both starts that project() uses: spectral, then an aligned init array.
        project(x, settings, init=project(x, settings))
        _umap_warm = True


def warm_up_umap_when_idle(
    idle: Callable[[], bool], trained: Callable[[], bool], poll_seconds: float = 0.5, clock=time.monotonic
) -> None:
    """warm_up_umap at the lowest CPU priority, once a first run has ended (`trained()`) and `idle()` has
    held for IDLE_BEFORE_WARM_UP_S, or after WARM_UP_WITHOUT_A_RUN_S of idleness if nobody trains.

    A fresh server's first run then trains at full speed: numba's compiler holds the GIL, which a
    nice value cannot give back, and compiling while the teacher's first moons run trained made it
    take 8.5 s from the click instead of about 5 (scripts/loadtest.py --sessions 1 --warm-up). A run
    started while numba compiles still gets the cores first: on Linux a thread can have its own nice
    value (setpriority on its thread id). (numba's on-disk cache was tried: a second server start
    still took 21 s, not 23.)"""
    started = quiet_since = clock()
    while True:
        now = clock()
        if not idle():
            quiet_since = None
        elif quiet_since is None:
            quiet_since = now
        elif now - quiet_since >= IDLE_BEFORE_WARM_UP_S and (trained() or now - started >= WARM_UP_WITHOUT_A_RUN_S):
            break
        time.sleep(poll_seconds)
    with contextlib.suppress(AttributeError, OSError):  # not Linux: run at normal priority
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)
    warm_up_umap()
