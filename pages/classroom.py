"""Class: a room's runs as one experiment, live, for the projector. It reads what the job manager
records and trains nothing itself."""

import logging
import os
import time
from urllib.parse import urlencode

import streamlit as st

from dann_demo.classroom.join import qr_png
from dann_demo.classroom.lan import listen_note, server_address_root, students_roots
from dann_demo.classroom.rooms import MAX_AGE_HOURS, MAX_RUNS_PER_ROOM
from dann_demo.jobs import RUNNING
from dann_demo.links import ROOM_PARAM
from dann_demo.method.results import history_frame
from dann_demo.views import plots
from dann_demo.views.room_table import room_frame
from pages import server
from pages.server import class_rooms, guarded, job_manager, require_navigation

REDRAW_SECONDS = 2.0
log = logging.getLogger("dann_demo.class_page")  # the server log: how long each redraw took (load test)
TABLE_COLUMNS = ["run", "nickname", "mode", "lambda", "rotation", "seed", "state", "step", "source_acc", "target_acc",
                 "domain_acc", "pad"]  # fmt: skip
PERCENT = {name: st.column_config.NumberColumn(format="percent") for name in ("source_acc", "target_acc", "domain_acc")}

require_navigation()
st.title("Class")
manager = job_manager()
rooms = class_rooms()


def open_room(code: str) -> None:
    st.query_params[ROOM_PARAM] = code


with st.sidebar:
    st.header("Room")
    if st.button("Open a new room", icon=":material/add_circle:", type="primary"):
        open_room(rooms.create().code)
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

code = st.query_params.get(ROOM_PARAM, "")
room = rooms.get(code)
if code and room is None:
    st.warning(
        f"Room {code!r} was not found: the code may be mistyped, or the room has ended (rooms last "
        f"{MAX_AGE_HOURS:g} hours, and a restarted server forgets them). Open a new room on the left.",
        icon=":material/link_off:",
    )
if room is None:
    st.info(
        "**Run a lesson as one experiment.** Open a new room on the left and give the class its link. Every run a "
        "student starts from that link appears here, live: target accuracy against λ for the whole class, with "
        "source only and the target oracle as reference lines, and a table of every run.",
        icon=":material/groups:",
    )
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
    "Add a lesson to it: `&preset=lambda_too_large`, or `&hide=dataset,mode` to fix controls (the share box under "
    "Train live builds such links and keeps the room). Two students on the same settings share one run: both appear."
)


def room_figures(frame):
    """The room's two figures, rebuilt only when a run's figures or state changed since the last redraw
    (building them took most of the Class page's server time in a class of 30)."""
    key = frame.drop(columns=["job"]).to_csv(index=False)
    memo = st.session_state.get("class_figures")
    if memo is None or memo[0] != key:
        memo = (
            key,
            (
                plots.room_figure(frame, "target_acc", "The class: target accuracy against λ", "target accuracy"),
                plots.room_figure(
                    frame, "domain_acc", "The class: domain classifier accuracy against λ", "domain accuracy"
                ),
            ),
        )
        st.session_state["class_figures"] = memo
    return memo[1]


@st.fragment(run_every=REDRAW_SECONDS)
@guarded
def class_view() -> None:
    """The room's runs, redrawn every few seconds from what the job manager records."""
    started = time.perf_counter()
    entries = rooms.entries(room.code)
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
    target, domain = room_figures(frame)
    left.plotly_chart(target, key="class_target", config=plots.CHART_CONFIG)
    right.plotly_chart(domain, key="class_domain", config=plots.CHART_CONFIG)
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
        frame.drop(columns=["job"]).to_csv(index=False),
        f"dann_room_{room.code}.csv",
        "text/csv",
        icon=":material/download:",
    )
    rows = event.selection.rows if event is not None else []
    if rows:
        row = frame.iloc[rows[0]]
        job = manager.get(row["job"])
        st.subheader(f"Run {row['run']}: {row['nickname']}, {row['mode']}")
        if job is not None and job.history:
            history = history_frame(list(job.history))
            a, b = st.columns(2)
            a.plotly_chart(plots.accuracy_figure(history, job.lambda_changes), key="class_run_accuracy")
            b.plotly_chart(plots.domain_loss_figure(history, job.lambda_changes), key="class_run_domain_loss")
    else:
        st.caption("Click a row of the table to see that run's curves.")
    log.info("class page redrawn: %d runs in %.3f s", len(frame), time.perf_counter() - started)


class_view()
