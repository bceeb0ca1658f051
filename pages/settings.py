"""Streamlit glue for the run-settings widgets: one widget per RunConfig field, drawn from the field's
Spec (label, range, step, help), so a widget can never disagree with validation or a link. Not a page."""

from __future__ import annotations

import functools
import os

import streamlit as st

from dann_demo import devices
from dann_demo.config import RUN_SPECS, ConfigError, RunConfig, Spec, belongs_to, dataset_defaults
from dann_demo.datasets import REGISTRY, DataFileError, data_kind, load_pair, mnist, mnist_download
from dann_demo.datasets import file_checks as limits
from dann_demo.datasets import uploads as kept_uploads
from dann_demo.views.text import markdown_literal
from pages.linking import widget_key

DATASET_LABELS = {name: d.label for name, d in REGISTRY.items()}
MODE_LABELS = {
    "dann": "DANN (gradient reversal)",
    "source_only": "source only (no adaptation)",
    "no_reversal": "no reversal (domain head trained jointly, ablation)",
    "target_oracle": "target oracle (trained on target labels: upper bound)",
}
METHOD_LABELS = {"pca": "PCA", "tsne": "t-SNE", "umap": "UMAP"}
CHOICE_LABELS = {
    "method": METHOD_LABELS,
    "dataset": DATASET_LABELS,
    "mode": MODE_LABELS,
    "lambda_schedule": {"paper": "paper schedule", "constant": "constant"},
}
MODE_HELP = (
    "**DANN**: the domain classifier's gradient is reversed into the feature extractor. "
    "**Source only**: the domain classifier is still trained, as a probe, but does not touch the features. "
    "**No reversal**: the feature extractor *helps* the domain classifier (the ablation without the GRL). "
    "**Target oracle**: trained on the target's labels, the best one can hope for."
)
KIND_NOTES = {
    "table": "Your data is a **table**: the table defaults apply (the MLP settings of two moons and blobs).",
    "images": "Your data is **images**: the image defaults apply (the paper's conv net, as on digits → digits-M).",
}


def mode_title(mode: str) -> str:
    """The short name of a mode, for chart titles: 'DANN', 'source only', ..."""
    return MODE_LABELS[mode].split(" (")[0]


def draw_widget(name: str, spec: Spec, key: str, label: str | None = None):
    """The widget a Spec describes; its value lives in session state under `key`."""
    if key in st.session_state:
        # Written again every run, so the browser is sent the value each time. Otherwise a widget whose
        # value was set in a run that a click interrupted before the widget was drawn (a link read, then
        # the nickname typed and Train pressed at once) reaches the browser without its value; the
        # browser then shows its own default, a number box's minimum, and sends that back with the
        # click: a run of 1 step on 20 points with seed 0.
        st.session_state[key] = st.session_state[key]
    help_text = MODE_HELP if name == "mode" else spec.help
    label = label or spec.label
    if spec.kind == "choice":
        labels = CHOICE_LABELS.get(name, {})
        widget = st.radio if spec.widget == "radio" else st.selectbox
        extra = {"horizontal": True} if spec.widget == "radio" else {}
        return widget(label, list(spec.choices), format_func=lambda c: labels.get(c, c), key=key,
                      help=help_text, **extra)  # fmt: skip
    if spec.kind == "bool":
        return st.checkbox(label, key=key, help=help_text)
    if spec.kind == "text":
        return st.text_input(label, key=key, help=help_text, max_chars=1000)
    lo, hi = (int(spec.lo), int(spec.hi)) if spec.kind == "int" else (float(spec.lo), float(spec.hi))
    if spec.widget == "slider":
        step = spec.step if spec.kind == "float" else int(spec.step or 1)
        return st.slider(label, lo, hi, step=step, key=key, help=help_text)
    step = spec.step if spec.step is not None else (1 if spec.kind == "int" else None)
    fmt = "%g" if spec.kind == "float" else None
    return st.number_input(label, lo, hi, step=step, format=fmt, key=key, help=help_text)


def _saved_upload(upload) -> str:
    """Save an uploaded file once per upload (not on every rerun) and return its content-addressed path."""
    saved = st.session_state.setdefault("uploaded_paths", {})
    key = (upload.file_id, upload.name, upload.size)
    if key not in saved or not os.path.isfile(saved[key]):
        saved[key] = str(kept_uploads.save_upload(upload.name, upload.getvalue()))
    return saved[key]


def uploaded_data_values(data_upload, target_upload=None, label_column: str = "label") -> dict:
    """The RunConfig fields for uploaded files (a .npz, or a source and a target .csv).

    Raises DataFileError (too large, wrong ending) or ConfigError (a blank label column).
    """
    values = {"data_file": _saved_upload(data_upload)}
    if target_upload is not None:
        values["target_file"] = _saved_upload(target_upload)
        values["label_column"] = label_column.strip()
    return values


NPZ_FORMAT = (
    "A `.npz` from `numpy.savez` with arrays `source_x`, `source_y`, `target_x` and, optionally, `target_y` "
    "(only to report target accuracy), `target_test_x` and `target_test_y` (else 25% of each domain is held out "
    "for testing). `*_x`: a table (examples x features, numbers) or images (N x H x W grey, or N x H x W x 3 "
    "colour; uint8 0-255 or floats 0-1), resized to 28 x 28. `*_y`: whole numbers 0, 1, 2, ... At most "
    f"{limits.MAX_FILE_MB} MB, {limits.MAX_ROWS:,} examples per array, {limits.MAX_FEATURES:,} features, "
    f"{limits.MAX_IMAGE_SIDE} x {limits.MAX_IMAGE_SIDE} pixels; no pickled objects."
)
CSV_FORMAT = (
    "Two `.csv` files with a header line and the same numeric feature columns; the label column (whole numbers "
    "0, 1, 2, ...) is needed in the source and optional in the target (without it, target accuracy is not "
    f"shown). 25% of each file is held out for testing. At most {limits.MAX_ROWS:,} rows and "
    f"{limits.MAX_FEATURES:,} feature columns per file."
)


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
        upload = st.file_uploader("Your .npz file", type=["npz"], key=f"{k}_npz", max_upload_size=limits.MAX_FILE_MB)
        st.caption(NPZ_FORMAT)
        for example in ("table", "images"):
            st.download_button(
                f"Example: {example}",
                functools.partial(kept_uploads.example_npz, example),
                f"example_{example}.npz",
                "application/octet-stream",
                key=f"{k}_example_{example}",
                icon=":material/download:",
            )
        uploads = (upload, None, "label")
    else:
        source = st.file_uploader(
            "Source .csv (with labels)", type=["csv"], key=f"{k}_source_csv", max_upload_size=limits.MAX_FILE_MB
        )
        target = st.file_uploader(
            "Target .csv (labels optional)",
            type=["csv"],
            key=f"{k}_target_csv",
            max_upload_size=limits.MAX_FILE_MB,
        )
        label = st.text_input("Label column", "label", key=f"{k}_label_column", max_chars=200)
        st.caption(CSV_FORMAT)
        uploads = (source, target, label)
    if uploads[0] is None or (kind == "csv" and uploads[1] is None):
        st.info("Upload your data to train on it.", icon=":material/upload:")
        return None, None
    try:
        return uploaded_data_values(*uploads), None
    except (DataFileError, ConfigError) as e:
        return None, str(e)


def mnist_settings(k: str) -> str | None:
    """MNIST's files: where they are, and a download button when some are missing. Returns an error
    when there is nothing to train on yet."""
    found = mnist.locate()
    if not found.has_test:
        st.info(mnist.missing_files_message(found), icon=":material/folder_open:")
    elif found.test_only:
        split = 1 - mnist.TEST_ONLY_FRACTION
        st.caption(
            f"Only the MNIST test files (t10k) were found: training uses {split:.0%} of their digits and "
            f"tests on the other {1 - split:.0%}. Download the training files for the full benchmark."
        )
    if found.missing and st.button(
        "Download MNIST",
        key=f"{k}_download",
        icon=":material/download:",
        help="About 11 MB from " + mnist.MIRRORS[0] + "; needs internet.",
    ):
        try:
            with st.spinner("Downloading MNIST and checking its checksums…"):
                found = mnist_download.download(found.data_dir, log_line=lambda line: None)
            st.rerun()  # draw the settings again, now with the files
        except (mnist.MnistError, OSError) as e:
            st.error(markdown_literal(str(e)), icon=":material/error:")
    if not found.has_test:
        return "No MNIST files yet: press Download MNIST on the left, or put the files in the folder named there."
    st.caption(f"Files in {found.data_dir}. MNIST-M backgrounds: {mnist.photo_source_label(found.data_dir)}.")
    return None


def run_settings(prefix: str = "train", choose_mode: bool = True) -> tuple[RunConfig | None, str | None]:
    """The run-settings widgets (in the current container). Returns (config, None) or (None, error).

    One widget per RunConfig field that belongs to the chosen data set, from the field's Spec; the
    advanced ones under "More settings". Controls a classroom link hides (`?hide=...`) are not
    drawn; they keep the link's values.
    """
    hidden = st.session_state.get(f"{prefix}_hidden") or set()
    key = widget_key(prefix, "", "dataset")
    st.session_state.setdefault(key, "moons")
    dataset = st.session_state[key] if "dataset" in hidden else draw_widget("dataset", RUN_SPECS["dataset"], key)
    values: dict = {"dataset": dataset}
    data_error = None  # no data to train on yet: why (or None while an upload is awaited)
    if dataset == "file":
        file_values, data_error = _own_data_settings(f"{prefix}_{dataset}")
        if file_values is None:
            return None, data_error
        values.update(file_values)
    if dataset == "mnist":
        data_error = mnist_settings(f"{prefix}_{dataset}")
        if data_error:
            return None, data_error
    kind = data_kind(values) if dataset == "file" else None
    if kind is not None:
        st.caption(KIND_NOTES[kind])
    scope = f"file-{kind}" if kind else dataset
    defaults = dataset_defaults(dataset, kind)

    def control(name: str, spec: Spec) -> None:
        """The widget of field `name`, or its value when the link hides it or the page does not show it.
        The value lives in session state (set to the default the first time), so links, presets and
        loaded configs can set it before the widget is drawn."""
        k = widget_key(prefix, scope, name)
        st.session_state.setdefault(k, defaults[name])
        skip = name in hidden or (name == "mode" and not choose_mode)
        skip = skip or (name == "gamma" and values.get("lambda_schedule") != "paper")
        label = REGISTRY[dataset].labels.get(name)
        values[name] = st.session_state[k] if skip else draw_widget(name, spec, k, label)

    drawn = [
        (name, spec)
        for name, spec in RUN_SPECS.items()
        if name != "dataset" and spec.in_links and spec.kind != "text" and belongs_to(name, dataset)
    ]
    for name, spec in drawn:
        if not spec.advanced:
            control(name, spec)
    with st.expander("More settings"):
        for name, spec in drawn:
            if spec.advanced:
                control(name, spec)
    try:
        config = RunConfig(**values)
        devices.check_device(config.device)
        if dataset == "file":
            with st.spinner("Reading your data…"):  # checked here (then cached): a message, not a failed run
                load_pair(config)
    except (ConfigError, DataFileError) as e:
        return None, str(e)
    st.session_state[f"{prefix}_config"] = config  # what the settings say now (the Class page, tests)
    return config, None
