"""The ensemble trains K runs at once; each member must compute what its config computes alone."""

import math

import pytest
import torch

from dann_demo import RunConfig, Trainer
from dann_demo.experiments.sweep import run_sweep
from dann_demo.method.batching import ensemble_pays, group_key
from dann_demo.method.ensemble import EnsembleTrainer

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


def _members(base: RunConfig) -> list[RunConfig]:
    """Different seeds, modes, constant lambdas and paper schedules with their own ceilings."""
    return [
        base.replace(seed=0, lambda_schedule="constant", lambda_value=0.3),
        base.replace(seed=1, lambda_schedule="paper", lambda_value=2.0, gamma=5.0),
        base.replace(seed=2, mode="source_only"),
        base.replace(seed=0, mode="target_oracle"),
        base.replace(seed=3, mode="no_reversal", lambda_schedule="constant", lambda_value=1.0),
    ]


def _assert_member_matches_alone(member, alone, atol: float) -> None:
    for k, v in alone.state_dict.items():
        torch.testing.assert_close(member.state_dict[k].contiguous(), v.contiguous(), rtol=1e-4, atol=atol, msg=k)
    assert [r.step for r in member.history] == [r.step for r in alone.history]
    for a, b in zip(member.history[1:], alone.history[1:], strict=True):
        assert math.isclose(a.label_loss, b.label_loss, rel_tol=1e-4, abs_tol=1e-5)
        assert math.isclose(a.domain_loss, b.domain_loss, rel_tol=1e-4, abs_tol=1e-5)
        assert a.lambda_ == b.lambda_ and a.lr == b.lr


def test_each_moons_member_matches_its_config_trained_alone():
    base = RunConfig.for_dataset("moons", steps=120, log_every=40, n_samples=150, batch_size=16)
    configs = _members(base)
    results = EnsembleTrainer(configs).run()
    for config, member in zip(configs, results, strict=True):
        alone = Trainer(config).run()
        _assert_member_matches_alone(member, alone, atol=1e-5)
        assert member.metrics["ensemble_size"] == len(configs)
        assert member.metrics["target_acc"] == pytest.approx(alone.metrics["target_acc"], abs=0.005)
        assert set(member.snapshots) == {0, 120}
    # Not a vacuous comparison: the members did learn different things.
    assert not torch.equal(
        results[0].state_dict["label_classifier.weight"], results[1].state_dict["label_classifier.weight"]
    )


def test_each_digits_member_matches_alone_through_grouped_convolutions():
    base = RunConfig.for_dataset("digits", steps=6, log_every=3, batch_size=8, lr=0.05)
    configs = [
        base.replace(seed=0, lambda_schedule="constant", lambda_value=1.0),
        base.replace(seed=1, mode="target_oracle"),
        base.replace(seed=0, lambda_value=3.0),
    ]
    results = EnsembleTrainer(configs).run()
    for config, member in zip(configs, results, strict=True):
        alone = Trainer(config, channels_last=False).run()
        _assert_member_matches_alone(member, alone, atol=2e-5)
        first = Trainer(config).model.state_dict()["feature_extractor.0.weight"]
        assert not torch.allclose(member.state_dict["feature_extractor.0.weight"], first)  # it trained


def test_a_diverging_member_leaves_the_others_alone():
    base = RunConfig.for_dataset("moons", steps=60, log_every=20, n_samples=100, lambda_schedule="constant")
    configs = [base.replace(seed=0), base.replace(seed=1)]
    ensemble = EnsembleTrainer(configs)
    ensemble._source_x[1, :] = float("nan")  # member 1's data only
    outcomes = ensemble.run()
    assert set(ensemble.failed) == {1} and "non-finite loss at step 1" in str(outcomes[1])
    alone = Trainer(configs[0]).run()
    _assert_member_matches_alone(outcomes[0], alone, atol=1e-5)


def test_only_lambda_seed_and_mode_may_differ():
    base = RunConfig.for_dataset("moons", steps=10)
    assert group_key(base.replace(seed=4, lambda_value=3.0, mode="source_only")) == group_key(base)
    with pytest.raises(ValueError, match="differ only in"):
        EnsembleTrainer([base, base.replace(lr=0.5)])


def test_ensemble_decision_per_device():
    assert ensemble_pays(RunConfig.for_dataset("moons", device="cpu"))
    assert not ensemble_pays(RunConfig.for_dataset("digits", device="cpu"))


def test_sweep_trains_together_or_one_by_one_with_the_same_numbers():
    base = RunConfig.for_dataset("moons", steps=100, log_every=50, n_samples=100)
    seen = {"on": [], "off": []}
    tables = {
        how: run_sweep(base, [0.1, "paper"], [0, 1], on_result=seen[how].append, references=True, ensemble=how)
        for how in seen
    }
    assert list(tables["on"]["trained_together"]) == [8] * 8 and list(tables["off"]["trained_together"]) == [1] * 8
    assert list(tables["on"]["mode"]) == ["dann"] * 4 + ["source_only"] * 2 + ["target_oracle"] * 2
    for a, b in zip(seen["on"], seen["off"], strict=True):
        assert a.config == b.config
        for k in b.state_dict:
            torch.testing.assert_close(a.state_dict[k], b.state_dict[k], rtol=1e-4, atol=1e-5)
    # The table's figures are the runs' own, in the runs' order, whichever way they trained.
    assert list(tables["on"]["target_acc"]) == [r.metrics["target_acc"] for r in seen["on"]]
    assert list(tables["off"]["target_acc"]) == [r.metrics["target_acc"] for r in seen["off"]]


def test_sweep_progress_and_stop():
    base = RunConfig.for_dataset("moons", steps=200, log_every=50, n_samples=100)
    fractions = []
    table = run_sweep(base, [0.1, 1.0], [0], on_progress=fractions.append)
    assert fractions == sorted(fractions) and fractions[-1] == 1.0 and len(table) == 2
    stopped = run_sweep(base, [0.1, 1.0], [0], should_stop=lambda: True)
    assert stopped.empty


@cuda
def test_cuda_graph_ensemble_matches_eager():
    base = RunConfig.for_dataset("digits", steps=12, log_every=4, batch_size=16, device="cuda")
    configs = [base.replace(seed=0, lambda_value=0.5), base.replace(seed=1, mode="source_only")]
    graph = EnsembleTrainer(configs, step_mode="graph")
    graphed = graph.run()
    eager = EnsembleTrainer(configs, step_mode="tensor").run()
    assert graph.step_mode == "graph", graph.notice
    for a, b in zip(graphed, eager, strict=True):
        for k in b.state_dict:
            torch.testing.assert_close(a.state_dict[k], b.state_dict[k], rtol=1e-4, atol=1e-5)


def _moons_members() -> list[RunConfig]:
    base = RunConfig.for_dataset("moons", steps=120, log_every=40, n_samples=150, batch_size=16)
    return [
        base.replace(seed=0, lambda_schedule="constant", lambda_value=0.3),
        base.replace(seed=1, rotation=60.0, noise=0.1),  # data settings of its own: drawn from its seed anyway
        base.replace(seed=2, mode="source_only"),
    ]


def test_one_member_steered_and_one_stopped_match_their_runs_alone():
    configs = _moons_members()

    def steer(ensemble: EnsembleTrainer) -> None:
        if ensemble.step == 50:
            ensemble.set_member_lambda(0, 2.0)
        if ensemble.step == 70:
            ensemble.stop_member(1)

    ensemble = EnsembleTrainer(configs)
    results = ensemble.run(between_steps=steer)

    steered = Trainer(configs[0])
    alone_0 = steered.run(should_stop=lambda: steered.step == 50 and steered.set_lambda(2.0) or False)
    stopped = Trainer(configs[1])
    alone_1 = stopped.run(should_stop=lambda: stopped.step >= 70)
    alone_2 = Trainer(configs[2]).run()
    for member, alone in zip(results, (alone_0, alone_1, alone_2), strict=True):
        # Batched and single matmuls round differently; 70 steps at lambda 2 grow that to about 3e-5.
        _assert_member_matches_alone(member, alone, atol=1e-4)
        assert member.lambda_changes == alone.lambda_changes and member.metrics["stopped"] == alone.metrics["stopped"]
    assert results[0].lambda_changes == [(50, 2.0)] and results[0].history[-1].lambda_ == 2.0
    assert results[1].metrics["steps"] == 70 and results[1].history[-1].step == 70
    # The stopped member left: its rows are gone and the others trained on without it.
    assert ensemble.k == 0 and ensemble.own_step(1) == 70 and ensemble.own_step(0) == 120
    assert ensemble.finished.keys() == {0, 2} and ensemble.stopped.keys() == {1}


def test_members_that_join_a_running_ensemble_match_their_runs_alone():
    """Continuous batching: runs join at the steps where the others record, each with its own step
    counter (lambda schedule, learning rate, records, snapshots), one steered and one stopped after
    joining; members leave as they end."""
    first, joiner, late = _moons_members()
    joined: dict[int, int] = {}  # member -> the ensemble step it joined at
    refused: list[int] = []
    ended: list[tuple[int, int]] = []  # (member, ensemble step)

    def between(e: EnsembleTrainer) -> None:
        if e.step == 30:  # not a log step of member 0 (log_every 40): a run must wait
            with pytest.raises(ValueError, match="admits_now"):
                e.add_member(joiner)
            refused.append(e.step)
        if e.step == 40:
            assert e.admits_now
            joined[e.add_member(joiner)] = e.step
        if e.step == 80:
            joined[e.add_member(late)] = e.step
            joined[e.add_member(first.replace(seed=7))] = e.step
        if e.step == 80 + 60:  # member 2 (late) at its step 60 takes lambda 2
            e.set_member_lambda(2, 2.0)
        if e.step == 80 + 90:  # member 3 stops at its step 90
            e.stop_member(3)

    ensemble = EnsembleTrainer([first])
    results = ensemble.run(between_steps=between, on_end=lambda i, outcome: ended.append((i, ensemble.step)))
    assert refused == [30] and joined == {1: 40, 2: 80, 3: 80}
    # Each ended at its own last step; the stopped one is the caller's to report.
    assert ended == [(0, 120), (1, 160), (2, 200)]

    steered = Trainer(late)
    alone_2 = steered.run(should_stop=lambda: steered.step == 60 and steered.set_lambda(2.0) or False)
    stopped = Trainer(first.replace(seed=7))
    alone_3 = stopped.run(should_stop=lambda: stopped.step >= 90)
    for member, alone in zip(results, (Trainer(first).run(), Trainer(joiner).run(), alone_2, alone_3), strict=True):
        _assert_member_matches_alone(member, alone, atol=1e-4)
        assert member.lambda_changes == alone.lambda_changes and member.metrics["stopped"] == alone.metrics["stopped"]
        assert set(member.snapshots) == set(alone.snapshots)
    assert results[2].lambda_changes == [(60, 2.0)] and results[3].history[-1].step == 90
    # How many trained together: the most rows a member shared (member 0 was at its step 80 when two joined).
    assert [r.metrics["ensemble_size"] for r in results] == [4, 4, 4, 4]
    # Seconds count from each member's own start.
    assert results[2].history[0].seconds == 0.0 and results[2].metrics["seconds"] < ensemble.seconds


def test_a_member_handed_out_mid_run_trains_on_like_the_member():
    configs = _moons_members()
    handed: list[Trainer] = []
    ensemble = EnsembleTrainer(configs)
    assert ensemble._chunks is not None  # on the CPU the indices come in chunks: the hand-out must replay its generator
    results = ensemble.run(between_steps=lambda e: handed.append(e.member_trainer(0)) if e.step == 50 else None)
    assert handed[0].step == 50
    continued = handed[0].run()
    _assert_member_matches_alone(continued, results[0], atol=1e-5)


def test_members_may_differ_in_data_settings_only_where_they_draw_their_own_data():
    moons = RunConfig.for_dataset("moons")
    assert group_key(moons.replace(rotation=70.0, noise=0.2)) == group_key(moons)
    assert group_key(moons.replace(n_samples=300)) != group_key(moons)  # data of another size cannot stack
    blobs = RunConfig.for_dataset("blobs")
    assert group_key(blobs.replace(blob_shift=3.0, blob_angle=0.0, blob_scale=1.0)) == group_key(blobs)
    assert group_key(moons.replace(steps=100)) != group_key(moons) and group_key(moons.replace(lr=0.2)) != group_key(
        moons
    )
