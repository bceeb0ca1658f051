"""Streamlit glue for a finished run's headline numbers. Not a page."""

from __future__ import annotations

import math

import streamlit as st

from dann_demo.results import RunResult

NO_TARGET_LABELS = "Your target data has no labels, so target accuracy cannot be measured."


def percent(value: float) -> str:
    """A metric as a percentage; "—" where it is unknown (target accuracy without target labels)."""
    return "—" if math.isnan(value) else f"{value:.1%}"


def summary(result: RunResult) -> None:
    """The finished run's headline numbers, three to a row so that each reads whole on a projector."""
    m = result.metrics
    first, second = st.columns(3), st.columns(3)
    first[0].metric("Source accuracy", f"{m['source_acc']:.1%}")
    first[1].metric(
        "Target accuracy",
        percent(m["target_acc"]),
        help=NO_TARGET_LABELS if math.isnan(m["target_acc"]) else None,
    )
    first[2].metric("Domain accuracy", f"{m['domain_acc']:.1%}", help="50% means the domain classifier is guessing.")
    second[0].metric(
        "Proxy A-distance",
        f"{m['pad']:.2f}",
        help="0 = domains indistinguishable, 2 = separable (linear SVM on the features; clipped at 0).",
    )
    second[1].metric("Time", f"{m['seconds']:.1f} s", help=f"{m['steps']} steps, {m['steps_per_second']:.0f} steps/s")
    second[2].metric("Device", str(m["device"]))
