import threading
import time

import numpy as np
import pytest

from dann_demo.config import ConfigError
from dann_demo.method.results import FeatureSnapshot
from dann_demo.views.embed import (
    METHODS,
    ProjectionCache,
    ProjectionSettings,
    align,
    next_map,
    project,
    subsample_by_domain,
    warm_up_umap,
)


def blobs(n_per_domain: int = 100, dims: int = 16, shift: float = 0.0, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Source ~ N(0, I), target ~ N(shift * e_0, I): (features, domain)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(2 * n_per_domain, dims)).astype(np.float32)
    x[n_per_domain:, 0] += shift
    return x, np.repeat([0, 1], n_per_domain)


def snapshot(step: int, features: np.ndarray, domain: np.ndarray) -> FeatureSnapshot:
    n = len(features)
    return FeatureSnapshot(step, features, domain, np.zeros(n, int), np.zeros(n, int), np.full(n, 0.5, np.float32))


@pytest.mark.parametrize("method", METHODS)
def test_project_gives_n_by_2_float32_and_same_seed_same_map(method):
    x, _ = blobs(100, dims=60)  # > 50 dims: t-SNE and UMAP go through the PCA step
    settings = ProjectionSettings(method, seed=3)
    first = project(x, settings)
    assert first.shape == (200, 2) and first.dtype == np.float32
    assert np.isfinite(first).all()
    np.testing.assert_array_equal(project(x, settings), first)


def test_subsample_keeps_both_domains_and_at_most_per_domain():
    domain = np.r_[np.zeros(1000, int), np.ones(30, int)]
    idx = subsample_by_domain(domain, per_domain=100, seed=0)
    assert np.all(np.diff(idx) > 0)  # sorted, no repeats
    assert (domain[idx] == 0).sum() == 100
    assert (domain[idx] == 1).sum() == 30  # the smaller domain is kept whole
    np.testing.assert_array_equal(subsample_by_domain(domain, 100, seed=0), idx)
    assert not np.array_equal(subsample_by_domain(domain, 100, seed=1), idx)


@pytest.mark.parametrize("method", METHODS)
def test_a_run_that_does_not_change_draws_the_same_picture_step_after_step(method):
    """Carrying a map to the next step of unchanged features must not jump: after alignment the map
    moves by a small fraction of its size (t-SNE and UMAP re-optimise, so not by nothing)."""
    x, domain = blobs(150, shift=4.0)
    settings = ProjectionSettings(method)
    first = project(x, settings)
    second = next_map(x, first, settings)
    third = next_map(x, second, settings)
    size = np.linalg.norm(first - first.mean(axis=0), axis=1).mean()
    for a, b in ((first, second), (second, third)):
        change = np.linalg.norm(b - a, axis=1).mean() / size
        # UMAP stretches its start to a square before optimising, which a turn and one scale cannot undo.
        assert change < {"pca": 1e-5, "tsne": 0.15, "umap": 0.3}[method], (method, change)


@pytest.mark.parametrize("method", METHODS)
def test_a_changing_run_keeps_its_picture_the_same_way_round(method):
    x, domain = blobs(150, shift=6.0)
    earlier = x + np.random.default_rng(1).normal(scale=0.3, size=x.shape).astype(np.float32)
    settings = ProjectionSettings(method)
    maps = [project(earlier, settings)]
    maps.append(next_map(x, maps[0], settings))
    # Nearly the same features at both steps: the source -> target direction and the size of the
    # map stay put instead of flipping, rotating or shrinking between steps.
    directions = [m[domain == 1].mean(axis=0) - m[domain == 0].mean(axis=0) for m in maps]
    cosine = directions[0] @ directions[1] / np.linalg.norm(directions[0]) / np.linalg.norm(directions[1])
    assert cosine > 0.95
    assert np.linalg.norm(directions[0]) == pytest.approx(np.linalg.norm(directions[1]), rel=0.2)


def test_pca_steps_keep_the_features_scale():
    """PCA's step-to-step alignment turns the map but does not rescale it: a shrinking cloud shrinks."""
    x, _ = blobs(100)
    settings = ProjectionSettings("pca")
    first = project(x, settings)
    smaller = next_map(0.5 * x, first, settings)
    spread = lambda m: np.linalg.norm(m - m.mean(axis=0), axis=1).mean()  # noqa: E731
    assert spread(smaller) == pytest.approx(0.5 * spread(first), rel=1e-4)


def test_procrustes_undoes_rotation_reflection_scale_and_shift():
    reference = np.random.default_rng(0).normal(size=(50, 2)).astype(np.float32)
    angle = 1.0
    rotate = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    moved = 3.0 * reference @ rotate @ np.diag([1.0, -1.0]) + np.array([10.0, -5.0])
    np.testing.assert_allclose(align(moved.astype(np.float32), reference), reference, atol=1e-4)
    turned = reference @ rotate + np.array([1.0, 2.0])  # without scaling: a pure turn and shift is undone too
    np.testing.assert_allclose(align(turned.astype(np.float32), reference, scale=False), reference, atol=1e-4)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("method", "lda", "method='lda' is not allowed"),
        ("perplexity", 1.0, "perplexity=1.0 is not allowed"),
        ("perplexity", 101.0, "perplexity=101.0 is not allowed"),
        ("n_neighbors", 1, "n_neighbors=1 is not allowed"),
        ("n_neighbors", 15.5, "n_neighbors=15.5 is not allowed"),
        ("min_dist", -0.1, "min_dist=-0.1 is not allowed"),
        ("min_dist", 1.5, "min_dist=1.5 is not allowed"),
        ("points_per_domain", 5, "points_per_domain=5 is not allowed"),
        ("points_per_domain", 6000, "points_per_domain=6000 is not allowed"),
    ],
)
def test_validation_names_field_and_value(field, value, message):
    kwargs = {"method": "tsne", field: value}
    with pytest.raises(ConfigError, match=message.replace(".", r"\.")) as err:
        ProjectionSettings(**kwargs)
    assert err.value.field == field


def test_settings_key_holds_only_what_changes_the_map():
    assert ProjectionSettings("pca", perplexity=5).key() == ProjectionSettings("pca", perplexity=50).key()
    assert ProjectionSettings("tsne", perplexity=5).key() != ProjectionSettings("tsne", perplexity=50).key()
    assert ProjectionSettings("umap", min_dist=0.5).key() != ProjectionSettings("umap").key()
    assert ProjectionSettings("umap", points_per_domain=100).key() != ProjectionSettings("umap").key()
    hash(ProjectionSettings("umap").key())


def test_cache_computes_a_key_once_and_evicts_the_least_recently_used():
    cache = ProjectionCache(max_entries=2)
    calls = []

    def compute(name):
        return lambda: calls.append(name) or name.upper()

    assert cache.get_or_compute(("a",), compute("a")) == "A"
    assert cache.get_or_compute(("a",), compute("a")) == "A"
    assert calls == ["a"]
    cache.get_or_compute(("b",), compute("b"))
    cache.get_or_compute(("a",), compute("a"))  # a is now the most recently used
    cache.get_or_compute(("c",), compute("c"))  # evicts b
    assert len(cache) == 2 and calls == ["a", "b", "c"]
    cache.get_or_compute(("a",), compute("a"))
    cache.get_or_compute(("b",), compute("b"))
    assert calls == ["a", "b", "c", "b"]


def test_cache_computes_once_when_threads_ask_together_and_does_not_cache_errors():
    cache = ProjectionCache()
    calls = []

    def slow():
        calls.append(1)
        time.sleep(0.2)
        return np.arange(3)

    results = []
    threads = [threading.Thread(target=lambda: results.append(cache.get_or_compute(("k", 1), slow))) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1 and len(results) == 4
    assert all(r is results[0] for r in results)

    def fail():
        calls.append(2)
        raise RuntimeError("boom")

    for _ in range(2):
        with pytest.raises(RuntimeError):
            cache.get_or_compute(("bad",), fail)
    assert calls.count(2) == 2


@pytest.mark.parametrize("method", METHODS)
def test_degenerate_input_does_not_raise(method):
    settings = ProjectionSettings(method)
    constant = np.ones((200, 8), np.float32)
    np.testing.assert_array_equal(project(constant, settings), np.zeros((200, 2), np.float32))
    few = np.random.default_rng(0).normal(size=(3, 8)).astype(np.float32)
    assert project(few, settings).shape == (3, 2)
    one_feature = np.random.default_rng(0).normal(size=(40, 1)).astype(np.float32)
    assert np.isfinite(project(one_feature, settings)).all()
    assert np.isfinite(next_map(constant, project(constant, settings), settings)).all()


def domain_separation(points: np.ndarray, domain: np.ndarray) -> float:
    """Distance between the domain means over the mean within-domain spread."""
    means = [points[domain == d].mean(axis=0) for d in (0, 1)]
    spread = np.mean([np.linalg.norm(points[domain == d] - means[d], axis=1).mean() for d in (0, 1)])
    return float(np.linalg.norm(means[0] - means[1]) / spread)


def test_pca_map_shows_separated_domains_apart_and_identical_ones_mixed():
    settings = ProjectionSettings("pca")
    separated, domain = blobs(200, shift=10.0)
    mixed, _ = blobs(200, shift=0.0)
    assert domain_separation(project(separated, settings), domain) > 3.0
    assert domain_separation(project(mixed, settings), domain) < 0.5


def test_warm_up_umap_runs_once():
    warm_up_umap()
    start = time.perf_counter()
    warm_up_umap()
    assert time.perf_counter() - start < 0.01


@pytest.mark.parametrize(
    ("trained_at", "busy_until", "expected_start"),
    [
        (10, 12, 15),  # the first run ends at 10 s, the server is idle from 12 s: 3 s later
        (None, 0, 120),  # nobody trains: after WARM_UP_WITHOUT_A_RUN_S
        (None, 130, 133),  # nobody has finished by then, but a run is training: after it, idle for 3 s
    ],
)
def test_umap_warms_up_after_the_first_run_not_before_it(monkeypatch, trained_at, busy_until, expected_start):
    """numba's compiler holds the GIL: compiling during the teacher's first run slowed it."""
    from dann_demo.views import embed

    now = [0.0]
    started = []

    def clock():
        now[0] += 0.5
        return now[0]

    monkeypatch.setattr(embed, "warm_up_umap", lambda: started.append(now[0]))
    monkeypatch.setattr(embed.os, "setpriority", lambda *a: None)
    embed.warm_up_umap_when_idle(
        idle=lambda: now[0] >= busy_until,
        trained=lambda: trained_at is not None and now[0] >= trained_at,
        poll_seconds=0,
        clock=clock,
    )
    assert started and abs(started[0] - expected_start) <= 1.0
