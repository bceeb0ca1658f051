"""A student (and the teacher) in headless Debian Chromium, for scripts/loadtest.py: each its own browser
context (its own cookies and websocket, like a student's browser)."""

from __future__ import annotations

import asyncio
import os
import re
import time
import urllib.parse
from pathlib import Path

from load_class import SETTLED_SECONDS, Session, link_query
from streamlit.proto.BackMsg_pb2 import BackMsg

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
