"""Pictures of 2-D data and of the network over it: the data, both classifiers over the input plane, and a
feature map of one run."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from dann_demo.datasets import UNLABELLED, DomainPair
from dann_demo.method.results import InputPlane
from dann_demo.views.plots.style import (
    DOMAIN_STYLE,
    class_colour,
    class_name,
    layout,
)


def _domain_scatter(fig: go.Figure, pair: DomainPair, max_points: int = 400, **where) -> None:
    for d, (x, y) in enumerate(((pair.source_x, pair.source_y), (pair.target_x, pair.target_y))):
        style = DOMAIN_STYLE[d]
        x = x[:max_points]
        # Target labels are never used for training; here they only shape the hover text.
        fig.add_trace(
            go.Scatter(
                x=x[:, 0],
                y=x[:, 1],
                mode="markers",
                name=style["name"],
                marker={
                    "color": style["color"],
                    "symbol": style["symbol"],
                    "size": 8,
                    "line": {"width": 1, "color": "white"},
                },
                text=[f"{style['name']}, {class_name(c)}" for c in y[:max_points]],
                hoverinfo="text",
                legendgroup=style["name"],
                showlegend="col" not in where or where["col"] == 1,
            ),
            **where,
        )


def data_figure(pair: DomainPair, max_points: int = 400) -> go.Figure:
    """The 2-D data before training: source circles coloured by class (the labels training uses), target
    triangles in the target's colour (training never sees their labels)."""
    fig = go.Figure()
    x, y = pair.source_x[:max_points], pair.source_y[:max_points]
    for c in np.unique(y):
        fig.add_trace(
            go.Scatter(
                x=x[y == c, 0],
                y=x[y == c, 1],
                mode="markers",
                name=f"source, {class_name(c)}",
                marker={"color": class_colour(c), "symbol": DOMAIN_STYLE[0]["symbol"], "size": 8},
                hoverinfo="name",
            )
        )
    t = pair.target_x[:max_points]
    fig.add_trace(
        go.Scatter(
            x=t[:, 0],
            y=t[:, 1],
            mode="markers",
            name="target, labels unseen",
            marker={"color": DOMAIN_STYLE[1]["color"], "symbol": DOMAIN_STYLE[1]["symbol"], "size": 8, "opacity": 0.8},
            hoverinfo="name",
        )
    )
    fig.update_yaxes(scaleanchor="x")
    return layout(fig, "The data: labelled source, unlabelled target", height=420, hovermode="closest")


PLANE_PANELS = {"class": ("Label classifier: P(class 1)", "RdBu"), "domain": ("Domain classifier: P(target)", "PuOr")}
MULTICLASS_TITLE = "Label classifier: predicted class"


def _class_regions(fig: go.Figure, plane: InputPlane, n_classes: int, col: int) -> None:
    """More than 2 classes: each predicted class as a tinted region, its border drawn in black."""
    predicted = plane.class_prob
    scale = [(i / max(n_classes - 1, 1), class_colour(i)) for i in range(n_classes)]
    fig.add_trace(
        go.Heatmap(
            x=plane.xs,
            y=plane.ys,
            z=predicted,
            zmin=0,
            zmax=n_classes - 1,
            colorscale=scale,
            opacity=0.35,
            showscale=False,
            hovertemplate="class %{z}<extra></extra>",
        ),
        row=1,
        col=col,
    )
    for c in np.unique(predicted).astype(int):
        # The 0.5 level of "is class c" is the border of c's region (a shared border is drawn twice).
        _border(fig, plane, (predicted == c).astype(float), col)


def _border(fig: go.Figure, plane: InputPlane, z: np.ndarray, col: int) -> None:
    """The 0.5 level of `z` over the plane as a black line: a classifier's decision boundary."""
    fig.add_trace(
        go.Contour(
            x=plane.xs,
            y=plane.ys,
            z=z,
            contours={"start": 0.5, "end": 0.5, "coloring": "none"},
            line={"width": 3, "color": "black"},
            showscale=False,
            hoverinfo="skip",
            showlegend=False,
        ),
        row=1,
        col=col,
    )


def _plane_panel(fig: go.Figure, plane: InputPlane, pair: DomainPair, which: str, col: int = 1) -> None:
    if which == "class" and pair.n_classes > 2:
        _class_regions(fig, plane, pair.n_classes, col)
        _domain_scatter(fig, pair, row=1, col=col)
        return
    z = plane.class_prob if which == "class" else plane.domain_prob
    fig.add_trace(
        go.Heatmap(
            x=plane.xs,
            y=plane.ys,
            z=z,
            zmin=0,
            zmax=1,
            colorscale=PLANE_PANELS[which][1],
            opacity=0.55,
            showscale=False,
            hovertemplate="%{z:.2f}<extra></extra>",
        ),
        row=1,
        col=col,
    )
    _border(fig, plane, z, col)
    _domain_scatter(fig, pair, row=1, col=col)


def input_plane_figure(
    plane: InputPlane, pair: DomainPair, title: str = "Input space", panels: tuple[str, ...] = ("class", "domain")
) -> go.Figure:
    """The label classifier's boundary and the domain classifier's output over the input plane
    (JMLR Figure 2), with the training points of both domains."""
    titles = [MULTICLASS_TITLE if p == "class" and pair.n_classes > 2 else PLANE_PANELS[p][0] for p in panels]
    fig = make_subplots(rows=1, cols=len(panels), subplot_titles=titles, horizontal_spacing=0.08)
    for col, which in enumerate(panels, start=1):
        _plane_panel(fig, plane, pair, which, col)
        fig.update_yaxes(scaleanchor=f"x{col if col > 1 else ''}", row=1, col=col)
    fig.update_xaxes(range=[plane.xs[0], plane.xs[-1]], constrain="domain")
    fig.update_yaxes(range=[plane.ys[0], plane.ys[-1]])
    return layout(fig, title, height=440 if len(panels) > 1 else 420, hovermode="closest")


def feature_map_figure(
    xy: np.ndarray,
    domain: np.ndarray,
    label: np.ndarray,
    predicted: np.ndarray,
    title: str,
    colour_by: str = "domain",
    mark_errors: bool = False,
) -> go.Figure:
    """A 2-D map of features: source circles and target triangles, coloured by domain or class."""
    fig = go.Figure()
    for d in (0, 1):
        style = DOMAIN_STYLE[d]
        in_domain = domain == d
        groups = (
            [(in_domain, style["color"], style["name"])]
            if colour_by == "domain"
            else [
                (
                    in_domain & (label == c),
                    class_colour(c),
                    f"{style['name']}, {class_name(c)}",
                )
                for c in np.unique(label)
            ]
        )
        for mask, colour, name in groups:
            if not mask.any():
                continue
            fig.add_trace(
                go.Scattergl(
                    x=xy[mask, 0],
                    y=xy[mask, 1],
                    mode="markers",
                    name=name,
                    marker={"color": colour, "symbol": style["symbol"], "size": 7, "opacity": 0.8},
                    text=[
                        f"{style['name']}, {class_name(t)}, predicted {p}"
                        for t, p in zip(label[mask], predicted[mask], strict=True)
                    ],
                    hoverinfo="text",
                )
            )
    if mark_errors:
        wrong = (domain == 1) & (label != predicted) & (label != UNLABELLED)
        fig.add_trace(
            go.Scattergl(
                x=xy[wrong, 0],
                y=xy[wrong, 1],
                mode="markers",
                name="misclassified target",
                marker={"symbol": "x-thin-open", "size": 11, "color": "black", "line": {"width": 2}},
                hoverinfo="skip",
            )
        )
    fig.update_xaxes(showticklabels=False, title=None)
    fig.update_yaxes(showticklabels=False, title=None, scaleanchor="x")
    return layout(fig, title, height=420, hovermode="closest", legend={"orientation": "h", "y": -0.05})
