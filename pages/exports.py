"""Streamlit glue for exports and sharing: run downloads, the classroom link, loading a saved config.
Not a page (app.py's navigation lists the pages); the file formats live in dann_demo/views/exports.py."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlencode

import streamlit as st

from dann_demo.config import ConfigError, RunConfig
from dann_demo.datasets import data_kind
from dann_demo.links import HIDE_PARAM, LINK_FIELDS, ROOM_PARAM, query_from_config
from dann_demo.method.results import RunResult
from dann_demo.views import exports
from pages.linking import apply_values


def run_downloads(result: RunResult, figures: Callable[[], dict]) -> None:
    """Download buttons for a finished run. Files are made when clicked (deferred), not on every rerun;
    `figures` builds (or reuses) the run's figures then."""
    name = f"dann-{result.config.dataset}-{result.config.mode}-seed{result.config.seed}"
    st.markdown("**Downloads**")
    cols = st.columns(5)
    cols[0].download_button(
        "History (CSV)",
        lambda: exports.history_csv(result),
        f"{name}-history.csv",
        "text/csv",
        icon=":material/table:",
        on_click="ignore",
    )
    cols[1].download_button(
        "Config (JSON)",
        lambda: exports.config_json(result.config),
        f"{name}-config.json",
        "application/json",
        icon=":material/settings:",
        on_click="ignore",
        help="Load it back here (Load a saved config) or with the CLI: --config FILE",
    )
    cols[2].download_button(
        "Metrics (JSON)",
        lambda: exports.metrics_json(result),
        f"{name}-metrics.json",
        "application/json",
        icon=":material/analytics:",
        on_click="ignore",
    )
    cols[3].download_button(
        "Weights (.pt)",
        lambda: exports.weights_bytes(result),
        f"{name}-weights.pt",
        "application/octet-stream",
        icon=":material/neurology:",
        on_click="ignore",
        help="dann_demo.views.exports.load_weights(file), or torch.load(file, weights_only=True)",
    )
    cols[4].download_button(
        "Figures (HTML, zip)",
        lambda: exports.figures_zip(figures()),
        f"{name}-figures.zip",
        "application/zip",
        icon=":material/bar_chart:",
        on_click="ignore",
        help="Interactive charts that open offline. For a PNG, use the camera button on a chart's toolbar.",
    )


def load_config_box(prefix: str) -> None:
    """Load a config saved from this app (or written for the CLI) into the settings widgets."""
    key = f"{prefix}_config_upload"

    def load() -> None:
        upload = st.session_state.get(key)
        if upload is None:
            return
        try:
            config = RunConfig.from_json(upload.getvalue().decode("utf-8"))
        except (ConfigError, ValueError, UnicodeDecodeError, TypeError) as e:
            st.session_state[f"{prefix}_config_error"] = f"{upload.name}: {e}"
            return
        st.session_state.pop(f"{prefix}_config_error", None)
        apply_values(prefix, config.to_dict())  # the settings a link could carry; file paths stay out

    st.file_uploader(
        "Load a saved config (JSON)",
        type=["json"],
        key=key,
        on_change=load,
        help="A config downloaded from a finished run.",
    )
    if error := st.session_state.get(f"{prefix}_config_error"):
        st.error(f"That config was not loaded: {error}", icon=":material/error:")


def share_box(prefix: str, config: RunConfig) -> None:
    """The link to this setup, and a classroom link that hides chosen controls; built once the box is open."""
    box = st.expander(
        "Share this setup / classroom link", icon=":material/share:", key=f"{prefix}_share_open", on_change="rerun"
    )
    if not box.open:
        return
    with box:
        hide = st.multiselect(
            "Hide these controls from students",
            [f for f in LINK_FIELDS if f != "seed"],
            default=sorted(st.session_state.get(f"{prefix}_hidden") or ()),
            key=f"{prefix}_hide_choice",
            help="The link fixes them at their current values; students see only the rest.",
        )
        query = query_from_config(config, data_kind(config))
        if hide:
            query[HIDE_PARAM] = ",".join(hide)
        if st.query_params.get(ROOM_PARAM):  # a room's link stays in the room
            query[ROOM_PARAM] = st.query_params[ROOM_PARAM]
        base = st.context.url or ""
        st.code(f"{base}?{urlencode(query)}", language=None)
        st.caption(
            "Anyone who opens this link gets these settings. The address bar always holds the "
            "link to the current settings too (without hidden controls)."
        )
