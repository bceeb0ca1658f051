"""Streamlit glue shared by the pages: the process-wide job manager, the run-settings widgets,
and the run summary. Not a page itself (app.py's navigation lists the pages)."""

from __future__ import annotations

import os
import threading

import streamlit as st
import torch

from dann_demo import mnist
from dann_demo.config import DATASET_DEFAULTS, LIMITS, ConfigError, RunConfig
from dann_demo.jobs import JobManager
from dann_demo.train import RunResult

DATASET_LABELS = {"moons": "two moons (2-D points)", "digits": "digits → digits-M (images)",
                  "mnist": "MNIST → MNIST-M (paper's benchmark)"}
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
    from dann_demo.data import load_pair
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
    data_error = mnist_settings(k, values) if dataset == "mnist" else None
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
        if dataset == "moons":
            values["n_samples"] = int(st.number_input("Points per domain", *LIMITS["n_samples"],
                                                      value=int(_default(dataset, "n_samples")), key=f"{k}_n"))
            values["hidden_units"] = int(st.number_input("Hidden units", *LIMITS["hidden_units"],
                                                         value=int(_default(dataset, "hidden_units")),
                                                         key=f"{k}_hidden"))  # fmt: skip
        values["device"] = st.selectbox("Device", ["auto", "cpu", "cuda", "mps"], key=f"{prefix}_device",
                                        help="auto picks the GPU when there is one.")  # fmt: skip
    if data_error:
        return None, data_error
    try:
        config = RunConfig(**values)
    except ConfigError as e:
        return None, str(e)
    if config.device == "cuda" and not torch.cuda.is_available():
        return None, "device=cuda is not available on this machine: choose auto or cpu."
    if config.device == "mps" and not torch.backends.mps.is_available():
        return None, "device=mps is not available on this machine: choose auto or cpu."
    return config, None


def mnist_settings(k: str, values: dict) -> str | None:
    """MNIST's files: where they are, a download button when some are missing, how many digits to train
    on. Returns an error when there is nothing to train on yet."""
    files = mnist.locate()
    if not files.has_test:
        st.info(mnist.missing_files_message(files), icon=":material/folder_open:")
    elif files.test_only:
        split = 1 - mnist.TEST_ONLY_FRACTION
        st.caption(f"Only the MNIST test files (t10k) were found: training uses {split:.0%} of their digits and "
                   f"tests on the other {1 - split:.0%}. Download the training files for the full benchmark.")
    if files.missing and st.button("Download MNIST", key=f"{k}_download", icon=":material/download:",
                                   help="About 11 MB from " + mnist.MIRRORS[0] + "; needs internet."):  # fmt: skip
        try:
            with st.spinner("Downloading MNIST and checking its checksums…"):
                files = mnist.download(files.data_dir, log_line=lambda line: None)
            st.rerun()  # draw the settings again, now with the files
        except (mnist.MnistError, OSError) as e:
            st.error(str(e), icon=":material/error:")
    if not files.has_test:
        return "No MNIST files yet: press Download MNIST on the left, or put the files in the folder named there."
    st.caption(f"Files in {files.data_dir}. MNIST-M backgrounds: {mnist.photo_source_label(files.data_dir)}.")
    values["n_samples"] = int(st.number_input("Training digits per domain", 100, LIMITS["n_samples"][1],
                                              value=int(_default("mnist", "n_samples")), step=5000, key=f"{k}_n",
                                              help="The paper used all 60,000; fewer load faster and use less "
                                              "memory."))  # fmt: skip
    return None


def summary(result: RunResult) -> None:
    """The finished run's headline numbers."""
    m = result.metrics
    cols = st.columns(6)
    cols[0].metric("Source accuracy", f"{m['source_acc']:.1%}")
    cols[1].metric("Target accuracy", f"{m['target_acc']:.1%}")
    cols[2].metric("Domain accuracy", f"{m['domain_acc']:.1%}", help="50% means the domain classifier is guessing.")
    cols[3].metric("Proxy A-distance", f"{m['pad']:.2f}", help="0 = domains indistinguishable, 2 = separable "
                   "(linear SVM on the features; clipped at 0).")  # fmt: skip
    cols[4].metric("Time", f"{m['seconds']:.1f} s", help=f"{m['steps']} steps, {m['steps_per_second']:.0f} steps/s")
    cols[5].metric("Device", str(m["device"]))
