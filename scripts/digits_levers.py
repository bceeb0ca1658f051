"""Which settings make DANN win on digits -> digits-M: each lever over 5 seeds (docs/defaults.md's table).

For every variant (RunConfig overrides of the digits defaults, and optionally how digits-M is made),
trains source only, DANN and the target oracle on seeds 0-4 and prints target accuracy (mean, per
seed), the share of the source-only -> oracle gap that DANN closes, whether DANN beat source only on
every seed, and the time of one run. Results are kept in --cache (JSON, by config hash), so a run
that is stopped goes on where it left off and variants share their source-only and oracle runs.

    .venv/bin/python scripts/digits_levers.py --variants default,ceiling1 --cache levers.json
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

import numpy as np
import torch

from dann_demo import RunConfig, train
from dann_demo.datasets import REGISTRY
from dann_demo.datasets.digits import digits

# name -> (RunConfig overrides, digits-M settings: image size and crops per photo side)
VARIANTS: dict[str, tuple[dict, dict]] = {
    "default": ({}, {}),
    "ceiling1": ({"lambda_value": 1.0}, {}),
    "ceiling1.5": ({"lambda_value": 1.5}, {}),
    "ceiling2": ({"lambda_value": 2.0}, {}),
    "lr0.02": ({"lr": 0.02}, {}),
    "gamma5": ({"gamma": 5.0}, {}),
    "batch64": ({"batch_size": 64}, {}),
    "size20": ({"lambda_value": 1.5}, {"size": 20}),
    "size24": ({"lambda_value": 1.5}, {"size": 24}),
    "crops5": ({"lambda_value": 1.5}, {"crops_per_side": 5}),
    "crops20": ({"lambda_value": 1.5}, {"crops_per_side": 20}),
    "crops3": ({"lambda_value": 1.5}, {"crops_per_side": 3}),
    "nodecay": ({"lambda_value": 1.5, "lr_alpha": 0.0}, {}),
    "steps2000": ({"lambda_value": 1.5, "steps": 2000}, {}),
    "nodecay-lr0.02": ({"lambda_value": 1.5, "lr_alpha": 0.0, "lr": 0.02}, {}),
    "nodecay-gamma5": ({"lambda_value": 1.5, "lr_alpha": 0.0, "gamma": 5.0}, {}),
    "nodecay-ceiling1": ({"lambda_value": 1.0, "lr_alpha": 0.0}, {}),
    "nodecay-ceiling2": ({"lambda_value": 2.0, "lr_alpha": 0.0}, {}),
    "nodecay-batch64": ({"lambda_value": 1.5, "lr_alpha": 0.0, "batch_size": 64, "steps": 1500}, {}),
    "nodecay-batch16": ({"lambda_value": 1.5, "lr_alpha": 0.0, "batch_size": 16, "steps": 6000}, {}),
    "nodecay-turned": ({"lambda_value": 1.5, "lr_alpha": 0.0}, {"turned_photos": True}),
    "nodecay-copies4-perimage": ({"lambda_value": 1.5, "lr_alpha": 0.0}, {"target_copies": 4, "per_image": True}),
    "nodecay-perimage": ({"lambda_value": 1.5, "lr_alpha": 0.0}, {"per_image": True}),
    "nodecay-copies16-turned": ({"lambda_value": 1.5, "lr_alpha": 0.0}, {"target_copies": 16, "turned_photos": True}),
    "nodecay-ceiling1-copies8-turned": (
        {"lambda_value": 1.0, "lr_alpha": 0.0},
        {"target_copies": 8, "turned_photos": True},
    ),
    "copies4": ({"lambda_value": 1.5}, {"target_copies": 4}),
    "nodecay-copies4": ({"lambda_value": 1.5, "lr_alpha": 0.0}, {"target_copies": 4}),
    "nodecay-copies8-turned": ({"lambda_value": 1.5, "lr_alpha": 0.0}, {"target_copies": 8, "turned_photos": True}),
}


def run(config: RunConfig, data: dict, cache: dict, path: Path) -> dict:
    key = f"{config.stable_hash()}|{json.dumps(data, sort_keys=True)}"
    if key not in cache:
        # How digits-M is made, for this variant: the registry's loader with other digits() arguments.
        REGISTRY["digits"] = dataclasses.replace(REGISTRY["digits"], load=lambda c: digits(c.seed, **data))
        t0 = time.perf_counter()
        m = train(config).metrics
        cache[key] = {"target_acc": m["target_acc"], "domain_acc": m["domain_acc"], "pad": m["pad"],
                      "seconds": time.perf_counter() - t0}  # fmt: skip
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
        overrides, data = VARIANTS[name]
        acc = {}
        seconds = []
        for mode in ("source_only", "dann", "target_oracle"):
            rows = [run(RunConfig.for_dataset("digits", mode=mode, seed=s, **overrides), data, cache, args.cache)
                    for s in seeds]  # fmt: skip
            acc[mode] = np.array([r["target_acc"] for r in rows])
            seconds += [r["seconds"] for r in rows]
        so, da, orc = (acc[m].mean() for m in ("source_only", "dann", "target_oracle"))
        wins = int((acc["dann"] > acc["source_only"]).sum())
        print(f"{name} | {so:.3f} ± {acc['source_only'].std():.3f} | {da:.3f} ± {acc['dann'].std():.3f} | "
              f"{orc:.3f} | {100 * (da - so) / (orc - so):.0f}% | {wins}/{len(seeds)} | "
              f"{', '.join(f'{a:.3f}' for a in acc['dann'])} | {np.median(seconds):.1f}", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
