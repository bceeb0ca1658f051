"""`python -m dann_demo bench`: the speed (and, with --quality, accuracy) figures in the README.

Timings are wall-clock on whatever machine runs this; the report names the machine.
"""

from __future__ import annotations

import os
import platform
import time
from typing import Any

import numpy as np
import torch

from dann_demo.config import DATASETS, FILE_DATASETS, MODES, RunConfig
from dann_demo.jobs import JobManager
from dann_demo.metrics import mean_and_std
from dann_demo.train import Trainer, device_label, resolve_device


def machine() -> dict[str, Any]:
    dev = resolve_device("auto")
    return {
        "device": device_label(dev),
        "cpu_cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "platform": platform.platform(terse=True),
        "torch": torch.__version__,
    }


def time_run(manager: JobManager, config: RunConfig) -> dict[str, float]:
    """A run as a user of the app feels it: from pressing Train (submit) to the first curve point
    and to the final summary, through the same job manager the app uses."""
    t0 = time.perf_counter()
    job = manager.submit(config, use_cache=False)
    first = None
    while not job.done:
        if first is None and job.history:
            first = time.perf_counter() - t0
        time.sleep(0.002)
    if job.result is None:
        raise RuntimeError(job.error)
    m = job.result.metrics
    return {
        "wall_s": round(time.perf_counter() - t0, 3),
        "first_record_s": round(first if first is not None else time.perf_counter() - t0, 3),
        "train_s": m["seconds"],
        "steps_per_s": m["steps_per_second"],
        "target_acc": round(m["target_acc"], 4),
    }


def speed(report: dict[str, Any], datasets: tuple[str, ...]) -> None:
    manager = JobManager(max_concurrent=2)
    report["machine"]["torch_threads_per_job"] = torch.get_num_threads()
    for name in datasets:
        config = RunConfig.for_dataset(name)
        time_run(manager, config.replace(steps=50))  # warm-up, as the app does at start: imports, data
        figures = time_run(manager, config)
        report["speed"][name] = {"steps": config.steps, "batch": f"{config.batch_size}+{config.batch_size}",
                                 **figures}  # fmt: skip
        print(f"{name:7s} default run ({config.steps} steps, batch {config.batch_size}+{config.batch_size}): "
              f"{figures['wall_s']:.2f} s from Train to summary, first curve point after "
              f"{figures['first_record_s']:.2f} s, {figures['steps_per_s']:.0f} steps/s", flush=True)  # fmt: skip


def projections(report: dict[str, Any], points_per_domain: int = 1000) -> None:
    """Feature-map timings: PCA, t-SNE and UMAP of the features of a trained moons DANN on
    `points_per_domain` held-out points of each domain, on one core (as while a job trains) and on
    every core (as the app does when no job is training; see JobManager.idle_cores)."""
    from dann_demo.embed import ProjectionSettings, project, warm_up_umap

    config = RunConfig.for_dataset("moons", n_samples=points_per_domain)
    trainer = Trainer(config)
    trainer.run()
    pair = trainer.pair
    x = torch.as_tensor(np.concatenate([pair.source_test_x, pair.target_test_x]), device=trainer.device)
    features = trainer._predict(x)[0].float().cpu().numpy()
    t0 = time.perf_counter()
    warm_up_umap()  # the app does this at start-up, in the background
    report["projections"] = {"points": len(features), "features": features.shape[1],
                             "umap_compile_s": round(time.perf_counter() - t0, 2)}  # fmt: skip
    cores = os.cpu_count() or 1
    for method in ("pca", "tsne", "umap"):
        settings = ProjectionSettings(method, points_per_domain=points_per_domain)
        for threads in sorted({1, cores}) if method == "tsne" else [1]:  # only t-SNE uses threads
            t0 = time.perf_counter()
            project(features, settings, threads=threads)
            seconds = round(time.perf_counter() - t0, 2)
            report["projections"][f"{method}_{threads}_threads_s"] = seconds
            print(f"map   {method:5s} {len(features)} points x {features.shape[1]} features, {threads} thread(s): "
                  f"{seconds:.2f} s", flush=True)  # fmt: skip


def quality(report: dict[str, Any], seeds: list[int], datasets: tuple[str, ...]) -> None:
    for name in datasets:
        rows: dict[str, dict[str, Any]] = {}
        for mode in MODES:
            runs = [Trainer(RunConfig.for_dataset(name, mode=mode, seed=s)).run().metrics for s in seeds]
            rows[mode] = mean_and_std(runs, ("source_acc", "target_acc", "domain_acc", "pad"))
            rows[mode]["target_acc_per_seed"] = [round(r["target_acc"], 4) for r in runs]
            t, d = rows[mode]["target_acc"], rows[mode]["domain_acc"]
            print(f"{name:7s} {mode:14s} target acc {t['mean']:.3f} ± {t['std']:.3f}  "
                  f"domain acc {d['mean']:.3f}  PAD {rows[mode]['pad']['mean']:.2f}  (seeds {seeds})", flush=True)
        src, dann, oracle = (rows[m]["target_acc"]["mean"] for m in ("source_only", "dann", "target_oracle"))
        gap = (dann - src) / (oracle - src) if oracle > src else float("nan")
        rows["gap_closed"] = gap
        print(f"{name:7s} DANN - source_only = {100 * (dann - src):+.1f} points; closes {100 * gap:.0f}% of the "
              f"gap to target_oracle", flush=True)  # fmt: skip
        report["quality"][name] = rows


def run_bench(quality_too: bool = False, seeds: list[int] | None = None,
              datasets: tuple[str, ...] = tuple(d for d in DATASETS if d not in FILE_DATASETS)) -> dict[str, Any]:
    report: dict[str, Any] = {"machine": machine(), "speed": {}, "quality": {}}
    print("machine: " + ", ".join(f"{k} {v}" for k, v in report["machine"].items()), flush=True)
    speed(report, datasets)
    projections(report)
    if quality_too:
        quality(report, seeds or list(range(5)), datasets)
    return report
