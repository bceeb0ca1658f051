"""AppTest: the Feature maps page runs the comparison on moons end to end."""

import time

from streamlit.testing.v1 import AppTest

from tests.conftest import ROOT


def test_feature_maps_page_compares_three_runs():
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.run()
    at.switch_page("pages/features.py").run()
    assert not at.exception
    assert at.title[0].value == "Feature maps"
    steps = [w for w in at.sidebar.number_input if w.label == "Steps"][0]
    steps.set_value(300)
    at.run()
    at.button[0].click().run()
    deadline = time.time() + 120
    while time.time() < deadline and not any(m.label == "PAD" for m in at.metric):
        time.sleep(0.3)
        at.run()
    assert not at.exception
    pads = [m for m in at.metric if m.label == "PAD"]
    assert len(pads) == 3
    assert len([m for m in at.metric if m.label == "Target acc."]) == 3
    assert at.dataframe[0].value.shape[0] == 3
    # Another projection method redraws from the same runs.
    at.sidebar.radio[1].set_value("tsne").run()
    assert not at.exception and len([m for m in at.metric if m.label == "PAD"]) == 3
