"""Load test: a class of N students against one real `streamlit run app.py` server on localhost.

Starts the server on a free port, then opens N sessions at once. `--students browser` (the default):
each in its own browser context (its own cookies and websocket, like a student's browser) of one
headless Debian Chromium. `--students protocol`: each a tab that speaks Streamlit's websocket protocol
from Python (scripts/streamlit_tab.py): it reads the widgets from what the server sends, answers the
page's timed reruns, and costs the machine so little that 300 fit beside the server; half of those with
settings put them in through the widgets (a rerun per change, as a person clicks) and their link holds
only room and seed. `--students mixed`: one in ten a browser, and a browser and a protocol student on the
same settings must see the same target accuracy.

Each student opens Train live from a link with their own setup, as a teacher's lesson would have it:
different seeds, constant lambdas from 0 to 3 or the paper schedule, a few in source only or no
reversal, a few with the target rotated by 60 degrees, two students on the very same settings (one
shared run). Each presses Train once their page has settled (nothing on it changed for a second), as a
student clicks on a page they see drawn. A few move the lambda slider while their run trains, and a few
close their tab early (their runs must be cancelled, and they count apart, not as failures). Every
other session waits for the summary's "Target accuracy". A session fails on an exception, an error box,
a lost connection, or no result within --timeout.

Prints the sessions finished, failed and left early, the wall time, the median and 95th-percentile
time from Train to result, the runs' own training time, the page-open time, the batches the server
trained (their sizes, read from its log), the reruns the pages asked for per second, the server's peak
memory and its CPU seconds per run, split into training and the rest from its threads' CPU times
(scripts/thread_cpu.py), the harness's own CPU, and how busy each core was.

    .venv/bin/python scripts/loadtest.py --students protocol --sessions 300
    .venv/bin/python scripts/loadtest.py --students mixed --sessions 30

    .venv/bin/python scripts/loadtest.py                 # 30 sessions
    .venv/bin/python scripts/loadtest.py --sessions 5 --timeout 120
    .venv/bin/python scripts/loadtest.py --sessions-csv times.csv --browser-nice 19

`--sessions-csv` writes each session's times (page open, when it pressed Train, result, training);
a failed session's line names its stage and what its page showed. The 30 browsers stand in for 30
students' machines: at the server's own priority (the default) they take most of its 2 cores;
`--browser-nice 19` runs them at the lowest priority, so the server gets the CPU first and the
browsers starve instead (docs/benchmarks.md).

The server runs with DANN_WARM_UP=0 (no UMAP compilation thread: the Train page never draws UMAP;
--warm-up starts it as `make run` does, so `--sessions 1 --no-room --warm-up` times a fresh server's
first click) and the job manager's defaults (DANN_MAX_JOBS workers, 2 unless set; batches of up to DANN_MAX_BATCH).
Exit code 0 when every session that stayed finished without error (and, mixed, the two kinds agreed),
1 otherwise, 2 when the server or the browser cannot start.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import csv
import math
import os
import re
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import thread_cpu
from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit_tab import Tab

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    # 30 pages in one browser, all in the background: without these Chromium throttles the
    # timers of hidden pages and the sessions stop polling the server.
    "--disable-background-timer-throttling",
    "--disable-renderer-backgrounding",
    "--disable-backgrounding-occluded-windows",
]
# What a student must never see: a Python exception, an st.error box, Streamlit's connection dialog.
FAILURE = '[data-testid="stException"], [data-testid="stAlertContentError"]'


@dataclass
class Session:
    index: int
    seed: int
    settings: dict = field(default_factory=dict)  # the settings beside the seed (the link's, or the widgets')
    kind: str = "browser"  # "browser": a Chromium page; "protocol": a Tab speaking Streamlit's websocket
    by_widgets: bool = False  # sets its settings through the widgets, as a person would, not through the link
    moves_lambda: bool = False  # moves the lambda slider while the run trains
    leaves_early: bool = False  # closes the tab a moment after pressing Train
    ok: bool = False
    left: bool = False
    error: str = ""
    open_seconds: float = math.nan  # page load until the Train button shows
    clicked_at: float = math.nan  # when Train was pressed, seconds from the start of the test
    result_seconds: float = math.nan  # Train pressed until the summary shows
    train_seconds: float = math.nan  # the run's own training time (the summary's "Time")
    from_cache: bool = False
    target: str = ""  # the target accuracy the summary showed
    full_reruns: int = 0  # rerun requests the page sent: for the whole page
    fragment_reruns: int = 0  # and for a timed fragment


LAMBDAS = ("0", "0.1", "0.3", "1", "3")
STUDENT_KINDS = ("browser", "protocol", "mixed")
# The settings a student may put in through the widgets rather than the link (the link keeps room and seed).
WIDGET_SETTINGS = ("mode", "lambda_schedule", "lambda_value", "rotation")


def class_of(n: int, first_seed: int, students: str = "browser") -> list[Session]:
    """N students with the mix of a lesson (see the module docstring); deterministic, so runs compare.
    `students`: every one a browser, every one a protocol student, or "mixed": one in ten a browser
    (session 0 among them, whose settings session 2 shares: the two kinds on one run)."""
    sessions = []
    for i in range(n):
        settings: dict = {}
        if i % 5 == 1:
            settings["mode"] = "source_only"
        elif i % 5 == 3:
            settings["mode"] = "no_reversal"
        elif i % 3 == 0:
            settings.update(lambda_schedule="constant", lambda_value=LAMBDAS[(i // 3) % len(LAMBDAS)])
        if i % 7 == 4:
            settings["rotation"] = "60"
        seed = first_seed + i
        kind = "browser" if students == "browser" or (students == "mixed" and i % 10 == 0) else "protocol"
        sessions.append(Session(i, seed, settings, kind=kind, moves_lambda=i % 10 == 6, leaves_early=i % 10 == 8))
    if n >= 3:  # two students press Train on the very same settings: one shared run
        sessions[2].seed, sessions[2].settings = sessions[0].seed, dict(sessions[0].settings)
    for s in sessions:  # half the protocol students with settings click them in (session 2 among them)
        s.by_widgets = s.kind == "protocol" and s.index % 2 == 0 and bool(s.settings)
    return sessions


def link_query(session: Session, steps: int | None) -> dict:
    """The query string of a student's link: room, seed and steps, and the settings unless the widgets set them."""
    settings = {k: v for k, v in session.settings.items() if not (session.by_widgets and k in WIDGET_SETTINGS)}
    return {"seed": session.seed, **settings, **({"steps": steps} if steps else {})}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(port: int, log: IO[bytes], timeout: float = 120.0, warm_up: bool = False) -> subprocess.Popen:
    """`streamlit run app.py` on localhost; its output goes to `log` (a pipe nobody reads would fill
    and stall the server). `warm_up`: as `make run` starts it (UMAP compiled in the background)."""
    env = {**os.environ, "DANN_WARM_UP": "1" if warm_up else "0"}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "streamlit",
            "run",
            "app.py",
            "--server.port",
            str(port),
            "--server.headless",
            "true",
            "--browser.gatherUsageStats",
            "false",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # as `make run` in a terminal of its own: not in the harness's session
    )
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            break
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2)
            return proc
        except OSError:
            time.sleep(0.5)
    proc.kill()
    proc.wait()
    raise RuntimeError(f"streamlit did not answer on port {port} within {timeout:.0f} s:\n{tail(log)}")


def tail(log: IO[bytes], chars: int = 2000) -> str:
    log.flush()
    log.seek(0)
    return log.read().decode(errors="replace")[-chars:]


def proc_status(pid: int, field: str) -> int:
    """A kB figure from /proc/<pid>/status (VmHWM: peak resident memory), or 0 where there is no /proc."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def machine_busy_seconds() -> float:
    """CPU seconds every core of the machine has spent busy so far, all processes and the kernel, or NaN.
    The browsers' share is this less the server's: Chromium's renderers are not children the harness
    reaps, so their CPU time is not in its rusage."""
    ticks = thread_cpu.core_ticks()
    return sum(busy for busy, _ in ticks) / thread_cpu.TICK if ticks else math.nan


async def set_number(page, label: str, value: int, timeout: float) -> None:
    """Type into a number input and wait until the page shows the value."""
    field = page.get_by_label(label, exact=True)
    await field.fill(str(value))
    await field.press("Enter")  # a number input commits its value on Enter (or blur)
    await page.wait_for_function(
        "([label, value]) => [...document.querySelectorAll('input')]"
        ".some(i => i.ariaLabel === label && i.value === value)",
        arg=[label, str(value)],
        polling=500,
        timeout=timeout * 1000,
    )


# How often a session looks at its page: Playwright's own wait_for checks the page on every animation
# frame, and on 30 pages of one Chromium that alone took about 0.4 of a core from the 2 the server
# trains on. A class looks once a second (a result is timed to within a second); a lone session 5 times.
def look_seconds(sessions: int) -> float:
    return 1.0 if sessions > 5 else 0.2


async def appears(locator, timeout: float, every: float) -> None:
    """Wait until `locator` is on the page, looking every `every` seconds."""
    deadline = time.perf_counter() + timeout
    while not await locator.count():
        if time.perf_counter() > deadline:
            raise TimeoutError(f"not on the page within {timeout:.0f} s")
        await asyncio.sleep(every)


# A student clicks Train on a page they see drawn, not on one still drawing: the page has settled once
# nothing in it has changed for this long (a lone Train page draws the data's chart before the first run).
SETTLED_SECONDS = 1.0


async def settled(page, quiet: float, timeout: float, every: float) -> None:
    """Wait until nothing in the page has changed for `quiet` seconds."""
    await page.evaluate(
        """() => { window.__lastChange = performance.now();
        new MutationObserver(() => { window.__lastChange = performance.now(); })
            .observe(document.body, {subtree: true, childList: true, attributes: true, characterData: true}); }"""
    )
    await page.wait_for_function(
        "quiet => performance.now() - window.__lastChange > quiet",
        arg=quiet * 1000,
        polling=every * 1000,
        timeout=timeout * 1000,
    )


async def run_session(
    browser, url: str, session: Session, timeout: float, steps: int | None, look: float, start: float
) -> Session:
    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    page = await context.new_page()
    page.on("websocket", lambda ws: ws.on("framesent", lambda payload: count_rerun(session, payload)))
    query = link_query(session, steps)
    stage = "opening the page"
    try:
        t0 = time.perf_counter()
        await page.goto(f"{url}?{urllib.parse.urlencode(query)}", timeout=timeout * 1000)
        train = page.get_by_role("button", name="Train", exact=True)
        await appears(train, timeout, look)
        # The link's settings are in the widgets once the seed box shows the link's seed.
        await page.wait_for_function(
            "seed => [...document.querySelectorAll('input')].some(i => i.ariaLabel === 'Seed' && i.value === seed)",
            arg=str(session.seed),
            polling=500,
            timeout=timeout * 1000,
        )
        session.open_seconds = time.perf_counter() - t0
        await settled(page, SETTLED_SECONDS, timeout, look)
        t1 = time.perf_counter()
        session.clicked_at = t1 - start
        stage = "pressing Train"
        await train.click(timeout=timeout * 1000)  # a page on a busy machine may take longer than Playwright's 30 s
        if session.leaves_early:
            await page.wait_for_timeout(1500)
            session.left = True
            return session
        result = page.locator('[data-testid="stMetric"]').filter(has_text="Target accuracy")
        if session.moves_lambda:
            stage = "waiting for training, to move lambda"
            training = page.get_by_text("steps/s").or_(page.get_by_text(re.compile(r"Step \d+ of \d+"))).first
            await appears(training.or_(result).first, timeout, look)
            if not await result.count():  # a run may end before its student gets to the slider
                thumb = page.locator('input[type="range"][aria-label^="λ"]')
                await thumb.focus(timeout=timeout * 1000)
                for _ in range(4):
                    await thumb.press("ArrowRight", timeout=timeout * 1000)  # four steps of 0.05
        stage = "waiting for the result"
        failure = page.locator(FAILURE).or_(page.get_by_text("Connection error"))
        await appears(result.or_(failure).first, timeout, look)
        if await failure.count():
            session.error = (await failure.first.inner_text(timeout=timeout * 1000))[:300]
        else:
            session.result_seconds = time.perf_counter() - t1
            run_time = page.locator('[data-testid="stMetric"]').filter(has=page.get_by_text("Time", exact=True))
            session.train_seconds = float(
                (
                    await run_time.locator('[data-testid="stMetricValue"]').inner_text(timeout=timeout * 1000)
                ).removesuffix(" s")
            )
            session.from_cache = await page.get_by_text("from the cache").count() > 0
            session.target = await result.locator('[data-testid="stMetricValue"]').inner_text(timeout=timeout * 1000)
            session.ok = True
    except Exception as e:  # a timeout or a browser error is this session's failure, not the whole test's
        session.error = f"{stage}: {type(e).__name__}: {str(e).splitlines()[0][:300]}"
        try:  # what the student saw: the page's last lines
            shown = await page.locator('[data-testid="stMain"]').inner_text(timeout=5000)
            session.error += " | the page shows: " + " / ".join(shown.split("\n")[-6:])[:400]
        except Exception:  # noqa: BLE001 - the page itself may be gone
            pass
    finally:
        await context.close()
    return session


def count_rerun(session: Session, payload) -> None:
    """Count a rerun request the browser page sent (a BackMsg on its websocket; other frames are pings)."""
    if not isinstance(payload, bytes):
        return
    try:
        msg = BackMsg.FromString(payload)
    except Exception:  # noqa: BLE001 - not a BackMsg: nothing to count
        return
    if msg.WhichOneof("type") == "rerun_script":
        if msg.rerun_script.fragment_id:
            session.fragment_reruns += 1
        else:
            session.full_reruns += 1


# A protocol student picks a mode from the select box by the start of its label.
MODE_OPTIONS = {"dann": "DANN", "source_only": "source only", "no_reversal": "no reversal"}
PROTOCOL_LOOK = 0.25  # how often a protocol student looks at what it has received (it reads as it comes)


async def set_widgets(tab: Tab, settings: dict, timeout: float) -> None:
    """Put the settings in through the widgets, one change (one rerun) at a time as a person would, each
    once the page has settled (a widget that already shows the value is left alone); then check the page
    wrote every change into its link."""
    mode = MODE_OPTIONS.get(settings.get("mode", ""), "")
    changes = [  # (the link's key, the widget's kind and label, the value for it)
        ("mode", "selectbox", "Mode", lambda el: next(o for o in el.options if o.startswith(mode))),
        ("lambda_schedule", "radio", "Lambda", lambda el: "constant"),
        ("lambda_value", "slider", "λ", lambda el: [float(settings["lambda_value"])]),
        ("rotation", "slider", "Target rotation", lambda el: [float(settings["rotation"])]),
    ]
    changed = []
    for key, kind, label, value in changes:
        if key not in settings:
            continue
        el = await tab.wait_for(
            lambda t, kind=kind, label=label: t.widget(kind, label, prefix=True), timeout, PROTOCOL_LOOK
        )
        if tab.value_of(el) != value(el):
            await tab.set_value(el, value(el)[0] if kind == "slider" else value(el))
            await tab.settled(0.3, timeout)
            changed.append(key)
    shown = urllib.parse.parse_qs(tab.query)
    for key in changed:
        if not same_setting(shown.get(key, [""])[0], settings[key]):
            raise ValueError(
                f"the page's link shows {key}={shown.get(key, [''])[0]!r}, the widgets were set to {settings[key]!r}"
            )


def same_setting(shown: str, wanted) -> bool:
    try:
        return math.isclose(float(shown), float(wanted))
    except ValueError:
        return shown == str(wanted)


def summary_shown(tab: Tab) -> bool:
    """The summary's numbers are in: its elements arrive one delta at a time, "Time" after "Target accuracy"."""
    return tab.metric("Target accuracy") is not None and tab.metric("Time") is not None


def run_step_shown(tab: Tab) -> bool:
    """The page shows a run training: its progress bar, or the class view's "Step N of M"."""
    return tab.has_text("steps/s") or any(re.search(r"Step \d+ of \d+", t) for t in tab.texts())


async def run_protocol_session(url: str, session: Session, timeout: float, steps: int | None, start: float) -> Session:
    """A student's tab without a browser (scripts/streamlit_tab.py), doing what run_session's page does."""
    tab = Tab(url, urllib.parse.urlencode(link_query(session, steps)))
    stage = "opening the page"
    try:
        t0 = time.perf_counter()
        await asyncio.wait_for(tab.open(), timeout)
        train = await tab.wait_for(lambda t: t.widget("button", "Train"), timeout, PROTOCOL_LOOK)
        # The link's settings are in the widgets once the seed box holds the link's seed.
        await tab.wait_for(
            lambda t: (seed := t.widget("number_input", "Seed")) and t.value_of(seed) == session.seed,
            timeout,
            PROTOCOL_LOOK,
        )
        session.open_seconds = time.perf_counter() - t0
        await tab.settled(SETTLED_SECONDS, timeout)
        if session.by_widgets:
            stage = "setting the widgets"
            await set_widgets(tab, session.settings, timeout)
        t1 = time.perf_counter()
        session.clicked_at = t1 - start
        stage = "pressing Train"
        await tab.click(train)
        if session.leaves_early:
            await tab.pump(1.5)
            session.left = True
            return session
        if session.moves_lambda:
            stage = "waiting for training, to move lambda"
            await tab.wait_for(lambda t: summary_shown(t) or run_step_shown(t), timeout, PROTOCOL_LOOK)
            slider = tab.widget("slider", "λ", prefix=True)
            if slider is not None and not summary_shown(tab):
                value = tab.value_of(slider)[0]
                for _ in range(4):  # four steps of 0.05, as four presses of the arrow key
                    value = min(round(value + 0.05, 2), slider.max)
                    await tab.set_value(slider, value)
                    await tab.pump(0.3)
        stage = "waiting for the result"
        await tab.wait_for(lambda t: summary_shown(t) or t.failure(), timeout, PROTOCOL_LOOK)
        if failure := tab.failure():
            session.error = failure
        else:
            session.result_seconds = time.perf_counter() - t1
            session.target = tab.metric("Target accuracy")
            session.train_seconds = float(tab.metric("Time").removesuffix(" s"))
            session.from_cache = tab.has_text("from the cache")
            session.ok = True
    except Exception as e:  # a timeout or a lost connection is this session's failure, not the whole test's
        session.error = f"{stage}: {type(e).__name__}: {str(e).splitlines()[0][:300] if str(e) else ''}"
        session.error += " | the page shows: " + " / ".join(t.replace("\n", " ")[:80] for t in tab.texts()[-6:])
    finally:
        session.full_reruns, session.fragment_reruns = tab.full_reruns, tab.fragment_reruns
        await tab.close()
    return session


def batches_in(log_text: str) -> list[tuple[int, int]]:
    """(runs, most at once) of each batch the server trained, from its log ("batch of N moons runs done in
    S s (at most M at once)"); runs join a batch under way, so a batch's runs can exceed its most at once.
    A run trained alone is no batch."""
    found = re.findall(r"batch of (\d+) \w+ runs done in [\d.]+ s \(at most (\d+) at once\)", log_text)
    return [(int(n), int(most)) for n, most in found if int(n) > 1]


class BrowserTeacher:
    """The teacher opens a new room on the Class page in a browser and keeps the page open (it redraws itself)."""

    async def open(self, browser, url: str, timeout: float) -> str:
        self.context = await browser.new_context(viewport={"width": 1280, "height": 900})
        self.page = await self.context.new_page()
        await self.page.goto(url + "classroom", timeout=timeout * 1000)
        await self.page.get_by_role("button", name="Open a new room").click()
        await self.page.wait_for_url(re.compile(r"room=\w{8}"), timeout=timeout * 1000)
        return re.search(r"room=(\w{8})", self.page.url).group(1)

    async def runs_shown(self, timeout: float) -> int:
        """The runs the Class page's table counts, after one more redraw."""
        await self.page.wait_for_timeout(3000)
        caption = await self.page.get_by_text(re.compile(r"\d+ run\(s\),")).first.inner_text(timeout=timeout * 1000)
        return int(caption.split()[0])

    async def close(self) -> None:
        await self.context.close()


class ProtocolTeacher:
    """The same teacher's page over Streamlit's protocol; it reads its websocket all along, as a browser does."""

    async def open(self, url: str, timeout: float) -> str:
        self.tab = Tab(url, "", page_name="classroom")
        await asyncio.wait_for(self.tab.open(), timeout)
        button = await self.tab.wait_for(lambda t: t.widget("button", "Open a new room"), timeout)
        await self.tab.settled(0.5, timeout)
        await self.tab.click(button)
        found = await self.tab.wait_for(lambda t: re.search(r"room=(\w{8})", t.query), timeout)
        self.reading = asyncio.create_task(self.tab.pump(10**9))
        return found.group(1)

    async def runs_shown(self, timeout: float) -> int:
        await asyncio.sleep(3)
        self.reading.cancel()
        caption = await self.tab.wait_for(
            lambda t: next((m for x in t.texts() if (m := re.match(r"(\d+) run\(s\),", x))), None), timeout
        )
        return int(caption.group(1))

    async def close(self) -> None:
        self.reading.cancel()
        await self.tab.close()


async def run_class(
    url: str, sessions: list[Session], timeout: float, browsers: int, steps: int | None, room: bool, nice: int = 0
) -> tuple[list[Session], int | None]:
    """Every student at once (in one room, with the teacher's Class page open, unless room is False).
    Returns the sessions and the number of runs the Class page's table shows at the end. Chromium starts
    only when a student (and then the teacher too) is a browser."""
    async with contextlib.AsyncExitStack() as stack:
        launched = []
        if any(s.kind == "browser" for s in sessions):
            from playwright.async_api import async_playwright

            p = await stack.enter_async_context(async_playwright())
            for _ in range(browsers):
                launched.append(await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS))
                stack.push_async_callback(launched[-1].close)
            if nice:
                lower_browsers(nice)
        teacher = None
        if room:
            if launched:
                teacher = BrowserTeacher()
                code = await teacher.open(launched[0], url, timeout)
            else:
                teacher = ProtocolTeacher()
                code = await teacher.open(url, timeout)
            stack.push_async_callback(teacher.close)
            for s in sessions:
                s.settings["room"] = code
        look, start = look_seconds(len(sessions)), time.perf_counter()
        done = await asyncio.gather(
            *(
                run_session(launched[s.index % browsers], url, s, timeout, steps, look, start)
                if s.kind == "browser"
                else run_protocol_session(url, s, timeout, steps, start)
                for s in sessions
            )
        )
        shown = await teacher.runs_shown(timeout) if teacher is not None else None
        return done, shown


def lower_browsers(nice: int) -> None:
    """Run Chromium at niceness `nice`. Playwright starts it in a session of its own, and with Linux's
    autogroup scheduling a niceness counts only within a session: across sessions the CPU is shared per
    session, so Chromium's session gets `nice` as its autogroup niceness (/proc/PID/autogroup)."""
    me = os.getsid(0)
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if b"chromium" not in (proc / "cmdline").read_bytes().split(b"\0")[0] or os.getsid(int(proc.name)) == me:
                continue
            (proc / "autogroup").write_text(str(nice))
            os.setpriority(os.PRIO_PROCESS, int(proc.name), nice)
        except (OSError, ProcessLookupError):
            pass  # gone, or no autogroup scheduling here: the plain niceness is all there is


def class_page_redraws(log_text: str) -> list[tuple[int, float]]:
    """(runs, seconds) of each Class page redraw, from the server's log."""
    return [(int(n), float(t)) for n, t in re.findall(r"class page redrawn: (\d+) runs in ([\d.]+) s", log_text)]


def write_sessions(path: Path, sessions: list[Session]) -> None:
    """One row per session: what it asked for and its times (seconds), for a timeline of the class."""
    with path.open("w", newline="") as f:
        out = csv.writer(f)
        time_columns = ["open_s", "clicked_at_s", "result_s", "train_s"]
        out.writerow(["index", "kind", "seed", "settings", "outcome", *time_columns, "from_cache"])
        for s in sessions:
            outcome = "finished" if s.ok else "left" if s.left else "failed"
            settings = " ".join(f"{k}={v}" for k, v in s.settings.items() if k != "room")
            times = (s.open_seconds, s.clicked_at, s.result_seconds, s.train_seconds)
            out.writerow([s.index, s.kind, s.seed, settings, outcome, *(f"{t:.2f}" for t in times), s.from_cache])


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile, nearest rank (of 30 values, the 95th is the 29th smallest)."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=30, help="simulated students (default 30)")
    parser.add_argument(
        "--students",
        choices=STUDENT_KINDS,
        default="browser",
        help="browser: each student a Chromium page (the default); protocol: each a tab that speaks Streamlit's "
        "websocket protocol from Python (no browser; 300 fit one machine); mixed: one in ten a browser, and "
        "the two kinds must see the same runs",
    )
    parser.add_argument("--port", type=int, default=0, help="server port (default: a free one)")
    parser.add_argument(
        "--timeout",
        type=float,
        default=600.0,
        help="seconds each session may wait for the page and for its result (default 600)",
    )
    parser.add_argument("--browsers", type=int, default=1, help="Chromium processes to share the sessions (default 1)")
    parser.add_argument(
        "--steps",
        type=int,
        default=None,
        help="training steps per run (default: the page's, 3000 on moons; the pytest uses fewer)",
    )
    parser.add_argument("--first-seed", type=int, default=1, help="session i uses seed first_seed + i (default 1)")
    parser.add_argument("--no-room", action="store_true", help="students outside any room (no Class page open)")
    parser.add_argument(
        "--warm-up",
        action="store_true",
        help="start the server as `make run` does, warm-up included (with --sessions 1 --no-room: a fresh "
        "server's first click)",
    )
    parser.add_argument("--server-log", type=Path, default=None, help="keep the server's output in this file")
    parser.add_argument(
        "--browser-nice",
        type=int,
        default=0,
        help="run the browsers at this niceness (0-19; default 0, the server's own priority): 30 browsers stand "
        "in for 30 students' machines, and at the server's priority they take most of its cores",
    )
    parser.add_argument(
        "--sessions-csv", type=Path, default=None, help="write each session's times (open, click, result) here"
    )
    parser.add_argument(
        "--app-processes",
        type=int,
        default=0,
        help="drive a cluster instead (scripts/cluster.py): this many app processes behind HAProxy, sharing Redis",
    )
    parser.add_argument("--workers", type=int, default=2, help="with --app-processes: training workers (default 2)")
    parser.add_argument(
        "--kill-worker-at",
        type=float,
        default=None,
        metavar="S",
        help="with --app-processes: SIGKILL worker 0 this many seconds after the students start",
    )
    parser.add_argument(
        "--beside-one-process",
        action="store_true",
        help="with --app-processes: run the same class on one server process first, and print the two 95th "
        "percentiles side by side",
    )
    args = parser.parse_args(argv)
    for name in ("sessions", "browsers", "workers"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be at least 1, got {getattr(args, name)}")
    if args.app_processes < 0:
        parser.error(f"--app-processes must be 0 (one server process) or more, got {args.app_processes}")
    if args.kill_worker_at is not None and (not args.app_processes or args.workers < 2 or args.kill_worker_at < 0):
        parser.error("--kill-worker-at needs --app-processes and at least 2 --workers, and seconds from 0")
    if args.steps is not None and args.steps < 1:
        parser.error(f"--steps must be at least 1, got {args.steps}")
    if not 0 <= args.browser_nice <= 19:
        parser.error(f"--browser-nice must be from 0 to 19, got {args.browser_nice}")
    if args.timeout <= 0:
        parser.error(f"--timeout must be positive, got {args.timeout:g}")
    if args.students != "protocol" and not os.path.exists(CHROMIUM):
        print(f"{CHROMIUM} is missing: install Debian's chromium (make test does).", file=sys.stderr)
        return 2

    if args.beside_one_process:
        if not args.app_processes:
            parser.error("--beside-one-process needs --app-processes")
        print("== the same class on one server process, first ==", flush=True)
        one = argparse.Namespace(**{**vars(args), "app_processes": 0, "kill_worker_at": None})
        rc_one = load_test(one)
        first = P95.get("p95", math.nan)
        print(f"== then on the cluster: {args.app_processes} app processes, {args.workers} workers ==", flush=True)
        rc = load_test(args)
        print(
            f"95th percentile Train -> result: one process {first:.1f} s, cluster {P95.get('p95', math.nan):.1f} s "
            f"({args.sessions} sessions, the same machine, one after the other)"
        )
        return max(rc_one, rc)
    return load_test(args)


P95: dict[str, float] = {}  # the last load test's 95th percentile, for --beside-one-process


def load_test(args: argparse.Namespace) -> int:
    load_before = os.getloadavg()
    P95.pop("p95", None)
    with open(args.server_log, "w+b") if args.server_log else tempfile.TemporaryFile() as log:
        return run_load_test(args, log, load_before)


class OneServer:
    """The class on one `streamlit run` process (the default)."""

    def __init__(self, port: int, log: IO[bytes], warm_up: bool):
        self.proc = start_server(port, log, warm_up=warm_up)
        self.url = f"http://127.0.0.1:{port}/"

    def processes(self) -> list[int]:
        return [self.proc.pid]

    def lost_runs(self) -> int | None:
        return None  # its runs live and end with the process: the sessions' results tell

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


class ClusterServer:
    """The class on scripts/cluster.py's pieces: the students go through the proxy."""

    def __init__(self, args: argparse.Namespace, log: IO[bytes]):
        from cluster import Cluster

        self.cluster = Cluster(args.app_processes, args.workers, args.port, log=log).start()
        self.url = self.cluster.url

    def processes(self) -> list[int]:
        pids = self.cluster.pids()
        return pids["apps"] + pids["workers"] + pids["redis"] + pids["proxy"]

    def lost_runs(self, settle: float = 60.0) -> int:
        """Runs that neither ended nor are still held by a live worker once the class is over: queued or
        running in Redis after `settle` seconds for the runs of the students who left to be stopped."""
        import redis

        r = redis.Redis.from_url(self.cluster.redis_url)
        deadline = time.time() + settle
        while True:
            p = self.cluster.prefix
            open_runs = r.scard(f"{p}:status:queued") + r.scard(f"{p}:status:running")
            if not open_runs or time.time() > deadline:
                failed = r.scard(f"{p}:status:failed")
                return open_runs + failed
            time.sleep(1)

    def stop(self) -> None:
        self.cluster.stop()


def peak_memory_mib(pids: list[int]) -> float:
    return sum(proc_status(pid, "VmHWM") for pid in pids) / 1024


def run_load_test(args: argparse.Namespace, log: IO[bytes], load_before: tuple[float, float, float]) -> int:
    try:
        if args.app_processes:
            server = ClusterServer(args, log)
        else:
            server = OneServer(args.port or free_port(), log, args.warm_up)
    except RuntimeError as e:
        print(e, file=sys.stderr)
        return 2
    sessions = class_of(args.sessions, args.first_seed, args.students)
    killer = None
    if args.kill_worker_at is not None:
        killer = threading.Timer(args.kill_worker_at, server.cluster.kill_worker, args=(0,))
    lost = None
    try:
        t0, busy_before, cores_before = time.perf_counter(), machine_busy_seconds(), thread_cpu.core_ticks()
        pids = server.processes()
        before, harness_before = [thread_cpu.Look.at(pid) for pid in pids], harness_cpu()
        if killer is not None:
            killer.start()
        sessions, shown = asyncio.run(
            run_class(
                server.url, sessions, args.timeout, args.browsers, args.steps, not args.no_room, args.browser_nice
            )
        )
        wall, busy = time.perf_counter() - t0, machine_busy_seconds() - busy_before
        cores = thread_cpu.core_busy(cores_before, thread_cpu.core_ticks())
        alive = [n for n, pid in enumerate(pids) if os.path.exists(f"/proc/{pid}")]
        after, harness = {n: thread_cpu.Look.at(pids[n]) for n in alive}, harness_cpu() - harness_before
        peak_mib = peak_memory_mib([pids[n] for n in alive])
        lost = server.lost_runs()
    finally:
        if killer is not None:
            killer.cancel()
        server.stop()
    load_after = os.getloadavg()

    finished = [s for s in sessions if s.ok]
    left = [s for s in sessions if s.left]
    failed = [s for s in sessions if not s.ok and not s.left]
    times = [s.result_seconds for s in finished]
    server_log = tail(log, 10**8)
    sizes = batches_in(server_log)
    redraws = [t for n, t in class_page_redraws(server_log) if n >= len(sessions) - len(left)]
    kinds = {k: sum(s.kind == k for s in sessions) for k in ("browser", "protocol")}
    students = ", ".join(f"{n} {k}" for k, n in kinds.items() if n)
    print(
        f"sessions: {len(sessions)} ({students}; moons, {args.steps or 'default'} steps, seeds "
        f"{min(x.seed for x in sessions)}-{max(x.seed for x in sessions)}; modes, lambdas and rotations mixed, "
        "two on the same settings, "
        f"{sum(s.by_widgets for s in sessions)} set them through the widgets, "
        f"{sum(s.moves_lambda for s in sessions)} move lambda, {len(left)} close their tab early; "
        + (f"{args.browsers} Chromium at niceness {args.browser_nice}, " if kinds["browser"] else "")
        + (
            f"a cluster: {args.app_processes} app processes behind HAProxy, {args.workers} training workers, Redis"
            + (f", worker 0 killed at {args.kill_worker_at:g} s)" if args.kill_worker_at is not None else ")")
            if args.app_processes
            else f"DANN_MAX_JOBS={os.environ.get('DANN_MAX_JOBS', '2')})"
        )
    )
    print(
        f"finished: {len(finished)}, failed: {len(failed)}, left early: {len(left)}, "
        f"from the cache: {sum(s.from_cache for s in finished)}"
    )
    if lost is not None:
        claimed = sum(int(n) for n in re.findall(r"died: (\d+) run\(s\) claimed", server_log))
        print(
            f"runs lost: {lost} (runs that failed, or neither ended nor stayed with a worker; {claimed} claimed from "
            "a dead worker)"
        )
    print(f"wall time: {wall:.1f} s (all sessions opened at once until the last result)")
    if times:
        P95["p95"] = percentile(times, 95)
        print(
            f"time from Train to result: median {statistics.median(times):.1f} s, "
            f"95th percentile {percentile(times, 95):.1f} s, max {max(times):.1f} s"
        )
        train = statistics.median(s.train_seconds for s in finished)
        print(
            f"of which training (the runs' own time): median {train:.1f} s; the rest is the queue, the page and "
            f"the client"
        )
        opens = [s.open_seconds for s in finished]
        clicks = [s.clicked_at for s in finished]
        print(
            f"page open to Train button: median {statistics.median(opens):.1f} s (first {min(opens):.1f} s, last "
            f"{max(opens):.1f} s); Train pressed from {min(clicks):.1f} s to {max(clicks):.1f} s after the start"
        )
    print(
        f"batches trained: {len(sizes)}, sizes {[n for n, _ in sizes]}, at most {[m for _, m in sizes]} at once "
        f"({sum(n for n, _ in sizes)} runs in batches; the others trained alone or were shared)"
    )
    if shown is not None:
        full = f"median {statistics.median(redraws):.2f} s, max {max(redraws):.2f} s" if redraws else "none logged"
        print(f"class page: one room, {shown} runs in its table at the end; its redraws with every run in: {full}")
    full_reruns, fragment_reruns = sum(s.full_reruns for s in sessions), sum(s.fragment_reruns for s in sessions)
    print(
        f"reruns asked by the students' pages: {(full_reruns + fragment_reruns) / wall:.1f} per second "
        f"({full_reruns} of the whole page, {fragment_reruns} of a timed fragment)"
    )
    # Every process of the class (one server, or the cluster's apps, workers, Redis and proxy; a worker
    # killed on purpose counts until its last look: none after it).
    server_cpu = sum(after[n].total - before[n].total for n in after)
    split = [thread_cpu.training_and_rest(before[n], after[n]) for n in after]
    training, rest = sum(t for t, _ in split), sum(r for _, r in split)
    others = busy - server_cpu
    what = "server" if not args.app_processes else "cluster (every process)"
    print(
        f"{what} peak memory (VmHWM): {peak_mib:.0f} MiB; CPU time: {what} {server_cpu:.0f} s "
        f"({server_cpu / len(sessions):.2f} s per student's run); the machine was busy {busy:.0f} of "
        f"{wall * (os.cpu_count() or 1):.0f} core-seconds, {others:.0f} of them the clients (browsers, the harness) "
        "and the kernel"
    )
    print(
        f"server CPU per run: training {training / len(sessions):.3f} s, the rest {rest / len(sessions):.3f} s "
        f"(training threads {training:.0f} s, every other thread {rest:.0f} s)"
    )
    for n in after:
        print(f"process {pids[n]}: " + thread_cpu.busiest(before[n], after[n], wall))
    print(
        f"load generator: the harness's own CPU {harness:.0f} s ({harness / wall:.0%} of one core)"
        + (", the browsers' in the clients' share above" if kinds["browser"] else "")
    )
    print(
        f"machine: {os.cpu_count()} cores, busy {', '.join(f'{b:.0%}' for b in cores)}; load average before "
        f"{load_before[0]:.2f}, after {load_after[0]:.2f}"
    )
    mismatched = []
    if kinds["browser"] and kinds["protocol"]:
        mismatched = cross_kind_mismatches(finished)
        pairs = len(cross_kind_pairs(finished))
        print(
            f"both kinds: {pairs} pair(s) of a browser and a protocol student on the same settings, "
            f"{len(mismatched)} saw different runs"
        )
        for a, b in mismatched:
            print(f"  session {a.index} ({a.kind}) saw {a.target}, session {b.index} ({b.kind}) saw {b.target}")
    if args.sessions_csv:
        write_sessions(args.sessions_csv, sessions)
    for s in failed:
        print(f"  session {s.index} (seed {s.seed}) failed: {s.error}")
    if failed:
        print("server output, last lines:\n" + tail(log))
    return 0 if not failed and not mismatched else 1


def harness_cpu() -> float:
    """This process's own CPU seconds so far (the protocol students and the bookkeeping)."""
    used = resource.getrusage(resource.RUSAGE_SELF)
    return used.ru_utime + used.ru_stime


def cross_kind_pairs(finished: list[Session]) -> list[tuple[Session, Session]]:
    """Pairs of a browser and a protocol student who asked for the same run (seed and settings)."""
    same = lambda s: (s.seed, tuple(sorted((k, str(v)) for k, v in s.settings.items())))  # noqa: E731
    browsers = [s for s in finished if s.kind == "browser"]
    return [(b, p) for b in browsers for p in finished if p.kind == "protocol" and same(p) == same(b)]


def cross_kind_mismatches(finished: list[Session]) -> list[tuple[Session, Session]]:
    """The pairs of cross_kind_pairs whose summaries showed different target accuracies."""
    return [(b, p) for b, p in cross_kind_pairs(finished) if b.target != p.target]


if __name__ == "__main__":
    sys.exit(main())
