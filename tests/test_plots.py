import math

import plotly.graph_objects as go

from dann_demo import RunConfig, plots, train


def test_every_training_figure_builds_with_reference_lines():
    result = train(RunConfig.for_dataset("moons", steps=100, n_samples=100, lambda_schedule="constant"))
    frame = result.history_frame()
    changes = [(50, 2.0)]
    for fn in (plots.label_loss_figure, plots.domain_loss_figure, plots.domain_accuracy_figure,
               plots.accuracy_figure, plots.schedule_figure):  # fmt: skip
        fig = fn(frame, changes)
        assert isinstance(fig, go.Figure) and fig.data
        # The lambda change is marked in every curve.
        assert any(s.x0 == 50 for s in fig.layout.shapes)
    ln2 = plots.domain_loss_figure(frame).layout.shapes[0]
    assert math.isclose(ln2.y0, math.log(2))
    assert plots.domain_accuracy_figure(frame).layout.shapes[0].y0 == 0.5


def test_input_plane_figure_and_gallery():
    from dann_demo.data import load_pair

    config = RunConfig.for_dataset("moons", steps=50, n_samples=100)
    result = train(config)
    fig = plots.input_plane_figure(result.input_plane, load_pair(config))
    assert sum(isinstance(t, go.Heatmap) for t in fig.data) == 2
    names = {t.name for t in fig.data if isinstance(t, go.Scatter)}
    assert names == {"source", "target"}
    img = train(RunConfig.for_dataset("digits", steps=5, log_every=5))
    g = img.gallery
    assert g.images.shape == (16, 16, 16, 3) and g.images.min() >= 0 and g.images.max() <= 1
    assert list(g.domain) == [0] * 8 + [1] * 8 and len(g.label) == len(g.predicted) == 16


def test_sweep_figures_place_lambda_zero_and_the_references():
    import pandas as pd

    assert plots.lambda_axis_positions(["0.0", "0.1", "1.0"]) == {"0.0": 0.01, "0.1": 0.1, "1.0": 1.0}
    assert plots.lambda_axis_positions(["0"]) == {"0": 0.01}
    rows = [("0.0", "dann", 0.70), ("0.3", "dann", 0.95), ("3.0", "dann", 0.80), ("paper", "dann", 0.97),
            ("none", "source_only", 0.70), ("none", "target_oracle", 1.0)]  # fmt: skip
    summary = pd.DataFrame([{"lambda": lam, "mode": mode, "target_acc_mean": acc, "target_acc_std": 0.02,
                             "domain_acc_mean": 0.6, "domain_acc_std": 0.05} for lam, mode, acc in rows])
    fig = plots.sweep_accuracy_figure(summary)
    constant, paper = fig.data
    assert list(constant.x) == [0.03, 0.3, 3.0] and list(constant.y) == [0.70, 0.95, 0.80]
    assert list(paper.x) == [1.0] and fig.layout.xaxis.type == "log"
    assert list(fig.layout.xaxis.ticktext) == ["0", "0.3", "1", "3"]
    assert sorted(s.y0 for s in fig.layout.shapes) == [0.70, 1.0]  # source only and target oracle
    domain = plots.sweep_domain_figure(summary)
    assert 0.5 in [s.y0 for s in domain.layout.shapes]
