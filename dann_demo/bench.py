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

from dann_demo.config import MODES, RunConfig
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


def time_run(config: RunConfig) -> dict[str, float]:
    """Wall time of a whole run as the app sees it: from 'Train' to the final metrics."""
    t0 = time.perf_counter()
    first: list[float] = []
    trainer = Trainer(config)
    result = trainer.run(on_progress=lambda r: first or first.append(time.perf_counter() - t0))
    return {
        "wall_s": round(time.perf_counter() - t0, 3),
        "first_record_s": round(first[0], 3),
        "train_s": result.metrics["seconds"],
        "steps_per_s": result.metrics["steps_per_second"],
        "target_acc": round(result.metrics["target_acc"], 4),
    }


def speed(report: dict[str, Any]) -> None:
    for name in ("moons", "digits"):
        config = RunConfig.for_dataset(name)
        time_run(config.replace(steps=50))  # warm-up: imports, data set cache, allocator
        figures = time_run(config)
        report["speed"][name] = {"steps": config.steps, "batch": f"{config.batch_size}+{config.batch_size}",
                                 **figures}  # fmt: skip
        print(f"{name:7s} default run ({config.steps} steps, batch {config.batch_size}+{config.batch_size}): "
              f"{figures['wall_s']:.2f} s wall, first curve point after {figures['first_record_s']:.2f} s, "
              f"{figures['steps_per_s']:.0f} steps/s", flush=True)  # fmt: skip


def quality(report: dict[str, Any], seeds: list[int]) -> None:
    for name in ("moons", "digits"):
        rows: dict[str, dict[str, Any]] = {}
        for mode in MODES:
            runs = [Trainer(RunConfig.for_dataset(name, mode=mode, seed=s)).run().metrics for s in seeds]
            rows[mode] = {k: {"mean": float(np.mean([r[k] for r in runs])), "std": float(np.std([r[k] for r in runs]))}
                          for k in ("source_acc", "target_acc", "domain_acc", "pad")}  # fmt: skip
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


def run_bench(quality_too: bool = False, seeds: list[int] | None = None) -> dict[str, Any]:
    report: dict[str, Any] = {"machine": machine(), "speed": {}, "quality": {}}
    print("machine: " + ", ".join(f"{k} {v}" for k, v in report["machine"].items()), flush=True)
    speed(report)
    if quality_too:
        quality(report, seeds or list(range(5)))
    return report
