"""Faults and bad input: extreme settings, runaway losses, a full GPU, a job that raises. Each ends
in a message for the user, and the job manager (so the app) keeps working."""

import time

import pytest
import torch

from dann_demo.config import LIMITS, ConfigError, RunConfig
from dann_demo.jobs import FAILED, FINISHED, JobManager
from dann_demo.method.results import ProgressRecord
from dann_demo.method.train import exploding_loss_note


def _wait(job, seconds=300):
    deadline = time.time() + seconds
    while not job.done and time.time() < deadline:
        time.sleep(0.02)
    assert job.done, job.status


def test_steps_at_their_limits():
    lo, hi = LIMITS["steps"]
    assert RunConfig(steps=lo).steps == 1 and RunConfig(steps=hi).steps == 100_000
    for bad in (0, hi + 1):
        with pytest.raises(ConfigError, match=rf"steps={bad} is not allowed: a whole number from 1 to 100000"):
            RunConfig(steps=bad)
    with pytest.raises(ConfigError, match="lambda_value=10.5 is not allowed: a number from 0 to 10"):
        RunConfig(lambda_value=10.5)


def test_extreme_settings_end_in_a_result_or_a_message():
    manager = JobManager(max_concurrent=1)
    extreme = [
        RunConfig.for_dataset("moons", steps=200, n_samples=60, lambda_schedule="constant", lambda_value=10.0),
        RunConfig.for_dataset("moons", steps=300, n_samples=100, lr=10.0, momentum=0.999),
        RunConfig.for_dataset("moons", steps=1, n_samples=20, batch_size=1024),
    ]
    done = []
    for config in extreme:
        job = manager.submit(config)
        _wait(job)
        assert job.status == FINISHED or (job.status == FAILED and "non-finite loss at step" in job.error)
        done.append(job)
    # lr 10 with momentum 0.999 runs away: the user is told why the accuracies are poor.
    assert done[1].notice and "learning rate" in done[1].notice
    # And the manager still trains a sane run afterwards.
    ok = manager.submit(RunConfig.for_dataset("moons", steps=50, n_samples=60, seed=3))
    _wait(ok)
    assert ok.status == FINISHED


def test_exploding_loss_note():
    def rec(step, loss):
        return ProgressRecord(step, 0, 0, 0, loss, 0.7, 0.5, 0.5, 0.5, 0)

    assert exploding_loss_note([rec(0, float("nan")), rec(50, 0.3)]) is None
    assert "ended at 1.22e+03" in exploding_loss_note([rec(0, float("nan")), rec(50, 156.0), rec(100, 1217.0)])


def test_out_of_gpu_memory_falls_back_to_the_cpu(monkeypatch):
    import dann_demo.jobs.runners as jobs

    real = jobs.Trainer
    tried = []

    def trainer(config, *a, **k):
        tried.append(config.device)
        if config.device != "cpu":
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return real(config, *a, **k)

    monkeypatch.setattr(jobs, "Trainer", trainer)
    # A run trained alone, as a lone run on CUDA is (a CUDA-graph ensemble could not take members).
    manager = JobManager(max_concurrent=1, max_batch=1)
    job = manager.submit(RunConfig.for_dataset("moons", steps=30, n_samples=40, seed=4))
    _wait(job)
    assert tried == ["auto", "cpu"] and job.status == FINISHED
    assert "ran out of memory" in job.notice and job.result.metrics["device"] == "cpu"
