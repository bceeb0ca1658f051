"""Streamlit glue for a finished run's headline numbers. Not a page."""

from __future__ import annotations

import math

import streamlit as st

from dann_demo.method.results import RunResult

NO_TARGET_LABELS = "Your target data has no labels, so target accuracy cannot be measured."
TWO_NUMBERS = (
    "**Domain accuracy** is the trained domain classifier, the adversary the features were trained against: "
    "near 50% it is beaten where it stands. The **fresh probe** is a new classifier trained after the run on "
    "the same held-out features: it may still tell the domains apart, and so may the proxy A-distance. So the "
    "two can disagree: a beaten adversary is not yet proof that the features carry no trace of the domain."
)


def percent(value: float) -> str:
    """A metric as a percentage; "—" where it is unknown (target accuracy without target labels)."""
    return "—" if math.isnan(value) else f"{value:.1%}"


def summary(result: RunResult) -> None:
    """The finished run's headline numbers, at most four to a row so that each reads whole on a projector."""
    m = result.metrics
    first, second = st.columns(4), st.columns(4)
    first[0].metric("Source accuracy", f"{m['source_acc']:.1%}")
    first[1].metric(
        "Target accuracy",
        percent(m["target_acc"]),
        help=NO_TARGET_LABELS if math.isnan(m["target_acc"]) else None,
    )
    first[2].metric("Domain accuracy", f"{m['domain_acc']:.1%}", help="The trained domain classifier: 50% = beaten.")
    first[3].metric(
        "Fresh probe",
        percent(m.get("probe_acc", math.nan)),
        help="A new k-nearest-neighbour classifier trained after the run on half of the held-out features, tested "
        "on the other half: 50% = the domains are mixed.",
    )
    second[0].metric(
        "Proxy A-distance",
        f"{m['pad']:.2f}",
        help="0 = domains indistinguishable, 2 = separable (linear SVM on the features; clipped at 0).",
    )
    second[1].metric("Time", f"{m['seconds']:.1f} s", help=f"{m['steps']} steps, {m['steps_per_second']:.0f} steps/s")
    device = str(m["device"])
    second[2].metric("Device", device.split(" ")[0], help=device)
    st.caption(TWO_NUMBERS)
