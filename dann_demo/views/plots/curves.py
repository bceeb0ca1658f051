"""Training curves of one run (losses, accuracies, lambda and the learning rate over steps) and the
paper's schedules."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from dann_demo.method.schedules import paper_lambda, paper_lr
from dann_demo.views.plots.style import (
    LN2,
    SOURCE_COLOUR,
    TARGET_COLOUR,
    layout,
    mark_lambda_changes,
)


def _span(history: pd.DataFrame) -> float:
    return float(history["step"].max()) if len(history) else 0.0


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
    mark_lambda_changes(fig, lambda_changes, _span(history))
    fig.update_xaxes(title="step")
    fig.update_yaxes(title=y_title)
    return layout(fig, title)


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
    # Below the line: a domain classifier's accuracy is at or above chance nearly always, so the label does
    # not sit on the curve it explains.
    fig.add_hline(
        y=0.5,
        line={"dash": "dash", "color": "#333"},
        annotation_text="50%: chance",
        annotation_position="bottom right",
    )
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
    mark_lambda_changes(fig, lambda_changes, _span(history))
    fig.update_xaxes(title="step")
    fig.update_yaxes(title="lambda", secondary_y=False)
    fig.update_yaxes(title="learning rate", secondary_y=True, rangemode="tozero")
    fig.update_yaxes(rangemode="tozero", secondary_y=False)
    return layout(fig, "Schedules: lambda and learning rate")


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
    return layout(fig, "The paper's schedules", height=380)
