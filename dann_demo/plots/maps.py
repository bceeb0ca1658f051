"""Feature maps over training, played back: the three compared runs side by side, and how mixed the
domains are over steps."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from dann_demo.datasets import UNLABELLED
from dann_demo.plots.style import (
    DOMAIN_STYLE,
    class_colour,
    class_name,
    layout,
)


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
                    class_colour(c),
                    f"{style['name']}, {class_name(c)}",
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
    return layout(
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
    return layout(fig, "How mixed are source and target? (a fresh k-NN probe on held-out features)", height=340)
