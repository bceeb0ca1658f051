import dataclasses

import numpy as np
import pytest
import torch

from dann_demo import RunConfig, Trainer, TrainingDiverged, train
from dann_demo.datasets.moons import moons
from dann_demo.method.models import build_model
from dann_demo.method.train import history_frame


def test_same_seed_same_initial_weights_in_every_mode():
    states = [
        build_model(RunConfig(mode=m, seed=7), (2,), 2).state_dict()
        for m in ("source_only", "dann", "no_reversal", "target_oracle")
    ]
    for s in states[1:]:
        for k in states[0]:
            if k != "grl.lambda_":
                torch.testing.assert_close(s[k], states[0][k])


def _linear_widths(part: torch.nn.Module) -> list[int]:
    return [m.out_features for m in part if isinstance(m, torch.nn.Linear)]


def test_paper_mnist_architecture():
    """MNIST -> MNIST-M gets the paper's network: 768 features, label head 100-100-10, domain head 100-1."""
    model = build_model(RunConfig.for_dataset("mnist"), (3, 28, 28), 10)
    convs = [m for m in model.feature_extractor if isinstance(m, torch.nn.Conv2d)]
    assert [(c.out_channels, c.kernel_size) for c in convs] == [(32, (5, 5)), (48, (5, 5))]
    feats, logits, dom = model(torch.zeros(2, 3, 28, 28))
    assert feats.shape == (2, 768) and logits.shape == (2, 10) and dom.shape == (2,)
    assert _linear_widths(model.label_classifier) == [100, 100, 10]
    assert _linear_widths(model.domain_classifier) == [100, 1]


def test_digits_network_keeps_two_by_two_positions_and_a_wider_domain_classifier():
    """At 16x16 the second convolution is 3x3 (2x2 positions, 192 features; a 5x5 one would leave 1x1 and
    48), and the image defaults' domain classifier has two hidden layers of 256 (docs/defaults.md)."""
    model = build_model(RunConfig.for_dataset("digits"), (3, 16, 16), 10)
    convs = [m for m in model.feature_extractor if isinstance(m, torch.nn.Conv2d)]
    assert [(c.out_channels, c.kernel_size) for c in convs] == [(32, (5, 5)), (48, (3, 3))]
    feats, _, dom = model(torch.zeros(2, 3, 16, 16))
    assert feats.shape == (2, 192) and dom.shape == (2,)
    assert _linear_widths(model.domain_classifier) == [256, 256, 1]
    # The widths are settings: the table defaults keep one hidden layer of 32.
    moons = build_model(RunConfig.for_dataset("moons"), (2,), 2)
    assert _linear_widths(moons.domain_classifier) == [32, 1]


def test_determinism_on_cpu(quick_moons):
    a, b = train(quick_moons), train(quick_moons)
    for k in ("source_acc", "target_acc", "domain_acc", "label_loss", "domain_loss", "pad"):
        assert a.metrics[k] == b.metrics[k], k
    for k in a.state_dict:
        torch.testing.assert_close(a.state_dict[k], b.state_dict[k], rtol=0, atol=0)


def test_progress_records_and_snapshots(quick_moons):
    records, snaps = [], []
    config = quick_moons.replace(snapshot_steps=(100,))
    result = Trainer(config).run(on_progress=records.append, on_snapshot=snaps.append)
    assert [r.step for r in records] == list(range(0, 301, 50))
    assert {s.step for s in snaps} == {0, 100, 300} == set(result.snapshots)
    frame = history_frame(result.history)
    assert list(frame.columns[:9]) == [
        "step",
        "p",
        "lambda",
        "lr",
        "label_loss",
        "domain_loss",
        "domain_acc",
        "source_acc",
        "target_acc",
    ]
    assert frame["p"].iloc[-1] == 1.0
    # The paper schedule: lambda rises from 0.
    assert frame["lambda"].iloc[0] == 0.0 and frame["lambda"].iloc[-1] > 0.99
    snap = result.snapshots[300]
    assert snap.features.shape == (len(snap.domain), config.hidden_units)
    assert set(np.unique(snap.domain)) == {0, 1}


def test_target_labels_never_reach_the_training_loss(quick_moons):
    """Scrambling the target's training labels changes nothing unless the mode is target_oracle."""
    pair = moons(quick_moons.n_samples, quick_moons.noise, quick_moons.rotation, quick_moons.seed)
    scrambled = dataclasses.replace(pair, target_y=np.random.RandomState(0).permutation(pair.target_y) * 0 + 1)
    for mode in ("source_only", "dann", "no_reversal"):
        c = quick_moons.replace(mode=mode)
        a, b = Trainer(c, pair).run(), Trainer(c, scrambled).run()
        for k in a.state_dict:
            torch.testing.assert_close(a.state_dict[k], b.state_dict[k], rtol=0, atol=0)
    c = quick_moons.replace(mode="target_oracle")
    a, b = Trainer(c, pair).run(), Trainer(c, scrambled).run()
    assert any(not torch.equal(a.state_dict[k], b.state_dict[k]) for k in a.state_dict)


def test_short_dann_run_beats_source_only_on_moons():
    base = RunConfig.for_dataset("moons", steps=1500, n_samples=300, seed=0)
    src = train(base.replace(mode="source_only")).metrics
    dann = train(base.replace(mode="dann")).metrics
    assert dann["target_acc"] > src["target_acc"] + 0.1, (src, dann)
    assert dann["source_acc"] > 0.9
    # The domain classifier is fooled with DANN, not without it.
    assert dann["domain_acc"] < src["domain_acc"]


def test_live_lambda_change_reaches_the_next_step(quick_moons):
    t = Trainer(quick_moons.replace(lambda_schedule="constant", lambda_value=0.5))
    t.train_step()
    assert t.model.grl.lambda_.item() == 0.5
    t.set_lambda(2.0)
    t.train_step()
    assert t.model.grl.lambda_.item() == 2.0
    assert t.lambda_changes == [(1, 2.0)]


def test_stop_between_steps(quick_moons):
    t = Trainer(quick_moons)
    result = t.run(should_stop=lambda: t.step >= 120)
    assert result.metrics["stopped"] is True and result.metrics["steps"] == 120
    assert result.history[-1].step == 120


def test_divergence_is_reported_with_the_step(quick_moons):
    pair = moons(quick_moons.n_samples, quick_moons.noise, quick_moons.rotation, quick_moons.seed)
    # One poisoned source point: the loss turns NaN the first time a batch draws it.
    x = pair.source_x.copy()
    x[3] = np.nan
    poisoned = dataclasses.replace(pair, source_x=x)
    trainer = Trainer(quick_moons, poisoned)
    with pytest.raises(TrainingDiverged, match=r"non-finite loss at step \d+") as err:
        trainer.run()
    # The reported step is the first one whose batch held the poisoned point: replay the sampling.
    g = torch.Generator().manual_seed(quick_moons.seed)
    b, first = quick_moons.batch_size, None
    for step in range(1, quick_moons.steps + 1):
        i_src = torch.randint(len(x), (b,), generator=g)
        torch.randint(len(x), (b,), generator=g)
        if (i_src == 3).any():
            first = step
            break
    assert err.value.step == first


def test_pad_is_the_linear_svm_distance_of_the_final_features(quick_moons):
    from dann_demo.method.metrics import proxy_a_distance

    result = train(quick_moons)
    snap = result.snapshots[quick_moons.steps]
    expected = proxy_a_distance(snap.features[snap.domain == 0], snap.features[snap.domain == 1], quick_moons.seed)
    assert result.metrics["pad"] == expected
    # Features that carry the domain outright (the domain label appended) read near 2.
    marked = np.hstack([snap.features, snap.domain[:, None].astype(np.float32)])
    assert proxy_a_distance(marked[snap.domain == 0], marked[snap.domain == 1]) > 1.9


cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


def _train_steps(trainer: Trainer, steps: int, lambda_at_step: dict[int, float] | None = None) -> Trainer:
    for _ in range(steps):
        if lambda_at_step and trainer.step in lambda_at_step:
            trainer.set_lambda(lambda_at_step[trainer.step])
        trainer.train_step()
        if trainer.step % trainer.config.log_every == 0:
            trainer.record()
    return trainer


def test_fast_path_computes_what_the_plain_path_computes(quick_moons):
    """Device tensors for lr and lambda, updated in place, and a device-side loss window: same weights,
    same curves, bit for bit, on the CPU; a live lambda change reaches both."""
    config = quick_moons.replace(log_every=10, lambda_schedule="constant")
    plain = _train_steps(Trainer(config, step_mode="plain"), 45, {20: 2.5})
    fast = _train_steps(Trainer(config, step_mode="tensor"), 45, {20: 2.5})
    assert fast.step_mode == "tensor" and isinstance(fast.optimizer.param_groups[0]["lr"], torch.Tensor)
    for k, v in plain.model.state_dict().items():
        torch.testing.assert_close(fast.model.state_dict()[k], v, rtol=0, atol=0, msg=k)
    assert [(r.label_loss, r.domain_loss, r.lambda_) for r in fast.history] == [
        (r.label_loss, r.domain_loss, r.lambda_) for r in plain.history
    ]
    assert fast.model.grl.lambda_.item() == 2.5 and fast.lambda_changes == [(20, 2.5)]


def test_channels_last_images_compute_the_same_model():
    config = RunConfig.for_dataset("digits", steps=8, log_every=4, batch_size=8, lr=0.05)
    nchw = _train_steps(Trainer(config, channels_last=False), 8)
    nhwc = _train_steps(Trainer(config, channels_last=True), 8)
    assert nhwc.model.feature_extractor[0].weight.is_contiguous(memory_format=torch.channels_last)
    for k, v in nchw.model.state_dict().items():
        torch.testing.assert_close(nhwc.model.state_dict()[k], v, rtol=1e-4, atol=1e-5, msg=k)
    for a, b in zip(nchw.history, nhwc.history, strict=True):
        assert a.label_loss == pytest.approx(b.label_loss, rel=1e-4)


def test_graph_mode_without_cuda_trains_eagerly_and_says_so(quick_moons):
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    t = Trainer(quick_moons.replace(device="cpu"), step_mode="graph")
    assert t.step_mode == "tensor" and "CUDA graphs need a CUDA device" in t.notice
    t.train_step()
    assert t.step == 1


@cuda
@pytest.mark.parametrize("dataset", ["moons", "digits"])
def test_cuda_graph_computes_what_eager_computes(dataset):
    config = RunConfig.for_dataset(dataset, steps=40, log_every=10, batch_size=16, device="cuda")
    eager = _train_steps(Trainer(config, step_mode="tensor"), 30, {15: 0.7})
    graph = _train_steps(Trainer(config, step_mode="graph"), 30, {15: 0.7})
    assert graph.step_mode == "graph" and graph._graphed.graph is not None, graph.notice
    for k, v in eager.model.state_dict().items():
        torch.testing.assert_close(graph.model.state_dict()[k], v, rtol=1e-4, atol=1e-5, msg=k)
    for a, b in zip(eager.history, graph.history, strict=True):
        assert a.label_loss == pytest.approx(b.label_loss, rel=1e-4, abs=1e-6)
    assert graph.model.grl.lambda_.item() == pytest.approx(0.7)


@cuda
def test_a_step_that_cannot_be_captured_falls_back_to_eager():
    """In a fresh process: a failed capture may leave CUDA in a state other tests should not inherit."""
    import subprocess
    import sys

    script = """
import torch
from dann_demo.method.fast_step import GraphedStep
x = torch.zeros(1, device="cuda")
def step():
    x.add_(1).item()  # .item() waits for the GPU: not allowed while capturing
graphed = GraphedStep(step, [], torch.device("cuda"))
for _ in range(6):
    graphed()
assert graphed.failed and "Could not capture" in graphed.notice, graphed.notice
assert x.item() == 6, x.item()
"""
    from tests.conftest import ROOT

    proc = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr


def test_the_domain_loss_is_the_papers_source_mean_plus_target_mean():
    """One DANN step, computed by hand on a small batch: label loss + (source mean + target mean) of
    the domain classifier's cross-entropy, one SGD step; the Trainer's weights after its first step
    must be those."""
    import copy
    import math

    config = RunConfig.for_dataset("moons", steps=10, batch_size=4, n_samples=40, lambda_schedule="constant")
    trainer = Trainer(config)
    model = copy.deepcopy(trainer.model)
    g = torch.Generator().manual_seed(config.seed)  # the draws the Trainer's first step makes
    i_src = torch.randint(len(trainer.pair.source_x), (4,), generator=g)
    i_tgt = torch.randint(len(trainer.pair.target_x), (4,), generator=g)
    x = torch.cat([torch.as_tensor(trainer.pair.source_x[i_src]), torch.as_tensor(trainer.pair.target_x[i_tgt])])
    model.grl.set_lambda(config.lambda_value)
    _, class_logits, domain_logits = model(x)
    label_loss = torch.nn.functional.cross_entropy(class_logits[:4], torch.as_tensor(trainer.pair.source_y[i_src]))
    q = torch.sigmoid(domain_logits)  # P(target)
    source_mean = -torch.log(1 - q[:4]).mean()
    target_mean = -torch.log(q[4:]).mean()
    (label_loss + source_mean + target_mean).backward()
    with torch.no_grad():
        for p in model.parameters():
            p -= config.lr * p.grad  # the first SGD step: the momentum buffer is the gradient itself
    trainer.train_step()
    for (name, mine), theirs in zip(model.named_parameters(), trainer.model.parameters(), strict=True):
        torch.testing.assert_close(mine, theirs, rtol=1e-5, atol=1e-6, msg=name)
    # The curve shows the mean per example: half the objective's domain term.
    recorded = trainer._window[0, 1].item()
    assert math.isclose(recorded, (source_mean + target_mean).item() / 2, rel_tol=1e-5)


def test_lambda_zero_trains_exactly_what_source_only_trains(quick_moons):
    zero = train(quick_moons.replace(mode="dann", lambda_schedule="constant", lambda_value=0.0))
    source_only = train(quick_moons.replace(mode="source_only"))
    for k, v in source_only.state_dict.items():
        if k != "grl.lambda_":
            assert torch.equal(zero.state_dict[k], v), k
    assert zero.metrics["target_acc"] == source_only.metrics["target_acc"]


def test_the_optimiser_learning_rate_follows_lr_p(quick_moons):
    """Read from the optimiser itself: lr_p = 0.1 / (1 + 10 p)^0.75 (moons: mu0 0.1, the paper's alpha 10), by
    hand."""
    trainer = Trainer(quick_moons.replace(steps=4))
    seen = []
    for _ in range(4):
        trainer.train_step()
        seen.append(trainer.optimizer.param_groups[0]["lr"])
    assert seen == pytest.approx([0.1, 0.0390795, 0.0260847, 0.0200880], abs=1e-7)
