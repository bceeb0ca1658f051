"""Class batching: the job manager trains queued runs that can train together as one ensemble, and each
member stays its own run (its lambda, its Stop, cancel on leaving, its result)."""

import time

import pytest
import torch

from dann_demo import RunConfig, Trainer
from dann_demo.jobs import FINISHED, QUEUED, RUNNING, STOPPED, Job, JobManager
from dann_demo.jobs import trainers as trainers_module
from tests.waiting import wait_done as _wait
from tests.waiting import wait_until


def _batch_log(manager, seconds=60) -> list[dict]:
    """The manager's batch log once its workers are done: a batch logs itself after its runs have ended."""
    wait_until(manager.idle, seconds, "the manager's workers to be idle", poll=0.02)
    return manager.queue.batch_log


def _calm_moons(steps: int) -> RunConfig:
    """A calm game, for comparing batch members with their runs alone to 1e-5. Batched and single matmuls
    round differently (1e-8 at first); moons' default lr 0.1 with a constant lambda amplifies that
    chaotically (the losses part in the 3rd digit within 200 steps, from weights 6e-8 apart), and so does
    moons' lr decay alpha 10 on some seeds (seed 61 ends 5e-4 from its run alone even in a batch nobody
    joins, seed 62 within 1e-7). lr 0.02 with the mild decay alpha 1 keeps the members within 1e-6."""
    return RunConfig.for_dataset(
        "moons", steps=steps, log_every=10, n_samples=150, lambda_schedule="constant", lr=0.02, lr_alpha=1.0
    )


def _close(a: dict, b: dict, atol: float = 1e-4) -> None:
    for k, v in b.items():
        torch.testing.assert_close(a[k], v, rtol=1e-4, atol=atol, msg=k)


def test_queued_runs_that_can_train_together_form_one_batch_and_the_rest_split():
    manager = JobManager(max_concurrent=1, batch_window=0.5)
    base = RunConfig.for_dataset("moons", steps=80, log_every=40, n_samples=120)
    # A class: different seeds, lambdas, modes and a rotation: one batch.
    together = [
        base.replace(seed=1),
        base.replace(seed=2, lambda_schedule="constant", lambda_value=0.3),
        base.replace(seed=3, mode="source_only"),
        base.replace(seed=4, mode="no_reversal"),
        base.replace(seed=5, rotation=70.0),
    ]
    apart = [
        base.replace(seed=6, n_samples=200),  # other data sizes cannot stack
        RunConfig.for_dataset("digits", steps=4, log_every=2, seed=7),  # images on the CPU train alone
    ]
    jobs = [manager.submit(c) for c in together + apart]
    for job in jobs:
        _wait(job)
    assert [j.batch_size for j in jobs] == [5, 5, 5, 5, 5, 1, 1]
    assert all(j.status == FINISHED for j in jobs)
    assert [b["size"] for b in _batch_log(manager)] == [5]
    # Each member's result is its own config trained alone.
    for job in jobs[:5]:
        alone = Trainer(job.config).run()
        _close(job.result.state_dict, alone.state_dict)
        assert job.result.metrics["ensemble_size"] == 5
        assert manager.store.cached_result(job.config.stable_hash()) is job.result


def test_a_batch_takes_at_most_max_batch_runs():
    manager = JobManager(max_concurrent=1, max_batch=3, batch_window=0.5)
    base = RunConfig.for_dataset("moons", steps=40, log_every=20, n_samples=100)
    jobs = [manager.submit(base.replace(seed=10 + i)) for i in range(5)]
    for job in jobs:
        _wait(job)
    assert sorted(j.batch_size for j in jobs) == [2, 2, 3, 3, 3]
    assert sorted(b["size"] for b in _batch_log(manager)) == [2, 3]


def test_each_member_has_its_own_lambda_stop_and_cancel_on_leaving(monkeypatch):
    monkeypatch.setattr(trainers_module, "LEAVE_GRACE_SECONDS", 0.0)
    alive = {"steerer", "stopper", "leaver"}
    manager = JobManager(max_concurrent=1, batch_window=0.5, session_alive=alive.__contains__)
    base = _calm_moons(steps=200)
    steered = manager.submit(base.replace(seed=31), watcher="steerer")
    stopped = manager.submit(base.replace(seed=32), watcher="stopper")
    left = manager.submit(base.replace(seed=33), watcher="leaver")
    # On a busy machine the first run can start alone and the others join it at a log step, behind it.
    wait_until(lambda: min(steered.step, stopped.step) >= 30 or steered.done, what="step 30 of both")
    assert steered.batch_size == 3 and steered.status == RUNNING
    alive.discard("leaver")  # the third student closes the tab
    manager.set_lambda(steered, 0.3, watcher="steerer")  # only this member's lambda
    manager.stop(stopped, watcher="stopper")  # only this member stops; the batch goes on
    _wait(stopped)
    assert stopped.status == STOPPED and steered.status == RUNNING
    _wait(left)
    assert left.status == STOPPED and "left" in left.notice
    _wait(steered)
    assert steered.status == FINISHED and steered.result.metrics["steps"] == 200
    # The steered member: its lambda from the step it was moved at, as the same run alone would be.
    ((at, value),) = steered.result.lambda_changes
    assert value == 0.3 and steered.history[-1].lambda_ == 0.3
    trainer = Trainer(steered.config)
    alone = trainer.run(should_stop=lambda: trainer.step == at and trainer.set_lambda(0.3) or False)
    _close(steered.result.state_dict, alone.state_dict, atol=1e-5)
    assert manager.store.cached_result(steered.config.stable_hash()) is None  # a steered run is not its config's result
    # The stopped member: the same run alone, stopped at the same step.
    stop_at = stopped.result.metrics["steps"]
    assert 30 <= stop_at < 200
    trainer = Trainer(stopped.config)
    alone = trainer.run(should_stop=lambda: trainer.step >= stop_at)
    _close(stopped.result.state_dict, alone.state_dict, atol=1e-5)


def test_steering_a_shared_member_forks_a_copy_that_trains_on_alone():
    manager = JobManager(max_concurrent=1, batch_window=0.5)
    base = _calm_moons(steps=200)
    shared = manager.submit(base.replace(seed=41), watcher="a")
    assert manager.submit(base.replace(seed=41), watcher="b") is shared  # the same settings: one run
    other = manager.submit(base.replace(seed=42), watcher="c")
    wait_until(lambda: shared.step >= 30 or shared.done, what="step 30")
    assert shared.batch_size == 2
    fork = manager.set_lambda(shared, 0.3, watcher="b")
    assert fork is not shared and "b" not in shared.watchers
    for job in (shared, other, fork):
        _wait(job)
    assert fork.batch_size == 1 and fork.result.lambda_changes[0][1] == 0.3
    assert not shared.result.lambda_changes  # the others' run is untouched
    _close(shared.result.state_dict, Trainer(shared.config).run().state_dict, atol=1e-5)
    at = fork.result.lambda_changes[0][0]
    trainer = Trainer(fork.config)
    alone = trainer.run(should_stop=lambda: trainer.step == at and trainer.set_lambda(0.3) or False)
    _close(fork.result.state_dict, alone.state_dict, atol=1e-5)


def test_a_jobs_figures_are_built_once_per_record():
    from pages.pace import job_figures

    job = Job(RunConfig())
    built = []
    build = lambda: built.append(1) or {"figure": len(built)}  # noqa: E731
    first = job_figures(job, 3, build)
    assert job_figures(job, 3, build) is first and len(built) == 1  # a second session, or a redraw, reuses it
    assert job_figures(job, 4, build) is not first and len(built) == 2


def test_a_running_jobs_figures_change_at_most_every_few_seconds_and_not_just_before_the_end(monkeypatch):
    """A browser draws a changed chart anew (about a second for the Train page's six under load), an
    unchanged one next to free: while a job runs its figures are rebuilt at most every `every` seconds,
    and not when it is due to end sooner than that; its end rebuilds them at once."""
    from pages.pace import job_figures

    job = Job(RunConfig.for_dataset("moons", steps=3000))
    job.status = RUNNING
    left = [float("inf")]
    monkeypatch.setattr(job, "seconds_left", lambda: left[0])
    built = []
    build = lambda: built.append(1) or len(built)  # noqa: E731
    every = 0.3
    assert job_figures(job, 1, build, every) == 1
    assert job_figures(job, 2, build, every) == 1  # new records, but too soon: the same figures
    time.sleep(every)
    assert job_figures(job, 3, build, every) == 2  # `every` since: rebuilt
    time.sleep(every)
    left[0] = every / 2
    assert job_figures(job, 4, build, every) == 2  # due to end sooner: kept for the end
    job.status = FINISHED
    assert job_figures(job, 5, build, every) == 3  # ended: the final figures at once
    assert job_figures(job, 5, build, every) == 3 and len(built) == 3


def test_a_sweep_stops_when_its_tab_closes(monkeypatch):
    monkeypatch.setattr(trainers_module, "LEAVE_GRACE_SECONDS", 0.0)
    manager = JobManager(max_concurrent=1, session_alive=lambda s: False)
    base = RunConfig.for_dataset("digits", steps=3000, seed=50)
    job = manager.submit_sweep(base, [0.1, 1.0], [0, 1], watcher="closed tab")
    _wait(job, 60)
    assert job.status == STOPPED


@pytest.mark.parametrize("dataset", ["digits"])
def test_images_on_the_cpu_never_batch(dataset):
    from dann_demo.method.batching import batch_group

    assert batch_group(RunConfig.for_dataset(dataset)) is None and batch_group(RunConfig.for_dataset("blobs"))


def test_a_run_joins_a_batch_under_way_even_with_a_worker_free():
    """Continuous batching: later runs join the training batch of their group at its next log step instead
    of waiting for it to end or starting a second batch on the free worker, and each member is still its
    config trained alone."""
    manager = JobManager(max_concurrent=2, batch_window=0.0)
    base = _calm_moons(steps=400)
    first = manager.submit(base.replace(seed=61))
    wait_until(lambda: first.step >= 50 or first.done, what="step 50")
    later = [manager.submit(base.replace(seed=62)), manager.submit(base.replace(seed=63, mode="source_only"))]
    wait_until(lambda: all(job.status != QUEUED for job in later), what="the later runs to start")
    assert not first.done and 50 <= first.step < 400  # they did not wait for it
    for job in (first, *later):
        _wait(job)
        assert job.status == FINISHED and job.batch_size == 3 and job.result.metrics["steps"] == 400
        _close(job.result.state_dict, Trainer(job.config).run().state_dict, atol=1e-5)
        assert [r.step for r in job.history][:2] == [0, 10]  # its own steps, from 0
    assert [(b["size"], b["most_at_once"]) for b in _batch_log(manager)] == [(3, 3)]


def test_a_free_worker_takes_a_run_no_batch_under_way_takes():
    """Another group (other data settings) or an image run does not wait for a moons batch: the free worker
    trains it beside the batch. A run left for a batch that ends first starts on a worker all the same."""
    manager = JobManager(max_concurrent=2, batch_window=0.0)
    base = RunConfig.for_dataset("moons", steps=300, log_every=10, n_samples=120)
    first = manager.submit(base.replace(seed=71, steps=3000))
    wait_until(lambda: first.step >= 50 or first.done, what="step 50")
    other_group = manager.submit(base.replace(seed=72, n_samples=130))
    wait_until(lambda: other_group.status != QUEUED, what="the other group's run to start")
    assert not first.done  # it trained beside the batch
    image = manager.submit(RunConfig.for_dataset("digits", steps=20, log_every=10, n_samples=60))
    for job in (first, other_group, image):
        _wait(job)
        assert job.status == FINISHED and job.batch_size == 1


def test_a_run_left_for_a_batch_that_ends_without_it_still_trains(monkeypatch):
    """A queued run waits for the batch of its group under way; should that batch end before a log step
    lets it in, the run starts on a worker instead of staying queued."""
    from dann_demo.method.ensemble import EnsembleTrainer

    monkeypatch.setattr(EnsembleTrainer, "admits_now", property(lambda self: False))  # it never lets one in
    manager = JobManager(max_concurrent=2, batch_window=0.0)
    base = RunConfig.for_dataset("moons", steps=200, log_every=10, n_samples=120)
    first = manager.submit(base.replace(seed=75))
    wait_until(lambda: first.step >= 20 or first.done, what="step 20")
    late = manager.submit(base.replace(seed=76))
    time.sleep(0.2)
    assert late.status == QUEUED or first.done  # left for the batch, not started beside it
    for job in (first, late):
        _wait(job, seconds=60)
        assert job.status == FINISHED and job.batch_size == 1


def test_a_run_that_others_may_join_starts_without_the_batch_window():
    """The window only waits for company a batch could not take later: a joinable run starts at once
    (a lone user's first click), with joining off it waits the window."""
    base = RunConfig.for_dataset("moons", steps=2000, log_every=10, n_samples=120)
    for join, waits in ((True, False), (False, True)):
        manager = JobManager(max_concurrent=1, batch_window=3.0, join_running=join)
        job = manager.submit(base.replace(seed=77))
        time.sleep(1.0)
        assert (job.status == QUEUED) is waits, join
        manager.stop(job)
        _wait(job)


def test_runs_that_come_while_a_batch_is_built_wait_for_it(monkeypatch):
    """A free worker does not start a second batch of a group whose first batch a worker is still
    building: the runs that came meanwhile join it."""
    from dann_demo.method import ensemble

    built = ensemble.EnsembleTrainer.__init__

    def slowly(self, *args, **kwargs):
        time.sleep(0.5)  # a batch that takes a while to build (data, models)
        built(self, *args, **kwargs)

    monkeypatch.setattr(ensemble.EnsembleTrainer, "__init__", slowly)
    manager = JobManager(max_concurrent=2, batch_window=0.0)
    base = RunConfig.for_dataset("moons", steps=200, log_every=10, n_samples=120)
    first = manager.submit(base.replace(seed=81))
    time.sleep(0.1)  # its worker is building the batch
    later = [manager.submit(base.replace(seed=82)), manager.submit(base.replace(seed=83))]
    for job in (first, *later):
        _wait(job, seconds=60)
        assert job.status == FINISHED and job.batch_size == 3
    assert [b["size"] for b in _batch_log(manager)] == [3]


def test_a_member_stopped_before_its_first_step_has_a_result():
    """Stop pressed as the batch starts (before any record): the result at step 0, as a Trainer's."""
    from dann_demo.method.ensemble import EnsembleTrainer

    config = RunConfig.for_dataset("moons", steps=200, log_every=10, n_samples=120, seed=84)
    result = EnsembleTrainer([config]).stop_member(0)
    assert result.metrics["stopped"] and result.metrics["steps"] == 0 and [r.step for r in result.history] == [0]
