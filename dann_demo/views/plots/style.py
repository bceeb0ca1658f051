"""The look every figure shares: the domains' and classes' colours and markers (Okabe-Ito, colour-blind
safe; source and target differ in marker shape too, so a projector in a lit room loses nothing), fonts,
the layout, lambda-change marks and the chart toolbar."""

from __future__ import annotations

import math

import plotly.graph_objects as go

from dann_demo.datasets import UNLABELLED

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


def layout(fig: go.Figure, title: str, height: int = 320, **overrides) -> go.Figure:
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


# Lambda changes closer together than this fraction of the run are one drag of the slider (each value it
# passed through reached the run): the chart marks the drag once, at its last value.
BURST_FRACTION = 0.05


def lambda_marks(lambda_changes: list[tuple[int, float]], span: float) -> list[tuple[int, float]]:
    """The changes a chart marks: the last of each burst (changes less than BURST_FRACTION * span steps
    after the one before)."""
    marks: list[tuple[int, float]] = []
    for step, value in lambda_changes:
        if marks and step - marks[-1][0] < BURST_FRACTION * span:
            marks[-1] = (step, value)
        else:
            marks.append((step, value))
    return marks


def mark_lambda_changes(fig: go.Figure, lambda_changes: list[tuple[int, float]], span: float = 0.0) -> None:
    """A dotted line where the user set lambda, labelled at the bottom (the reference lines' labels sit at
    the top). `span`: the steps the chart shows, for telling one drag from separate moves."""
    for step, value in lambda_marks(list(lambda_changes), span):
        fig.add_vline(
            x=step,
            line={"dash": "dot", "color": "#666"},
            annotation_text=f"λ={value:g}",
            annotation_position="bottom left",
        )


def class_colour(c: int) -> str:
    return "#999999" if c == UNLABELLED else CLASS_COLOURS[c % len(CLASS_COLOURS)]


def class_name(c: int) -> str:
    return "unlabelled" if c == UNLABELLED else f"class {c}"


# Plotly's chart toolbar (shown on hover): the camera button saves a PNG, at twice the screen's
# resolution so it stays sharp on slides.
CHART_CONFIG = {
    "displaylogo": False,
    "toImageButtonOptions": {"format": "png", "scale": 2, "filename": "dann-playground"},
}
