import math

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from dann_demo import RunConfig, train
from dann_demo.views import plots


def test_every_training_figure_builds_with_reference_lines():
    result = train(RunConfig.for_dataset("moons", steps=100, n_samples=100, lambda_schedule="constant"))
    frame = result.history_frame()
    changes = [(50, 2.0)]
    for fn in (
        plots.label_loss_figure,
        plots.domain_loss_figure,
        plots.domain_accuracy_figure,
        plots.accuracy_figure,
        plots.schedule_figure,
    ):
        fig = fn(frame, changes)
        assert isinstance(fig, go.Figure) and fig.data
        # The lambda change is marked in every curve.
        assert any(s.x0 == 50 for s in fig.layout.shapes)
    ln2 = plots.domain_loss_figure(frame).layout.shapes[0]
    assert math.isclose(ln2.y0, math.log(2))
    assert plots.domain_accuracy_figure(frame).layout.shapes[0].y0 == 0.5


def test_input_plane_figure_and_gallery():
    from dann_demo.datasets import load_pair

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


def test_paper_schedules_figure_plots_lambda_and_lr_against_p():
    from dann_demo.method.schedules import paper_lambda, paper_lr

    paper = plots.paper_schedules_figure()
    assert len(paper.data) == 2  # lambda and lr, no reference curve: these are the paper's
    lam, lr = paper.data
    assert lam.x[0] == 0 and lam.x[-1] == 1
    assert lam.y[0] == 0 and math.isclose(lam.y[-1], paper_lambda(1.0))
    assert math.isclose(lr.y[0], 0.01) and math.isclose(lr.y[-1], paper_lr(1.0))
    # Moving gamma and alpha changes the curves and adds the paper's as a dashed reference.
    moved = plots.paper_schedules_figure(gamma=3, alpha=1)
    assert len(moved.data) == 4
    assert moved.data[0].y[50] < lam.y[50] and moved.data[1].y[-1] > lr.y[-1]
    assert moved.data[2].line.dash == "dash" and list(moved.data[2].y) == list(lam.y)


def test_input_plane_with_three_classes_shows_class_regions_and_borders():
    from dann_demo.datasets import load_pair

    config = RunConfig.for_dataset("blobs", steps=200, n_samples=200)
    result = train(config)
    plane = result.input_plane
    assert set(map(int, set(plane.class_prob.ravel()))) <= {0, 1, 2}  # the predicted class, not P(class 1)
    fig = plots.input_plane_figure(plane, load_pair(config))
    assert fig.layout.annotations[0].text == "Label classifier: predicted class"
    heatmaps = [t for t in fig.data if isinstance(t, go.Heatmap)]
    assert heatmaps[0].zmax == 2 and "class" in heatmaps[0].hovertemplate
    # One border per predicted class in the class panel, one 0.5 line in the domain panel.
    n_predicted = len(set(plane.class_prob.ravel()))
    assert sum(isinstance(t, go.Contour) for t in fig.data) == n_predicted + 1


def test_unlabelled_target_points_are_grey_and_never_marked_wrong():
    import numpy as np

    from dann_demo.datasets import UNLABELLED

    xy = np.random.RandomState(0).randn(6, 2)
    domain = np.array([0, 0, 0, 1, 1, 1])
    label = np.array([0, 1, 0, UNLABELLED, UNLABELLED, UNLABELLED])
    predicted = np.array([0, 1, 1, 0, 1, 0])
    fig = plots.feature_map_figure(xy, domain, label, predicted, "t", colour_by="class", mark_errors=True)
    names = [t.name for t in fig.data]
    assert "target, unlabelled" in names
    unlabelled = fig.data[names.index("target, unlabelled")]
    assert unlabelled.marker.color == "#999999" and "target, unlabelled, predicted 0" in unlabelled.text
    assert len(fig.data[names.index("misclassified target")].x) == 0


def test_sweep_figures_place_lambda_zero_and_the_references():
    import pandas as pd

    assert plots.lambda_axis_positions(["0.0", "0.1", "1.0"]) == {"0.0": 0.01, "0.1": 0.1, "1.0": 1.0}
    assert plots.lambda_axis_positions(["0"]) == {"0": 0.01}
    rows = [
        ("0.0", "dann", 0.70),
        ("0.3", "dann", 0.95),
        ("3.0", "dann", 0.80),
        ("paper", "dann", 0.97),
        ("none", "source_only", 0.70),
        ("none", "target_oracle", 1.0),
    ]
    summary = pd.DataFrame(
        [
            {
                "lambda": lam,
                "mode": mode,
                "target_acc_mean": acc,
                "target_acc_std": 0.02,
                "domain_acc_mean": 0.6,
                "domain_acc_std": 0.05,
            }
            for lam, mode, acc in rows
        ]
    )
    fig = plots.sweep_accuracy_figure(summary)
    constant, paper = fig.data
    assert list(constant.x) == [0.03, 0.3, 3.0] and list(constant.y) == [0.70, 0.95, 0.80]
    assert list(paper.x) == [1.0] and fig.layout.xaxis.type == "log"
    assert list(fig.layout.xaxis.ticktext) == ["0", "0.3", "1", "3"]
    assert sorted(s.y0 for s in fig.layout.shapes) == [0.70, 1.0]  # source only and target oracle
    domain = plots.sweep_domain_figure(summary)
    assert 0.5 in [s.y0 for s in domain.layout.shapes]


def test_the_data_before_training_source_by_class_target_without_labels():
    from dann_demo.datasets import load_pair

    pair = load_pair(RunConfig.for_dataset("moons", n_samples=100))
    fig = plots.data_figure(pair)
    names = [t.name for t in fig.data]
    assert names == ["source, class 0", "source, class 1", "target, labels unseen"]
    assert sum(len(t.x) for t in fig.data[:2]) == len(pair.source_x) and len(fig.data[2].x) == len(pair.target_x)
    assert {t.marker.symbol for t in fig.data} == {"circle", "triangle-up"}


def test_images_for_display_are_rgb_in_0_1_each_on_its_own_range():
    import numpy as np

    from dann_demo.method.results import display_images

    grey = np.stack([np.full((1, 4, 4), -3.0), np.linspace(-1, 5, 16).reshape(1, 4, 4)])
    shown = display_images(grey)
    assert shown.shape == (2, 4, 4, 3) and shown.min() >= 0 and shown.max() <= 1
    assert (shown[0] == 0).all()  # a flat image is not divided by zero
    assert shown[1].min() == 0 and shown[1].max() == 1 and (shown[1, ..., 0] == shown[1, ..., 2]).all()


def test_a_drag_of_the_lambda_slider_is_marked_once_at_its_last_value():
    from dann_demo.views.plots.style import lambda_marks

    drag = [(100, 0.2), (110, 0.4), (130, 0.8), (150, 1.0)]  # one drag: every value it passed through
    later = [(900, 2.0)]
    assert lambda_marks(drag + later, span=1000) == [(150, 1.0), (900, 2.0)]
    frame = pd.DataFrame({"step": [0, 500, 1000], "label_loss": [1.0, 0.5, 0.3]})
    fig = plots.label_loss_figure(frame, drag + later)
    assert [s.x0 for s in fig.layout.shapes] == [150, 900]
    assert [a.text for a in fig.layout.annotations] == ["λ=1", "λ=2"]


def test_reference_labels_sit_clear_of_the_curves_they_explain():
    frame = pd.DataFrame({"step": [0, 1000], "domain_acc": [0.9, 0.52], "domain_loss": [0.3, 0.69]})
    (chance,) = plots.domain_accuracy_figure(frame).layout.annotations
    assert chance.text == "50%: chance" and chance.yanchor == "top"  # below the line; the curve is above it
    fig = plots.domain_loss_figure(frame, [(500, 2.0)])
    ln2, lam = sorted(fig.layout.annotations, key=lambda a: a.text.startswith("λ"))
    assert ln2.yanchor == "bottom" and lam.y == 0  # ln 2 above its line, λ at the foot of its own


def _map_run(title: str, scale: float, seed: int) -> "plots.MapRun":
    rng = np.random.default_rng(seed)
    start = np.random.default_rng(0).normal(size=(40, 2))  # the same step-0 features for every run
    return plots.MapRun(
        title,
        domain=np.repeat([0, 1], 20),
        label=np.tile([0, 1], 20),
        predicted={0: np.zeros(40, int), 10: np.zeros(40, int)},
        maps={0: start, 10: start * scale + rng.normal(size=(40, 2))},
    )


def test_feature_map_panels_share_one_scale_and_a_far_spread_says_so():
    runs = [_map_run("source only", 1.0, 1), _map_run("DANN", 2.0, 2), _map_run("no reversal", 3.0, 3)]
    fig = plots.feature_maps_figure(runs, [0, 10])

    def ranges(layout):
        return [(layout[f"xaxis{s}"]["range"], layout[f"yaxis{s}"]["range"]) for s in ("", "2", "3")]

    start = ranges(fig.layout.to_plotly_json())
    assert start[0] == start[1] == start[2]
    for frame in fig.frames:
        each = ranges(frame.layout.to_plotly_json())
        assert each[0] == each[1] == each[2]
    assert ranges(fig.frames[0].layout.to_plotly_json()) == start  # the figure opens on step 0's frame
    assert ranges(fig.frames[1].layout.to_plotly_json())[0] != start[0]  # the scale follows the features' growth
    assert not any("wider" in (a.text or "") for f in fig.frames for a in f.layout.annotations)
    assert [a.text for a in fig.frames[1].layout.annotations] == ["source only", "DANN", "no reversal"]
    far = [runs[0], runs[1], _map_run("no reversal", 40.0, 3)]
    fig = plots.feature_maps_figure(far, [0, 10])
    last = fig.frames[1].layout
    assert last.xaxis.range == last.xaxis3.range and last.xaxis.range[1] < 20  # the far run widens no panel
    notes = [a for a in last.annotations if "wider" in (a.text or "")]
    assert len(notes) == 1 and notes[0].xref == "x3 domain"
    assert not any("wider" in (a.text or "") for a in fig.frames[0].layout.annotations)  # step 0: all alike
