"""AppTest: the Lambda sweep page runs a tiny moons sweep end to end, and refuses bad input clearly."""

import time

from streamlit.testing.v1 import AppTest

from tests.conftest import ROOT
from tests.waiting import shown


def _sweep_page() -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.run()
    at.switch_page("pages/sweep.py").run()
    assert not at.exception
    assert at.title[0].value == "Lambda sweep"
    return at


def _text(at: AppTest, label: str):
    return [w for w in at.sidebar.text_input if w.label == label][0]


def test_tiny_moons_sweep_end_to_end():
    at = _sweep_page()
    _text(at, "Lambdas").set_value("0,1")
    _text(at, "Seeds").set_value("0-1")
    [w for w in at.sidebar.number_input if w.label == "Steps per run"][0].set_value(150)
    at.run()
    assert not at.error
    assert any("10 runs of 150 steps" in c.value for c in at.caption)  # (2 lambdas + paper + 2 references) x 2
    [b for b in at.button if b.label == "Run sweep"][0].click().run()
    deadline = time.time() + 180
    while time.time() < deadline and not at.get("plotly_chart"):
        time.sleep(0.5)
        at.run()
    assert not at.exception
    assert len(at.get("plotly_chart")) == 2  # target accuracy and domain accuracy against lambda
    table = at.dataframe[0].value
    assert list(table["lambda"]) == ["0.0", "1.0", "paper", "none", "none"]
    assert list(table["mode"]) == ["dann", "dann", "dann", "source_only", "target_oracle"]
    assert (table["seeds"] == 2).all()
    # The page's means are the sweep's own: the same sweep run by the library gives the same table.
    from dann_demo.config import RunConfig
    from dann_demo.experiments.sweep import run_sweep, summarise_sweep

    base = RunConfig.for_dataset("moons", steps=150)
    expected = summarise_sweep(run_sweep(base, [0.0, 1.0, "paper"], [0, 1], references=True))
    assert list(table["target_acc_mean"].round(3)) == list(expected["target_acc_mean"].round(3))
    assert at.get("download_button")
    assert any("already a constant λ of 0.01 moves target accuracy" in c.value for c in at.caption)


def test_bad_input_names_the_field_and_what_is_allowed():
    at = _sweep_page()
    _text(at, "Lambdas").set_value("0,lots").run()
    message = shown(at.error[0].value)
    assert "**Lambdas**: lambdas='lots' is not allowed: comma-separated numbers from 0 to 10" in message
    assert [b for b in at.button if b.label == "Run sweep"][0].disabled
    _text(at, "Lambdas").set_value("0,1")
    _text(at, "Seeds").set_value("0-9").run()
    assert len(at.error) == 1 and shown(at.error[0].value).startswith("**Seeds**: seeds='0-9' is not allowed")
    assert "between 1 and 5 seeds" in at.error[0].value
    _text(at, "Seeds").set_value("0").run()
    assert not at.error and not [b for b in at.button if b.label == "Run sweep"][0].disabled
    assert not at.exception
    # A playful student: a range of a billion seeds, and a value as long as the box takes.
    good = {"Seeds": "0", "Lambdas": "0,1"}
    for field, value in (("Seeds", "0-1000000000"), ("Seeds", "9" * 100_000), ("Lambdas", "1," * 50_000)):
        _text(at, field).set_value(value).run()
        assert len(at.error) == 1 and shown(at.error[0].value).startswith(f"**{field}**: {field.lower()}="), field
        _text(at, field).set_value(good[field])
    assert _text(at, "Seeds").max_chars and _text(at, "Lambdas").max_chars


def test_a_digits_sweep_runs_on_images_too():
    at = _sweep_page()
    at.sidebar.selectbox[0].select("digits").run()
    _text(at, "Lambdas").set_value("1")
    _text(at, "Seeds").set_value("0")
    next(c for c in at.sidebar.checkbox if c.label.startswith("Also the paper")).set_value(False)
    [w for w in at.sidebar.number_input if w.label == "Steps per run"][0].set_value(20)
    at.run()
    assert any("3 runs of 20 steps" in c.value for c in at.caption)
    [b for b in at.button if b.label == "Run sweep"][0].click().run()
    deadline = time.time() + 180
    while time.time() < deadline and not at.get("plotly_chart"):
        time.sleep(0.5)
        at.run()
    assert not at.exception and len(at.get("plotly_chart")) == 2
    assert list(at.dataframe[0].value["mode"]) == ["dann", "source_only", "target_oracle"]
    assert any("digits → digits-M" in h.value for h in at.subheader)


def test_stop_on_a_sweep_that_waits_for_a_trainer_ends_it_with_a_note():
    """Both trainers busy (two image runs, which train alone on the CPU): the sweep waits; Stop ends it at
    once, and the page says nothing ran instead of failing on the missing table."""
    from dann_demo.config import RunConfig
    from pages.server import job_manager
    from tests.waiting import wait_done, wait_until

    manager = job_manager()
    busy = [manager.submit(RunConfig.for_dataset("digits", steps=100_000, seed=s), use_cache=False) for s in (40, 41)]
    wait_until(lambda: all(j.status == "running" for j in busy), what="both trainers to be busy")
    try:
        at = _sweep_page()
        [b for b in at.button if b.label == "Run sweep"][0].click().run()
        assert any("Waiting for a free trainer" in i.value for i in at.info)
        [b for b in at.button if b.label == "Stop"][0].click().run()
        at.run()
        assert not at.exception
        assert any("Stopped before any run of the sweep finished" in w.value for w in at.warning)
    finally:
        for job in busy:
            manager.stop(job)
            wait_done(job)
