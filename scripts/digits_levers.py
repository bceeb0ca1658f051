"""Which settings make DANN win on digits -> digits-M: each lever over 5 seeds (docs/defaults.md's table).

For every variant (RunConfig settings, how digits-M is made, and the second convolution's kernel)
trains source only, DANN and the target oracle on seeds 0-4 and prints target accuracy (mean, per
seed), the share of the source-only -> oracle gap that DANN closes, whether DANN beat source only on
every seed, and the median time of one run. Every variant names all its settings, so a row means the
same whatever the defaults are. Results are kept in --cache (JSON, by config hash), so a run that is
stopped goes on where it left off and variants share their source-only and oracle runs.

    .venv/bin/python scripts/digits_levers.py --variants before,default --cache levers.json
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import time
from pathlib import Path

import numpy as np
import torch

from dann_demo import RunConfig, train
from dann_demo.datasets import REGISTRY
from dann_demo.datasets.digits import digits
from dann_demo.method import models

# The settings before the levers: the paper's MNIST net (5x5 second convolution, a domain classifier of
# one layer of 100), its learning-rate decay, the schedule's ceiling at 3, one crop per target digit;
# then no decay and a ceiling of 1.5, then a domain classifier of two layers of 500.
BEFORE = {"lambda_value": 3.0, "lr_alpha": 10.0, "domain_hidden_units": 100, "domain_hidden_layers": 1}
NO_DECAY = {**BEFORE, "lambda_value": 1.5, "lr_alpha": 0.0}
HEAD500X2 = {**NO_DECAY, "domain_hidden_units": 500, "domain_hidden_layers": 2}
ONE_COPY, FOUR_COPIES = {"target_copies": 1}, {"target_copies": 4}
KERNEL5, KERNEL3 = {"second_kernel": 5}, {"second_kernel": 3}
EXTRACTOR = models.mnist_feature_extractor

# name -> (RunConfig settings over the digits defaults, digits() arguments, feature extractor arguments)
VARIANTS: dict[str, tuple[dict, dict, dict]] = {
    "before": (BEFORE, ONE_COPY, KERNEL5),
    "ceiling1.5": ({**BEFORE, "lambda_value": 1.5}, ONE_COPY, KERNEL5),
    "no-decay": (NO_DECAY, ONE_COPY, KERNEL5),
    "no-decay-copies4": (NO_DECAY, FOUR_COPIES, KERNEL5),
    "no-decay-per-image": (NO_DECAY, {**ONE_COPY, "per_image": True}, KERNEL5),
    "no-decay-copies8-turned": (NO_DECAY, {"target_copies": 8, "turned_photos": True}, KERNEL5),
    "no-decay-kernel3": (NO_DECAY, ONE_COPY, KERNEL3),
    "no-decay-head500x2": (HEAD500X2, ONE_COPY, KERNEL5),
    "kernel3-head500x2": (HEAD500X2, ONE_COPY, KERNEL3),
    "kernel3-head500x2-alpha1": ({**HEAD500X2, "lr_alpha": 1.0}, ONE_COPY, KERNEL3),
    "kernel3-head500x2-ceiling2": ({**HEAD500X2, "lambda_value": 2.0}, ONE_COPY, KERNEL3),
    "kernel3-head500x2-copies4": (HEAD500X2, FOUR_COPIES, KERNEL3),
    "kernel3-head500x2-copies4-alpha1": ({**HEAD500X2, "lr_alpha": 1.0}, FOUR_COPIES, KERNEL3),
    "kernel3-head500x2-ceiling1": ({**HEAD500X2, "lambda_value": 1.0}, ONE_COPY, KERNEL3),
    # The image defaults: the paper's lambda schedule (ceiling 1), a domain classifier of 256-256 (as good
    # as 500-500 here, and a quarter faster a step).
    "default": ({**HEAD500X2, "lambda_value": 1.0, "domain_hidden_units": 256}, ONE_COPY, KERNEL3),
}
DEFAULT = VARIANTS["default"][0]
VARIANTS |= {
    # Each domain standardised with its own channel statistics (the target's from its unlabelled images).
    "default-per-domain": (DEFAULT, {**ONE_COPY, "per_domain": True}, KERNEL3),
    # Both convolutions padded: 16x16 keeps 4x4 positions after the second pooling, 768 features (the
    # paper's count at 28x28).
    "default-padded": (DEFAULT, ONE_COPY, {**KERNEL3, "padded": True}),
    "default-lr0.015": ({**DEFAULT, "lr": 0.015}, ONE_COPY, KERNEL3),
    "default-gamma20": ({**DEFAULT, "gamma": 20.0}, ONE_COPY, KERNEL3),
    "default-lr0.02": ({**DEFAULT, "lr": 0.02}, ONE_COPY, KERNEL3),
    "default-lr0.015-steps4000": ({**DEFAULT, "lr": 0.015, "steps": 4000}, ONE_COPY, KERNEL3),
    "default-head256x3": ({**DEFAULT, "domain_hidden_layers": 3}, ONE_COPY, KERNEL3),
    "default-ceiling1.25": ({**DEFAULT, "lambda_value": 1.25}, ONE_COPY, KERNEL3),
}
# Where the reversal layer passes no gradient (source only, target oracle), lambda and the domain
# classifier do not touch the features or the label classifier (built before it from the same seed):
# target accuracy is the same, so those runs take the digits defaults here and variants share them.
NO_EFFECT_WITHOUT_REVERSAL = ("lambda_schedule", "lambda_value", "gamma", "domain_hidden_units", "domain_hidden_layers")


def run(config: RunConfig, data: dict, net: dict, cache: dict, path: Path) -> dict:
    if config.mode in ("source_only", "target_oracle"):
        defaults = RunConfig.for_dataset("digits")
        config = config.replace(**{f: getattr(defaults, f) for f in NO_EFFECT_WITHOUT_REVERSAL})
    key = f"{config.stable_hash()}|{json.dumps(data, sort_keys=True)}|{json.dumps(net, sort_keys=True)}"
    if key not in cache:
        # How digits-M is made and the extractor's kernel, for this variant: the library's own
        # functions with other arguments (module attributes, looked up at each run).
        REGISTRY["digits"] = dataclasses.replace(REGISTRY["digits"], load=lambda c: digits(c.seed, **data))
        models.mnist_feature_extractor = functools.partial(EXTRACTOR, **net)
        t0 = time.perf_counter()
        m = train(config).metrics
        cache[key] = {
            "target_acc": m["target_acc"],
            "domain_acc": m["domain_acc"],
            "pad": m["pad"],
            "seconds": time.perf_counter() - t0,
        }
        path.write_text(json.dumps(cache))
    return cache[key]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--seeds", default="0,1,2,3,4")
    parser.add_argument("--cache", type=Path, default=Path("digits_levers.json"))
    parser.add_argument("--threads", type=int, default=1, help="torch threads (the app gives each run 1 on 2 cores)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    cache = json.loads(args.cache.read_text()) if args.cache.exists() else {}
    seeds = [int(s) for s in args.seeds.split(",")]
    print("variant | source only | DANN | oracle | gap closed | DANN > source only | DANN per seed | s/run")
    for name in args.variants.split(","):
        settings, data, net = VARIANTS[name]
        acc = {}
        seconds = []
        for mode in ("source_only", "dann", "target_oracle"):
            rows = [
                run(RunConfig.for_dataset("digits", mode=mode, seed=s, **settings), data, net, cache, args.cache)
                for s in seeds
            ]
            acc[mode] = np.array([r["target_acc"] for r in rows])
            seconds += [r["seconds"] for r in rows]
        so, da, orc = (acc[m].mean() for m in ("source_only", "dann", "target_oracle"))
        wins = int((acc["dann"] > acc["source_only"]).sum())
        print(
            f"{name} | {so:.3f} ± {acc['source_only'].std():.3f} | {da:.3f} ± {acc['dann'].std():.3f} | "
            f"{orc:.3f} | {100 * (da - so) / (orc - so):.0f}% | {wins}/{len(seeds)} | "
            f"{', '.join(f'{a:.3f}' for a in acc['dann'])} | {np.median(seconds):.1f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
