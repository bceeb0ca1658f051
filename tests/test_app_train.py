"""AppTest: the Train live page, driven as a user would."""

import time

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from dann_demo.jobs import RUNNING
from tests.conftest import ROOT
from tests.waiting import shown

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


def _wait_for_result(at: AppTest, seconds: float = 90) -> None:
    """Until the run has ended and the page shows it whole. (A live page's redraw that finds its run ended
    shows the summary alone and its next redraw the rest, by a timer that AppTest does not run: one more
    run stands in for it.)"""
    _wait_for(at, lambda a: "train_job" in a.session_state and _job(a).done, seconds)
    at.run()
    assert any(m.label == "Target accuracy" for m in at.metric)


def _job(at: AppTest):
    from pages.server import job_manager

    return job_manager().get(at.session_state["train_job"])


def _button(at: AppTest, label: str):
    return next(b for b in at.button if b.label == label)


def _set(at: AppTest, label: str, value) -> None:
    widgets = [w for w in at.sidebar.number_input if w.label == label] + [
        w for w in at.sidebar.slider if w.label.startswith(label)
    ]
    widgets[0].set_value(value)


def test_page_loads_without_exception():
    at = _app()
    assert not at.exception
    assert at.title[0].value == "Train live"
    assert any("Press" in i.value or "press" in i.value for i in at.info)


@pytest.mark.parametrize("dataset", ["moons", "digits"])
def test_before_the_first_run_the_page_shows_the_data(dataset):
    at = _app()
    if dataset != "moons":
        at.sidebar.selectbox[0].select(dataset).run()
    assert not at.exception
    if dataset == "moons":  # 2-D points: one chart, source by class, target without labels
        assert _chart_titles(at) == ["The data: labelled source, unlabelled target"]
        assert any("Triangles: the target domain" in c.value for c in at.caption)
        rotation = next(s for s in at.sidebar.slider if s.label.startswith("Target rotation"))
        before = at.get("plotly_chart")[0].proto.spec
        rotation.set_value(60.0).run()
        assert at.get("plotly_chart")[0].proto.spec != before  # the settings move the target
    else:  # images: a row of each domain, the target's labels unseen
        assert _chart_titles(at) == []
        captions = [c for img in at.get("image") for c in img.captions]
        assert sum(c.startswith("source: ") for c in captions) == 8 and captions.count("target: ?") == 8
    _set(at, "Steps", 50)
    at.run()
    _button(at, "Train").click().run()
    _wait_for_result(at)
    assert "The data: labelled source, unlabelled target" not in _chart_titles(at)  # the run's own charts now


def test_train_produces_a_finished_run_with_summary():
    at = _app()
    _set(at, "Steps", 400)
    _set(at, "Seed", 11)
    at.sidebar.selectbox[1].select("source_only")
    at.run()
    _button(at, "Train").click().run()
    _wait_for_result(at)
    labels = {m.label for m in at.metric}
    expected = {"Source accuracy", "Target accuracy", "Domain accuracy", "Fresh probe", "Proxy A-distance", "Time"}
    assert expected | {"Device"} <= labels
    assert any("a beaten adversary is not yet proof" in c.value for c in at.caption)
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
    _button(at, "Train").click().run()
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
    # (A lone run trains as a batch of one, which others may join: its records carry its lambda.)
    _wait_for(
        at, lambda a: job.lambda_changes[-1:] and job.lambda_changes[-1][1] == 2.5 and job.history[-1].lambda_ == 2.5
    )
    _button(at, "Stop").click().run()
    _wait_for(at, lambda a: job.done)
    at.run()
    assert any("Stopped at step" in w.value for w in at.warning)


@pytest.mark.parametrize("dataset", ["digits"])
def test_image_dataset_shows_gallery(dataset):
    at = _app()
    at.sidebar.selectbox[0].select(dataset).run()
    _set(at, "Steps", 60)
    at.run()
    _button(at, "Train").click().run()
    _wait_for_result(at, seconds=120)
    assert not at.exception
    # The gallery: 8 held-out images of each domain, captioned true -> predicted.
    captions = [c for img in at.get("image") for c in img.captions]
    assert sum(c.startswith("source: ") for c in captions) == 8 and sum(c.startswith("target: ") for c in captions) == 8
    gallery = _job(at).gallery
    assert gallery.images.shape == (16, 16, 16, 3) and gallery.images.min() >= 0 and gallery.images.max() <= 1
    source, target = gallery.images[gallery.domain == 0], gallery.images[gallery.domain == 1]

    # Source digits are grey (standardised per channel, so the channels are linear in one another);
    # target digits sit on colour photo crops.
    def channel_agreement(images):
        return min(np.corrcoef(images[i].reshape(-1, 3).T)[0, 2] for i in range(len(images)))

    assert channel_agreement(source) > 0.999 and channel_agreement(target) < 0.99
    for img, label, predicted in zip(captions[:8], gallery.label[:8], gallery.predicted[:8], strict=True):
        assert img.startswith(f"source: {label} → {predicted}")


def test_a_shared_link_sets_the_controls_and_bad_values_are_noted():
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT)
    at.query_params.update(
        {
            "dataset": "moons",
            "rotation": "60",
            "lambda_value": "banana",
            "steps": "-5",
            "colour": "red",
            "hide": "mode,nonsense",
        }
    )
    at.run()
    assert not at.exception
    assert next(s for s in at.sidebar.slider if s.label.startswith("Target rotation")).value == 60.0
    assert next(n for n in at.sidebar.number_input if n.label == "Steps").value == 3000  # the default
    note = shown(" ".join(w.value for w in at.warning))
    for bad in ("lambda_value='banana'", "steps=-5", "'colour'", "hide='nonsense'"):
        assert bad in note, (bad, note)
    # The hidden control is not drawn; the URL keeps the settings that are not defaults.
    assert not [s for s in at.sidebar.selectbox if s.label == "Mode"]
    assert at.query_params["rotation"] == "60" and at.query_params["hide"] == "mode"


def test_lesson_preset_is_one_click_and_reachable_by_link():
    at = _app()
    assert not any(b.label == "λ too large" for b in at.button)  # a closed box sends no buttons
    at.session_state["train_presets_open"] = True  # the user opens "Lesson presets"
    at.run()
    _button(at, "λ too large").click().run()
    assert next(s for s in at.sidebar.slider if s.label.startswith("λ")).value == 8.0
    assert at.sidebar.radio[0].value == "constant"
    assert any("λ too large" in i.value for i in at.info)
    linked = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT)
    linked.query_params["preset"] = "no_reversal"
    linked.run()
    assert next(s for s in linked.sidebar.selectbox if s.label == "Mode").value == "no_reversal"
    assert not linked.exception


def test_finished_run_offers_every_download():
    at = _app()
    _set(at, "Steps", 100)
    _set(at, "Seed", 13)
    at.run()
    _button(at, "Train").click().run()
    _wait_for_result(at)
    at.run()
    labels = {b.proto.label for b in at.get("download_button")}
    assert {"History (CSV)", "Config (JSON)", "Metrics (JSON)", "Weights (.pt)", "Figures (HTML, zip)"} <= labels
    figures = next(b for b in at.get("download_button") if b.proto.label == "Figures (HTML, zip)")
    assert figures.proto.deferred_file_id  # the zip is built only when clicked
    assert not at.code  # the share box is closed: no link built
    at.session_state["train_share_open"] = True
    at.run()
    assert any("hide" not in c.value and "seed=13" in c.value for c in at.code)  # the share link


def test_a_failed_run_is_a_message_and_the_page_keeps_working(monkeypatch):
    from dann_demo.method.recorder import Recorder
    from dann_demo.method.train import TrainingDiverged

    real = Recorder.record

    def diverging(self, step, *a, **k):  # alone or in a batch: every run records through its Recorder
        raise TrainingDiverged(17, self.config)

    at = _app()
    _set(at, "Seed", 14)
    at.run()
    monkeypatch.setattr(Recorder, "record", diverging)
    _button(at, "Train").click().run()
    _wait_for(at, lambda a: any("non-finite loss at step 17" in shown(e.value) for e in a.error))
    assert not at.exception
    monkeypatch.setattr(Recorder, "record", real)
    _set(at, "Steps", 60)
    at.run()
    _button(at, "Train").click().run()
    _wait_for_result(at)
    assert not at.exception and not at.error


# --- blobs and your own data ---


def _choose_dataset(at: AppTest, name: str) -> None:
    at.sidebar.selectbox[0].select(name).run()


def _train_and_wait(at: AppTest, steps: int = 100) -> None:
    _set(at, "Steps", steps)
    at.run()
    _button(at, "Train").click().run()
    _wait_for_result(at, seconds=120)
    assert not at.exception


def _plane_titles(at: AppTest) -> list[str]:
    import json

    charts = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    return [a.get("text") for c in charts for a in c["layout"].get("annotations", [])]


def _uploader(at: AppTest, label: str):
    return [u for u in at.sidebar.file_uploader if u.label == label][0]


def _npz_bytes(**arrays) -> bytes:
    import io

    import numpy as np

    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def test_blobs_trains_and_shows_three_class_input_plane():
    at = _app()
    _choose_dataset(at, "blobs")
    assert [s.label for s in at.sidebar.slider][:3] == [
        "Target shift (distance)",
        "Shift direction (degrees)",
        "Target spread (x source)",
    ]
    _set(at, "Target shift", 1.0)
    _train_and_wait(at, 200)
    assert _job(at).config.dataset == "blobs" and _job(at).config.blob_shift == 1.0
    assert "Label classifier: predicted class" in _plane_titles(at)


@pytest.fixture
def uploads_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("DANN_DATA_DIR", str(tmp_path))
    return tmp_path / "uploads"


def test_uploaded_npz_table_trains_with_input_plane(uploads_dir):
    from dann_demo.datasets.uploads import example_npz

    at = _app()
    _choose_dataset(at, "file")
    assert not at.exception and not at.error
    assert _button(at, "Train").disabled  # nothing to train on before an upload
    assert {b.label for b in at.sidebar.download_button} == {"Example: table", "Example: images"}
    _uploader(at, "Your .npz file").set_value(("teacher data.npz", example_npz("table"), "application/octet-stream"))
    at.run()
    assert any("Your data is a **table**: the table defaults apply" in c.value for c in at.sidebar.caption)
    assert not at.error and not _button(at, "Train").disabled
    _train_and_wait(at)
    config = _job(at).config
    assert config.dataset == "file" and config.data_file.endswith("teacher_data.npz")
    assert config.data_file.startswith(str(uploads_dir))
    assert "Label classifier: predicted class" in _plane_titles(at)


def test_uploaded_images_show_the_gallery(uploads_dir):
    import numpy as np

    rng = np.random.RandomState(0)
    y = np.arange(40) % 2
    grey = (rng.rand(40, 10, 10) * 255).astype(np.uint8)
    colour = rng.rand(40, 14, 14, 3).astype(np.float32)
    at = _app()
    _choose_dataset(at, "file")
    _uploader(at, "Your .npz file").set_value(
        ("pics.npz", _npz_bytes(source_x=grey, source_y=y, target_x=colour), "application/octet-stream")
    )
    at.run()
    assert any("Your data is **images**: the image defaults apply" in c.value for c in at.sidebar.caption)
    _set(at, "Batch size (per domain)", 8)
    _train_and_wait(at, 10)
    texts = [c for img in at.get("image") for c in img.captions]
    assert texts, "no gallery"
    assert any(t.startswith("source: ") for t in texts) and any(t.startswith("target: ? → ") for t in texts)
    assert [m.value for m in at.metric if m.label == "Target accuracy"] == ["—"]


def test_bad_upload_is_a_message_and_the_page_keeps_working(uploads_dir):
    import numpy as np

    at = _app()
    _choose_dataset(at, "file")
    bad = _npz_bytes(source_x=np.ones((20, 2)), source_y=np.zeros(20, int), target_x=np.ones((20, 2)))
    _uploader(at, "Your .npz file").set_value(("oops.npz", bad, "application/octet-stream"))
    at.run()
    assert not at.exception
    assert [shown(e.value) for e in at.error] == [
        "oops.npz, array 'source_y': found a single class (0); expected at least 2 classes to tell apart."
    ]
    assert _button(at, "Train").disabled
    _uploader(at, "Your .npz file").set_value(("junk.npz", b"\x00" * 100, "application/octet-stream"))
    at.run()
    assert not at.exception and "junk.npz, the file: found something that is not a .npz archive" in shown(
        at.error[0].value
    )
    # Another data set still trains.
    _choose_dataset(at, "moons")
    assert not at.error
    _train_and_wait(at, 100)


def test_csv_pair_upload_and_label_column(uploads_dir):
    rows = "\n".join(f"{i % 7},{(i * 3) % 5},{i % 2}" for i in range(40))
    at = _app()
    _choose_dataset(at, "file")
    at.sidebar.radio[0].set_value("csv").run()
    _uploader(at, "Source .csv (with labels)").set_value(("s.csv", f"f1,f2,kind\n{rows}\n".encode(), "text/csv"))
    _uploader(at, "Target .csv (labels optional)").set_value(("t.csv", f"f1,f2\n{rows}\n".encode()[:-1], "text/csv"))
    at.run()
    assert "s.csv, label column 'label': found no such column (the columns are 'f1', 'f2', 'kind')" in shown(
        at.error[0].value
    )
    at.sidebar.text_input[0].set_value("kind").run()
    assert not at.error
    assert _chart_titles(at) == ["The data: labelled source, unlabelled target"]  # a 2-D file, before its run
    _train_and_wait(at)
    assert _job(at).config.label_column == "kind"
    assert [m.value for m in at.metric if m.label == "Target accuracy"] == ["—"]


def test_a_preset_link_from_another_page_applies_later_in_the_session():
    at = _app()
    at.switch_page("pages/how_it_works.py").run()
    at.query_params["preset"] = "rotation_harder"
    at.switch_page("pages/train.py").run()
    assert not at.exception
    assert next(s for s in at.sidebar.slider if s.label.startswith("Target rotation")).value == 70.0
    assert any("Rotation makes it harder" in i.value for i in at.info)


def _chart_titles(at: AppTest) -> list[str]:
    import json

    return [json.loads(c.proto.spec)["layout"].get("title", {}).get("text", "") for c in at.get("plotly_chart")]


def test_a_class_shares_a_redraw_budget():
    from pages.pace import class_redraw_seconds

    assert class_redraw_seconds(6) == 4.0 and class_redraw_seconds(30) == 10.0 and class_redraw_seconds(300) == 15.0


@pytest.mark.parametrize("dataset", ["moons", "digits"])
def test_a_busy_server_shows_the_latest_numbers_live_and_the_charts_when_the_run_ends(dataset):
    """A class keeps the server busy: each page then shows its run's latest numbers as text (a browser
    spends tens of ms of CPU on each chart it redraws), and every chart once its run has ended."""
    from dann_demo import RunConfig
    from pages.server import job_manager

    manager = job_manager()
    class_runs = [
        manager.submit(RunConfig.for_dataset("moons", steps=50_000, seed=900 + i, n_samples=100), use_cache=False)
        for i in range(6)
    ]
    try:
        at = _app()
        _choose_dataset(at, dataset)
        _set(at, "Steps", 20_000)
        _set(at, "Seed", 13)
        at.run()
        _button(at, "Train").click().run()
        _wait_for(at, lambda a: _job(a).status == RUNNING and len(_job(a).history) > 0)
        at.run()
        (line,) = [m.value for m in at.markdown if "queued or training now" in m.value]
        # One element: progress, numbers and why; with 7 runs in progress a page redraws every 4 s.
        assert line.startswith("**Step ") and "target accuracy **" in line and "every 4 s" in line
        assert _chart_titles(at) == [] and not at.get("progress")
        _button(at, "Stop").click().run()
        _wait_for(at, lambda a: _job(a).done)
    finally:
        for job in class_runs:
            manager.stop(job)
        deadline = time.time() + 60
        while not all(job.done for job in class_runs) and time.time() < deadline:
            time.sleep(0.1)
    at.run()
    assert not any("queued or training now" in m.value for m in at.markdown)
    assert len(_chart_titles(at)) >= 5 and "Label accuracy on held-out data" in _chart_titles(at)
    assert not at.exception
