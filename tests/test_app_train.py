"""AppTest: the Train live page, driven as a user would."""

import time

import pytest
from streamlit.testing.v1 import AppTest

from dann_demo.jobs import RUNNING
from tests.conftest import ROOT

TIMEOUT = 60


def _app() -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT)
    at.run()
    return at


def _wait_for(at: AppTest, predicate, seconds: float = 90) -> None:
    deadline = time.time() + seconds
    while time.time() < deadline:
        at.run()
        if predicate(at):
            return
        time.sleep(0.3)
    raise AssertionError("timed out; page shows: " + " | ".join(e.value for e in at.markdown))


def _job(at: AppTest):
    from pages.shared import job_manager

    return job_manager().get(at.session_state["train_job"])


def _set(at: AppTest, label: str, value) -> None:
    widgets = [w for w in at.sidebar.number_input if w.label == label] + \
        [w for w in at.sidebar.slider if w.label.startswith(label)]  # fmt: skip
    widgets[0].set_value(value)


def test_page_loads_without_exception():
    at = _app()
    assert not at.exception
    assert at.title[0].value == "Train live"
    assert any("Press" in i.value or "press" in i.value for i in at.info)


def test_train_produces_a_finished_run_with_summary():
    at = _app()
    _set(at, "Steps", 400)
    _set(at, "Seed", 11)
    at.sidebar.selectbox[1].select("source_only")
    at.run()
    at.button[0].click().run()
    _wait_for(at, lambda a: any(m.label == "Target accuracy" for m in a.metric))
    labels = {m.label for m in at.metric}
    assert {"Source accuracy", "Target accuracy", "Domain accuracy", "Proxy A-distance", "Time", "Device"} <= labels
    assert not at.exception
    # The summary stays on screen across reruns until another run starts.
    at.run()
    assert any(m.label == "Target accuracy" for m in at.metric)


def test_rerun_mid_training_does_not_restart_the_job_and_lambda_reaches_it():
    at = _app()
    _set(at, "Steps", 20000)
    _set(at, "Seed", 12)
    at.sidebar.radio[0].set_value("constant")
    at.run()
    at.button[0].click().run()
    job = _job(at)
    _wait_for(at, lambda a: _job(a).step > 0 and _job(a).status == RUNNING)
    # Any widget change is a rerun: the same job keeps going.
    _set(at, "Noise", 0.2)
    at.run()
    assert _job(at) is job and job.status == RUNNING
    # Moving lambda during training reaches the running job from its next step.
    _set(at, "λ", 2.5)
    at.run()
    assert _job(at) is job
    _wait_for(at, lambda a: job._trainer is not None and job._trainer.model.grl.lambda_.item() == 2.5)
    assert job._trainer.lambda_changes and job._trainer.lambda_changes[-1][1] == 2.5
    at.button[1].click().run()  # Stop
    _wait_for(at, lambda a: job.done)
    at.run()
    assert any("Stopped at step" in w.value for w in at.warning)


@pytest.mark.parametrize("dataset", ["digits"])
def test_image_dataset_shows_gallery(dataset):
    at = _app()
    at.sidebar.selectbox[0].select(dataset).run()
    _set(at, "Steps", 60)
    at.run()
    at.button[0].click().run()
    _wait_for(at, lambda a: any(m.label == "Target accuracy" for m in a.metric), seconds=120)
    assert not at.exception
