"""Streamlit glue shared by the pages: the process-wide job manager, the run-settings widgets,
and the run summary. Not a page itself (app.py's navigation lists the pages)."""

from __future__ import annotations

import functools
import math
import os
import threading

import streamlit as st
import torch

from dann_demo import mnist, userdata
from dann_demo.config import DEVICES, LIMITS, ConfigError, RunConfig
from dann_demo.data import load_pair
from dann_demo.jobs import JobManager
from dann_demo.links import (
    HIDE_PARAM,
    LINK_FIELDS,
    PRESET_PARAM,
    Param,
    config_values_from_query,
    dataset_defaults,
    hidden_from_query,
    params_from_query,
    query_from_config,
)
from dann_demo.presets import PRESETS, Preset
from dann_demo.train import RunResult

DATASET_LABELS = {
    "moons": "two moons (2-D points)",
    "digits": "digits → digits-M (images)",
    "blobs": "blobs: shifted and scaled (2-D points)",
    "file": "your own data (.npz or .csv)",
    "mnist": "MNIST → MNIST-M (paper's benchmark)",
}
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
    return JobManager(
        max_concurrent=int(os.environ.get("DANN_MAX_JOBS", "2")),
        cache_entries=int(os.environ.get("DANN_CACHE_RUNS", "32")),
        session_alive=_session_alive,
    )


def _session_alive(session: str) -> bool:
    """Whether a browser session is still connected (cancel on leaving). Under AppTest, with no
    server runtime, every session counts as alive."""
    from streamlit.runtime import Runtime

    return not Runtime.exists() or Runtime.instance().is_active_session(session)


@st.cache_resource
def warm_up() -> bool:
    """Once per process, at start-up: build the default data set, and compile UMAP in the background
    (numba's first call takes over 10 s; better now than in front of the class)."""
    from dann_demo.data import background_photos
    from dann_demo.embed import warm_up_umap

    load_pair(RunConfig.for_dataset("moons"))
    # The photos behind digits-M, read here on the script thread: their first read imports parts of
    # scikit-image that parse stub files with `ast`, and CPython 3.11's parser is not safe when a
    # worker thread does that while this thread compiles a page ("AST constructor recursion depth
    # mismatch", seen when the first digits run started during a page load).
    background_photos()
    if os.environ.get("DANN_WARM_UP", "1") != "0":  # the test suite turns it off: it never draws UMAP
        threading.Thread(target=warm_up_umap, name="umap-warm-up", daemon=True).start()
    return True


def device_caption() -> str:
    if torch.cuda.is_available():
        return f":material/memory: Training on the GPU: {torch.cuda.get_device_name(0)}"
    if torch.backends.mps.is_available():
        return ":material/memory: Training on the Apple GPU (mps)"
    return f":material/memory: Training on the CPU ({os.cpu_count()} cores); no GPU found"


def _key(prefix: str, dataset: str, name: str) -> str:
    """Widget keys carry the data set's name, so each data set keeps its own defaults and edits."""
    return f"{prefix}_dataset" if name == "dataset" else f"{prefix}_{dataset}_{name}"


def session_id() -> str:
    """This browser session's id: the job manager's name for a watcher of a run."""
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    ctx = get_script_run_ctx()
    return ctx.session_id if ctx is not None else "no-session"


def apply_values(prefix: str, values: dict) -> None:
    """Set the settings widgets to a whole setup (from a link, a preset or a loaded config): the
    named RunConfig fields take the given values, every other field its data set's default."""
    dataset = values.get("dataset", "moons")
    defaults = dataset_defaults(dataset)
    st.session_state[_key(prefix, dataset, "dataset")] = dataset
    for name in LINK_FIELDS:
        st.session_state.pop(_key(prefix, dataset, name), None)
    for name, value in values.items():
        if name in LINK_FIELDS and name != "dataset":  # the widget's type: 3 from a link is 3.0 for a slider
            st.session_state[_key(prefix, dataset, name)] = type(defaults[name])(value)


def apply_preset(prefix: str, preset: Preset) -> None:
    """A lesson preset's whole setup, and its lesson shown above the Train button."""
    apply_values(prefix, {"dataset": preset.dataset, **preset.values})
    st.session_state[f"{prefix}_lesson"] = preset.id


def read_link(prefix: str, page_params: dict[str, Param] | None = None) -> None:
    """Once per session and page: take the settings in the URL (a shared link or a preset link).
    `page_params` are the page's own settings (widget keys `{prefix}_{name}`). Values that are not
    allowed are left out and listed by link_notes()."""
    params = st.query_params.to_dict()
    preset_id = params.get(PRESET_PARAM)
    if preset_id is None:
        st.session_state.pop(f"{prefix}_preset_applied", None)
    if st.session_state.get(f"{prefix}_link_read"):
        # Later in a session only a preset link (How it works -> Train) changes the settings, once.
        if preset_id is None or preset_id == st.session_state.get(f"{prefix}_preset_applied"):
            return
        params = {PRESET_PARAM: preset_id}
    st.session_state[f"{prefix}_link_read"] = True
    page_params = page_params or {}
    extra = tuple(page_params)
    page_values, notes = params_from_query(params, page_params)
    for name, value in page_values.items():
        st.session_state[f"{prefix}_{name}"] = value
    if PRESET_PARAM in params:
        preset = PRESETS.get(params[PRESET_PARAM])
        if preset is None:
            notes.append(f"preset={params[PRESET_PARAM]!r} ignored: one of {', '.join(PRESETS)} is allowed")
        else:
            apply_preset(prefix, preset)
            st.session_state[f"{prefix}_preset_applied"] = preset.id
    elif set(params) - {HIDE_PARAM, *extra}:
        values, config_notes = config_values_from_query(params, extra)
        notes += config_notes
        apply_values(prefix, values)
    hidden, hide_notes = hidden_from_query(params, LINK_FIELDS)
    st.session_state[f"{prefix}_hidden"] = hidden
    st.session_state[f"{prefix}_link_notes"] = notes + hide_notes


def link_notes(prefix: str) -> None:
    """Tell the user which values of the link they opened were left out, and why."""
    notes = st.session_state.get(f"{prefix}_link_notes")
    if notes:
        st.warning(
            "Some settings in the link were not used:\n\n" + "\n".join(f"- {n}" for n in notes),
            icon=":material/link_off:",
        )


def write_link(prefix: str, config: RunConfig, exclude: tuple[str, ...] = (), extra: dict | None = None) -> None:
    """Keep the URL in step with the settings, so the address bar is always a shareable link.
    `extra`: the page's own settings, already formatted (Param.format)."""
    query = {k: v for k, v in query_from_config(config).items() if k not in exclude}
    hidden = st.session_state.get(f"{prefix}_hidden") or set()
    if hidden:
        query[HIDE_PARAM] = ",".join(sorted(hidden))
    query.update(extra or {})
    if st.query_params.to_dict() != query:
        st.query_params.from_dict(query)


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
    kind = st.radio(
        "File format",
        ["npz", "csv"],
        horizontal=True,
        key=f"{k}_format",
        format_func={"npz": "one .npz", "csv": "two .csv"}.get,
    )
    if kind == "npz":
        upload = st.file_uploader("Your .npz file", type=["npz"], key=f"{k}_npz", max_upload_size=userdata.MAX_FILE_MB)
        st.caption(NPZ_FORMAT)
        for example in ("table", "images"):
            st.download_button(
                f"Example: {example}",
                functools.partial(userdata.example_npz, example),
                f"example_{example}.npz",
                "application/octet-stream",
                key=f"{k}_example_{example}",
                icon=":material/download:",
            )
        uploads = (upload, None, "label")
    else:
        source = st.file_uploader(
            "Source .csv (with labels)", type=["csv"], key=f"{k}_source_csv", max_upload_size=userdata.MAX_FILE_MB
        )
        target = st.file_uploader(
            "Target .csv (labels optional)", type=["csv"], key=f"{k}_target_csv", max_upload_size=userdata.MAX_FILE_MB
        )
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

    Controls a classroom link hides (`?hide=...`) are not drawn; they keep the link's values.
    """
    hidden = st.session_state.get(f"{prefix}_hidden") or set()
    dataset = st.session_state.get(_key(prefix, "", "dataset"), "moons")
    if "dataset" not in hidden:
        dataset = st.selectbox(
            "Data set", list(DATASET_LABELS), format_func=DATASET_LABELS.get, key=_key(prefix, "", "dataset")
        )
    values: dict = {"dataset": dataset}
    defaults = dataset_defaults(dataset)

    def control(name: str, widget, label: str, *args, **kwargs):
        """Draw the widget for RunConfig field `name`, or take its value when the link hides it. The
        value lives in session state (set here to the default the first time), so links, presets and
        loaded configs can set it before the widget is drawn."""
        key = _key(prefix, dataset, name)
        st.session_state.setdefault(key, defaults[name])
        values[name] = st.session_state[key] if name in hidden else widget(label, *args, key=key, **kwargs)
        return values[name]

    if dataset == "moons":
        control(
            "rotation",
            st.slider,
            "Target rotation (degrees)",
            -180.0,
            180.0,
            step=5.0,
            help="The target domain is the source's two moons rotated by this angle.",
        )
        control("noise", st.slider, "Noise", 0.0, 1.0, step=0.01)
    if dataset == "blobs":
        control(
            "blob_shift",
            st.slider,
            "Target shift (distance)",
            0.0,
            5.0,
            step=0.1,
            help="How far the target's classes move from the source's.",
        )
        control(
            "blob_angle",
            st.slider,
            "Shift direction (degrees)",
            -180.0,
            180.0,
            step=15.0,
            help="0 = to the right, 90 = up.",
        )
        control(
            "blob_scale",
            st.slider,
            "Target spread (x source)",
            0.5,
            3.0,
            step=0.1,
            help="How much wider the target's classes are than the source's.",
        )
    data_error = None  # no data to train on yet: why (or None while an upload is awaited)
    if dataset == "file":
        file_values, data_error = _own_data_settings(f"{prefix}_{dataset}")
        values.update(file_values or {})
    if dataset == "mnist":
        data_error = mnist_settings(f"{prefix}_{dataset}")
    if dataset == "mnist" and not data_error:
        control(
            "n_samples",
            st.number_input,
            "Training digits per domain",
            100,
            LIMITS["n_samples"][1],
            step=5000,
            help="The paper used all 60,000; fewer load faster and use less memory.",
        )
    if choose_mode:
        control("mode", st.selectbox, "Mode", list(MODE_LABELS), format_func=MODE_LABELS.get, help=MODE_HELP)
    schedule = control(
        "lambda_schedule",
        st.radio,
        "Lambda",
        ["paper", "constant"],
        horizontal=True,
        format_func={"paper": "paper schedule", "constant": "constant"}.get,
        help="Paper: λ_p = 2/(1+exp(-γp)) − 1, rising from 0 to 1 (times the ceiling below).",
    )
    control(
        "lambda_value",
        st.slider,
        "λ (constant value, or the schedule's ceiling)",
        0.0,
        10.0,
        step=0.05,
        help="Move it during training: the running job uses it from the next step.",
    )
    if schedule == "paper":
        control("gamma", st.slider, "γ (how fast λ rises)", 0.0, 100.0, step=0.5)
    control("steps", st.number_input, "Steps", *LIMITS["steps"], step=500)
    control("lr", st.number_input, "Learning rate μ0", 1e-6, 10.0, format="%.4f")
    control("seed", st.number_input, "Seed", *LIMITS["seed"])
    with st.expander("More settings"):
        control("batch_size", st.number_input, "Batch size (per domain)", *LIMITS["batch_size"])
        control(
            "lr_alpha",
            st.number_input,
            "lr decay α",
            0.0,
            1000.0,
            help="lr_p = μ0 / (1 + α p)^β; α = 0 keeps it fixed.",
        )
        control("lr_beta", st.number_input, "lr decay β", 0.0, 10.0)
        control("momentum", st.number_input, "Momentum", 0.0, 0.999)
        if dataset in ("moons", "blobs"):
            control("n_samples", st.number_input, "Points per domain", *LIMITS["n_samples"])
        if dataset in ("moons", "blobs", "file"):
            control("hidden_units", st.number_input, "Hidden units", *LIMITS["hidden_units"])
        control("device", st.selectbox, "Device", list(DEVICES), help="auto picks the GPU when there is one.")
    if data_error or (dataset == "file" and "data_file" not in values):
        return None, data_error
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


def mnist_settings(k: str) -> str | None:
    """MNIST's files: where they are, and a download button when some are missing. Returns an error
    when there is nothing to train on yet."""
    files = mnist.locate()
    if not files.has_test:
        st.info(mnist.missing_files_message(files), icon=":material/folder_open:")
    elif files.test_only:
        split = 1 - mnist.TEST_ONLY_FRACTION
        st.caption(
            f"Only the MNIST test files (t10k) were found: training uses {split:.0%} of their digits and "
            f"tests on the other {1 - split:.0%}. Download the training files for the full benchmark."
        )
    if files.missing and st.button(
        "Download MNIST",
        key=f"{k}_download",
        icon=":material/download:",
        help="About 11 MB from " + mnist.MIRRORS[0] + "; needs internet.",
    ):
        try:
            with st.spinner("Downloading MNIST and checking its checksums…"):
                files = mnist.download(files.data_dir, log_line=lambda line: None)
            st.rerun()  # draw the settings again, now with the files
        except (mnist.MnistError, OSError) as e:
            st.error(str(e), icon=":material/error:")
    if not files.has_test:
        return "No MNIST files yet: press Download MNIST on the left, or put the files in the folder named there."
    st.caption(f"Files in {files.data_dir}. MNIST-M backgrounds: {mnist.photo_source_label(files.data_dir)}.")
    return None


def summary(result: RunResult) -> None:
    """The finished run's headline numbers."""
    m = result.metrics
    cols = st.columns(6)
    cols[0].metric("Source accuracy", f"{m['source_acc']:.1%}")
    cols[1].metric(
        "Target accuracy", percent(m["target_acc"]), help=NO_TARGET_LABELS if math.isnan(m["target_acc"]) else None
    )
    cols[2].metric("Domain accuracy", f"{m['domain_acc']:.1%}", help="50% means the domain classifier is guessing.")
    cols[3].metric(
        "Proxy A-distance",
        f"{m['pad']:.2f}",
        help="0 = domains indistinguishable, 2 = separable (linear SVM on the features; clipped at 0).",
    )
    cols[4].metric("Time", f"{m['seconds']:.1f} s", help=f"{m['steps']} steps, {m['steps_per_second']:.0f} steps/s")
    cols[5].metric("Device", str(m["device"]))
