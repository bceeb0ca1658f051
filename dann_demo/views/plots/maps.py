"""Feature maps over training, played back: the three compared runs side by side, and how mixed the
domains are over steps."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from dann_demo.datasets import UNLABELLED
from dann_demo.views.plots.style import (
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


# A run whose maps span more than this many times the median run's is drawn on the shared scale all the same,
# with a note on its panel, rather than widening every panel until the others shrink to a dot.
FAR_SPREAD = 3.0


def shared_map_range(runs: list[MapRun], steps: list[int]) -> tuple[np.ndarray, np.ndarray, list[float]]:
    """One (lo, hi) per axis for every panel over `steps`, and each run's spread against the others (its
    maps' widest extent over the median run's): the union of the runs' own ranges, leaving out a run that
    spreads FAR_SPREAD times wider than the median one (its panel says so)."""
    ranges = []
    for run in runs:
        every = np.concatenate([run.maps[s] for s in steps])
        ranges.append((every.min(axis=0), every.max(axis=0)))
    spans = np.array([float(np.max(hi - lo)) for lo, hi in ranges])
    typical = max(float(np.median(spans)), 1e-12)
    ratios = [float(span / typical) for span in spans]
    kept = [r for r, ratio in zip(ranges, ratios, strict=True) if ratio <= FAR_SPREAD] or ranges
    lo = np.min([r[0] for r in kept], axis=0)
    hi = np.max([r[1] for r in kept], axis=0)
    pad = 0.05 * np.maximum(hi - lo, 1e-6)
    return lo - pad, hi + pad, ratios


def _spread_note(ratio: float, col: int) -> dict:
    axis = "" if col == 1 else str(col)
    return {
        "text": f"its features spread {ratio:.0f}x wider than the others':<br>points past the edge are off this "
        "shared scale",
        "xref": f"x{axis} domain",
        "yref": f"y{axis} domain",
        "x": 0.5,
        "y": 0.02,
        "showarrow": False,
        "font": {"size": 12, "color": "#444"},
        "bgcolor": "rgba(255,255,255,0.8)",
    }


def _scale(runs: list[MapRun], step: int, titles: list) -> dict:
    """The layout of one step: every panel's axes on the step's shared range, and a note on a far-spread panel."""
    lo, hi, ratios = shared_map_range(runs, [step])
    axes = {}
    for col in range(1, len(runs) + 1):
        suffix = "" if col == 1 else str(col)
        axes[f"xaxis{suffix}"] = {"range": [float(lo[0]), float(hi[0])]}
        axes[f"yaxis{suffix}"] = {"range": [float(lo[1]), float(hi[1])]}
    notes = [_spread_note(r, col) for col, r in enumerate(ratios, start=1) if r > FAR_SPREAD]
    return {**axes, "annotations": [*titles, *notes]}


def feature_maps_figure(
    runs: list[MapRun], steps: list[int], colour_by: str = "domain", mark_errors: bool = False, duration_ms: int = 900
) -> go.Figure:
    """The compared runs' feature maps side by side, one frame per training step, with Play and a step
    slider (played in the browser: a frame shows at once). At every step all panels share one scale
    (shared_map_range over that step's maps), so identical maps look identical and spreads compare; the
    scale follows the features as they grow, for every panel at once."""
    fig = make_subplots(rows=1, cols=len(runs), subplot_titles=[r.title for r in runs], horizontal_spacing=0.04)
    titles = [a.to_plotly_json() for a in fig.layout.annotations]
    first = steps[0]
    for col, run in enumerate(runs, start=1):
        for trace in _map_traces(run, first, colour_by, mark_errors, show_legend=col == 1):
            fig.add_trace(trace, row=1, col=col)
        fig.update_xaxes(showticklabels=False, row=1, col=col)
        fig.update_yaxes(showticklabels=False, row=1, col=col)
    fig.update_layout(_scale(runs, first, titles))
    fig.frames = [
        go.Frame(
            name=str(step),
            data=[
                t for col, run in enumerate(runs, 1) for t in _map_traces(run, step, colour_by, mark_errors, col == 1)
            ],
            layout=_scale(runs, step, titles),
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
