import threading

import numpy as np
import pytest

from dann_demo import RunConfig, train
from dann_demo.method.metrics import proxy_a_distance
from dann_demo.views import compare as compare_module
from dann_demo.views.compare import (
    comparison_configs,
    comparison_table,
    map_chain,
    mixing_curve,
    project_in_background,
    ready_steps,
)
from dann_demo.views.embed import ProjectionSettings

METHODS = ("pca", "tsne", "umap")


@pytest.fixture(scope="module")
def moons_runs():
    base = RunConfig.for_dataset("moons", steps=200, n_samples=150, log_every=20)
    return [train(c) for c in comparison_configs(base)]


@pytest.fixture(scope="module")
def digits_runs():
    base = RunConfig.for_dataset("digits", steps=30, log_every=10, batch_size=16)
    return [train(c) for c in comparison_configs(base)]


def _fill(results, settings):
    chains = [map_chain(r, settings) for r in results]
    project_in_background(chains).result(timeout=300)
    return chains


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("runs", ["moons_runs", "digits_runs"])
def test_identical_networks_draw_identical_maps_at_step_zero(runs, method, request):
    """source only, DANN and no reversal start from the same weights: their step-0 maps are the same."""
    results = request.getfixturevalue(runs)
    assert all(np.array_equal(r.snapshots[0].features, results[0].snapshots[0].features) for r in results)
    settings = ProjectionSettings(method, points_per_domain=60)
    chains = [map_chain(r, settings) for r in results]
    for chain in chains:
        chain.extend()  # the first step of each
    first = [c.maps[0] for c in chains]
    for xy in first[1:]:
        np.testing.assert_allclose(xy, first[0], atol=1e-6)
    # After training the maps differ: each shows its own network's features.
    final = max(results[0].snapshots)
    for chain in chains:
        while chain.extend():
            pass
    assert not np.allclose(chains[0].maps[final], chains[1].maps[final], atol=1e-3)


def test_background_projection_fills_every_step_and_stops_when_unwanted(moons_runs):
    settings = ProjectionSettings("pca", points_per_domain=40, seed=1)
    chains = _fill(moons_runs, settings)
    steps = sorted(moons_runs[0].snapshots)
    assert ready_steps(chains) == steps and all(c.complete for c in chains)
    assert all(c.maps[s].shape == (80, 2) for c in chains for s in steps)
    # A session that has left: the fill stops at once, and a later call goes on from there.
    settings = ProjectionSettings("pca", points_per_domain=50, seed=2)
    chains = [map_chain(r, settings) for r in moons_runs]
    made = project_in_background(chains, wanted=lambda: False).result(timeout=60)
    assert made == 0 and ready_steps(chains) == []
    calls = threading.Event()

    def wanted_once() -> bool:
        if calls.is_set():
            return False
        calls.set()
        return True

    assert project_in_background(chains, wanted=wanted_once).result(timeout=60) == len(chains)
    assert ready_steps(chains) == [0]


def test_a_finished_fill_forgets_its_session(moons_runs):
    """A server that runs all day keeps no note per session that ever drew a map."""
    settings = ProjectionSettings("pca", points_per_domain=30, seed=3)
    for n in range(3):
        chains = [map_chain(r, settings) for r in moons_runs]
        project_in_background(chains, wanted=lambda n=n: n > 0, owner=f"session-{n}").result(timeout=60)
    assert not [owner for owner in compare_module._latest if owner.startswith("session-")]


def test_map_chains_are_bounded(moons_runs, monkeypatch):
    from dann_demo.lru import LRU

    monkeypatch.setattr(compare_module, "_chains", LRU(3))
    for seed in range(5):
        map_chain(moons_runs[0], ProjectionSettings("pca", points_per_domain=30, seed=10 + seed))
    assert len(compare_module._chains) <= 3


def test_mixing_curve_and_the_table(moons_runs):
    curve = mixing_curve(moons_runs[1])
    assert list(curve["step"]) == sorted(moons_runs[1].snapshots)
    snap = moons_runs[1].snapshots[200]
    expected = proxy_a_distance(snap.features[snap.domain == 0], snap.features[snap.domain == 1], 0)
    assert curve["pad"].iloc[-1] == expected
    assert curve["probe_acc"].iloc[-1] == moons_runs[1].metrics["probe_acc"]
    assert mixing_curve(moons_runs[1]) is curve  # cached
    table = comparison_table(moons_runs)
    assert list(table["mode"]) == ["source_only", "dann", "no_reversal"]
    assert {"lambda", "target_acc", "domain_acc", "probe_acc", "pad", "steps", "seconds"} <= set(table.columns)
    assert table.loc[0, "lambda"].startswith("none")


def test_pad_near_two_for_separable_and_near_zero_for_identical():
    rng = np.random.RandomState(0)
    a = rng.randn(400, 10)
    assert proxy_a_distance(a, a + 5.0) > 1.9
    assert proxy_a_distance(a[:200], rng.randn(200, 10)) < 0.3


def test_a_fresh_probe_sees_what_a_beaten_domain_classifier_does_not():
    from dann_demo.method.metrics import domain_probe_accuracy

    rng = np.random.RandomState(0)
    ring = rng.randn(400, 2)
    ring /= np.linalg.norm(ring, axis=1, keepdims=True)
    # Same mean, different radius: no line separates the domains, neighbours do.
    source, target = ring[:200] * 1.0, ring[200:] * 2.0
    assert proxy_a_distance(source, target) < 0.5
    assert domain_probe_accuracy(source, target) > 0.95
    assert abs(domain_probe_accuracy(source, ring[200:] * 1.0) - 0.5) < 0.1
