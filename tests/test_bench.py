"""The bench's loops run (tiny step counts; speed figures belong in the README, not in asserts)."""

import math

from dann_demo.bench import mnist_sized_pair, step_speed, sweep_speed, textbook_step
from dann_demo.config import RunConfig


def test_textbook_loop_and_library_step_run_on_the_paper_mnist_net():
    pair = mnist_sized_pair(28)
    assert pair.input_shape == (3, 28, 28) and len(pair.source_x) == len(pair.source_y)
    config = RunConfig.for_dataset("digits", batch_size=8, steps=4)
    step = textbook_step(config, pair)
    for _ in range(3):
        step()  # the textbook loop trains the paper net on 28x28 batches
    report = {}
    figures = step_speed(report, steps=2, warmup=1, rounds=2)
    assert report["step"] is figures and figures["model"].startswith("paper MNIST net, 28x28x3")
    assert figures["library_steps_per_s"] > 0 and figures["textbook_steps_per_s"] > 0 and figures["ratio"] > 0
    assert all(len(r) == 2 and min(r) > 0 and math.isfinite(max(r)) for r in figures["rounds_steps_per_s"].values())


def test_sweep_timing_runs(capsys):
    report = {}
    figures = sweep_speed(report, "moons", steps=20)
    assert report["sweep"]["moons"] is figures and figures["k"] == 8 and figures["one_run_s"] > 0
    assert figures["auto_trains"] in ("together", "one after another")
    assert "K=8 lambda sweep, 20 steps each" in capsys.readouterr().out
