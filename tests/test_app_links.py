"""Links on every page and every data set: settings -> URL -> a fresh session -> the same RunConfig.

A link must open the page with exactly the settings it names, for moons, digits, blobs, MNIST and
own data (whose file never travels in a link: the student uploads it), and list in the page's note
whatever it left out.
"""

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from dann_demo.config import RunConfig
from dann_demo.presets import PRESETS
from tests.conftest import ROOT
from tests.test_mnist import write_mnist
from tests.waiting import shown

PAGES = {"train": "pages/train.py", "maps": "pages/features.py"}
# Per data set: a link's settings, none of them at the data set's default.
LINKS = {
    "moons": {"rotation": "50", "seed": "3", "lambda_value": "0.5", "lambda_schedule": "constant"},
    "digits": {"seed": "3", "steps": "500", "lr": "0.02", "gamma": "5"},
    "blobs": {"blob_shift": "8", "blob_angle": "-170", "blob_scale": "4.5", "seed": "4"},
    "mnist": {"n_samples": "200", "steps": "40", "batch_size": "16"},
    "file": {"lr": "0.05", "steps": "500", "seed": "2"},
}


@pytest.fixture
def data_dir(tmp_path, monkeypatch):
    """MNIST files (small ones) and a place for uploads."""
    monkeypatch.setenv("DANN_DATA_DIR", str(tmp_path))
    write_mnist(tmp_path)
    return tmp_path


def table_npz() -> bytes:
    import io

    rng = np.random.RandomState(0)
    buffer = io.BytesIO()
    np.savez(buffer, source_x=rng.rand(60, 2), source_y=np.arange(60) % 2, target_x=rng.rand(60, 2) + 1)
    return buffer.getvalue()


def open_page(prefix: str, query: dict, upload: bytes | None = None) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.switch_page(PAGES[prefix])
    for k, v in query.items():
        at.query_params[k] = v
    at.run()
    if upload is not None:
        uploader = [u for u in at.sidebar.get("file_uploader") if u.label == "Your .npz file"][0]
        uploader.set_value(("mine.npz", upload, "application/octet-stream"))
        at.run()
    assert not at.exception, at.exception
    return at


@pytest.mark.parametrize("prefix", PAGES)
@pytest.mark.parametrize("dataset", LINKS)
def test_a_link_round_trips_through_a_fresh_session(data_dir, prefix, dataset):
    upload = table_npz() if dataset == "file" else None
    link = {"dataset": dataset, **LINKS[dataset]}
    first = open_page(prefix, link, upload)
    config = first.session_state[f"{prefix}_config"]
    assert first.sidebar.selectbox[0].value == dataset  # the Data set box shows the link's data set
    expected = {k: RunConfig.__dataclass_fields__[k].metadata["spec"].parse(k, v) for k, v in LINKS[dataset].items()}
    assert {k: getattr(config, k) for k in expected} == expected
    notes = " ".join(w.value for w in first.warning)
    assert ("links carry no data files" in notes) == (dataset == "file")
    # The page writes the settings back into the address bar; that link opens the same run again.
    second = open_page(prefix, dict(first.query_params), upload)
    assert second.session_state[f"{prefix}_config"] == config


@pytest.mark.parametrize("preset", PRESETS)
def test_every_preset_opens_by_link(preset):
    at = open_page("train", {"preset": preset})
    assert at.session_state["train_config"] == PRESETS[preset].config()
    assert any(PRESETS[preset].title in i.value for i in at.info)


def test_a_classroom_link_hides_controls_and_keeps_their_values():
    at = open_page("train", {"dataset": "digits", "seed": "5", "mode": "source_only", "hide": "dataset,mode"})
    config = at.session_state["train_config"]
    assert (config.dataset, config.mode, config.seed) == ("digits", "source_only", 5)
    assert not [s for s in at.sidebar.selectbox if s.label in ("Data set", "Mode")]  # hidden
    assert at.query_params["hide"] == "dataset,mode"


def test_what_a_link_leaves_out_is_listed():
    at = open_page("train", {"dataset": "digits", "rotation": "40", "data_dir": "/etc", "steps": "-5"})
    notes = shown(" ".join(w.value for w in at.warning))
    assert "rotation ignored: not a setting of the digits data set" in notes
    assert "data_dir ignored: links carry no file paths" in notes
    assert "steps=-5 is not allowed" in notes
    assert at.session_state["train_config"] == RunConfig.for_dataset("digits")


@pytest.mark.parametrize("dataset", ["moons", "digits"])
def test_every_settings_widget_sends_its_value_to_the_browser_on_every_run(dataset):
    """A link's values are written in the first run; a click that interrupts that run before a widget is
    drawn (nickname typed, Train pressed at once) must not leave the browser to show its own default (a
    number box's minimum) and send it back: every run hands each setting's value to the browser."""
    at = open_page("train", {"dataset": dataset, "seed": "7", "steps": "500", "lr": "0.02"})
    at.run()  # a later run, in which nothing was set from Python
    numbers = {n.label: n for n in at.sidebar.number_input}
    for label, value in (("Seed", 7), ("Steps", 500), ("Learning rate μ0", 0.02)):
        assert numbers[label].proto.set_value and numbers[label].value == value, label
    assert all(w.proto.set_value for w in [*at.sidebar.number_input, *at.sidebar.slider, *at.sidebar.selectbox])
