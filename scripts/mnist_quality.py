"""MNIST -> MNIST-M target accuracy next to the paper's Table 2 (docs/benchmarks.md).

Trains each mode once with the paper's settings (batch 64 + 64, lr 0.01 / (1 + 10 p)^0.75, the
lambda schedule up to 1) on all 60,000 training digits, then measures accuracy on the full test sets
(10,000 MNIST and 10,000 MNIST-M digits), not just the 500-digit evaluation subset the curves use.
Needs the MNIST files (python -m dann_demo fetch-mnist). Usage:

    .venv/bin/python scripts/mnist_quality.py --steps 5000 --modes source_only,dann,target_oracle --json out.json
"""

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from dann_demo import RunConfig, Trainer
from dann_demo.datasets import load_pair
from dann_demo.datasets.mnist import photo_source_label
from dann_demo.experiments.bench import machine

PAPER = {"source_only": 0.5225, "dann": 0.7666, "target_oracle": 0.9596}


@torch.no_grad()
def full_accuracy(trainer: Trainer, x: np.ndarray, y: np.ndarray, batch: int = 1000) -> float:
    trainer.model.eval()
    hits = 0
    for start in range(0, len(x), batch):
        xb = torch.as_tensor(x[start : start + batch], device=trainer.device)
        hits += (trainer.model(xb)[1].argmax(1).cpu().numpy() == y[start : start + batch]).sum()
    trainer.model.train()
    return hits / len(x)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=5000)
    parser.add_argument("--modes", default="source_only,dann,target_oracle")
    parser.add_argument("--n-samples", type=int, default=60_000, help="training digits per domain")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data-dir", default="")
    parser.add_argument("--json", help="write the figures here")
    args = parser.parse_args()
    torch.set_num_threads(1)  # what jobs.threads_per_job gives a worker on a 2-core machine
    report = {"machine": machine(), "photos": photo_source_label(args.data_dir or None), "runs": {}}
    print(report, flush=True)
    for mode in args.modes.split(","):
        config = RunConfig.for_dataset(
            "mnist",
            mode=mode,
            steps=args.steps,
            n_samples=args.n_samples,
            seed=args.seed,
            data_dir=args.data_dir,
            log_every=500,
        )
        pair = load_pair(config)
        t0, cpu0 = time.perf_counter(), time.process_time()
        trainer = Trainer(config, pair)
        result = trainer.run(
            on_progress=lambda r, mode=mode: print(
                f"  {mode} step {r.step}: target acc (500 digits) {r.target_acc:.3f}, domain acc {r.domain_acc:.3f}, "
                f"{r.seconds:.0f} s",
                flush=True,
            )
        )
        run = {
            "steps": args.steps,
            "n_samples": args.n_samples,
            "seed": args.seed,
            "batch": config.batch_size,
            "target_acc_full": full_accuracy(trainer, pair.target_test_x, pair.target_test_y),
            "source_acc_full": full_accuracy(trainer, pair.source_test_x, pair.source_test_y),
            "paper_target_acc": PAPER.get(mode),
            "domain_acc": result.metrics["domain_acc"],
            "pad": result.metrics["pad"],
            "train_seconds": result.metrics["seconds"],
            "wall_seconds": round(time.perf_counter() - t0, 1),
            "cpu_seconds": round(time.process_time() - cpu0, 1),
            "history": [(r.step, round(r.target_acc, 4)) for r in result.history],
        }
        report["runs"][mode] = run
        print(
            f"{mode}: MNIST-M test acc {run['target_acc_full']:.4f} (paper {PAPER.get(mode)}), MNIST test acc "
            f"{run['source_acc_full']:.4f}, domain acc {run['domain_acc']:.3f}, {run['wall_seconds']:.0f} s wall, "
            f"{run['cpu_seconds']:.0f} s CPU",
            flush=True,
        )
        if args.json:
            Path(args.json).write_text(json.dumps(report, indent=1, default=float))


if __name__ == "__main__":
    main()
