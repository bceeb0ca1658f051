"""Streamlit glue for the server process: the job manager and the rooms every session shares, who this session is,
the start-up warm-up, and the device caption. Not a page (app.py's navigation lists the pages)."""

from __future__ import annotations

import os
import threading

import streamlit as st
import torch

from dann_demo.jobs import JobManager
from dann_demo.rooms import Rooms

_navigation_forced = False


def require_navigation() -> None:
    """Make sure this page runs under app.py's st.navigation.

    Streamlit treats a `pages/` folder beside the entry script as its old multipage layout until
    app.py's first run calls st.navigation: a first visit to a fresh server straight at /features
    would run this page without app.py (no page config, every file of pages/ in the menu). We use
    st.navigation only, so the first time this happens in a process we switch that off and run the
    app again. (AppTest resets the flag before every run; after the first time we only switch it
    off, so a test's widget events are not lost to a rerun.) This leans on Streamlit's internal
    flag (checked with the Streamlit of requirements.lock); without it, it does nothing.
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


@st.cache_resource(show_spinner=False)
def job_manager() -> JobManager:
    """One manager per server process, shared by every session, so identical runs are trained once."""
    return JobManager(
        max_concurrent=int(os.environ.get("DANN_MAX_JOBS", "2")),
        cache_entries=int(os.environ.get("DANN_CACHE_RUNS", "32")),
        session_alive=_session_alive,
    )


@st.cache_resource(show_spinner=False)
def class_rooms() -> Rooms:
    """The rooms of this server process, shared by every session (the job manager knows nothing of them)."""
    return Rooms()


def _session_alive(session: str) -> bool:
    """Whether a browser session is still connected (cancel on leaving). Under AppTest, with no
    server runtime, every session counts as alive."""
    from streamlit.runtime import Runtime

    return not Runtime.exists() or Runtime.instance().is_active_session(session)


def session_id() -> str:
    """This browser session's id: the job manager's name for a watcher of a run."""
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    ctx = get_script_run_ctx()
    return ctx.session_id if ctx is not None else "no-session"


@st.cache_resource(show_spinner=False)
def warm_up() -> bool:
    """Once per process, at start-up: build the default data set and read the photos behind digits-M;
    compile UMAP later, in the background, after the first run (numba's first call takes over 10 s, and
    at start-up it would compete with the teacher's first run)."""
    from dann_demo.config import RunConfig
    from dann_demo.datasets import background_photos, load_pair
    from dann_demo.embed import warm_up_umap_when_idle
    from dann_demo.train import warm_up_training

    load_pair(RunConfig.for_dataset("moons"))
    # The photos behind digits-M, read here on the script thread: their first read imports parts of
    # scikit-image that parse stub files with `ast`, and CPython 3.11's parser is not safe when a
    # worker thread does that while this thread compiles a page ("AST constructor recursion depth
    # mismatch", seen when the first digits run started during a page load).
    background_photos()
    # The first run in a process pays for torch's lazy imports (the first optimiser imports
    # torch._dynamo: 1.8 s on 2 cores): a tiny run pays it here, before anyone clicks Train. On this
    # thread for the reason above: those imports compile code too.
    warm_up_training()
    if os.environ.get("DANN_WARM_UP", "1") != "0":  # the test suite turns it off: it never draws UMAP
        manager = job_manager()
        threading.Thread(
            target=warm_up_umap_when_idle,
            args=(manager.idle, manager.any_run_ended),
            name="umap-warm-up",
            daemon=True,
        ).start()
    return True


def device_caption() -> str:
    if torch.cuda.is_available():
        return f":material/memory: Training on the GPU: {torch.cuda.get_device_name(0)}"
    if torch.backends.mps.is_available():
        return ":material/memory: Training on the Apple GPU (mps)"
    return f":material/memory: Training on the CPU ({os.cpu_count()} cores); no GPU found"
