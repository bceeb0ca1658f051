"""Streamlit glue shared by the pages: the process-wide job manager, the run-settings widgets,
and the run summary. Not a page itself (app.py's navigation lists the pages)."""

from __future__ import annotations

import functools
import math
import os
import threading

import streamlit as st
import torch

from dann_demo import userdata
from dann_demo.config import DATASET_DEFAULTS, LIMITS, ConfigError, RunConfig
from dann_demo.data import load_pair
from dann_demo.jobs import JobManager
from dann_demo.train import RunResult

DATASET_LABELS = {"moons": "two moons (2-D points)", "digits": "digits → digits-M (images)",
                  "blobs": "blobs: shifted and scaled (2-D points)", "file": "your own data (.npz or .csv)"}
MODE_LABELS = {
    "dann": "DANN (gradient reversal)",
    "source_only": "source only (no adaptation)",
    "no_reversal": "no reversal (domain head trained jointly, ablation)",
    "target_oracle": "target oracle (trained on target labels: upper bound)",
}
def mode_title(mode: str) -> str:
    """The short name of a mode, for chart titles: 'DANN', 'source only', ..."""
    return MODE_LABELS[mode].split(" (")[0]


MODE_HELP = (
    "**DANN**: the domain classifier's gradient is reversed into the feature extractor. "
    "**Source only**: the domain classifier is still trained, as a probe, but does not touch the features. "
    "**No reversal**: the feature extractor *helps* the domain classifier (the ablation without the GRL). "
    "**Target oracle**: trained on the target's labels, the best one can hope for."
)


_navigation_forced = False


def require_navigation() -> None:
    """Make sure this page runs under app.py's st.navigation.

    Streamlit treats a `pages/` folder beside the entry script as its old multipage layout until
    app.py's first run calls st.navigation: a first visit to a fresh server straight at /features
    would run this page without app.py (no page config, every file of pages/ in the menu). We use
    st.navigation only, so the first time this happens in a process we switch that off and run the
    app again. (AppTest resets the flag before every run; after the first time we only switch it
    off, so a test's widget events are not lost to a rerun.) This leans on Streamlit's internal
    flag (checked with Streamlit 1.67); without it, it does nothing.
    """
    global _navigation_forced
    try:
        from streamlit.runtime.pages_manager import PagesManager
    except ImportError:
        return
    if getattr(PagesManager, "uses_pages_directory", False):
        PagesManager.uses_pages_directory = False
        if not _navigation_forced:
            _navigation_forced = True
            st.rerun()


@st.cache_resource
def job_manager() -> JobManager:
    """One manager per server process, shared by every session, so identical runs are trained once."""
    return JobManager(max_concurrent=int(os.environ.get("DANN_MAX_JOBS", "2")),
                      cache_entries=int(os.environ.get("DANN_CACHE_RUNS", "32")))  # fmt: skip


@st.cache_resource
def warm_up() -> bool:
    """Once per process, at start-up: build the default data set, and compile UMAP in the background
    (numba's first call takes over 10 s; better now than in front of the class)."""
    from dann_demo.embed import warm_up_umap

    load_pair(RunConfig.for_dataset("moons"))
    if os.environ.get("DANN_WARM_UP", "1") != "0":  # the test suite turns it off: it never draws UMAP
        threading.Thread(target=warm_up_umap, name="umap-warm-up", daemon=True).start()
    return True


def device_caption() -> str:
    if torch.cuda.is_available():
        return f":material/memory: Training on the GPU: {torch.cuda.get_device_name(0)}"
    if torch.backends.mps.is_available():
        return ":material/memory: Training on the Apple GPU (mps)"
    return f":material/memory: Training on the CPU ({os.cpu_count()} cores); no GPU found"


def _default(dataset: str, name: str):
    return DATASET_DEFAULTS[dataset].get(name, RunConfig.__dataclass_fields__[name].default)


NPZ_FORMAT = (
    "A `.npz` from `numpy.savez` with arrays `source_x`, `source_y`, `target_x` and, optionally, `target_y` "
    "(only to report target accuracy), `target_test_x` and `target_test_y` (else 25% of each domain is held out "
    "for testing). `*_x`: a table (examples x features, numbers) or images (N x H x W grey, or N x H x W x 3 "
    "colour; uint8 0-255 or floats 0-1), resized to 28 x 28. `*_y`: whole numbers 0, 1, 2, ... At most "
    f"{userdata.MAX_FILE_MB} MB, {userdata.MAX_ROWS:,} examples per array, {userdata.MAX_FEATURES:,} features, "
    f"{userdata.MAX_IMAGE_SIDE} x {userdata.MAX_IMAGE_SIDE} pixels; no pickled objects."
)
CSV_FORMAT = (
    "Two `.csv` files with a header line and the same numeric feature columns; the label column (whole numbers "
    "0, 1, 2, ...) is needed in the source and optional in the target (without it, target accuracy is not "
    f"shown). 25% of each file is held out for testing. At most {userdata.MAX_ROWS:,} rows and "
    f"{userdata.MAX_FEATURES:,} feature columns per file."
)


def _blobs_settings(k: str) -> dict:
    """Blobs: how far, in which direction and how much wider the target is than the source."""
    return {
        "blob_shift": st.slider("Target shift (distance)", 0.0, 5.0, float(_default("blobs", "blob_shift")), 0.1,
                                key=f"{k}_shift", help="How far the target's classes move from the source's."),
        "blob_angle": st.slider("Shift direction (degrees)", -180.0, 180.0, float(_default("blobs", "blob_angle")),
                                15.0, key=f"{k}_angle", help="0 = to the right, 90 = up."),
        "blob_scale": st.slider("Target spread (x source)", 0.5, 3.0, float(_default("blobs", "blob_scale")), 0.1,
                                key=f"{k}_scale", help="How much wider the target's classes are than the source's."),
    }  # fmt: skip


def _saved_upload(upload) -> str:
    """Save an uploaded file once per upload (not on every rerun) and return its content-addressed path."""
    saved = st.session_state.setdefault("uploaded_paths", {})
    key = (upload.file_id, upload.name, upload.size)
    if key not in saved or not os.path.isfile(saved[key]):
        saved[key] = str(userdata.save_upload(upload.name, upload.getvalue()))
    return saved[key]


def uploaded_data_values(data_upload, target_upload=None, label_column: str = "label") -> dict:
    """The RunConfig fields for uploaded files (a .npz, or a source and a target .csv).

    Raises userdata.DataFileError (too large, wrong ending) or ConfigError (a blank label column).
    """
    values = {"data_file": _saved_upload(data_upload)}
    if target_upload is not None:
        values["target_file"] = _saved_upload(target_upload)
        values["label_column"] = label_column.strip()
    return values


def _own_data_settings(k: str) -> tuple[dict | None, str | None]:
    """Your own data: an uploaded .npz, or two .csv files and the label column's name.
    Returns (RunConfig fields, None), (None, None) while files are missing, or (None, message)."""
    kind = st.radio("File format", ["npz", "csv"], horizontal=True, key=f"{k}_format",
                    format_func={"npz": "one .npz", "csv": "two .csv"}.get)  # fmt: skip
    if kind == "npz":
        upload = st.file_uploader("Your .npz file", type=["npz"], key=f"{k}_npz",
                                  max_upload_size=userdata.MAX_FILE_MB)
        st.caption(NPZ_FORMAT)
        for example in ("table", "images"):
            st.download_button(f"Example: {example}", functools.partial(userdata.example_npz, example),
                               f"example_{example}.npz", "application/octet-stream", key=f"{k}_example_{example}",
                               icon=":material/download:")  # fmt: skip
        uploads = (upload, None, "label")
    else:
        source = st.file_uploader("Source .csv (with labels)", type=["csv"], key=f"{k}_source_csv",
                                  max_upload_size=userdata.MAX_FILE_MB)
        target = st.file_uploader("Target .csv (labels optional)", type=["csv"], key=f"{k}_target_csv",
                                  max_upload_size=userdata.MAX_FILE_MB)
        label = st.text_input("Label column", "label", key=f"{k}_label_column")
        st.caption(CSV_FORMAT)
        uploads = (source, target, label)
    if uploads[0] is None or (kind == "csv" and uploads[1] is None):
        st.info("Upload your data to train on it.", icon=":material/upload:")
        return None, None
    try:
        return uploaded_data_values(*uploads), None
    except (userdata.DataFileError, ConfigError) as e:
        return None, str(e)


def run_settings(prefix: str = "train", choose_mode: bool = True) -> tuple[RunConfig | None, str | None]:
    """The run-settings widgets (in the current container). Returns (config, None) or (None, error).

    Widget keys carry the data set's name, so each data set keeps its own defaults and edits.
    """
    dataset = st.selectbox("Data set", list(DATASET_LABELS), format_func=DATASET_LABELS.get, key=f"{prefix}_dataset")
    k = f"{prefix}_{dataset}"
    values: dict = {"dataset": dataset}
    if dataset == "moons":
        values["rotation"] = st.slider("Target rotation (degrees)", -180.0, 180.0, float(_default(dataset, "rotation")),
                                       5.0, key=f"{k}_rotation",
                                       help="The target domain is the source's two moons rotated by this angle.")
        values["noise"] = st.slider("Noise", 0.0, 0.5, float(_default(dataset, "noise")), 0.01, key=f"{k}_noise")
    if dataset == "blobs":
        values.update(_blobs_settings(k))
    file_error = None
    if dataset == "file":
        file_values, file_error = _own_data_settings(k)
        values.update(file_values or {})
    if choose_mode:
        values["mode"] = st.selectbox("Mode", list(MODE_LABELS), format_func=MODE_LABELS.get, key=f"{k}_mode",
                                      help=MODE_HELP)  # fmt: skip
    schedule = st.radio("Lambda", ["paper", "constant"], horizontal=True, key=f"{k}_schedule",
                        index=["paper", "constant"].index(_default(dataset, "lambda_schedule")),
                        format_func={"paper": "paper schedule", "constant": "constant"}.get,
                        help="Paper: λ_p = 2/(1+exp(-γp)) − 1, rising from 0 to 1 (times the ceiling below).")
    values["lambda_schedule"] = schedule
    values["lambda_value"] = st.slider("λ (constant value, or the schedule's ceiling)", 0.0, 10.0,
                                       float(_default(dataset, "lambda_value")), 0.05, key=f"{k}_lambda",
                                       help="Move it during training: the running job uses it from the next step.")
    if schedule == "paper":
        values["gamma"] = st.slider("γ (how fast λ rises)", 0.0, 50.0, float(_default(dataset, "gamma")), 0.5,
                                    key=f"{k}_gamma")  # fmt: skip
    values["steps"] = int(st.number_input("Steps", *LIMITS["steps"], value=int(_default(dataset, "steps")),
                                          step=500, key=f"{k}_steps"))  # fmt: skip
    values["lr"] = st.number_input("Learning rate μ0", 1e-6, 10.0, float(_default(dataset, "lr")), format="%.4f",
                                   key=f"{k}_lr")  # fmt: skip
    values["seed"] = int(st.number_input("Seed", *LIMITS["seed"], value=0, key=f"{k}_seed"))
    with st.expander("More settings"):
        values["batch_size"] = int(st.number_input("Batch size (per domain)", *LIMITS["batch_size"],
                                                   value=int(_default(dataset, "batch_size")), key=f"{k}_batch"))
        values["lr_alpha"] = st.number_input("lr decay α", 0.0, 1000.0, float(_default(dataset, "lr_alpha")),
                                             key=f"{k}_alpha", help="lr_p = μ0 / (1 + α p)^β; α = 0 keeps it fixed.")
        values["lr_beta"] = st.number_input("lr decay β", 0.0, 10.0, float(_default(dataset, "lr_beta")),
                                            key=f"{k}_beta")  # fmt: skip
        values["momentum"] = st.number_input("Momentum", 0.0, 0.999, float(_default(dataset, "momentum")),
                                             key=f"{k}_momentum")  # fmt: skip
        if dataset in ("moons", "blobs"):
            values["n_samples"] = int(st.number_input("Points per domain", *LIMITS["n_samples"],
                                                      value=int(_default(dataset, "n_samples")), key=f"{k}_n"))
        if dataset in ("moons", "blobs", "file"):
            values["hidden_units"] = int(st.number_input("Hidden units", *LIMITS["hidden_units"],
                                                         value=int(_default(dataset, "hidden_units")),
                                                         key=f"{k}_hidden"))  # fmt: skip
        values["device"] = st.selectbox("Device", ["auto", "cpu", "cuda", "mps"], key=f"{prefix}_device",
                                        help="auto picks the GPU when there is one.")  # fmt: skip
    if dataset == "file" and "data_file" not in values:
        return None, file_error  # no files yet, or files that could not be taken
    try:
        config = RunConfig(**values)
        if dataset == "file":
            with st.spinner("Reading your data…"):  # checked here (then cached): a message, not a failed run
                load_pair(config)
    except (ConfigError, userdata.DataFileError) as e:
        return None, str(e)
    if config.device == "cuda" and not torch.cuda.is_available():
        return None, "device=cuda is not available on this machine: choose auto or cpu."
    if config.device == "mps" and not torch.backends.mps.is_available():
        return None, "device=mps is not available on this machine: choose auto or cpu."
    return config, None


NO_TARGET_LABELS = "Your target data has no labels, so target accuracy cannot be measured."


def percent(value: float) -> str:
    """A metric as a percentage; "—" where it is unknown (target accuracy without target labels)."""
    return "—" if math.isnan(value) else f"{value:.1%}"


def summary(result: RunResult) -> None:
    """The finished run's headline numbers."""
    m = result.metrics
    cols = st.columns(6)
    cols[0].metric("Source accuracy", f"{m['source_acc']:.1%}")
    cols[1].metric("Target accuracy", percent(m["target_acc"]), help=NO_TARGET_LABELS if math.isnan(m["target_acc"])
                   else None)  # fmt: skip
    cols[2].metric("Domain accuracy", f"{m['domain_acc']:.1%}", help="50% means the domain classifier is guessing.")
    cols[3].metric("Proxy A-distance", f"{m['pad']:.2f}", help="0 = domains indistinguishable, 2 = separable "
                   "(linear SVM on the features; clipped at 0).")  # fmt: skip
    cols[4].metric("Time", f"{m['seconds']:.1f} s", help=f"{m['steps']} steps, {m['steps_per_second']:.0f} steps/s")
    cols[5].metric("Device", str(m["device"]))
