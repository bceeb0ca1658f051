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


def mark_lambda_changes(fig: go.Figure, lambda_changes: list[tuple[int, float]]) -> None:
    for step, value in lambda_changes:
        fig.add_vline(
            x=step,
            line={"dash": "dot", "color": "#666"},
            annotation_text=f"λ={value:g}",
            annotation_position="top left",
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
