"""Plotly figures, pure functions of results. The same colours and markers in every figure.

Source and target are an Okabe-Ito pair (colour-blind safe) and differ in marker shape too, so a
projector in a lit room or a colour-blind student loses nothing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from dann_demo.datasets import UNLABELLED, DomainPair
from dann_demo.results import InputPlane
from dann_demo.schedules import paper_lambda, paper_lr

SOURCE_COLOUR, TARGET_COLOUR = "#0072B2", "#E69F00"
DOMAIN_STYLE = {
    0: {"name": "source", "color": SOURCE_COLOUR, "symbol": "circle"},
    1: {"name": "target", "color": TARGET_COLOUR, "symbol": "triangle-up"},
}
CLASS_COLOURS = [
    "#009E73",
    "#CC79A7",
    "#56B4E9",
    "#D55E00",
    "#F0E442",
    "#0072B2",
    "#E69F00",
    "#000000",
    "#999999",
    "#882255",
]
LN2 = math.log(2.0)
FONT = {"size": 16}


def _layout(fig: go.Figure, title: str, height: int = 320, **overrides) -> go.Figure:
    layout = {
        "title": {"text": title, "font": {"size": 18}},
        "font": FONT,
        "height": height,
        "margin": {"l": 60, "r": 20, "t": 50, "b": 50},
        "hovermode": "x unified",
        "legend": {"orientation": "h", "y": -0.25},
    }
    fig.update_layout(**{**layout, **overrides})
    return fig


def _mark_lambda_changes(fig: go.Figure, lambda_changes: list[tuple[int, float]]) -> None:
    for step, value in lambda_changes:
        fig.add_vline(
            x=step,
            line={"dash": "dot", "color": "#666"},
            annotation_text=f"λ={value:g}",
            annotation_position="top left",
        )


def _curves(
    history: pd.DataFrame,
    columns: dict[str, str],
    title: str,
    y_title: str,
    lambda_changes: list[tuple[int, float]],
    colours: dict[str, str] | None = None,
) -> go.Figure:
    fig = go.Figure()
    for col, label in columns.items():
        fig.add_trace(
            go.Scatter(
                x=history["step"],
                y=history[col],
                mode="lines",
                name=label,
                line={"width": 3, "color": (colours or {}).get(col)},
                hovertemplate="%{y:.4f}",
            )
        )
    _mark_lambda_changes(fig, lambda_changes)
    fig.update_xaxes(title="step")
    fig.update_yaxes(title=y_title)
    return _layout(fig, title)


def label_loss_figure(history: pd.DataFrame, lambda_changes: list[tuple[int, float]] = ()) -> go.Figure:
    return _curves(history, {"label_loss": "label loss"}, "Label loss", "cross-entropy", lambda_changes)


def domain_loss_figure(history: pd.DataFrame, lambda_changes: list[tuple[int, float]] = ()) -> go.Figure:
    fig = _curves(
        history,
        {"domain_loss": "domain loss"},
        "Domain loss",
        "binary cross-entropy",
        lambda_changes,
        {"domain_loss": "#D55E00"},
    )
    fig.add_hline(
        y=LN2, line={"dash": "dash", "color": "#333"}, annotation_text="ln 2 = 0.693: the domain classifier is guessing"
    )
    return fig


def domain_accuracy_figure(history: pd.DataFrame, lambda_changes: list[tuple[int, float]] = ()) -> go.Figure:
    fig = _curves(
        history,
        {"domain_acc": "domain accuracy (held out)"},
        "Domain classifier accuracy",
        "accuracy",
        lambda_changes,
        {"domain_acc": "#D55E00"},
    )
    fig.add_hline(y=0.5, line={"dash": "dash", "color": "#333"}, annotation_text="50%: chance")
    fig.update_yaxes(range=[0, 1.02], tickformat=".0%")
    return fig


def accuracy_figure(history: pd.DataFrame, lambda_changes: list[tuple[int, float]] = ()) -> go.Figure:
    fig = _curves(
        history,
        {"source_acc": "source accuracy", "target_acc": "target accuracy"},
        "Label accuracy on held-out data",
        "accuracy",
        lambda_changes,
        {"source_acc": SOURCE_COLOUR, "target_acc": TARGET_COLOUR},
    )
    fig.update_traces(selector={"name": "target accuracy"}, line={"dash": "dash", "width": 3})
    fig.update_yaxes(range=[0, 1.02], tickformat=".0%")
    return fig


def schedule_figure(history: pd.DataFrame, lambda_changes: list[tuple[int, float]] = ()) -> go.Figure:
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    fig.add_trace(go.Scatter(x=history["step"], y=history["lambda"], name="lambda", line={"width": 3}))
    fig.add_trace(
        go.Scatter(x=history["step"], y=history["lr"], name="learning rate", line={"width": 3, "dash": "dash"}),
        secondary_y=True,
    )
    _mark_lambda_changes(fig, lambda_changes)
    fig.update_xaxes(title="step")
    fig.update_yaxes(title="lambda", secondary_y=False)
    fig.update_yaxes(title="learning rate", secondary_y=True, rangemode="tozero")
    fig.update_yaxes(rangemode="tozero", secondary_y=False)
    return _layout(fig, "Schedules: lambda and learning rate")


PAPER_SCHEDULE = {"gamma": 10.0, "mu0": 0.01, "alpha": 10.0, "beta": 0.75}


def paper_schedules_figure(
    gamma: float = 10.0, alpha: float = 10.0, mu0: float = 0.01, beta: float = 0.75, points: int = 201
) -> go.Figure:
    """lambda_p and lr_p against training progress p, for the given gamma and alpha, with the paper's
    own curves (gamma = alpha = 10) dashed beside them when they differ."""
    p = np.linspace(0.0, 1.0, points)
    fig = make_subplots(
        rows=1,
        cols=2,
        horizontal_spacing=0.12,
        subplot_titles=["λ_p = 2 / (1 + exp(−γ p)) − 1", "lr_p = μ0 / (1 + α p)^β"],
    )
    # Yours solid and black, the paper's dashed and grey: the two differ without colour.
    curves = [(gamma, alpha, mu0, beta, f"γ = {gamma:g}, α = {alpha:g}", {"width": 4, "color": "#000"})]
    paper = PAPER_SCHEDULE
    if (gamma, alpha, mu0, beta) != (paper["gamma"], paper["alpha"], paper["mu0"], paper["beta"]):
        curves.append(
            (
                paper["gamma"],
                paper["alpha"],
                paper["mu0"],
                paper["beta"],
                "the paper (γ = α = 10)",
                {"width": 3, "dash": "dash", "color": "#888"},
            )
        )
    for g, a, m, b, name, line in curves:
        fig.add_trace(
            go.Scatter(
                x=p,
                y=[paper_lambda(x, g) for x in p],
                name=name,
                legendgroup=name,
                line=line,
                hovertemplate="λ = %{y:.3f}",
            ),
            row=1,
            col=1,
        )
        fig.add_trace(
            go.Scatter(
                x=p,
                y=[paper_lr(x, m, a, b) for x in p],
                name=name,
                legendgroup=name,
                showlegend=False,
                line=line,
                hovertemplate="lr = %{y:.4f}",
            ),
            row=1,
            col=2,
        )
    fig.update_xaxes(title="training progress p", range=[0, 1])
    fig.update_yaxes(title="λ", range=[0, 1.05], row=1, col=1)
    fig.update_yaxes(title="learning rate", rangemode="tozero", row=1, col=2)
    return _layout(fig, "The paper's schedules", height=380)


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
                text=[f"{style['name']}, {_class_name(c)}" for c in y[:max_points]],
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
                name=f"source, {_class_name(c)}",
                marker={"color": _class_colour(c), "symbol": DOMAIN_STYLE[0]["symbol"], "size": 8},
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
    return _layout(fig, "The data: labelled source, unlabelled target", height=420, hovermode="closest")


def _class_colour(c: int) -> str:
    return "#999999" if c == UNLABELLED else CLASS_COLOURS[c % len(CLASS_COLOURS)]


def _class_name(c: int) -> str:
    return "unlabelled" if c == UNLABELLED else f"class {c}"


PLANE_PANELS = {"class": ("Label classifier: P(class 1)", "RdBu"), "domain": ("Domain classifier: P(target)", "PuOr")}
MULTICLASS_TITLE = "Label classifier: predicted class"


def _class_regions(fig: go.Figure, plane: InputPlane, n_classes: int, col: int) -> None:
    """More than 2 classes: each predicted class as a tinted region, its border drawn in black."""
    predicted = plane.class_prob
    scale = [(i / max(n_classes - 1, 1), _class_colour(i)) for i in range(n_classes)]
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
        fig.add_trace(
            go.Contour(
                x=plane.xs,
                y=plane.ys,
                z=(predicted == c).astype(float),
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
    return _layout(fig, title, height=440 if len(panels) > 1 else 420, hovermode="closest")


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
                    _class_colour(c),
                    f"{style['name']}, {_class_name(c)}",
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
                        f"{style['name']}, {_class_name(t)}, predicted {p}"
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
    return _layout(fig, title, height=420, hovermode="closest", legend={"orientation": "h", "y": -0.05})


# Plotly's chart toolbar (shown on hover): the camera button saves a PNG, at twice the screen's
# resolution so it stays sharp on slides.
CHART_CONFIG = {
    "displaylogo": False,
    "toImageButtonOptions": {"format": "png", "scale": 2, "filename": "dann-playground"},
}


# --- lambda sweeps ---
SWEEP_COLOUR = "#D55E00"  # DANN's points; the reference lines are black and grey
PAPER_LABEL = "paper"


def lambda_axis_positions(labels: list[str]) -> dict[str, float]:
    """Where each constant lambda sits on the log x axis. 0 has no place on a log axis: it is drawn
    a decade below the smallest positive lambda (at 0.01 when there is none) and labelled "0"."""
    values = {label: float(label) for label in labels if label != PAPER_LABEL}
    positive = [v for v in values.values() if v > 0]
    stand_in = min(positive) / 10 if positive else 0.01
    return {label: v if v > 0 else stand_in for label, v in values.items()}


def _sweep_figure(
    summary: pd.DataFrame, metric: str, title: str, y_title: str, references: dict[str, tuple[str, str]]
) -> go.Figure:
    dann = summary[summary["mode"] == "dann"]
    constant = dann[dann["lambda"] != PAPER_LABEL]
    positions = lambda_axis_positions(list(constant["lambda"]))
    xs = [positions[label] for label in constant["lambda"]]
    order = sorted(range(len(xs)), key=xs.__getitem__)
    fig = go.Figure()
    fig.add_trace(
        go.Scatter(
            x=[xs[i] for i in order],
            y=constant[f"{metric}_mean"].iloc[order],
            mode="lines+markers",
            name="DANN, constant λ",
            line={"width": 3, "color": SWEEP_COLOUR},
            marker={"size": 11},
            error_y={"type": "data", "array": constant[f"{metric}_std"].iloc[order], "visible": True, "thickness": 2},
            text=[f"λ = {constant['lambda'].iloc[i]}" for i in order],
            hovertemplate="%{text}: %{y:.3f}<extra></extra>",
        )
    )
    paper = dann[dann["lambda"] == PAPER_LABEL]
    if len(paper):
        fig.add_trace(
            go.Scatter(
                x=[1.0],
                y=paper[f"{metric}_mean"],
                mode="markers",
                name="DANN, paper schedule (λ rises 0 → 1)",
                marker={"size": 15, "symbol": "diamond", "color": "#009E73", "line": {"width": 1, "color": "black"}},
                error_y={"type": "data", "array": paper[f"{metric}_std"], "visible": True, "thickness": 2},
                hovertemplate="paper schedule: %{y:.3f}<extra></extra>",
            )
        )
    for mode, (label, dash) in references.items():
        ref = summary[summary["mode"] == mode]
        if len(ref):
            mean, std = float(ref[f"{metric}_mean"].iloc[0]), float(ref[f"{metric}_std"].iloc[0])
            fig.add_hline(
                y=mean,
                line={"dash": dash, "color": "#333", "width": 2},
                annotation_text=f"{label}: {mean:.2f} ± {std:.2f}",
                annotation_position="bottom left" if mode == "target_oracle" else "bottom right",
            )
    ticks = sorted(set(positions.values()) | ({1.0} if len(paper) else set()))
    labels = {v: f"{float(k):g}" for k, v in positions.items()}
    fig.update_xaxes(
        type="log",
        title="λ (log scale; 0 drawn at the left edge)",
        tickvals=ticks,
        ticktext=[labels.get(v, "1") for v in ticks],
    )
    fig.update_yaxes(title=y_title, tickformat=".0%")
    return _layout(fig, title, height=420, hovermode="closest")


def sweep_accuracy_figure(summary: pd.DataFrame) -> go.Figure:
    """Target accuracy against lambda (mean ± std over seeds), with source only and the target
    oracle as horizontal lines: the floor and the ceiling of what adaptation can do."""
    references = {
        "target_oracle": ("target oracle (upper bound)", "dot"),
        "source_only": ("source only (no adaptation)", "dash"),
    }
    return _sweep_figure(summary, "target_acc", "Target accuracy against λ", "target accuracy", references)


def sweep_domain_figure(summary: pd.DataFrame) -> go.Figure:
    """The domain classifier's accuracy against lambda; 50% means it can no longer tell the domains apart."""
    fig = _sweep_figure(
        summary,
        "domain_acc",
        "Domain classifier accuracy against λ",
        "domain accuracy",
        {"source_only": ("source only (domain probe)", "dash")},
    )
    fig.add_hline(
        y=0.5, line={"dash": "dot", "color": "#999"}, annotation_text="50%: chance", annotation_position="top left"
    )
    return fig


# --- a room's runs (the Class page) ---
ROOM_MODE_STYLE = {
    "dann": ("DANN", SWEEP_COLOUR),
    "no_reversal": ("no reversal", "#CC79A7"),
}
ROOM_REFERENCES = {"source_only": ("source only", "dash"), "target_oracle": ("target oracle", "dot")}


def room_figure(frame: pd.DataFrame, metric: str, title: str, y_title: str) -> go.Figure:
    """Every run of a room: `metric` against lambda (log axis; lambda 0 a decade left of the smallest
    lambda, as on the Lambda sweep page), coloured by mode; the paper schedule a diamond at its ceiling;
    a running run an open marker at its latest record. Source only and the target oracle are the
    horizontal lines of their mean."""
    fig = go.Figure()
    placed = frame[frame["mode"].isin(ROOM_MODE_STYLE.keys()) & frame[metric].notna()]
    positive = placed.loc[placed["lambda_at"] > 0, "lambda_at"]
    zero_at = float(positive.min()) / 10 if len(positive) else 0.01
    for mode, (name, colour) in ROOM_MODE_STYLE.items():
        runs = placed[placed["mode"] == mode]
        if runs.empty:
            continue
        x = runs["lambda_at"].where(runs["lambda_at"] > 0, zero_at)
        symbols = [
            ("diamond" if s == "paper" else "circle") + ("" if state in ("finished", "stopped") else "-open")
            for s, state in zip(runs["schedule"], runs["state"], strict=True)
        ]
        text = [
            f"{nick}: λ {lam}, {state}"
            for nick, lam, state in zip(runs["nickname"], runs["lambda"], runs["state"], strict=True)
        ]
        fig.add_trace(
            go.Scatter(
                x=x,
                y=runs[metric],
                mode="markers",
                name=name,
                text=text,
                marker={"size": 13, "color": colour, "symbol": symbols, "line": {"width": 2, "color": colour}},
                hovertemplate="%{text}: %{y:.3f}<extra></extra>",
            )
        )
    for mode, (name, dash) in ROOM_REFERENCES.items():
        values = frame.loc[(frame["mode"] == mode) & frame[metric].notna(), metric]
        if len(values):
            fig.add_hline(
                y=float(values.mean()),
                line={"dash": dash, "color": "#333", "width": 2},
                annotation_text=f"{name}: {values.mean():.2f} ({len(values)} run{'s' * (len(values) > 1)})",
                annotation_position="bottom left" if mode == "target_oracle" else "bottom right",
            )
    ticks = sorted({zero_at, *[float(v) for v in positive]}) if len(placed) else [0.01, 0.1, 1, 10]
    fig.update_xaxes(
        type="log",
        title="λ (log scale; λ = 0 at the left edge; ◆ the paper schedule at its ceiling)",
        tickvals=ticks,
        ticktext=["0" if t == zero_at else f"{t:g}" for t in ticks],
    )
    fig.update_yaxes(title=y_title, tickformat=".0%", range=[0, 1.05])
    return _layout(fig, title, height=420, hovermode="closest")


# --- feature maps over training, played back ---
@dataclass
class MapRun:
    """One compared run for feature_maps_figure: its title, the points shown and their maps by step."""

    title: str
    domain: np.ndarray  # (m,) of the shown points
    label: np.ndarray
    predicted: dict[int, np.ndarray]  # step -> (m,) the label classifier's class at that step
    maps: dict[int, np.ndarray]  # step -> (m, 2)


def _map_traces(run: MapRun, step: int, colour_by: str, mark_errors: bool, show_legend: bool) -> list[go.Scatter]:
    """The same traces at every step (frames only move their points): one per domain (and class)."""
    xy, traces = run.maps[step], []
    predicted = run.predicted[step]
    classes = [c for c in np.unique(run.label)]
    for d in (0, 1):
        style = DOMAIN_STYLE[d]
        groups = (
            [(run.domain == d, style["color"], style["name"])]
            if colour_by == "domain"
            else [
                (
                    (run.domain == d) & (run.label == c),
                    _class_colour(c),
                    f"{style['name']}, {_class_name(c)}",
                )
                for c in classes
            ]
        )
        for mask, colour, name in groups:
            traces.append(
                go.Scatter(
                    x=xy[mask, 0],
                    y=xy[mask, 1],
                    mode="markers",
                    name=name,
                    legendgroup=name,
                    showlegend=show_legend,
                    marker={"color": colour, "symbol": style["symbol"], "size": 7, "opacity": 0.8},
                    hoverinfo="skip",
                )
            )
    if mark_errors:
        wrong = (run.domain == 1) & (run.label != predicted) & (run.label != UNLABELLED)
        traces.append(
            go.Scatter(
                x=xy[wrong, 0],
                y=xy[wrong, 1],
                mode="markers",
                name="misclassified target",
                legendgroup="wrong",
                showlegend=show_legend,
                marker={"symbol": "x-thin-open", "size": 11, "color": "black", "line": {"width": 2}},
                hoverinfo="skip",
            )
        )
    return traces


def feature_maps_figure(
    runs: list[MapRun], steps: list[int], colour_by: str = "domain", mark_errors: bool = False, duration_ms: int = 900
) -> go.Figure:
    """The compared runs' feature maps side by side, one frame per training step, with Play and a step
    slider (played in the browser: a frame shows at once). Each panel keeps its axes over the steps."""
    fig = make_subplots(rows=1, cols=len(runs), subplot_titles=[r.title for r in runs], horizontal_spacing=0.04)
    first = steps[0]
    for col, run in enumerate(runs, start=1):
        for trace in _map_traces(run, first, colour_by, mark_errors, show_legend=col == 1):
            fig.add_trace(trace, row=1, col=col)
        every = np.concatenate([run.maps[s] for s in steps])
        lo, hi = every.min(axis=0), every.max(axis=0)
        pad = 0.05 * np.maximum(hi - lo, 1e-6)
        fig.update_xaxes(range=[lo[0] - pad[0], hi[0] + pad[0]], showticklabels=False, row=1, col=col)
        fig.update_yaxes(range=[lo[1] - pad[1], hi[1] + pad[1]], showticklabels=False, row=1, col=col)
    fig.frames = [
        go.Frame(
            name=str(step),
            data=[
                t for col, run in enumerate(runs, 1) for t in _map_traces(run, step, colour_by, mark_errors, col == 1)
            ],
        )
        for step in steps
    ]
    play = {"frame": {"duration": duration_ms, "redraw": True}, "transition": {"duration": 300}, "fromcurrent": True}
    fig.update_layout(
        updatemenus=[
            {
                "type": "buttons",
                "direction": "left",
                "x": 0.0,
                "y": -0.12,
                "xanchor": "left",
                "showactive": False,
                "buttons": [
                    {"label": "▶ Play", "method": "animate", "args": [None, play]},
                    {
                        "label": "❚❚ Pause",
                        "method": "animate",
                        "args": [
                            [None],
                            {"frame": {"duration": 0}, "mode": "immediate", "transition": {"duration": 0}},
                        ],
                    },
                ],
            }
        ],
        sliders=[
            {
                "active": 0,
                "x": 0.16,
                "y": -0.06,
                "len": 0.84,
                "currentvalue": {"prefix": "training step ", "xanchor": "right"},  # clear of the Play buttons
                "steps": [
                    {
                        "label": str(step),
                        "method": "animate",
                        "args": [
                            [str(step)],
                            {
                                "frame": {"duration": 0, "redraw": True},
                                "mode": "immediate",
                                "transition": {"duration": 0},
                            },
                        ],
                    }
                    for step in steps
                ],
            }
        ],
    )
    return _layout(
        fig,
        "Feature maps over training",
        height=520,
        hovermode="closest",
        legend={"orientation": "h", "y": 1.2, "x": 1.0, "xanchor": "right"},
        margin={"l": 20, "r": 20, "t": 110, "b": 110},
    )


def mixing_figure(curves: dict[str, pd.DataFrame]) -> go.Figure:
    """A fresh domain probe's accuracy at each snapshot, one line per run: 50% = source and target mixed."""
    fig = go.Figure()
    styles = {"source only": "dash", "DANN": "solid", "no reversal": "dot", "target oracle": "dashdot"}
    for name, curve in curves.items():
        fig.add_trace(
            go.Scatter(
                x=curve["step"],
                y=curve["probe_acc"],
                mode="lines+markers",
                name=name,
                line={"width": 3, "dash": styles.get(name, "solid")},
                marker={"size": 8},
                hovertemplate=f"{name}, step %{{x}}: %{{y:.1%}}<extra></extra>",
            )
        )
    fig.add_hline(
        y=0.5, line={"dash": "dot", "color": "#999"}, annotation_text="50%: mixed", annotation_position="bottom right"
    )
    fig.update_xaxes(title="training step")
    fig.update_yaxes(title="fresh probe's domain accuracy", tickformat=".0%", range=[0.4, 1.02])
    return _layout(fig, "How mixed are source and target? (a fresh k-NN probe on held-out features)", height=340)
