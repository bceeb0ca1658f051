"""Train live: pick data and mode, press Train, watch the curves; move lambda while it runs."""

import numpy as np
import streamlit as st

from dann_demo import plots
from dann_demo.data import load_pair
from dann_demo.jobs import FAILED, QUEUED, RUNNING, STOPPED, Job
from dann_demo.train import history_frame
from pages.shared import job_manager, require_navigation, run_settings, summary

# How often the page redraws a running job. Drawing holds the GIL that the training thread needs:
# image runs are slow and change slowly, so they are redrawn half as often.
REDRAW_SECONDS = {"moons": 0.5, "digits": 1.0, "mnist": 1.0}

CAPTIONS = {
    "label": "The label classifier's loss on the labelled half of each batch. It should fall in every mode.",
    "domain": "With DANN the domain loss climbs toward ln 2 = 0.693 (the dashed line): the domain classifier "
    "is reduced to guessing, which is **success**, not a bug. With *no reversal* it falls toward 0: "
    "the domain classifier wins. With *source only* it shows how separable the features are by themselves.",
    "domain_acc": "Measured on held-out points of both domains. DANN drives it toward 50% (chance); "
    "source only and no reversal keep it high.",
    "acc": "Source accuracy should stay high in every mode. Watch the gap to target accuracy: DANN closes "
    "it, no reversal does not, the target oracle shows how far it could close.",
    "schedule": "Lambda is applied only in the gradient reversal layer. The paper's schedule starts at 0 so "
    "the early, noisy features are not pushed around. Dotted lines mark where you moved λ.",
    "plane": "Left: the label classifier's decision boundary (black line) over source (circles) and target "
    "(triangles). Right: the domain classifier's view; with DANN its boundary stops separating the two "
    "point clouds.",
    "gallery": "Held-out images with true → predicted class. Target digits sit on photo crops "
    "(the MNIST-M recipe).",
}

require_navigation()
st.title("Train live")
manager = job_manager()

with st.sidebar:
    st.header("Run settings")
    config, error = run_settings("train")

job: Job | None = manager.get(st.session_state.get("train_job"))

buttons = st.columns([1, 1, 4])
if buttons[0].button("Train", type="primary", icon=":material/play_arrow:", disabled=config is None):
    if job is not None and not job.done:
        job.stop()
    job = manager.submit(config)
    st.session_state["train_job"] = job.id
    st.session_state["train_sent_lambda"] = config.lambda_value
if buttons[1].button("Stop", icon=":material/stop:", disabled=job is None or job.done) and job is not None:
    job.stop()
if error:
    st.error(error, icon=":material/error:")

# Lambda is live: a moved slider reaches the running job at its next step (GAN Lab style).
live = job is not None and not job.done and config is not None
if live and config.lambda_value != st.session_state.get("train_sent_lambda"):
    job.set_lambda(config.lambda_value)
    st.session_state["train_sent_lambda"] = config.lambda_value


def draw(job: Job) -> None:
    if job.status == QUEUED:
        st.info(f"Waiting for a free trainer: {manager.queue_position(job)} run(s) ahead of yours.",
                icon=":material/hourglass:")  # fmt: skip
    elif job.status == RUNNING:
        st.progress(job.fraction, text=f"step {job.step} of {job.config.steps} · {job.steps_per_second:.0f} steps/s")
    if job.notice:
        st.warning(job.notice, icon=":material/info:")
    if job.status == FAILED:
        st.error(job.error, icon=":material/error:")
    if job.result is not None:
        if job.status == STOPPED:
            st.warning(f"Stopped at step {job.result.metrics['steps']}.", icon=":material/stop_circle:")
        st.subheader("Summary" + (" (from the cache: the same run was trained before)" if job.from_cache else ""))
        summary(job.result)
    history = list(job.history)
    if not history:
        return
    if job.input_plane is not None:
        title = f"Input space at step {job.step}"
        st.plotly_chart(plots.input_plane_figure(job.input_plane, load_pair(job.config), title),
                        key="plane")  # fmt: skip
        st.caption(CAPTIONS["plane"])
    gallery = job.gallery
    if gallery is not None:
        st.markdown(f"**Held-out samples at step {job.step}: true → predicted**")
        for d, name in ((0, "source"), (1, "target")):
            rows = np.flatnonzero(gallery.domain == d)
            captions = [f"{name}: {gallery.label[i]} → {gallery.predicted[i]} "
                        + ("✓" if gallery.label[i] == gallery.predicted[i] else "✗") for i in rows]  # fmt: skip
            st.image([gallery.images[i] for i in rows], width=72, clamp=True, caption=captions)
        st.caption(CAPTIONS["gallery"])
    frame = history_frame(history)
    changes = job.lambda_changes
    left, right = st.columns(2)
    with left:
        st.plotly_chart(plots.domain_loss_figure(frame, changes), key="domain_loss")
        st.caption(CAPTIONS["domain"])
        st.plotly_chart(plots.accuracy_figure(frame, changes), key="acc")
        st.caption(CAPTIONS["acc"])
        st.plotly_chart(plots.schedule_figure(frame, changes), key="schedule")
        st.caption(CAPTIONS["schedule"])
    with right:
        st.plotly_chart(plots.domain_accuracy_figure(frame, changes), key="domain_acc")
        st.caption(CAPTIONS["domain_acc"])
        st.plotly_chart(plots.label_loss_figure(frame, changes), key="label_loss")
        st.caption(CAPTIONS["label"])


def live_view() -> None:
    """Redraws from the job while it runs; a full rerun when it ends stops the timer."""
    current = manager.get(st.session_state.get("train_job"))
    if current is None:
        return
    draw(current)
    if current.done:
        st.rerun()


if job is None:
    st.info("Choose a data set and a mode on the left, then press **Train**.", icon=":material/arrow_back:")
elif job.done:
    draw(job)
else:
    st.fragment(run_every=REDRAW_SECONDS[job.config.dataset])(live_view)()
