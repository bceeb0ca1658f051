import pytest
import torch

from dann_demo import RunConfig
from dann_demo.jobs import FAILED, FINISHED, QUEUED, STOPPED, JobManager
from tests.waiting import wait_done as _wait
from tests.waiting import wait_until


@pytest.fixture
def manager():
    return JobManager(max_concurrent=1, cache_entries=4)


def test_finished_run_is_cached_and_shared(manager):
    config = RunConfig.for_dataset("moons", steps=100, n_samples=100, seed=21)
    job = manager.submit(config)
    _wait(job)
    assert job.status == FINISHED and job.result is not None and job.history[-1].step == 100
    again = manager.submit(config)
    assert again.from_cache and again.status == FINISHED and again.result is job.result


def test_queue_position_and_stop(manager):
    long = manager.submit(RunConfig.for_dataset("moons", steps=100_000, n_samples=100, seed=22))
    queued = manager.submit(RunConfig.for_dataset("moons", steps=100, n_samples=100, seed=23))
    wait_until(lambda: long.status != QUEUED, what="the long run to start")
    assert queued.status == QUEUED and manager.queue_position(queued) == 0
    manager.stop(long)
    _wait(long)
    assert long.status == STOPPED and long.result.metrics["stopped"]
    _wait(queued)
    assert queued.status == FINISHED
    # A stopped (incomplete) run is not the result of its config.
    assert manager.store.cached_result(long.config.stable_hash()) is None


def test_live_lambda_reaches_the_job_and_steered_run_is_not_cached(manager):
    config = RunConfig.for_dataset("moons", steps=3000, n_samples=100, seed=24, lambda_schedule="constant")
    job = manager.submit(config)
    wait_until(lambda: job.step > 0, what="a first record")
    manager.set_lambda(job, 4.0)
    _wait(job)
    assert job.result.lambda_changes and job.result.lambda_changes[0][1] == 4.0
    assert job.history[-1].lambda_ == 4.0
    assert manager.store.cached_result(config.stable_hash()) is None


def test_a_job_that_raises_is_reported_without_a_traceback(manager, monkeypatch):
    import dann_demo.jobs.runners as jobs
    import dann_demo.method.ensemble as ensemble

    class Broken:
        def __init__(self, *a, **k):
            raise ValueError("bad file")

    monkeypatch.setattr(jobs, "Trainer", Broken)  # a run trained alone
    monkeypatch.setattr(ensemble, "Recorder", Broken)  # a run in a batch (where others could join it)
    for runs in (manager, JobManager(max_concurrent=1, max_batch=1)):
        job = runs.submit(RunConfig.for_dataset("moons", steps=10, seed=25))
        _wait(job)
        assert job.status == FAILED and job.error == "The run failed: ValueError: bad file"
        assert "Traceback" not in job.error


def test_diverged_run_says_where(manager, monkeypatch):
    import dann_demo.jobs.runners as jobs
    from dann_demo.method.train import TrainingDiverged

    class Diverging:
        def __init__(self, config, *a, **k):
            raise TrainingDiverged(17, config)

    monkeypatch.setattr(jobs, "Trainer", Diverging)
    job = JobManager(max_concurrent=1, max_batch=1).submit(RunConfig.for_dataset("moons", steps=10, seed=26))
    _wait(job)
    assert job.status == FAILED and job.error.startswith("non-finite loss at step 17")


def test_old_finished_jobs_are_forgotten():
    from dann_demo.jobs import MemoryStore

    manager = JobManager(max_concurrent=1, store=MemoryStore(max_jobs=3))
    config = RunConfig.for_dataset("moons", steps=20, n_samples=50, seed=27)
    first = manager.submit(config)
    _wait(first)
    cached = [manager.submit(config) for _ in range(4)]  # finished at once, from the cache
    assert manager.get(first.id) is None and manager.get(cached[-1].id) is cached[-1]


def test_identical_runs_under_way_are_shared(manager):
    config = RunConfig.for_dataset("moons", steps=400, n_samples=100, seed=28)
    first = manager.submit(config, watcher="a")
    second = manager.submit(config, watcher="b")
    assert second is first and set(first.watchers) == {"a", "b"}
    _wait(first)
    assert manager.submit(config, watcher="c").from_cache


def test_stop_by_one_session_leaves_a_shared_run_to_the_others(manager):
    config = RunConfig.for_dataset("moons", steps=100_000, n_samples=100, seed=29)
    job = manager.submit(config, watcher="a")
    manager.submit(config, watcher="b")
    manager.stop(job, "a")
    assert not job.stop_requested and set(job.watchers) == {"b"}
    manager.stop(job, "b")
    _wait(job)
    assert job.status == STOPPED


def test_steering_a_shared_run_forks_a_copy_that_matches_training_alone():
    # Runs trained alone (a Trainer's copy; a batch member's copy: test_batching.py). At moons' lr 0.1 and
    # lambda 3 a batched matmul's different rounding would grow chaotically, so the comparison is exact here.
    manager = JobManager(max_concurrent=2, max_batch=1)
    config = RunConfig.for_dataset("moons", steps=600, n_samples=100, seed=30, lambda_schedule="constant", log_every=10)
    job = manager.submit(config, watcher="a")
    manager.submit(config, watcher="b")
    wait_until(lambda: job.step >= 100 or job.done, what="step 100")
    fork = manager.set_lambda(job, 3.0, watcher="b")
    assert fork is not job and set(fork.watchers) == {"b"} and set(job.watchers) == {"a"}
    _wait(job)
    _wait(fork)
    assert job.result.lambda_changes == [] and fork.status == FINISHED
    ((at, value),) = fork.result.lambda_changes
    assert value == 3.0 and 100 <= at < 600
    # The copy is the run "train alone, move lambda at step `at`": the same weights at the end.
    from dann_demo.method.train import Trainer

    alone = Trainer(config)
    while alone.step < at:
        alone.train_step()
    alone.set_lambda(3.0)
    result = alone.run()  # goes on from step `at` to config.steps
    for name, tensor in result.state_dict.items():
        assert torch.allclose(tensor, fork.result.state_dict[name], atol=1e-6), name


def test_a_run_whose_watchers_all_left_is_stopped():
    alive = {"a": True}
    manager = JobManager(max_concurrent=1, session_alive=lambda s: alive.get(s, False))
    job = manager.submit(RunConfig.for_dataset("moons", steps=100_000, n_samples=100, seed=31), watcher="a")
    wait_until(lambda: job.step >= 64 or job.done, what="step 64")
    assert not job.done
    alive["a"] = False
    job.watchers["a"] -= 60  # as if it left a minute ago
    _wait(job)
    assert job.status == STOPPED and "left" in job.notice


def test_runs_without_watchers_or_liveness_always_finish(manager):
    assert not manager.queue.abandoned(manager.submit(RunConfig.for_dataset("moons", steps=10, n_samples=50, seed=32)))


def test_sweep_job_runs_in_the_background_and_is_cached(manager):
    base = RunConfig.for_dataset("moons", steps=40, log_every=20, n_samples=60, seed=28)
    job = manager.submit_sweep(base, [0.0, 1.0], [3])
    assert manager.get(job.id) is job
    _wait(job, 300)
    assert job.status == FINISHED and job.fraction == 1.0 and job.error is None
    runs = job.runs
    assert list(runs["mode"]) == ["dann", "dann", "source_only", "target_oracle"]
    assert (runs["seed"] == 3).all()
    from dann_demo.experiments.sweep import sweep_config
    from dann_demo.method.train import Trainer

    alone = Trainer(sweep_config(base, 1.0, 3)).run()  # lambda 1, seed 3, trained by itself
    assert runs["target_acc"].iloc[1] == pytest.approx(alone.metrics["target_acc"], abs=0.005)
    again = manager.submit_sweep(base, [0.0, 1.0], [3])
    assert again.from_cache and again.runs is runs


def test_stopped_sweep_is_not_cached(manager):
    base = RunConfig.for_dataset("moons", steps=100_000, n_samples=100, seed=29)
    job = manager.submit_sweep(base, [0.1], [0])
    wait_until(lambda: job.fraction > 0 or job.done, what="the sweep to start")
    manager.stop(job)
    _wait(job)
    assert job.status == STOPPED and job.runs.empty
    assert manager.store.cached_sweep(job.key) is None


def test_a_sweep_stopped_while_it_waits_ends_at_once(manager):
    long = manager.submit(RunConfig.for_dataset("moons", steps=100_000, n_samples=100, seed=33))
    job = manager.submit_sweep(RunConfig.for_dataset("moons", steps=50, n_samples=60), [0.1], [0])
    wait_until(lambda: long.status != QUEUED, what="the long run to start")
    assert job.status == QUEUED
    manager.stop(job)
    assert job.status == STOPPED and job.runs is None and manager.queue_position(job) == 0
    manager.stop(long)
    _wait(long)


def test_a_trainer_notice_reaches_the_job(manager, monkeypatch):
    """Asking for a CUDA graph where there is no CUDA device trains eagerly and says so on the page."""
    import dann_demo.jobs.runners as jobs
    from dann_demo.method.train import Trainer

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    monkeypatch.setattr(jobs, "Trainer", lambda config: Trainer(config, step_mode="graph"))
    job = JobManager(max_concurrent=1, max_batch=1).submit(
        RunConfig.for_dataset("moons", steps=60, n_samples=100, seed=30, device="cpu")
    )
    _wait(job)
    assert job.status == FINISHED and "CUDA graphs need a CUDA device" in job.notice


def test_a_steered_copy_stopped_while_queued_lets_go_of_its_weights():
    """The copy waits with the run's weights behind the one trainer; stopped there, nothing keeps them."""
    manager = JobManager(max_concurrent=1, max_batch=1)
    run = manager.submit(RunConfig.for_dataset("moons", steps=100_000, n_samples=100, seed=33), watcher="a")
    manager.store.watch(run.id, "b")
    wait_until(lambda: run.step >= 10, what="step 10")
    copy = manager.set_lambda(run, 0.5, watcher="b")
    wait_until(lambda: manager.queue.held_trainers() == 1, what="the copy queued with the run's weights")
    manager.stop(copy, watcher="b")
    assert manager.queue.held_trainers() == 0 and manager.get(copy.id).status == STOPPED
    manager.close()
    _wait(run)
