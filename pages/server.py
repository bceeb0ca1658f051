"""Streamlit glue for the server process: the job manager and the rooms every session shares, who this session is,
the start-up warm-up, and the device caption. Not a page (app.py's navigation lists the pages)."""

from __future__ import annotations

import functools
import hashlib
import os
import threading

import streamlit as st
import torch

from dann_demo.classroom.rooms import MemoryRooms, Rooms
from dann_demo.jobs import JobManager

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


# With DANN_REDIS_URL the class's state and work live in Redis, shared by several app processes and
# trained by `dann-playground worker`s (docs/deploy.md); without it, everything stays in this process.
REDIS_URL = os.environ.get("DANN_REDIS_URL") or None
REDIS_PREFIX = os.environ.get("DANN_REDIS_PREFIX", "dann")
STORE_RETRY_SECONDS = 3


@st.cache_resource(show_spinner=False)
def shared_store():
    """This process's client of the class's Redis store (DANN_REDIS_URL only)."""
    from dann_demo.jobs.redis_store import RedisStore

    store = RedisStore(REDIS_URL, prefix=REDIS_PREFIX, cache_entries=int(os.environ.get("DANN_CACHE_RUNS", "32")))
    store.ping()  # unreachable: not cached, the next page load tries again
    return store


# on_release: a manager dropped from the cache (cleared, or a store that came back) ends its threads: the
# trainers stop their runs, a cluster's watch beat stops.
@st.cache_resource(show_spinner=False, on_release=JobManager.close)
def job_manager() -> JobManager:
    """One manager per server process, shared by every session, so identical runs are trained once. In a
    cluster it trains nothing: the workers do (a StreamQueue), and identical runs are shared across processes."""
    if REDIS_URL:
        from dann_demo.jobs.cluster import StreamQueue

        store = shared_store()
        return JobManager(store, StreamQueue(store, session_alive=session_alive))
    return JobManager(
        max_concurrent=int(os.environ.get("DANN_MAX_JOBS", "2")),
        cache_entries=int(os.environ.get("DANN_CACHE_RUNS", "32")),
        session_alive=session_alive,
    )


# Optional: when set, opening a room asks for it (a server that more than one class can reach; docs/deploy.md).
TEACHER_PASSWORD = os.environ.get("DANN_TEACHER_PASSWORD", "")


@st.cache_resource(show_spinner=False)
def class_rooms() -> Rooms:
    """The rooms of this server process, shared by every session (the job manager knows nothing of them);
    in a cluster, the rooms in Redis that every app process shares."""
    if REDIS_URL:
        from dann_demo.classroom.redis_rooms import RedisRooms

        return RedisRooms(shared_store().r, REDIS_PREFIX, password=TEACHER_PASSWORD)
    return MemoryRooms(password=TEACHER_PASSWORD)


def store_errors() -> tuple[type[BaseException], ...]:
    """What a page raises when the class's Redis store is away (nothing without one)."""
    if not REDIS_URL:
        return ()
    import redis

    return (redis.ConnectionError, redis.TimeoutError)


def store_lost(error: BaseException) -> None:
    """The page of a class whose Redis store is away: what happened, that nothing is lost, and a retry
    every STORE_RETRY_SECONDS that brings the page back once Redis answers. No traceback."""
    from urllib.parse import urlsplit

    where = urlsplit(REDIS_URL)
    st.error(
        f"The class's shared store (Redis at {where.hostname}:{where.port or 6379}) cannot be reached, so this "
        "page cannot show or start runs just now. Nothing is lost: the runs and rooms are kept in Redis, and the "
        f"training workers wait for it too. This page tries again every {STORE_RETRY_SECONDS} seconds.",
        icon=":material/cloud_off:",
    )
    st.caption(f"({type(error).__name__}: {error})")

    @st.fragment(run_every=STORE_RETRY_SECONDS)
    def retry() -> None:
        try:
            shared_store.clear()
            shared_store()
        except store_errors():
            return
        st.rerun(scope="app")

    retry()


def guarded(view):
    """A fragment's view that says so, instead of a traceback, while the class's Redis store is away (the
    fragment's own run_every tries again)."""

    @functools.wraps(view)
    def run(*args, **kwargs):
        try:
            return view(*args, **kwargs)
        except store_errors() as e:
            st.error("The class's shared store (Redis) cannot be reached; trying again.", icon=":material/cloud_off:")
            st.caption(f"({type(e).__name__}: {e})")

    return run


def session_alive(session: str) -> bool:
    """Whether a browser session is still connected (cancel on leaving). Under AppTest, with no
    server runtime, every session counts as alive."""
    from streamlit.runtime import Runtime

    return not Runtime.exists() or Runtime.instance().is_active_session(session)


def browser_id() -> str:
    """Who a run counts against: this browser where the app can tell (its tabs and reloads share Streamlit's
    XSRF cookie, whose token is the same under each new mask), else this session."""
    cookie = (st.context.cookies or {}).get("_streamlit_xsrf", "")
    parts = cookie.split("|")
    if len(parts) == 4 and parts[0] == "2":
        try:
            mask, masked = bytes.fromhex(parts[1]), bytes.fromhex(parts[2])
            cookie = bytes(a ^ b for a, b in zip(mask, masked, strict=False)).hex()
        except ValueError:
            pass
    if not cookie:
        return session_id()
    return "browser-" + hashlib.sha256(cookie.encode()).hexdigest()[:16]


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
    from dann_demo.method.train import warm_up_training
    from dann_demo.views.embed import warm_up_umap_when_idle

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
