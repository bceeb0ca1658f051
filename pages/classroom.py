"""Class: a room's runs as one experiment, live, for the projector. It reads what the job manager
records and trains nothing itself but the room's two reference runs.

Whoever opens a room is its teacher (this session holds the room's key; the teacher link brings it to
another tab or machine). The teacher sees the room's controls: its limits, the join screen, the teacher
link, Stop and Remove on a run, the download, closing the room. Anyone else with the code sees the class's
read-only view: the chart and the table. Every control's call is checked in the library too."""

import logging
import os
import time
from urllib.parse import urlencode

import streamlit as st

from dann_demo.classroom import teaching
from dann_demo.classroom.join import qr_png
from dann_demo.classroom.lan import listen_note, server_address_root, students_roots
from dann_demo.classroom.room_limits import PAGE_TITLES, PAGES, RoomLimits
from dann_demo.classroom.rooms import MAX_AGE_HOURS, MAX_RUNS_PER_ROOM, NotTeacher, RoomRefused
from dann_demo.config import MODES, ConfigError
from dann_demo.datasets import DATASETS
from dann_demo.jobs import RUNNING
from dann_demo.links import ROOM_PARAM
from dann_demo.method.results import history_frame
from dann_demo.presets import PRESETS
from dann_demo.views import plots
from dann_demo.views.room_table import room_frame
from dann_demo.views.text import markdown_literal, spreadsheet_safe
from pages import server
from pages.server import browser_id, class_rooms, guarded, job_manager, require_navigation, session_id

KEY_PARAM = "key"  # the teacher link's key: read once, kept in the session, taken out of the address

REDRAW_SECONDS = 2.0
log = logging.getLogger("dann_demo.class_page")  # the server log: how long each redraw took (load test)
TABLE_COLUMNS = ["run", "nickname", "mode", "lambda", "rotation", "seed", "state", "step", "source_acc", "target_acc",
                 "domain_acc", "pad"]  # fmt: skip
PERCENT = {name: st.column_config.NumberColumn(format="percent") for name in ("source_acc", "target_acc", "domain_acc")}

require_navigation()
st.title("Class")
manager = job_manager()
rooms = class_rooms()
keys: dict[str, str] = st.session_state.setdefault("class_keys", {})  # room code -> this teacher's key


def open_room(code: str) -> None:
    st.query_params[ROOM_PARAM] = code
    st.query_params.pop(KEY_PARAM, None)


with st.sidebar:
    st.header("Room")
    password = ""
    if server.TEACHER_PASSWORD:
        password = st.text_input("Teacher password", type="password", key="class_password", max_chars=200,
                                 help="This server asks for it to open a room (ask whoever runs it).")  # fmt: skip
    if st.button("Open a new room", icon=":material/add_circle:", type="primary"):
        try:
            opened, key = rooms.create(browser_id(), password)
            keys[opened.code] = key
            open_room(opened.code)
        except RoomRefused as e:
            st.error(str(e), icon=":material/block:")
    typed = st.text_input("Room code", key="class_code_input", max_chars=20, help="The code of a room opened before.")
    if st.button("Open this room", icon=":material/meeting_room:", disabled=not typed.strip()):
        open_room(typed.strip().lower())
    kept = (
        "in the class's Redis store, which every app process of this server shares and a restart does not lose"
        if server.REDIS_URL
        else "in this server's memory; nothing is written to disk unless you download the table"
    )
    st.caption(
        f"A room keeps its runs for {MAX_AGE_HOURS:g} hours (at most {MAX_RUNS_PER_ROOM} runs), {kept}. Only its "
        "code opens it."
    )

code = st.query_params.get(ROOM_PARAM, "")[:100]
room = rooms.get(code)
if code and room is None:
    st.warning(
        f"Room '{markdown_literal(code)}' was not found: the code may be mistyped, or the room has ended (rooms "
        f"last {MAX_AGE_HOURS:g} hours, and a restarted server forgets them). Open a new room on the left.",
        icon=":material/link_off:",
    )
linked_key = st.query_params.get(KEY_PARAM)
if room is not None and linked_key:  # a teacher link: the key goes into this session, out of the address
    st.query_params.pop(KEY_PARAM, None)
    if room.is_teacher(linked_key):
        keys[room.code] = linked_key
    else:
        st.warning(
            "This link's key does not open this room's controls: the class's view below.", icon=":material/key_off:"
        )
if room is None:
    st.info(
        "**Run a lesson as one experiment.** Open a new room on the left and give the class its link. Every run a "
        "student starts from that link appears here, live: target accuracy against λ for the whole class, with "
        "source only and the target oracle as reference lines, and a table of every run.",
        icon=":material/groups:",
    )
    st.stop()

key = keys.get(room.code)
teacher = room.is_teacher(key)


def room_figures(frame, references: dict[str, float]):
    """The room's two figures, rebuilt only when a run's figures or state changed since the last redraw
    (building them took most of the Class page's server time in a class of 30). The room's reference runs
    (`references`: mode -> target accuracy) draw on the target chart alone: on the domain chart their two
    lines fall on one another and say nothing a class needs."""
    key = frame.drop(columns=["job"]).to_csv(index=False) + repr(sorted(references.items()))
    memo = st.session_state.get("class_figures")
    if memo is None or memo[0] != key:
        target = plots.room_figure(
            frame, "target_acc", "The class: target accuracy against λ", "target accuracy", references
        )
        domain = plots.room_figure(
            frame, "domain_acc", "The class: domain classifier accuracy against λ", "domain accuracy"
        )
        memo = (key, (target, domain))
        st.session_state["class_figures"] = memo
    return memo[1]


def references(datasets: list[str]) -> dict[str, float]:
    """The room's floor and ceiling (source only, the target oracle), trained once for the data set its
    runs use (`datasets`: each run's): mode -> target accuracy, once trained."""
    made = st.session_state.setdefault("class_references", {})
    found = {}
    for config in teaching.reference_configs(room, datasets):
        job = manager.get(made.get(config.stable_hash()))
        if job is None:
            job = manager.submit(config, watcher=session_id())
            made[config.stable_hash()] = job.id
        else:
            manager.watch(job, session_id())
        if job.result is not None:
            found[config.mode] = job.result.metrics["target_acc"]
    return found


@st.fragment(run_every=REDRAW_SECONDS)
@guarded
def class_view() -> None:
    """The room's runs, redrawn every few seconds from what the job manager records. Its teacher also
    gets the table's rows to select (a run's curves, Stop, Remove) and the download; the class's view is
    the chart and the table alone."""
    started = time.perf_counter()
    rooms.touch(room.code)  # a page of the room is open: it is in use
    entries = rooms.teacher_entries(room.code, key) if teacher else rooms.entries(room.code)
    if not entries:
        st.info("No runs in this room yet: they appear here as students press Train.", icon=":material/hourglass:")
        return
    frame = room_frame(entries, manager.get_many([e.job_id for e in entries]).get)
    running = int((frame["state"] == RUNNING).sum())
    st.caption(
        f"{len(frame)} run(s), {running} training now. Filled markers: finished; open markers: the latest record "
        "of a run still training."
    )
    left, right = st.columns(2)
    target, domain = room_figures(frame, references(list(frame["dataset"])))
    left.plotly_chart(target, key="class_target", config=plots.CHART_CONFIG)
    right.plotly_chart(domain, key="class_domain", config=plots.CHART_CONFIG)
    if not teacher:
        st.dataframe(frame[TABLE_COLUMNS], hide_index=True, column_config=PERCENT, key="class_table")
        return
    event = st.dataframe(
        frame[TABLE_COLUMNS],
        hide_index=True,
        column_config=PERCENT,
        on_select="rerun",
        selection_mode="single-row",
        key="class_table",
    )
    st.download_button(
        "Download the room (CSV)",
        spreadsheet_safe(frame.drop(columns=["job"])).to_csv(index=False),
        f"dann_room_{room.code}.csv",
        "text/csv",
        icon=":material/download:",
    )
    rows = event.selection.rows if event is not None else []
    if rows:
        run_view(frame.iloc[rows[0]])
    else:
        st.caption("Click a row of the table to see that run's curves.")
    log.info("class page redrawn: %d runs in %.3f s", len(frame), time.perf_counter() - started)


def run_view(row) -> None:
    """One run of the room, for its teacher: its curves, Stop for the class, Remove from the room."""
    job = manager.get(row["job"])
    st.subheader(f"Run {row['run']}: {markdown_literal(row['nickname'])}, {row['mode']}")
    stop, remove = st.columns(2)
    if job is not None and not job.done and stop.button("Stop this run for the class", icon=":material/stop:"):
        teaching.stop_for_class(rooms, manager, room.code, key, job.id)
    if remove.button("Remove it from the room", icon=":material/delete:"):
        rooms.remove_entry(room.code, key, row["job"])
        st.rerun(scope="fragment")
    if job is not None and job.history:
        history = history_frame(list(job.history))
        a, b = st.columns(2)
        a.plotly_chart(plots.accuracy_figure(history, job.lambda_changes), key="class_run_accuracy")
        b.plotly_chart(plots.domain_loss_figure(history, job.lambda_changes), key="class_run_domain_loss")


if room.closed:
    st.info(
        "**This room has ended**: its teacher closed it. It takes no new runs"
        + ("; its table stays here until the room's hours are over." if teacher else "."),
        icon=":material/door_front:",
    )
if not teacher:
    st.subheader(f"Room {room.code}")
    st.caption(
        "The class's view (read only): the room's runs, live. Its controls are its teacher's: they open with "
        "the teacher link (a teacher whose tab reloaded opens it again from **My teacher link**, kept when the "
        "room was opened)."
    )
    class_view()
    st.stop()

teacher_url = st.context.url or ""
configured = server_address_root(
    str(st.get_option("browser.serverAddress") or ""),
    st.get_option("browser.serverPort"),
    "https" if teacher_url.startswith("https:") else "http",
)
roots, address_note = students_roots(teacher_url, os.environ.get("DANN_PUBLIC_URL", ""), server_address=configured)
address_note = f"{address_note} {listen_note(str(st.get_option('server.address') or ''))}".strip()
root = roots[0].root
if len(roots) > 1:  # several networks (wired, Wi-Fi, a VPN): the teacher knows which one the class is on
    picked = st.selectbox(
        "The students reach this machine at",
        [r.label for r in roots],
        key="class_address",
        help="This page is open as localhost, which means each student's own machine: the students' link uses one "
        "of this machine's network addresses instead. Pick the one of the room's network.",
    )
    root = next(r.root for r in roots if r.label == picked)
link = f"{root}?{urlencode({ROOM_PARAM: room.code})}"

if st.session_state.get("class_join_screen"):
    # For the projector: the link as a QR code and the room code large enough to read from the back.
    st.button("Back to the class", icon=":material/arrow_back:", on_click=st.session_state.update,
              kwargs={"class_join_screen": False})  # fmt: skip
    qr, words = st.columns([1, 1], vertical_alignment="center")
    qr.image(qr_png(link), caption="Scan to join", width=520)
    words.markdown("## Join room")
    # The code in type readable from the back of a lecture hall, as large as its column allows (17% of the
    # column's width a letter: 8 monospace letters fill it) and at most 7rem. A code is 8 letters and
    # digits: safe as HTML.
    words.html(
        '<div style="container-type: inline-size"><div style="font: 700 min(17cqi, 7rem)/1.1 monospace; '
        f'letter-spacing: .08em">{room.code}</div></div>'
    )
    words.markdown(f"or open **{link}**")
    if address_note:
        words.warning(address_note, icon=":material/wifi_off:")
    st.stop()

st.subheader(f"Room {room.code}")
st.markdown("**The students' link** (Train live in this room):")
st.code(link, language=None)
if address_note:
    st.warning(address_note, icon=":material/wifi_off:")
st.button("Show the join screen", icon=":material/qr_code_2:", on_click=st.session_state.update,
          kwargs={"class_join_screen": True}, help="The link as a QR code and the room code in large type, for the "
          "projector.")  # fmt: skip
st.caption(
    "Two students on the same settings share one run: both appear. The room's limits below hold for every run "
    "its students start, however they open the page."
)
with st.expander("My teacher link", icon=":material/key:"):
    st.caption(
        "It opens this room's controls from any tab or machine: keep it to yourself (it is not the students' "
        "link, and the projector does not show it unless you open this box)."
    )
    st.code(f"{link}&{urlencode({KEY_PARAM: key})}", language=None)


def limits_form() -> None:
    """The room's limits, set by its teacher and checked by the library where a run is submitted."""
    now = room.limits
    with st.form("class_limits"):
        datasets = st.multiselect("Data sets students may train (none: all)", DATASETS, default=list(now.datasets))
        modes = st.multiselect("Modes (none: all)", MODES, default=list(now.modes))
        steps = st.number_input("Most steps a run may have (0: each data set's default)", 0, 100_000,
                                now.max_steps, step=500)  # fmt: skip
        pages = [p for p in PAGES if st.checkbox(f"{PAGE_TITLES[p]} page", value=p in now.pages, key=f"lim_{p}")]
        runs = st.number_input("Runs one student may have queued or training", 1, 20, now.runs_per_student)
        lessons = ["", *PRESETS]
        lesson = st.selectbox("Lesson (its settings for every run)", lessons, index=lessons.index(now.lesson),
                              format_func=lambda p: PRESETS[p].title if p else "none")  # fmt: skip
        if st.form_submit_button("Save the room's limits", icon=":material/tune:"):
            try:
                new = RoomLimits(tuple(datasets), tuple(modes), int(steps), tuple(pages), int(runs), lesson)
                rooms.set_limits(room.code, key, new)
                st.success("Saved: every run the room's students start from now on keeps to them.")
            except (ConfigError, NotTeacher, RoomRefused) as e:
                st.error(markdown_literal(str(e)), icon=":material/error:")


with st.expander("The room's limits", icon=":material/tune:"):
    st.caption(f"Now: {room.limits.describe()}.")
    limits_form()
if not room.closed:
    with st.popover("Close the room", icon=":material/door_front:"):
        st.caption("It takes no more runs, its runs that nobody else watches stop, and its link says it has ended.")
        if st.button("Close it now", type="primary", key="class_close"):
            stopped = teaching.close_room(rooms, manager, room.code, key)
            st.toast(f"Room closed; {stopped} run(s) stopped.")
            st.rerun()


class_view()
