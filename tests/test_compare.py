import numpy as np

from dann_demo import RunConfig, train
from dann_demo.compare import comparison_configs, comparison_table, feature_map, nearest_snapshot
from dann_demo.embed import ProjectionSettings, default_cache
from dann_demo.metrics import proxy_a_distance


def test_comparison_configs_share_everything_but_the_mode():
    base = RunConfig.for_dataset("moons", steps=1000, seed=3)
    configs = comparison_configs(base, include_oracle=True)
    assert [c.mode for c in configs] == ["source_only", "dann", "no_reversal", "target_oracle"]
    assert {c.replace(mode="dann").stable_hash() for c in configs} == {configs[1].stable_hash()}
    assert configs[0].snapshot_steps == (0, 50, 100, 200, 400, 700, 1000)


def test_feature_map_is_cached_and_table_has_the_figures():
    base = RunConfig.for_dataset("moons", steps=200, n_samples=150, log_every=20)
    results = [train(c) for c in comparison_configs(base)]
    settings = ProjectionSettings(method="pca", points_per_domain=50)
    step = nearest_snapshot(results[1], 90)
    assert step == 80  # snapshots at 0, 10, 20, 40, 80, 140, 200
    first = feature_map(results[1], step, settings)
    snap = results[1].snapshots[step]
    assert first.xy.shape == (100, 2)
    assert first.pad == proxy_a_distance(snap.features[snap.domain == 0], snap.features[snap.domain == 1], base.seed)
    before = len(default_cache)
    assert feature_map(results[1], step, settings) is first
    assert len(default_cache) == before
    table = comparison_table(results)
    assert list(table["mode"]) == ["source_only", "dann", "no_reversal"]
    assert {"lambda", "target_acc", "domain_acc", "pad", "steps", "seconds"} <= set(table.columns)
    assert table.loc[0, "lambda"].startswith("none")


def test_pad_near_two_for_separable_and_near_zero_for_identical():
    rng = np.random.RandomState(0)
    a = rng.randn(400, 10)
    assert proxy_a_distance(a, a + 5.0) > 1.9
    assert proxy_a_distance(a[:200], rng.randn(200, 10)) < 0.3
