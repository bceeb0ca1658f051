"""Comparing runs on the same data, seed and initial weights: the configs, maps, and a table."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import pandas as pd

from dann_demo.config import RunConfig
from dann_demo.embed import ProjectionSettings, default_cache, project_snapshot
from dann_demo.metrics import proxy_a_distance
from dann_demo.results import RunResult

COMPARED_MODES = ("source_only", "dann", "no_reversal")
# Snapshots at these fractions of training, the same for every compared run, so a comparison
# reuses the runs of another one with the same settings (the config hash includes them).
SNAPSHOT_FRACTIONS = (0.0, 0.05, 0.1, 0.2, 0.4, 0.7, 1.0)

# One worker: projections are CPU-heavy and the training jobs need the other core.
_projector = ThreadPoolExecutor(max_workers=1, thread_name_prefix="dann-projection")


def comparison_configs(base: RunConfig, include_oracle: bool = False) -> list[RunConfig]:
    """The same run in each compared mode (same data, seed and so initial weights)."""
    snap = tuple(sorted({round(f * base.steps) for f in SNAPSHOT_FRACTIONS}))
    modes = COMPARED_MODES + (("target_oracle",) if include_oracle else ())
    return [base.replace(mode=m, snapshot_steps=snap) for m in modes]


@dataclass
class FeatureMap:
    """A 2-D map of one run's features at one step, with what to write under it."""

    step: int
    xy: np.ndarray  # (m, 2)
    index: np.ndarray  # rows of the snapshot that the map shows
    pad: float  # proxy A-distance of the full snapshot's features at this step


def feature_map(result: RunResult, step: int, settings: ProjectionSettings, threads: int = 1) -> FeatureMap:
    """Map of `result`'s features at `step`, cached per (run, step, projection settings).
    `threads` only changes how fast a t-SNE map is computed, not the map, so it is not in the key."""
    run = result.config.stable_hash()
    snapshots = result.snapshots
    final_step = max(snapshots)

    def final_map() -> np.ndarray:
        # Every earlier step of t-SNE/UMAP starts from this layout: compute it once per run.
        layout = lambda: project_snapshot(snapshots, final_step, settings, threads=threads)[1]
        return default_cache.get_or_compute((run, "final layout", settings.key()), layout)

    def compute() -> FeatureMap:
        idx, xy = project_snapshot(snapshots, step, settings, final_map, threads)
        snap = snapshots[step]
        pad = proxy_a_distance(snap.features[snap.domain == 0], snap.features[snap.domain == 1], result.config.seed)
        return FeatureMap(step, xy, idx, pad)

    return default_cache.get_or_compute((run, step, settings.key()), compute)


def feature_map_async(
    result: RunResult, step: int, settings: ProjectionSettings, idle_cores: Callable[[], int] = lambda: 1
) -> Future:
    """feature_map off the caller's thread (the page's script thread must not block on t-SNE).
    `idle_cores` is asked when the projection starts, not when it is queued: a run that finished
    in between leaves its core to t-SNE."""
    return _projector.submit(lambda: feature_map(result, step, settings, threads=idle_cores()))


def nearest_snapshot(result: RunResult, step: int) -> int:
    return min(result.snapshots, key=lambda s: abs(s - step))


def lambda_setting(config: RunConfig) -> str:
    if config.mode in ("source_only", "target_oracle"):
        return "none (no reversal into the features)"
    if config.lambda_schedule == "constant":
        return f"constant {config.lambda_value:g}"
    return f"paper schedule, γ={config.gamma:g}, max {config.lambda_value:g}"


def comparison_table(results: list[RunResult]) -> pd.DataFrame:
    """One row per run: the figures the page shows under each map, as a table to download."""
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
                "pad": round(m["pad"], 3),
                "steps": m["steps"],
                "seconds": m["seconds"],
                "device": m["device"],
                "dataset": r.config.dataset,
                "seed": r.config.seed,
            }
        )
    return pd.DataFrame(rows)
