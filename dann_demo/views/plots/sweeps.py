"""A lambda sweep's results, and a room's runs on the Class page: target accuracy (and the domain
classifier) against lambda, with source only and the target oracle as reference lines."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from dann_demo.jobs.job import FINISHED, STOPPED
from dann_demo.views.plots.style import (
    layout,
)
from dann_demo.views.text import html_literal

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
    return layout(fig, title, height=420, hovermode="closest")


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


def room_figure(
    frame: pd.DataFrame, metric: str, title: str, y_title: str, references: dict[str, float] | None = None
) -> go.Figure:
    """Every run of a room: `metric` against lambda (log axis; lambda 0 a decade left of the smallest
    lambda, as on the Lambda sweep page), coloured by mode; the paper schedule a diamond at its ceiling;
    a running run an open marker at its latest record. Source only and the target oracle are the
    horizontal lines of their mean; where no student trained one, the room's own reference run of it
    (`references`: mode -> its figure) draws the line from the start."""
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
            ("diamond" if s == "paper" else "circle") + ("" if state in (FINISHED, STOPPED) else "-open")
            for s, state in zip(runs["schedule"], runs["state"], strict=True)
        ]
        text = [
            f"{html_literal(nick)}: λ {lam}, {state}"
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
            at, note = float(values.mean()), f"{len(values)} run{'s' * (len(values) > 1)}"
        elif references and references.get(mode) is not None and references[mode] == references[mode]:
            at, note = float(references[mode]), "the room's reference run"
        else:
            continue
        fig.add_hline(
            y=at,
            line={"dash": dash, "color": "#333", "width": 2},
            annotation_text=f"{name}: {at:.2f} ({note})",
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
    return layout(fig, title, height=420, hovermode="closest")
