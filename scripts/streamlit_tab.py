"""A browser tab without a browser: Streamlit's own websocket protocol, spoken from Python.

A Streamlit page is a websocket to `/_stcore/stream`. The tab sends `BackMsg`s (a rerun request with the
query string and every widget's state; a timed fragment's rerun names its fragment) and receives
`ForwardMsg`s (a new script run, deltas that place elements and blocks at a path, the page's query string,
timers for fragments, the run's end). Both are protobuf classes that ship inside the streamlit package, so
the server cannot tell this tab from a browser's. It keeps what a browser keeps: the elements on the page
(stale ones dropped when a run ends, as the browser does), each widget's value (its default, or the value
the server sets), the query string, and the fragments' timers, which it answers as the browser does.
It does not cache messages (the browser does, to save bandwidth): the server sends every element in full.

    .venv/bin/python scripts/streamlit_tab.py http://127.0.0.1:8501/ --query seed=3   # what the page shows
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
import urllib.parse
from dataclasses import dataclass

from streamlit.proto.Alert_pb2 import Alert
from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from streamlit.proto.WidgetStates_pb2 import WidgetState
from websockets.asyncio.client import connect

# Widgets whose state the browser sends back with every rerun, by element kind, and how it reads their value.
VALUE_WIDGETS = {"slider", "number_input", "selectbox", "radio", "checkbox", "text_input"}


@dataclass
class Shown:
    """One element or block on the page: its kind, its proto, and the run (and fragment) that drew it."""

    kind: str
    proto: object
    run_id: str
    fragment_id: str


def _start_value(kind: str, el) -> WidgetState | None:
    """The state the browser gives a widget it mounts: the server's value when it sets one, else the default."""
    state = WidgetState(id=el.id)
    if kind == "slider":
        state.double_array_value.data.extend(el.value if el.set_value else el.default)
    elif kind == "number_input":
        if el.set_value and el.HasField("value"):
            state.double_value = el.value
        elif el.HasField("default"):
            state.double_value = el.default
        else:
            return None  # an empty box sends nothing
    elif kind in ("selectbox", "radio"):
        if el.set_value and el.HasField("raw_value"):
            state.string_value = el.raw_value
        elif el.HasField("default") and el.options:
            state.string_value = el.options[el.default]
        else:
            return None
    elif kind == "checkbox":
        state.bool_value = el.value if el.set_value else el.default
    elif kind == "text_input":
        value = el.value if el.set_value and el.HasField("value") else el.default if el.HasField("default") else None
        if value is None:
            return None
        state.string_value = value
    return state


class Tab:
    """One page of a Streamlit app, open over its websocket. Use `async with Tab(url, query) as tab:`."""

    def __init__(self, url: str, query: str = "", page_name: str = ""):
        """`url`: the app's root (http://host:port/); `query`: the link's query string; `page_name`: the page's
        URL path (as the browser sends it: "" for the default page, "classroom" for /classroom)."""
        self.base = url if url.endswith("/") else url + "/"
        self.query = query
        self.page_name = page_name
        self.page_hash = ""
        self.shown: dict[tuple[int, ...], Shown] = {}
        self.values: dict[str, WidgetState] = {}  # each widget's state, by widget id
        self.timers: dict[str, list[float]] = {}  # fragment id -> [interval, next due (monotonic)]
        self.run_id = ""
        self.run_fragments: tuple[str, ...] = ()
        self.running = False
        self.runs_finished = 0
        self.last_message = time.monotonic()
        self.full_reruns = 0  # rerun requests sent for the whole page
        self.fragment_reruns = 0  # and for a timed fragment
        self.closed_because = ""
        self._ws = None

    # --- the connection ---
    async def open(self) -> None:
        """Connect and ask for the page's first run, as a browser does when it loads the link."""
        ws_url = "ws" + self.base.removeprefix("http") + "_stcore/stream"
        # No size limit: a chart's message can be several MB; pings are answered by the library.
        self._ws = await connect(ws_url, subprotocols=["streamlit"], max_size=None, open_timeout=None)
        await self.rerun()

    async def __aenter__(self) -> Tab:
        await self.open()
        return self

    async def __aexit__(self, *exc) -> None:
        await self.close()

    async def close(self) -> None:
        if self._ws is not None:
            await self._ws.close()
            self._ws = None

    @property
    def url(self) -> str:
        """The address the browser's bar shows (the app reads it through st.context.url)."""
        return self.base + self.page_name + (f"?{self.query}" if self.query else "")

    async def rerun(self, trigger: str | None = None, fragment_id: str = "") -> None:
        """Ask for a run, as the browser does after a click (`trigger`: the button's id) or a timer."""
        msg = BackMsg()
        state = msg.rerun_script
        state.query_string = self.query
        state.page_script_hash = self.page_hash
        state.page_name = self.page_name if not self.page_hash else ""
        state.fragment_id = fragment_id
        state.is_auto_rerun = bool(fragment_id)
        state.context_info.url = self.url
        state.context_info.timezone = "UTC"
        state.context_info.locale = "en-GB"
        state.widget_states.widgets.extend(self.values.values())
        if trigger is not None:
            state.widget_states.widgets.add(id=trigger, trigger_value=True)
        if fragment_id:
            self.fragment_reruns += 1
        else:
            self.full_reruns += 1
        self.running = True
        await self._ws.send(msg.SerializeToString())

    async def pump(self, seconds: float) -> None:
        """Read what the server sends for up to `seconds`, answering the fragments' timers meanwhile.
        Raises ConnectionError when the server closes the page."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            due = min((t[1] for t in self.timers.values()), default=deadline)
            try:
                data = await asyncio.wait_for(self._ws.recv(), max(0.0, min(left, due - time.monotonic())))
            except TimeoutError:
                data = None
            except Exception as e:  # the connection closed: the browser would show "Connection error"
                self.closed_because = f"{type(e).__name__}: {e}"
                raise ConnectionError(f"the server closed the page: {e}") from e
            if data is not None:
                msg = ForwardMsg()
                msg.ParseFromString(data)
                self.last_message = time.monotonic()
                self.handle(msg)
            now = time.monotonic()
            for fragment_id, timer in list(self.timers.items()):
                if timer[1] <= now:
                    timer[1] = now + timer[0]
                    await self.rerun(fragment_id=fragment_id)

    async def wait_for(self, found, timeout: float, every: float = 0.25):
        """Pump until `found(tab)` gives something (returned), or raise TimeoutError after `timeout` s."""
        deadline = time.monotonic() + timeout
        while not (got := found(self)):
            if time.monotonic() > deadline:
                raise TimeoutError(f"not on the page within {timeout:.0f} s")
            await self.pump(every)
        return got

    async def settled(self, quiet: float, timeout: float) -> None:
        """Wait until no run is going and nothing has come for `quiet` seconds (a page the student sees drawn)."""
        deadline = time.monotonic() + timeout
        while self.running or time.monotonic() - self.last_message < quiet:
            if time.monotonic() > deadline:
                raise TimeoutError(f"the page did not settle within {timeout:.0f} s")
            await self.pump(0.25)

    # --- what the server sends ---
    def handle(self, msg: ForwardMsg) -> None:
        kind = msg.WhichOneof("type")
        if kind == "new_session":
            self.page_hash = msg.new_session.page_script_hash
            self.run_id = msg.metadata.run.script_run_id
            self.run_fragments = tuple(msg.metadata.run.fragment_ids)
            self.running = True
            if not self.run_fragments:  # a full run starts the page's timers afresh
                self.timers.clear()
        elif kind == "delta":
            self._place(tuple(msg.metadata.delta_path), msg.delta)
        elif kind == "page_info_changed":
            self.query = msg.page_info_changed.query_string
        elif kind == "auto_rerun":
            interval = max(msg.auto_rerun.interval, 0.05)
            self.timers[msg.auto_rerun.fragment_id] = [interval, time.monotonic() + interval]
        elif kind == "stop_auto_rerun":
            for fragment_id in msg.stop_auto_rerun.fragment_ids:
                self.timers.pop(fragment_id, None)
        elif kind == "script_finished":
            self._finished(msg.script_finished)

    def _place(self, path: tuple[int, ...], delta) -> None:
        which = delta.WhichOneof("type")
        if which == "new_element":
            kind = delta.new_element.WhichOneof("type")
            el = getattr(delta.new_element, kind)
            self.shown[path] = Shown(kind, el, self.run_id, delta.fragment_id)
            if kind in VALUE_WIDGETS and el.id and (el.set_value or el.id not in self.values):
                state = _start_value(kind, el)
                if state is not None:
                    self.values[el.id] = state
        elif which == "add_block":
            block = delta.add_block
            self.shown[path] = Shown("block:" + (block.WhichOneof("type") or ""), block, self.run_id, delta.fragment_id)
            # An expander with a key is a widget: its open state goes back with every rerun.
            if block.WhichOneof("type") == "expandable" and block.expandable.id:
                widget_id = block.expandable.id
                if widget_id not in self.values:
                    self.values[widget_id] = WidgetState(id=widget_id, bool_value=block.expandable.expanded)

    def _finished(self, status) -> None:
        """A run ended: drop what it did not draw again, as the browser does (a fragment's run: in that fragment)."""
        if status == ForwardMsg.FINISHED_SUCCESSFULLY:
            stale = [p for p, s in self.shown.items() if s.run_id != self.run_id]
        elif status == ForwardMsg.FINISHED_FRAGMENT_RUN_SUCCESSFULLY:
            stale = [
                p for p, s in self.shown.items() if s.run_id != self.run_id and s.fragment_id in self.run_fragments
            ]
        else:  # ended early for another rerun: the next run redraws
            stale = []
        for path in stale:
            del self.shown[path]
        mounted = {getattr(s.proto, "id", "") for s in self.shown.values()} | {
            s.proto.expandable.id for s in self.shown.values() if s.kind == "block:expandable"
        }
        for widget_id in [w for w in self.values if w not in mounted]:
            del self.values[widget_id]  # a widget gone from the page sends no state
        self.running = False
        self.runs_finished += 1

    # --- what a student reads and does ---
    def elements(self, kind: str | None = None) -> list:
        """The page's elements (of one kind), in page order."""
        return [s.proto for p, s in sorted(self.shown.items()) if kind is None or s.kind == kind]

    def widget(self, kind: str, label: str, prefix: bool = False):
        """The widget of `kind` whose label is `label` (or starts with it), or None."""
        for el in self.elements(kind):
            if el.label == label or (prefix and el.label.startswith(label)):
                return el
        return None

    def metric(self, label: str) -> str | None:
        """The value a metric with this label shows, or None."""
        return next((m.body for m in self.elements("metric") if m.label == label), None)

    def texts(self) -> list[str]:
        """Every piece of text on the page: markdown, headings, alerts, captions, progress bars."""
        out = []
        for s in self.shown.values():
            body = getattr(s.proto, "body", None) if not s.kind.startswith("block") else None
            if isinstance(body, str):
                out.append(body)
            elif s.kind == "progress":
                out.append(s.proto.text)
        return out

    def has_text(self, part: str) -> bool:
        return any(part in t for t in self.texts())

    def failure(self) -> str | None:
        """What a student must never see: an exception or an error box; its text, or None."""
        for s in self.shown.values():
            if s.kind == "exception":
                return f"{s.proto.type}: {s.proto.message}"[:300]
            if s.kind == "alert" and s.proto.format == Alert.ERROR:
                return s.proto.body[:300]
        return None

    async def click(self, button) -> None:
        """Press a button: one rerun with its trigger."""
        await self.rerun(trigger=button.id)

    async def set_value(self, el, value) -> None:
        """Change a widget as a person would (a slider moved, an option picked, a number typed): one rerun."""
        state = WidgetState(id=el.id)
        kind = type(el).__name__
        if kind == "Slider":
            state.double_array_value.data.append(float(value))
        elif kind == "NumberInput":
            state.double_value = float(value)
        elif kind in ("Selectbox", "Radio"):
            if value not in el.options:
                raise ValueError(f"{el.label!r} has no option {value!r}; it has {list(el.options)}")
            state.string_value = value
        elif kind == "Checkbox":
            state.bool_value = bool(value)
        else:
            state.string_value = str(value)
        self.values[el.id] = state
        await self.rerun()

    def value_of(self, el):
        """The value this tab holds for a widget (what it sends back)."""
        state = self.values.get(el.id)
        if state is None:
            return None
        which = state.WhichOneof("value")
        got = getattr(state, which)
        return list(got.data) if which == "double_array_value" else got


async def _show(url: str, query: str, page: str, seconds: float) -> int:
    async with Tab(url, query, page) as tab:
        await tab.settled(1.0, seconds)
        for s in sorted(tab.shown.items()):
            path, shown = s
            label = getattr(shown.proto, "label", "") or (getattr(shown.proto, "body", "") or "")[:80]
            print(f"{list(path)} {shown.kind}: {label!s}".replace("\n", " "))
        print(f"query string: {tab.query}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("url", help="the app's address, e.g. http://127.0.0.1:8501/")
    parser.add_argument("--query", default="", help="the link's query string, e.g. seed=3&room=ab12cd34")
    parser.add_argument("--page", default="", help="the page's URL path, e.g. classroom (default: the first page)")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for the page (default 60)")
    args = parser.parse_args(argv)
    if urllib.parse.urlparse(args.url).scheme not in ("http", "https"):
        parser.error(f"url must start with http:// or https://, got {args.url!r}")
    try:
        return asyncio.run(_show(args.url, args.query, args.page, args.timeout))
    except (OSError, TimeoutError, ConnectionError) as e:
        print(f"could not open {args.url}: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
