"""AppTest: the Feature maps page runs the comparison on moons end to end."""

import json
import time

from streamlit.testing.v1 import AppTest

from tests.conftest import ROOT
from tests.waiting import shown


def map_lines(at: AppTest) -> list[str]:
    """The line of figures under each drawn map."""
    return [m.value for m in at.markdown if "fresh probe" in m.value]


def _compare_and_wait(at: AppTest, seconds: float = 120) -> None:
    """Press Train and compare, then rerun until the maps' figures are drawn."""
    next(b for b in at.button if b.label == "Train and compare").click().run()
    deadline = time.time() + seconds
    while time.time() < deadline and not map_lines(at):
        time.sleep(0.3)
        at.run()


def _assert_one_scale(spec: dict) -> None:
    """The figure as the browser gets it: at step 0 and in every frame the panels have the same axis ranges
    (within 1%), and at step 0 the three panels draw the same points."""
    for layout in (spec["layout"], *(frame["layout"] for frame in spec["frames"])):
        for axis in ("xaxis", "yaxis"):
            ranges = [layout[f"{axis}{suffix}"]["range"] for suffix in ("", "2", "3")]
            width = ranges[0][1] - ranges[0][0]
            assert all(abs(r[0] - ranges[0][0]) <= 0.01 * width for r in ranges)
            assert all(abs(r[1] - ranges[0][1]) <= 0.01 * width for r in ranges)
    first = spec["frames"][0]["data"]
    per_panel = len(first) // 3
    for trace in range(per_panel):
        for key in ("x", "y"):
            values = [json.dumps(first[panel * per_panel + trace][key]) for panel in range(3)]
            assert values[0] == values[1] == values[2]


def test_feature_maps_page_compares_three_runs():
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.run()
    at.switch_page("pages/features.py").run()
    assert not at.exception
    assert at.title[0].value == "Feature maps"
    steps = [w for w in at.sidebar.number_input if w.label == "Steps"][0]
    steps.set_value(300)
    at.run()
    # Fewer points per map than the default: the t-SNE below is most of this test's time.
    next(s for s in at.sidebar.slider if s.label == "Points per domain").set_value(100).run()
    _compare_and_wait(at)
    assert not at.exception
    lines = map_lines(at)
    assert len(lines) == 3 and all("PAD **" in line for line in lines)
    titles = [json.loads(c.proto.spec)["layout"]["title"]["text"] for c in at.get("plotly_chart")]
    assert "How mixed are source and target? (a fresh k-NN probe on held-out features)" in titles
    assert at.dataframe[0].value.shape[0] == 3
    _assert_one_scale(_animation(at))
    # Another projection method redraws from the same runs, on one scale too.
    at.sidebar.radio[1].set_value("tsne").run()
    assert not at.exception and len(map_lines(at)) == 3
    _assert_one_scale(_animation(at))


def test_feature_maps_settings_come_from_a_link():
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.switch_page("pages/features.py")
    at.query_params.update({"method": "tsne", "points": "100", "perplexity": "abc", "oracle": "true", "rotation": "90"})
    at.run()
    assert not at.exception
    assert at.sidebar.radio[1].value == "tsne"
    assert next(s for s in at.sidebar.slider if s.label == "Points per domain").value == 100
    assert next(c for c in at.sidebar.checkbox if c.label.startswith("Also train")).value is True
    assert "perplexity='abc'" in shown(" ".join(w.value for w in at.warning))
    assert at.query_params["method"] == "tsne" and at.query_params["rotation"] == "90"


def test_feature_maps_on_uploaded_data_without_target_labels(tmp_path, monkeypatch):
    import io

    import numpy as np

    monkeypatch.setenv("DANN_DATA_DIR", str(tmp_path))
    rng = np.random.RandomState(0)
    y = np.arange(80) % 2
    buffer = io.BytesIO()
    np.savez(buffer, source_x=rng.randn(80, 4) + y[:, None], source_y=y, target_x=rng.randn(80, 4) + y[:, None] + 1)
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.run()
    at.switch_page("pages/features.py").run()
    at.sidebar.selectbox[0].select("file").run()
    [u for u in at.sidebar.file_uploader if u.label == "Your .npz file"][0].set_value(
        ("four_features.npz", buffer.getvalue(), "application/octet-stream")
    )
    at.run()
    [w for w in at.sidebar.number_input if w.label == "Steps"][0].set_value(100)
    at.run()
    _compare_and_wait(at)
    assert not at.exception
    assert all("target acc. **—**" in line for line in map_lines(at)) and len(map_lines(at)) == 3
    # Four features: no input-plane section, the maps alone.
    assert not any("Input space" in h.value for h in at.subheader)


def _animation(at: AppTest, seconds: float = 180) -> dict:
    """The feature-maps figure once every snapshot is projected (the page redraws as they come)."""
    deadline = time.time() + seconds
    while time.time() < deadline:
        at.run()
        for chart in at.get("plotly_chart"):
            spec = json.loads(chart.proto.spec)
            if spec["layout"]["title"]["text"] == "Feature maps over training" and not any(
                "being projected" in c.value for c in at.caption
            ):
                return spec
        time.sleep(0.5)
    raise AssertionError("the maps were not all projected in time")


def test_a_digits_comparison_plays_back_every_snapshot_and_starts_from_one_picture():
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.switch_page("pages/features.py")
    at.query_params.update({"dataset": "digits", "steps": "40", "batch_size": "16", "points": "50"})
    at.run()
    _compare_and_wait(at)
    assert not at.exception
    spec = _animation(at)
    steps = [str(s) for s in (0, 2, 4, 8, 16, 28, 40)]  # the snapshots at 0, 5, 10, 20, 40, 70, 100%
    assert [f["name"] for f in spec["frames"]] == steps
    assert [s["label"] for s in spec["layout"]["sliders"][0]["steps"]] == steps
    assert [b["label"] for b in spec["layout"]["updatemenus"][0]["buttons"]] == ["▶ Play", "❚❚ Pause"]
    # Step 0: the three panels (source only, DANN, no reversal) draw the same points in the same places.
    first = spec["frames"][0]["data"]
    per_panel = len(first) // 3
    for trace in range(per_panel):
        xs = [json.dumps(first[panel * per_panel + trace]["x"]) for panel in range(3)]
        assert xs[0] == xs[1] == xs[2]
    last = spec["frames"][-1]["data"]
    assert json.dumps(last[0]["x"]) != json.dumps(last[per_panel]["x"])  # trained apart by the end
    _assert_one_scale(spec)
