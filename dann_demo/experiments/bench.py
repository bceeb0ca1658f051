"""`python -m dann_demo bench`: the speed (and, with --quality, accuracy) figures of docs/benchmarks.md.

Timings are wall-clock on whatever machine runs this; the report names the machine. Besides the
app's default runs it times one training step of the paper's MNIST net at 28x28x3, batch 64 + 64,
as the library runs it and as a textbook PyTorch loop would, and a K=8 lambda sweep against one run.
"""

from __future__ import annotations

import dataclasses
import os
import platform
import time
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset

from dann_demo.config import MODES, RunConfig
from dann_demo.datasets import BENCH_DATASETS, DomainPair
from dann_demo.datasets.digits import digits
from dann_demo.devices import device_label, resolve_device
from dann_demo.experiments.sweep import run_sweep, sweep_config
from dann_demo.jobs import JobManager
from dann_demo.method.batching import ensemble_pays
from dann_demo.method.metrics import mean_and_std
from dann_demo.method.models import build_model
from dann_demo.method.schedules import lambda_at, lr_at
from dann_demo.method.train import Trainer

# Steps timed per loop (after warm-up): enough for a steady figure, few enough for 2 CPU cores.
STEP_BENCH = {"cuda": (500, 30), "mps": (200, 10), "cpu": (30, 3)}  # (timed steps, warm-up steps)
SWEEP_LAMBDAS: list[float | str] = [0.0, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0, "paper"]  # K = 8
# Steps per run of the K=8 sweep: (points and tables, images); images on 2 CPU cores train slowly.
SWEEP_STEPS = {"cuda": (1000, 1000), "cpu": (1000, 200)}
# Class batching: moons runs trained as one ensemble of K members, K from this list (the job manager's
# DANN_MAX_BATCH is chosen from what these figures show), 1000 steps each.
BATCH_SIZES = (1, 4, 8, 16, 32, 64)
BATCH_STEPS = 1000
# `bench --quick`: every measurement, shrunk to a few steps (tests run the whole command this way).
QUICK = {
    "run_steps": 60,
    "step_steps": 2,
    "step_rounds": 1,
    "sweep_steps": 20,
    "points": 60,
    "quality_steps": 60,
    "batch_steps": 20,
    "batch_sizes": (1, 4),
}


def machine() -> dict[str, Any]:
    dev = resolve_device("auto")
    return {
        "device": device_label(dev),
        "cpu_cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "platform": platform.platform(terse=True),
        "torch": torch.__version__,
    }


def said_machine() -> dict[str, Any]:
    """machine(), printed as the first line of a bench's output."""
    m = machine()
    print("machine: " + ", ".join(f"{k} {v}" for k, v in m.items()), flush=True)
    return m


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


def speed(report: dict[str, Any], datasets: tuple[str, ...], steps: int | None = None) -> None:
    manager = JobManager(max_concurrent=2)
    report["machine"]["torch_threads_per_job"] = torch.get_num_threads()
    for name in datasets:
        config = RunConfig.for_dataset(name, **({"steps": steps} if steps else {}))
        time_run(manager, config.replace(steps=50))  # warm-up, as the app does at start: imports, data
        figures = time_run(manager, config)
        report["speed"][name] = {"steps": config.steps, "batch": f"{config.batch_size}+{config.batch_size}", **figures}
        print(
            f"{name:7s} default run ({config.steps} steps, batch {config.batch_size}+{config.batch_size}): "
            f"{figures['wall_s']:.2f} s from Train to summary, first curve point after "
            f"{figures['first_record_s']:.2f} s, {figures['steps_per_s']:.0f} steps/s",
            flush=True,
        )


def projections(report: dict[str, Any], points_per_domain: int = 1000, steps: int | None = None) -> None:
    """Feature-map timings: PCA, t-SNE and UMAP of the features of a trained moons DANN on
    `points_per_domain` held-out points of each domain, on one core (as while a job trains) and on
    every core (as the app does when no job is training; see JobManager.idle_cores)."""
    from dann_demo.views.embed import ProjectionSettings, project, warm_up_umap

    config = RunConfig.for_dataset("moons", n_samples=points_per_domain, **({"steps": steps} if steps else {}))
    trainer = Trainer(config)
    trainer.run()
    pair = trainer.pair
    x = torch.as_tensor(np.concatenate([pair.source_test_x, pair.target_test_x]), device=trainer.device)
    features = trainer.recorder.predict(trainer.model, x)[0].float().cpu().numpy()
    t0 = time.perf_counter()
    warm_up_umap()  # the app does this at start-up, in the background
    report["projections"] = {
        "points": len(features),
        "features": features.shape[1],
        "umap_compile_s": round(time.perf_counter() - t0, 2),
    }
    cores = os.cpu_count() or 1
    for method in ("pca", "tsne", "umap"):
        settings = ProjectionSettings(method, points_per_domain=points_per_domain)
        for threads in sorted({1, cores}) if method == "tsne" else [1]:  # only t-SNE uses threads
            t0 = time.perf_counter()
            project(features, settings, threads=threads)
            seconds = round(time.perf_counter() - t0, 2)
            report["projections"][f"{method}_{threads}_threads_s"] = seconds
            print(
                f"map   {method:5s} {len(features)} points x {features.shape[1]} features, {threads} thread(s): "
                f"{seconds:.2f} s",
                flush=True,
            )


def quality(report: dict[str, Any], seeds: list[int], datasets: tuple[str, ...], steps: int | None = None) -> None:
    extra = {"steps": steps} if steps else {}
    for name in datasets:
        rows: dict[str, dict[str, Any]] = {}
        for mode in MODES:
            runs = [Trainer(RunConfig.for_dataset(name, mode=mode, seed=s, **extra)).run().metrics for s in seeds]
            rows[mode] = mean_and_std(runs, ("source_acc", "target_acc", "domain_acc", "pad"))
            rows[mode]["target_acc_per_seed"] = [round(r["target_acc"], 4) for r in runs]
            t, d = rows[mode]["target_acc"], rows[mode]["domain_acc"]
            print(
                f"{name:7s} {mode:14s} target acc {t['mean']:.3f} ± {t['std']:.3f}  "
                f"domain acc {d['mean']:.3f}  PAD {rows[mode]['pad']['mean']:.2f}  (seeds {seeds})",
                flush=True,
            )
        src, dann, oracle = (rows[m]["target_acc"]["mean"] for m in ("source_only", "dann", "target_oracle"))
        gap = (dann - src) / (oracle - src) if oracle > src else float("nan")
        rows["gap_closed"] = gap
        per_seed = zip(rows["dann"]["target_acc_per_seed"], rows["source_only"]["target_acc_per_seed"], strict=True)
        rows["dann_wins_seeds"] = sum(d > s for d, s in per_seed)
        print(
            f"{name:7s} DANN - source_only = {100 * (dann - src):+.1f} points; closes {100 * gap:.0f}% of the "
            f"gap to target_oracle; DANN beats source only on {rows['dann_wins_seeds']} of {len(seeds)} seeds",
            flush=True,
        )
        report["quality"][name] = rows


def mnist_sized_pair(size: int = 28) -> DomainPair:
    """digits -> digits-M upsampled to size x size: real data at the paper's MNIST input size."""
    p = digits(0)

    def up(a):
        return F.interpolate(torch.from_numpy(a), size=size, mode="bilinear", align_corners=False).numpy()

    return dataclasses.replace(
        p,
        source_x=up(p.source_x),
        target_x=up(p.target_x),
        source_test_x=up(p.source_test_x),
        target_test_x=up(p.target_test_x),
    )


def _timed(step: Callable[[], None], steps: int, warmup: int, device: torch.device) -> float:
    """Steps per second of `step`, after `warmup` untimed calls; waits for the GPU before each clock."""
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    for _ in range(warmup):
        step()
    sync()
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    sync()
    return steps / (time.perf_counter() - t0)


def library_step(config: RunConfig, pair: DomainPair, step_mode: str = "auto") -> tuple[Callable[[], None], str]:
    """The library's step (Trainer.train_step, as the app runs it) and the step mode it chose."""
    trainer = Trainer(config, pair, step_mode=step_mode)
    return trainer.train_step, trainer.step_mode


def textbook_step(config: RunConfig, pair: DomainPair) -> Callable[[], None]:
    """The loop a tutorial writes, on the same model and data: DataLoaders over TensorDatasets, one
    copy to the device per batch, plain SGD, and .item() on both losses every step."""
    device = resolve_device(config.device)
    b = config.batch_size
    model = build_model(config, pair.input_shape, pair.n_classes).to(device)
    optimizer = torch.optim.SGD(model.parameters(), lr=config.lr, momentum=config.momentum)
    source = DataLoader(
        TensorDataset(torch.from_numpy(pair.source_x), torch.from_numpy(pair.source_y)),
        batch_size=b,
        shuffle=True,
        drop_last=True,
    )
    target = DataLoader(TensorDataset(torch.from_numpy(pair.target_x)), batch_size=b, shuffle=True, drop_last=True)

    def forever(loader: DataLoader) -> Iterator:
        while True:
            yield from loader

    source_batches, target_batches = forever(source), forever(target)
    domain_labels = torch.cat([torch.zeros(b), torch.ones(b)]).to(device)
    step_count, losses = [0], []

    def step() -> None:
        p = min(step_count[0] / config.steps, 1.0)
        model.grl.set_lambda(lambda_at(config, p))
        for group in optimizer.param_groups:
            group["lr"] = lr_at(config, p)
        xs, ys = next(source_batches)
        (xt,) = next(target_batches)
        xs, ys, xt = xs.to(device), ys.to(device), xt.to(device)
        _, class_logits, domain_logits = model(torch.cat([xs, xt]))
        label_loss = F.cross_entropy(class_logits[:b], ys)
        domain_loss = F.binary_cross_entropy_with_logits(
            domain_logits[:b], domain_labels[:b]
        ) + F.binary_cross_entropy_with_logits(domain_logits[b:], domain_labels[b:])
        optimizer.zero_grad()
        (label_loss + domain_loss).backward()
        optimizer.step()
        losses.append((label_loss.item(), domain_loss.item()))
        step_count[0] += 1

    return step


def step_speed(
    report: dict[str, Any], steps: int | None = None, warmup: int | None = None, rounds: int = 3
) -> dict[str, Any]:
    """Library step against the textbook loop on the paper's MNIST net, 28x28x3, batch 64 + 64.

    The loops take turns for `rounds` rounds and each keeps its best round: on a shared machine the
    load changes from minute to minute, and turns expose both loops to the same conditions."""
    device = resolve_device("auto")
    default_steps, default_warmup = STEP_BENCH.get(device.type, STEP_BENCH["cpu"])
    steps, warmup = steps or default_steps, warmup if warmup is not None else default_warmup
    pair = mnist_sized_pair(28)
    config = RunConfig.for_dataset("digits", batch_size=64, steps=rounds * (steps + warmup))
    loops = {"library": library_step(config, pair), "textbook": (textbook_step(config, pair), "")}
    if device.type == "cuda":  # what the graph adds over the same device-resident step run eagerly
        loops["library_eager"] = library_step(config, pair, "tensor")
    rates: dict[str, list[float]] = {name: [] for name in loops}
    for _ in range(rounds):
        for name, (step, _) in loops.items():
            rates[name].append(_timed(step, steps, warmup, device))
    library, textbook = max(rates["library"]), max(rates["textbook"])
    mode = loops["library"][1]
    figures = {
        "model": "paper MNIST net, 28x28x3, batch 64+64",
        "device": device_label(device),
        "torch_threads": torch.get_num_threads(),
        "steps_timed": steps,
        "rounds": rounds,
        "library_step_mode": mode,
        "library_steps_per_s": round(library, 1),
        "textbook_steps_per_s": round(textbook, 1),
        "ratio": round(library / textbook, 2),
        "rounds_steps_per_s": {k: [round(r, 1) for r in v] for k, v in rates.items()},
    }
    report["step"] = figures
    print(
        f"training step, {figures['model']} on {figures['device']} ({figures['torch_threads']} threads, best of "
        f"{rounds} rounds of {steps} steps): library {library:.1f} steps/s ({mode}), textbook DataLoader loop "
        f"{textbook:.1f} steps/s, ratio {library / textbook:.2f}x",
        flush=True,
    )
    if "library_eager" in rates:
        figures["library_eager_steps_per_s"] = round(max(rates["library_eager"]), 1)
        print(f"  the same step without the CUDA graph (eager): {figures['library_eager_steps_per_s']:.1f} steps/s")
    return figures


def sweep_speed(report: dict[str, Any], dataset: str, steps: int | None = None) -> dict[str, Any]:
    """Wall time of a K=8 lambda sweep (together and one after another) against one run."""
    device = resolve_device("auto")
    tables, pictures = SWEEP_STEPS.get(device.type, SWEEP_STEPS["cpu"])
    base = RunConfig.for_dataset(dataset)
    steps = steps or (pictures if base.is_image else tables)
    base = base.replace(steps=steps)

    def wall(fn: Callable[[], object]) -> float:
        t0 = time.perf_counter()
        fn()
        return time.perf_counter() - t0

    one = wall(lambda: Trainer(sweep_config(base, 1.0, 0)).run())
    together = wall(lambda: run_sweep(base, SWEEP_LAMBDAS, [0], ensemble="on"))
    apart = wall(lambda: run_sweep(base, SWEEP_LAMBDAS, [0], ensemble="off"))
    auto = "together" if ensemble_pays(base) else "one after another"
    figures = {
        "k": len(SWEEP_LAMBDAS),
        "steps": steps,
        "one_run_s": round(one, 2),
        "together_s": round(together, 2),
        "one_after_another_s": round(apart, 2),
        "together_vs_one_run": round(together / one, 2),
        "auto_trains": auto,
    }
    report.setdefault("sweep", {})[dataset] = figures
    print(
        f"{dataset:7s} K={figures['k']} lambda sweep, {steps} steps each: together {together:.1f} s, one after "
        f"another {apart:.1f} s; one run {one:.1f} s (together = {together / one:.1f}x one run); "
        f"the sweep command trains {auto} here",
        flush=True,
    )
    return figures


def batch_speed(
    report: dict[str, Any], sizes: tuple[int, ...] = BATCH_SIZES, steps: int = BATCH_STEPS
) -> dict[str, Any]:
    """Wall time per run when K moons runs (a class's: different seeds and lambdas) train as one batch,
    as the job manager trains them: what a batch of K saves, and from which K on it stops paying."""
    from dann_demo.method.ensemble import EnsembleTrainer

    base = RunConfig.for_dataset("moons", steps=steps)
    figures: dict[str, Any] = {"dataset": "moons", "steps": steps, "sizes": {}}
    for k in sizes:
        configs = [base.replace(seed=i, lambda_schedule="constant", lambda_value=0.3 * (i % 5)) for i in range(k)]
        t0 = time.perf_counter()
        EnsembleTrainer(configs).run()
        wall = time.perf_counter() - t0
        figures["sizes"][str(k)] = {"wall_s": round(wall, 2), "per_run_s": round(wall / k, 3)}
        print(f"batch moons, K={k:2d} runs of {steps} steps together: {wall:.2f} s, {wall / k:.3f} s a run", flush=True)
    report["batch"] = figures
    return figures


def run_bench(
    quality_too: bool = False,
    seeds: list[int] | None = None,
    datasets: tuple[str, ...] = BENCH_DATASETS,
    quick: bool = False,
) -> dict[str, Any]:
    """Every figure of docs/benchmarks.md for this machine; `quick` shrinks each to a few steps (a check
    that the command runs to the end, not a measurement)."""
    q = QUICK if quick else {}
    report: dict[str, Any] = {"machine": said_machine(), "quick": quick, "speed": {}, "quality": {}}
    speed(report, datasets, q.get("run_steps"))
    if quick:
        step_speed(report, steps=q["step_steps"], warmup=1, rounds=q["step_rounds"])
    else:
        step_speed(report)
    for name in datasets:
        sweep_speed(report, name, q.get("sweep_steps"))
    batch_speed(report, q.get("batch_sizes", BATCH_SIZES), q.get("batch_steps", BATCH_STEPS))
    projections(report, **({"points_per_domain": q["points"], "steps": q["run_steps"]} if quick else {}))
    if quality_too:
        quality(report, seeds or list(range(5)), datasets, q.get("quality_steps"))
    return report
