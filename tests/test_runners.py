"""The runners' fault paths: a batch that fails mid-training (any error, out of memory included) hands
its runs to lone trainers, and each still ends as its config trained alone."""

import pytest
import torch

from dann_demo import RunConfig, Trainer
from dann_demo.jobs import FINISHED, JobManager
from dann_demo.method.ensemble import EnsembleTrainer
from tests.waiting import wait_done, wait_until


@pytest.mark.parametrize("error", [RuntimeError("a kernel failed"), torch.OutOfMemoryError("CUDA out of memory")])
def test_a_batch_that_fails_mid_training_trains_its_runs_alone(monkeypatch, error):
    step = EnsembleTrainer.train_step
    raised = []

    def failing(self):
        if self.step == 30 and not raised:  # once, in the batch's 31st step
            raised.append(1)
            raise error
        step(self)

    monkeypatch.setattr(EnsembleTrainer, "train_step", failing)
    manager = JobManager(max_concurrent=1, batch_window=0.3)
    base = RunConfig.for_dataset("moons", steps=120, log_every=10, n_samples=120)
    jobs = [manager.submit(base.replace(seed=90 + i)) for i in range(3)]
    for job in jobs:
        wait_done(job)
    assert raised
    name = type(error).__name__
    for job in jobs:
        assert job.status == FINISHED and job.notice == f"Trained alone: the batch it was in failed ({name})."
        assert job.batch_size == 1 and [r.step for r in job.history][:2] == [0, 10]  # trained again from step 0
        alone = Trainer(job.config).run()
        for key, tensor in alone.state_dict.items():
            torch.testing.assert_close(job.result.state_dict[key], tensor, rtol=1e-4, atol=1e-5)


def test_a_joiner_whose_data_is_gone_fails_alone_and_the_batch_goes_on(tmp_path, monkeypatch):
    """A run that cannot join (its data file went missing, say) is reported; the batch trains on."""
    from dann_demo.datasets import DataFileError

    add = EnsembleTrainer.add_member

    def broken_add(self, config):
        if config.seed == 99:
            raise DataFileError("gone.npz", "the file", "nothing at this path", "an existing file")
        return add(self, config)

    monkeypatch.setattr(EnsembleTrainer, "add_member", broken_add)
    manager = JobManager(max_concurrent=1, batch_window=0.0)
    base = RunConfig.for_dataset("moons", steps=400, log_every=10, n_samples=120)
    first = manager.submit(base.replace(seed=98))
    wait_until(lambda: first.step >= 20, what="the batch to train")
    joiner = manager.submit(base.replace(seed=99))
    wait_done(joiner)
    assert joiner.status == "failed" and "gone.npz" in joiner.error
    wait_done(first)
    assert first.status == FINISHED
