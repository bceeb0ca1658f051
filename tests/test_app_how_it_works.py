"""AppTest: the How it works page draws the diagram, the equations, the schedules and the preset links."""

import json

from streamlit.testing.v1 import AppTest

from tests.conftest import ROOT

PRESETS = ["lambda_zero", "paper_schedule", "no_reversal", "lambda_too_large", "rotation_harder", "rotation_ambiguous"]


def _page() -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.switch_page("pages/how_it_works.py").run()
    assert not at.exception
    return at


def _trace_names(chart) -> set[str]:
    return {trace["name"] for trace in json.loads(chart.proto.spec)["data"]}


def test_how_it_works_shows_the_method():
    at = _page()
    assert at.title[0].value == "How it works"
    assert (ROOT / "assets" / "architecture.svg").read_text().lstrip().startswith("<svg")
    assert at.image[0].proto.imgs[0].url.startswith("data:image/svg+xml;base64,")
    latex = " ".join(x.value for x in at.latex)
    for piece in (
        r"\arg\min",
        r"\arg\max",
        r"-\lambda\,\mathbf{I}",
        r"\lambda_p",
        r"\mu_p",
        r"\ln 2",
        r"\mathrm{PAD} = 2\,(1 - 2\varepsilon)",
    ):
        assert piece in latex, piece
    text = " ".join(m.value for m in at.markdown)
    assert "0.7666" in text and "clips PAD at 0" in text
    table = at.dataframe[0].value
    assert list(table["MNIST-M accuracy"]) == [0.5225, 0.7666, 0.9596]


def test_schedule_chart_follows_gamma_and_alpha():
    at = _page()
    charts = at.get("plotly_chart")
    assert len(charts) == 1
    assert _trace_names(charts[0]) == {"γ = 10, α = 10"}
    at.slider(key="how_gamma").set_value(3.0)
    at.slider(key="how_alpha").set_value(1.0).run()
    assert not at.exception
    assert _trace_names(at.get("plotly_chart")[0]) == {"γ = 3, α = 1", "the paper (γ = α = 10)"}


def test_links_open_the_train_page_with_each_preset():
    at = _page()
    links = at.get("page_link")
    assert [link.proto.query_string for link in links] == [f"preset={p}" for p in PRESETS]
    assert {link.proto.page for link in links} == {"train"}
    assert {link.value for link in links} >= {"λ = 0 is source only", "no reversal: the domain classifier wins"}
