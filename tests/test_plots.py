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


def test_paper_schedules_figure_plots_lambda_and_lr_against_p():
    from dann_demo.schedules import paper_lambda, paper_lr

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
