import numpy as np
import pytest

from dann_demo import RunConfig
from dann_demo.datasets import load_pair
from dann_demo.datasets.digits import DIGITS_IMAGE_SIZE, digits
from dann_demo.datasets.moons import moons, rotate


def _check_pair(pair, n_classes):
    for name in ("source", "target", "source_test", "target_test"):
        x, y = getattr(pair, f"{name}_x"), getattr(pair, f"{name}_y")
        assert x.dtype == np.float32 and y.dtype == np.int64, name
        assert len(x) == len(y) > 0, name
        assert np.isfinite(x).all(), name
        assert set(np.unique(y)) <= set(range(n_classes)), name
    assert pair.n_classes == n_classes


def test_moons_shapes_and_rotation():
    pair = moons(n_samples=100, noise=0.0, rotation=90.0, seed=0)
    _check_pair(pair, 2)
    assert pair.source_x.shape == (100, 2) and pair.target_x.shape == (100, 2)
    assert pair.input_shape == (2,) and not pair.is_image
    # Without noise, rotating the source back by -90 degrees lands on the target's moons: every
    # rotated-back target point lies on the unrotated moon curve (close to some source point).
    src = moons(n_samples=2000, noise=0.0, rotation=90.0, seed=1).source_x
    back = rotate(pair.target_x, -90.0)
    dist = np.sqrt(((back[:, None, :] - src[None, :, :]) ** 2).sum(-1)).min(1)
    assert dist.max() < 0.05


def test_moons_rotation_zero_means_same_distribution():
    pair = moons(n_samples=500, noise=0.1, rotation=0.0, seed=0)
    np.testing.assert_allclose(pair.source_x.mean(0), pair.target_x.mean(0), atol=0.1)


def test_digits_shapes_dtypes_and_colour_target():
    pair = digits(seed=0)
    _check_pair(pair, 10)
    s = DIGITS_IMAGE_SIZE
    assert pair.source_x.shape[1:] == (3, s, s) and pair.target_x.shape[1:] == (3, s, s)
    assert pair.is_image

    # Grey source: the channels are the same picture (equal up to the per-channel normalisation);
    # colour target: they differ.
    def channel_corr(x):
        return np.corrcoef(x[:, 0].ravel(), x[:, 1].ravel())[0, 1]

    assert channel_corr(pair.source_x) > 0.999
    assert channel_corr(pair.target_x) < 0.99
    # MNIST-M style: the target is built from the same training digits as the source (other crops);
    # with target_copies each digit over that many crops.
    np.testing.assert_array_equal(pair.source_y, pair.target_y)
    more = digits.__wrapped__(seed=0, target_copies=3)
    assert len(more.target_x) == 3 * len(more.source_x)
    np.testing.assert_array_equal(more.target_y, np.tile(more.source_y, 3))
    assert len(pair.target_test_x) == len(pair.source_test_x)


def test_digits_is_reproducible_from_seed():
    a, b = digits(seed=5), digits.__wrapped__(seed=5)
    np.testing.assert_array_equal(a.target_x, b.target_x)


def test_load_pair_dispatch():
    assert load_pair(RunConfig(dataset="moons", n_samples=50)).name == "moons"
    assert load_pair(RunConfig.for_dataset("digits")).name == "digits"


@pytest.mark.parametrize("rotation", [0.0, 35.0])
def test_moons_cached(rotation):
    assert moons(100, 0.1, rotation, 0) is moons(100, 0.1, rotation, 0)


def test_blobs_target_is_the_source_scaled_and_shifted():
    from dann_demo.datasets.blobs import BLOB_CENTRES, blobs

    pair = blobs(n_samples=4000, shift=2.0, angle=90.0, scale=1.5, seed=0)
    _check_pair(pair, 3)
    assert pair.input_shape == (2,) and len(pair.source_x) == 4000
    # Per class: the target's centre is the source's times `scale`, moved `shift` straight up (90 degrees),
    # and its spread is `scale` times the source's.
    for c in range(3):
        s, t = pair.source_x[pair.source_y == c], pair.target_x[pair.target_y == c]
        np.testing.assert_allclose(s.mean(0), BLOB_CENTRES[c], atol=0.05)
        np.testing.assert_allclose(t.mean(0), BLOB_CENTRES[c] * 1.5 + [0.0, 2.0], atol=0.07)
        np.testing.assert_allclose(t.std(0) / s.std(0), 1.5, rtol=0.1)
    # Unequal class sizes (so the domain alignment cannot swap classes), the same in both domains.
    counts = np.bincount(pair.source_y) / len(pair.source_y)
    assert counts[0] > counts[1] > counts[2]
    np.testing.assert_allclose(np.bincount(pair.target_y) / len(pair.target_y), counts, atol=0.03)


def test_blobs_without_shift_or_scale_is_one_distribution_and_cached():
    from dann_demo.datasets.blobs import blobs

    pair = blobs(n_samples=3000, shift=0.0, angle=0.0, scale=1.0, seed=1)
    np.testing.assert_allclose(pair.source_x.mean(0), pair.target_x.mean(0), atol=0.06)
    np.testing.assert_allclose(pair.source_x.std(0), pair.target_x.std(0), rtol=0.05)
    assert blobs(300, 2.0, 90.0, 1.5, 0) is blobs(300, 2.0, 90.0, 1.5, 0)
    config = RunConfig.for_dataset("blobs", blob_shift=1.0, n_samples=100)
    assert load_pair(config).name == "blobs" and load_pair(config) is load_pair(config)


@pytest.mark.parametrize(("field", "value"), [("blob_shift", -1.0), ("blob_scale", 0.0), ("blob_angle", 400.0)])
def test_blobs_settings_are_validated(field, value):
    from dann_demo import ConfigError

    with pytest.raises(ConfigError, match=f"{field}="):
        RunConfig.for_dataset("blobs", **{field: value})


def test_digits_levers_standardise_each_domain_and_pad_the_convolutions():
    """Two levers of scripts/digits_levers.py (off by default): each domain standardised with its own
    training statistics, and padded convolutions that keep 4x4 positions (768 features) at 16x16."""
    import torch

    from dann_demo.method.models import mnist_feature_extractor

    pooled, own = digits(0), digits(0, per_domain=True)
    for p in (own.source_x, own.target_x):
        np.testing.assert_allclose(p.mean(axis=(0, 2, 3)), 0, atol=1e-4)
        np.testing.assert_allclose(p.std(axis=(0, 2, 3)), 1, atol=1e-3)
    assert abs(pooled.source_x.mean()) > 0.05  # pooled statistics leave each domain off centre
    x = torch.zeros(1, 3, DIGITS_IMAGE_SIZE, DIGITS_IMAGE_SIZE)
    assert mnist_feature_extractor(3, DIGITS_IMAGE_SIZE)(x).shape[1] == 192
    assert mnist_feature_extractor(3, DIGITS_IMAGE_SIZE, padded=True)(x).shape[1] == 768
