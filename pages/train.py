"""Train live: pick data and mode, press Train, watch the curves; move lambda while it runs."""

import numpy as np
import streamlit as st

from dann_demo.classroom import teaching
from dann_demo.classroom.rooms import MAX_NICKNAME, RoomRefused, clean_nickname
from dann_demo.datasets import UNLABELLED, load_pair
from dann_demo.jobs import FAILED, QUEUED, RUNNING, STOPPED, Job
from dann_demo.links import RUN_PARAM
from dann_demo.method.results import display_images
from dann_demo.method.train import history_frame
from dann_demo.presets import PRESETS
from dann_demo.views import plots
from dann_demo.views.text import markdown_literal
from pages.exports import load_config_box, run_downloads, share_box
from pages.linking import (
    apply_preset,
    keep_to_room,
    link_notes,
    prepare_room_widgets,
    read_link,
    room_notes,
    room_of_this_session,
    write_link,
)
from pages.pace import CLASS_RUNS, FIGURE_SECONDS, class_redraw_seconds, job_figures
from pages.server import browser_id, class_rooms, guarded, job_manager, require_navigation, session_id
from pages.settings import run_settings
from pages.summary import percent, summary

# How often the page redraws a running job. Drawing holds the GIL that the training thread needs:
# image runs are slow and change slowly, so they are redrawn half as often.
QUEUED_REDRAW_SECONDS = 3.0
REDRAW_SECONDS = {"moons": 0.5, "blobs": 0.5, "digits": 1.0, "mnist": 1.0}  # others (own data, maybe images): 1.0


def class_pace() -> bool:
    """Whether the server is busy with a class's runs, so that pages should draw less."""
    return manager.in_progress_count() >= CLASS_RUNS


def paced_page() -> bool:
    """Whether this page draws at a class's pace: in a room (a class, even while its first runs start:
    its pages then keep one pace for the whole run), or on a server busy with others' runs."""
    return room is not None or class_pace()


def redraw_seconds(job: Job) -> float:
    """How often the page redraws a running job when no class keeps the server busy."""
    return REDRAW_SECONDS.get(job.config.dataset, 1.0) * (1 + manager.running_count() / 2)


def show_run(job: Job) -> None:
    """The run this page shows, in the session and in the URL (so that a reload finds it again)."""
    st.session_state["train_job"] = job.id
    st.query_params[RUN_PARAM] = job.id


def class_view(job: Job) -> None:
    """A running job in a class: its progress and latest numbers in one element (every element is a
    message the browser renders)."""
    last, busy = job.history[-1], manager.in_progress_count()
    together = f" · training together with {job.batch_size - 1} other run(s) of the class" if job.batch_size > 1 else ""
    shared = f" · {len(job.watchers) - 1} other session(s) watch this run" if len(job.watchers) > 1 else ""
    st.markdown(
        f"**Step {last.step} of {job.config.steps}**{together}{shared}  \n"
        f"Source accuracy **{percent(last.source_acc)}** · target accuracy **{percent(last.target_acc)}** · "
        f"domain classifier **{percent(last.domain_acc)}** · λ {last.lambda_:.2f}  \n"
        f":small[:material/speed: A class shares this server ({busy} run(s) queued or training now), so this page "
        f"shows your run's latest numbers every {st.session_state.get('train_every', 4):.0f} s, and its charts a click "
        "away when it ends: drawing less leaves the CPU to training.]"
    )


CAPTIONS = {
    "label_loss": "The label classifier's loss on the labelled half of each batch. It should fall in every mode.",
    "domain_loss": "The domain classifier's loss per example. With DANN it climbs toward ln 2 = 0.693 (the dashed "
    "line): the domain classifier is reduced to guessing, the adversary is beaten, which is what DANN aims for "
    "(not a bug). Whether the features still show the domain, a fresh probe in the summary says. With *no "
    "reversal* it falls toward 0: the domain classifier wins. With *source only* it shows how separable the "
    "features are by themselves.",
    "domain_accuracy": "Measured on held-out points of both domains. DANN drives it toward 50% (chance: the "
    "adversary is beaten); source only and no reversal keep it high.",
    "accuracy": "Source accuracy should stay high in every mode. Watch the gap to target accuracy: DANN closes "
    "it, no reversal does not, the target oracle shows how far it could close.",
    "schedule": "Lambda is applied only in the gradient reversal layer. The paper's schedule starts at 0 so "
    "the early, noisy features are not pushed around. Dotted lines mark where you moved λ.",
    "plane": "Left: the label classifier's decision boundary (black line) over source (circles) and target "
    "(triangles). Right: the domain classifier's view; with DANN its boundary stops separating the two "
    "point clouds.",
    "data": "Circles: the source domain with its classes, which the label classifier learns from. Triangles: the "
    "target domain, whose labels training never sees. DANN looks for features in which the two look alike, so "
    "that the boundary learnt on the circles also fits the triangles. The data settings on the left move them.",
    "data_images": "Top: source images with their labels, which the label classifier learns from. Bottom: target "
    "images, whose labels training never sees.",
    "gallery": "Held-out images with true → predicted class. Target digits sit on photo crops (the MNIST-M recipe).",
    "gallery_file": "Held-out images of your data, resized to 28 x 28, with true → predicted class "
    "(? where the target has no labels).",
}

require_navigation()
st.title("Train live")
manager = job_manager()
me = session_id()
read_link("train")


room = room_of_this_session("train")
with st.sidebar:
    if room is not None:
        st.success(
            f"You are in room **{room.code}**: your runs appear on the teacher's Class page.", icon=":material/groups:"
        )
        st.text_input(
            "Your nickname (optional)",
            key="train_nickname",
            max_chars=MAX_NICKNAME,
            help="Shown to the class beside your runs; plain text.",
        )
        nickname = clean_nickname(st.session_state.get("train_nickname", ""))
        st.caption(f"This room allows {room.limits.describe()}.")
        if class_rooms().nickname_taken(room.code, nickname, me):
            st.warning(
                f"Someone else in this room goes by **{markdown_literal(nickname)}**: pick another, so that the class "
                "can tell your "
                "runs apart (if that was you before a reload, yours are the ones your page shows).",
                icon=":material/badge:",
            )
    st.header("Run settings")
    prepare_room_widgets("train", room)
    config, error = run_settings("train")
    keep_to_room("train", room, config)
    loader = st.expander("Load a saved config", icon=":material/upload_file:", key="train_load_open", on_change="rerun")
    if loader.open:
        with loader:
            load_config_box("train")
if config is not None:
    write_link("train", config)

link_notes("train")
room_notes("train", config)
# The page's closed boxes (presets, loading a config, sharing) send their contents only once opened: a
# class's 30 pages open at once, and each element costs every browser CPU (docs/benchmarks.md).
presets = st.expander("Lesson presets", icon=":material/school:", key="train_presets_open", on_change="rerun")
if presets.open:
    cols = presets.columns(len(PRESETS))
    for col, preset in zip(cols, PRESETS.values(), strict=True):
        col.button(
            preset.title,
            key=f"preset_{preset.id}",
            on_click=apply_preset,
            args=("train", preset),
            width="stretch",
        )
lesson = PRESETS.get(st.session_state.get("train_lesson", ""))
if lesson is not None:
    st.info(f"**{lesson.title}.** {lesson.lesson} Press **Train**.", icon=":material/lightbulb:")

job: Job | None = manager.get(st.session_state.get("train_job"))
if not st.session_state.get("train_run_read"):  # a reloaded page, or the link opened again: the run it names
    st.session_state["train_run_read"] = True
    named = st.query_params.get(RUN_PARAM)
    if job is None and named:
        job = manager.get(named)
        if job is None:
            st.query_params.pop(RUN_PARAM, None)
            st.warning(
                f"The run this link names ({named}) is no longer on the server (it forgets runs after a while, and "
                "all of them when it restarts): press **Train** to run it again.",
                icon=":material/link_off:",
            )
        else:
            show_run(job)
            st.session_state["train_sent_lambda"] = job.config.lambda_value

buttons = st.columns([1, 1, 4])
if buttons[0].button("Train", type="primary", icon=":material/play_arrow:", disabled=config is None):
    if job is not None and not job.done:
        manager.stop(job, me)
    refused = None
    if room is None:
        job = manager.submit(config, watcher=me)
    else:
        # The room's entry before any Streamlit call: a tab closed right after Train stops this script run at
        # its next Streamlit call, and its run must still be on the teacher's Class page (as a run that
        # stopped). The room's limits and runs per student are checked again here, in the library.
        try:
            nickname = st.session_state.get("train_nickname", "")
            job, _ = teaching.submit_in_room(class_rooms(), manager, room.code, config, me, nickname, browser_id())
        except RoomRefused as e:
            refused, job = str(e), None
    if job is not None:
        show_run(job)
        st.session_state["train_sent_lambda"] = config.lambda_value
    else:
        st.warning(refused, icon=":material/hourglass_top:")
if buttons[1].button("Stop", icon=":material/stop:", disabled=job is None or job.done) and job is not None:
    manager.stop(job, me)
    if job.watchers:  # others still watch it: it goes on for them, and this session lets go
        st.session_state.pop("train_job", None)
        st.query_params.pop(RUN_PARAM, None)
        job = None
if error:
    st.error(markdown_literal(error), icon=":material/error:")

# Lambda is live: a moved slider reaches the running job at its next step (GAN Lab style). A run
# shared with other sessions is not steered under their feet: this session gets its own copy.
live = job is not None and not job.done and config is not None
if live and config.lambda_value != st.session_state.get("train_sent_lambda"):
    steered = manager.set_lambda(job, config.lambda_value, watcher=me)
    if steered.id != job.id:  # this session's own copy: its entry in a room follows it
        class_rooms().replace_job(job.id, steered.id, me)
    job = steered
    show_run(job)
    st.session_state["train_sent_lambda"] = config.lambda_value


def gallery_caption(domain: str, label: int, predicted: int) -> str:
    if label == UNLABELLED:  # own data without target labels: nothing to check against
        return f"{domain}: ? → {predicted}"
    return f"{domain}: {label} → {predicted} " + ("✓" if label == predicted else "✗")


def image_row(images, captions: list[str]) -> None:
    """Images of one domain in a row, each with its caption."""
    st.image(list(images), width=72, clamp=True, caption=captions)


def draw(job: Job, paced: bool = False, charts: bool = True) -> None:
    """Draw the job (`paced`: at a class's pace; `charts`: False for its state and summary alone)."""
    manager.watch(job, me)
    in_class_view = paced and not job.done and bool(job.history)  # the view says who else shares the run
    if len(job.watchers) > 1 and not job.done and not in_class_view:
        st.caption(
            f":material/group: {len(job.watchers) - 1} other session(s) pressed Train with the same "
            "settings: you all watch one training. Moving λ gives you your own copy."
        )
    if job.batch_size > 1 and not job.done and not in_class_view:
        st.caption(
            f":material/groups: Training together with {job.batch_size - 1} other run(s) of the class in one "
            "batch: each is still its own run (its own λ, Stop and result)."
        )
    if job.status == QUEUED:
        st.info(
            f"Waiting for a free trainer: {manager.queue_position(job)} run(s) ahead of yours.",
            icon=":material/hourglass:",
        )
    elif job.status == RUNNING and not in_class_view:
        st.progress(job.fraction, text=f"step {job.step} of {job.config.steps} · {job.steps_per_second:.0f} steps/s")
    if job.notice:
        st.warning(job.notice, icon=":material/info:")
    if job.status == FAILED:
        st.error(markdown_literal(job.error), icon=":material/error:")
    if job.result is not None:
        if job.status == STOPPED:
            st.warning(f"Stopped at step {job.result.metrics['steps']}.", icon=":material/stop_circle:")
        st.subheader("Summary" + (" (from the cache: the same run was trained before)" if job.from_cache else ""))
        summary(job.result)
    if in_class_view:
        class_view(job)
        return
    if not charts:
        return
    if job.done and paced:
        # A class's runs end within seconds of each other, and each page drawing six charts at once took the
        # browsers' CPU from the runs still training (scripts/loadtest.py): in a class the charts wait for a click.
        charts = st.expander(
            "Decision boundary and training curves", icon=":material/monitoring:", key="train_charts", on_change="rerun"
        )
        if charts.open:
            with charts:
                draw_charts(job)
    else:
        draw_charts(job)


def draw_charts(job: Job) -> None:
    figs = figures(job)
    if not figs:
        return
    if "input_plane" in figs:
        st.plotly_chart(figs["input_plane"], key="plane", config=plots.CHART_CONFIG)
        st.caption(CAPTIONS["plane"])
    gallery = job.gallery
    if gallery is not None:
        st.markdown(f"**Held-out samples at step {job.step}: true → predicted**")
        for d, name in ((0, "source"), (1, "target")):
            rows = np.flatnonzero(gallery.domain == d)
            captions = [gallery_caption(name, gallery.label[i], gallery.predicted[i]) for i in rows]
            image_row([gallery.images[i] for i in rows], captions)
        st.caption(CAPTIONS["gallery"] if job.config.dataset == "digits" else CAPTIONS["gallery_file"])
    left, right = st.columns(2)
    for column, names in ((left, ("domain_loss", "accuracy", "schedule")), (right, ("domain_accuracy", "label_loss"))):
        with column:
            for name in names:
                st.plotly_chart(figs[name], key=name, config=plots.CHART_CONFIG)
                st.caption(CAPTIONS[name])


def figures(job: Job) -> dict:
    """The run's figures by name (drawn on the page, and downloadable as HTML): built once per new record,
    at most once every FIGURE_SECONDS while the run trains, and shared by every session that watches it."""
    key = (len(job.history), len(job.lambda_changes), id(job.input_plane), id(job.gallery), job.done)
    return job_figures(job, key, lambda: build_figures(job), every=FIGURE_SECONDS)


def build_figures(job: Job) -> dict:
    history = list(job.history)
    if not history:
        return {}
    figs = {}
    if job.input_plane is not None:
        figs["input_plane"] = plots.input_plane_figure(
            job.input_plane, load_pair(job.config), f"Input space at step {job.step}"
        )
    frame = history_frame(history)
    changes = job.lambda_changes
    figs["domain_loss"] = plots.domain_loss_figure(frame, changes)
    figs["accuracy"] = plots.accuracy_figure(frame, changes)
    figs["schedule"] = plots.schedule_figure(frame, changes)
    figs["domain_accuracy"] = plots.domain_accuracy_figure(frame, changes)
    figs["label_loss"] = plots.label_loss_figure(frame, changes)
    return figs


def data_preview(config) -> None:
    """Before the first run, what it will train on: 2-D data as a chart (which also loads the browser's chart
    library before the click: loading it during the first run took that run's page about 2 s), images as a
    row of each domain. Not MNIST: its pair is built from 60,000 images on first use, which a run does."""
    if config.dataset == "mnist":
        return
    pair = load_pair(config)  # cached: the run reads the same arrays
    if pair.has_input_plane:
        st.plotly_chart(plots.data_figure(pair), key="data_preview", config=plots.CHART_CONFIG)
        st.caption(CAPTIONS["data"])
    elif pair.is_image:
        st.markdown("**The data: labelled source, unlabelled target**")
        n = 8
        image_row(display_images(pair.source_x[:n]), [f"source: {label}" for label in pair.source_y[:n]])
        image_row(display_images(pair.target_x[:n]), ["target: ?"] * n)
        st.caption(CAPTIONS["data_images"])


def live_view() -> None:
    """Redraws from the job while it runs. The redraw that finds it ended shows the summary at once and
    asks for a full rerun, which draws the charts and downloads and stops the timer."""
    current = manager.get(st.session_state.get("train_job"))
    if current is None:
        return
    # A run that ends before the next redraw is waited for (a thread waiting; in a cluster it polls the run's
    # status in Redis), so that its summary follows the end at once instead of up to a whole redraw later.
    every = st.session_state.get("train_every", 1.0)
    if current.status == RUNNING and current.seconds_left() < every:
        current = manager.wait_end(current, every)
    if current.done:
        # The summary first, on its own: the browser draws it in a moment, while the full rerun's six new charts
        # took it a second or more (and it shows nothing of that rerun until all are drawn). The charts,
        # downloads and the timer's end come with the full rerun, which the page asks for at its next redraw,
        # so once the summary is drawn. A class's page, whose end draws no charts and whose next redraw is
        # seconds away, goes to the full rerun at once.
        if paced or st.session_state.get("train_summary_of") == current.id:
            st.rerun()
        st.session_state["train_summary_of"] = current.id
        draw(current, paced, charts=False)
        return
    draw(current, paced)
    if room is not None:
        return  # a class's page keeps its pace from Train to the end of the run
    if paced and manager.in_progress_count() < CLASS_RUNS // 2:
        st.rerun()  # the others' runs have ended (well below CLASS_RUNS, so that the pace does not flap)
    elif not paced and ((slow and current.status != QUEUED) or class_pace()):
        st.rerun()  # started, or a class came: redraw at the new pace


if job is None:
    st.info(
        "Choose a data set and a mode on the left, then press **Train**, or pick a lesson preset above.",
        icon=":material/arrow_back:",
    )
    if config is not None and not paced_page():  # a class's pages draw less (its runs' pages have no charts)
        data_preview(config)
elif job.done:
    draw(job, paced_page())
    if job.result is not None:
        run_downloads(job.result, lambda: figures(job))
else:
    # A class (a busy server): one slow timer from Train to the end of the run, queued or training, and
    # no full rerun in between: each costs the browser a redraw of the whole page, and a full rerun from
    # inside a timed fragment under load could leave the page without its timer (scripts/loadtest.py).
    # One user: a queued run behind others polls slowly (it only needs its place in the queue); the
    # next run to start polls at the running pace (a 3-s poll made a lone run's page notice its start
    # 3 s late).
    paced = paced_page()
    slow = not paced and job.status == QUEUED and manager.queue_position(job) > 0
    if paced:
        every = class_redraw_seconds(manager.in_progress_count())
    else:
        every = QUEUED_REDRAW_SECONDS if slow else redraw_seconds(job)
    st.session_state["train_every"] = every
    st.fragment(run_every=every)(guarded(live_view))()
if config is not None:
    share_box("train", config)
