"""Comparing runs on the same data, seed and initial weights: the configs, their feature maps over
training, how mixed the domains are at each snapshot, and a table.

Feature maps that compare honestly: the compared runs start from the same weights, so their step-0
features are the same numbers, and they are projected once, together: one picture for all of them.
From there each run is carried forward step by step (embed.next_map: each step's map starts from, and
is turned onto, the one before), so a run's picture does not jump between steps, and at every later
step each map shows that network's own features. The chains are computed in the background, at low
priority, after the runs end; the page draws the steps that are ready.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from dann_demo.config import RunConfig
from dann_demo.lru import LRU
from dann_demo.method.metrics import domain_probe_accuracy, proxy_a_distance
from dann_demo.method.results import FeatureSnapshot, RunResult
from dann_demo.views.embed import ProjectionSettings, default_cache, next_map, project, subsample_by_domain

COMPARED_MODES = ("source_only", "dann", "no_reversal")
# Snapshots at these fractions of training, the same for every compared run, so a comparison
# reuses the runs of another one with the same settings (the config hash includes them).
SNAPSHOT_FRACTIONS = (0.0, 0.05, 0.1, 0.2, 0.4, 0.7, 1.0)
MAX_CHAINS = 24  # runs' map sequences kept (for the page's last few comparisons and methods)

# One worker, at the lowest priority: projections are CPU-heavy and training comes first.
_projector = ThreadPoolExecutor(max_workers=1, thread_name_prefix="dann-projection")


def comparison_configs(base: RunConfig, include_oracle: bool = False) -> list[RunConfig]:
    """The same run in each compared mode (same data, seed and so initial weights)."""
    snap = tuple(sorted({round(f * base.steps) for f in SNAPSHOT_FRACTIONS}))
    modes = COMPARED_MODES + (("target_oracle",) if include_oracle else ())
    return [base.replace(mode=m, snapshot_steps=snap) for m in modes]


def _features_key(features: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(features, dtype=np.float32).tobytes()).hexdigest()[:20]


@dataclass
class MapChain:
    """One run's feature maps, snapshot after snapshot, each carried on from the one before."""

    snapshots: dict[int, FeatureSnapshot]
    settings: ProjectionSettings
    index: np.ndarray  # the subsample every step shows (rows of the snapshots)
    maps: dict[int, np.ndarray] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def steps(self) -> list[int]:
        return sorted(self.snapshots)

    @property
    def complete(self) -> bool:
        return len(self.maps) == len(self.snapshots)

    def features(self, step: int) -> np.ndarray:
        return np.asarray(self.snapshots[step].features, np.float32)[self.index]

    def extend(self, threads: int = 1) -> bool:
        """Compute the next step's map; False when every step has one."""
        with self.lock:
            todo = [s for s in self.steps if s not in self.maps]
            if not todo:
                return False
            step = todo[0]
            if not self.maps:
                # The first step: a map shared by every run whose features there are the same numbers
                # (the compared runs at step 0), so identical networks draw identical pictures.
                features = self.features(step)
                key = ("first map", _features_key(features), self.settings.key())
                xy = default_cache.get_or_compute(key, lambda: project(features, self.settings, threads=threads))
            else:
                previous = self.maps[max(self.maps)]
                xy = next_map(self.features(step), previous, self.settings, threads)
            self.maps[step] = xy
            return True


_chains: LRU[tuple, MapChain] = LRU(MAX_CHAINS)
_fills_lock = threading.Lock()


def map_chain(result: RunResult, settings: ProjectionSettings) -> MapChain:
    """The map chain of `result` under `settings` (one per run and settings; the last MAX_CHAINS kept)."""

    def create() -> MapChain:
        final = result.snapshots[max(result.snapshots)]
        index = subsample_by_domain(final.domain, settings.points_per_domain, settings.seed)
        return MapChain(result.snapshots, settings, index)

    return _chains.get_or_create((result.config.stable_hash(), settings.key()), create)


def ready_steps(chains: list[MapChain]) -> list[int]:
    """The steps every chain has a map of, in order (the chains fill up from the first step)."""
    if not chains:
        return []
    ready = set(chains[0].maps)
    for chain in chains[1:]:
        ready &= set(chain.maps)
    return sorted(ready)


def chains_key(chains: list[MapChain]) -> tuple:
    """A set of chains by identity: one fill per set at a time."""
    return tuple(id(c) for c in chains)


@dataclass
class Fill:
    """A background fill of some map chains: `result()` waits for it and gives the maps it made."""

    chains: list[MapChain]
    idle_cores: Callable[[], int]
    wanted: Callable[[], bool]
    owner: str | None = None  # the session that asked (None: anyone)
    made: int = 0
    finished: threading.Event = field(default_factory=threading.Event)

    @property
    def key(self) -> tuple:
        return chains_key(self.chains)

    def end(self) -> None:
        """The fill is over: its owner's note of what it asked for last goes too (a server that runs all
        day would otherwise keep one per session that ever drew a map)."""
        with _fills_lock:
            if self.owner is not None and _latest.get(self.owner) == self.key:
                del _latest[self.owner]
        self.finished.set()

    def done(self) -> bool:
        return self.finished.is_set()

    def result(self, timeout: float | None = None) -> int:
        if not self.finished.wait(timeout):
            raise TimeoutError("the maps are still being projected")
        return self.made


_fills: dict[tuple, Fill] = {}
_latest: dict[str, tuple] = {}  # owner (a session) -> the chains it asked for last


def _fill_round(fill: Fill) -> None:
    """One step of every chain of `fill`, then back to the end of the queue: fills asked for at the same
    time take turns, so one long t-SNE fill does not hold up another page's PCA."""
    with contextlib.suppress(AttributeError, OSError):  # not Linux: normal priority
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)
    try:
        if fill.wanted():
            progressed = [chain.extend(threads=fill.idle_cores()) for chain in fill.chains]
            fill.made += sum(progressed)
            if any(progressed):
                _projector.submit(_fill_round, fill)
                return
    except Exception:  # noqa: BLE001 - a map that cannot be drawn ends this fill; the page says so
        fill.end()
        raise
    fill.end()


def project_in_background(
    chains: list[MapChain],
    idle_cores: Callable[[], int] = lambda: 1,
    wanted: Callable[[], bool] = lambda: True,
    owner: str | None = None,
) -> Fill:
    """Fill the chains off the caller's thread, one step of every run at a time (so the first steps of
    all runs are ready first), at the lowest CPU priority. It stops once `wanted()` is False (the
    session that asked has left) or once `owner` asks for other chains (it moved on to another
    method); a later call goes on from where it stopped. One fill per set of chains at a time."""
    key = chains_key(chains)
    with _fills_lock:
        if owner is not None:
            _latest[owner] = key
        running = _fills.get(key)
        if running is not None and not running.done():
            return running
        for stale in [k for k, f in _fills.items() if f.done()]:
            del _fills[stale]

    def still_wanted() -> bool:
        return wanted() and (owner is None or _latest.get(owner) == key)

    with _fills_lock:
        fill = _fills[key] = Fill(chains, idle_cores, still_wanted, owner)
    _projector.submit(_fill_round, fill)
    return fill


def mixing_curve(result: RunResult) -> pd.DataFrame:
    """How mixed source and target features are at each snapshot: a fresh domain probe's accuracy on
    held-out feature vectors (metrics.domain_probe_accuracy; 50% = mixed), and the PAD. Cached per run."""

    def compute() -> pd.DataFrame:
        rows = []
        for step in sorted(result.snapshots):
            snap = result.snapshots[step]
            src, tgt = snap.features[snap.domain == 0], snap.features[snap.domain == 1]
            rows.append(
                {
                    "step": step,
                    "probe_acc": domain_probe_accuracy(src, tgt, result.config.seed),
                    "pad": proxy_a_distance(src, tgt, result.config.seed),
                }
            )
        return pd.DataFrame(rows)

    return default_cache.get_or_compute((result.config.stable_hash(), "mixing curve"), compute)


def lambda_setting(config: RunConfig) -> str:
    if config.mode in ("source_only", "target_oracle"):
        return "none (no reversal into the features)"
    if config.lambda_schedule == "constant":
        return f"constant {config.lambda_value:g}"
    return f"paper schedule, γ={config.gamma:g}, max {config.lambda_value:g}"


def comparison_table(results: list[RunResult]) -> pd.DataFrame:
    """One row per run: the figures the page shows under the maps, as a table to download."""
    rows = []
    for r in results:
        m = r.metrics
        rows.append(
            {
                "mode": r.config.mode,
                "lambda": lambda_setting(r.config),
                "target_acc": round(m["target_acc"], 4),
                "source_acc": round(m["source_acc"], 4),
                "domain_acc": round(m["domain_acc"], 4),
                "probe_acc": round(m["probe_acc"], 4) if "probe_acc" in m else float("nan"),
                "pad": round(m["pad"], 3),
                "steps": m["steps"],
                "seconds": m["seconds"],
                "device": m["device"],
                "dataset": r.config.dataset,
                "seed": r.config.seed,
            }
        )
    return pd.DataFrame(rows)
