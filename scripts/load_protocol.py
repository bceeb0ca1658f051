"""A student (and the teacher) that speaks Streamlit's websocket protocol from Python (streamlit_tab.py),
for scripts/loadtest.py: it does what a browser student does, at a fraction of the machine."""

from __future__ import annotations

import asyncio
import math
import re
import time
import urllib.parse

from load_class import SETTLED_SECONDS, Session, link_query
from streamlit_tab import Tab

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
