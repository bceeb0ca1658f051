"""`bench --robustness`: each seed trained the ways that should not matter, and the spread between them."""

import json
import math

import numpy as np
import pytest
import torch

from dann_demo.config import RunConfig
from dann_demo.experiments.robustness import PERTURBATIONS, nudge_weights, seed_runs, summarise
from dann_demo.method.models import build_model
from dann_demo.method.train import Trainer


def test_the_summary_counts_a_diverged_run_as_the_worst_and_spreads_per_seed():
    runs = {"alone": [0.9, 1.0, 0.8], "batch": [0.7, 1.0, float("nan")]}
    s = summarise(runs, [3, 4, 5])
    assert s["min"] == 0.0 and s["diverged"] == 1
    assert s["mean"] == pytest.approx((0.9 + 1.0 + 0.8 + 0.7 + 1.0 + 0.0) / 6)
    assert s["spread_max"] == pytest.approx(0.8) and s["widest_seed"] == 5  # 0.8 against a diverged run
    assert s["spread_mean"] == pytest.approx((0.2 + 0.0 + 0.8) / 3)
    assert s["per_perturbation"] == {"alone": 0.9, "batch": pytest.approx(0.5667, abs=1e-4)}
    assert s["per_seed"]["4"] == {"alone": 1.0, "batch": 1.0}


def test_the_nudge_moves_every_weight_by_about_1e_6_and_leaves_the_runs_random_numbers_alone():
    config = RunConfig.for_dataset("moons", seed=3)
    a, b = build_model(config, (2,), 2), build_model(config, (2,), 2)
    torch.manual_seed(0)
    before = torch.rand(1)
    torch.manual_seed(0)
    nudge_weights(b, config.seed)
    assert torch.rand(1) == before  # the global generator did not move
    moved = torch.cat([(q - p).flatten() for p, q in zip(a.parameters(), b.parameters(), strict=True)])
    assert 0 < moved.abs().max() < 1e-5 and moved.abs().mean() > 1e-7


def test_every_way_trains_moons_and_alone_is_the_plain_run():
    configs = [RunConfig.for_dataset("moons", seed=s, steps=60, log_every=20) for s in (0, 1)]
    runs = seed_runs(configs)
    assert set(runs) == set(PERTURBATIONS) and all(len(v) == 2 for v in runs.values())
    assert all(0.0 <= x <= 1.0 for v in runs.values() for x in v)
    torch.set_num_threads(1)
    plain = Trainer(configs[1], step_mode="plain").run().metrics["target_acc"]
    assert runs["alone"][1] == pytest.approx(plain)
    with pytest.raises(ValueError, match="one of alone, batch, threads2, init1e-6"):
        seed_runs(configs, ("twice",))


def test_images_run_alone_and_in_a_batch():
    configs = [RunConfig.for_dataset("digits", seed=s, steps=8, log_every=4) for s in (0, 1)]
    runs = seed_runs(configs, ("alone", "batch"))
    assert all(len(v) == 2 and all(np.isfinite(v)) for v in runs.values())


def test_the_bench_command_prints_and_writes_the_robustness_figures(tmp_path, capsys):
    from dann_demo.__main__ import main

    out = tmp_path / "robust.json"
    argv = ["bench", "--robustness", "--datasets", "blobs", "--modes", "dann", "--seeds", "0-1", "--steps", "40"]
    assert main([*argv, "--json", str(out)]) == 0
    row = json.loads(out.read_text())["robustness"]["blobs"]["dann"]
    assert {"mean", "min", "spread_max", "spread_mean", "per_perturbation", "per_seed", "seconds"} <= set(row)
    assert set(row["per_seed"]) == {"0", "1"} and math.isfinite(row["mean"])
    printed = capsys.readouterr().out
    assert "blobs   dann" in printed and "spread across ways of one seed" in printed
