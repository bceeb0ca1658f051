"""The bench's loops run (tiny step counts; speed figures belong in docs/benchmarks.md, not in asserts)."""

import math

from dann_demo.config import RunConfig
from dann_demo.experiments.bench import mnist_sized_pair, step_speed, textbook_step


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


def test_the_whole_bench_command_runs_and_writes_every_key(tmp_path, capsys):
    """`bench --quick` goes through every measurement (each shrunk) for every built-in data set."""
    import json

    from dann_demo.__main__ import main
    from dann_demo.datasets import BENCH_DATASETS

    out = tmp_path / "bench.json"
    assert main(["bench", "--quick", "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    assert {"machine", "speed", "step", "sweep", "batch", "projections", "quality"} <= set(report) and report["quick"]
    assert set(report["speed"]) == set(BENCH_DATASETS) == set(report["sweep"])
    for figures in report["speed"].values():
        assert {"wall_s", "first_record_s", "train_s", "steps_per_s", "target_acc"} <= set(figures)
    for figures in report["sweep"].values():
        assert {"together_s", "one_after_another_s", "one_run_s", "together_vs_one_run"} <= set(figures)
    assert {"library_steps_per_s", "textbook_steps_per_s", "ratio"} <= set(report["step"])
    assert all({"wall_s", "per_run_s"} <= set(f) for f in report["batch"]["sizes"].values())
    assert {"pca_1_threads_s", "tsne_1_threads_s", "umap_1_threads_s"} <= set(report["projections"])
    assert f"wrote {out}" in capsys.readouterr().out
