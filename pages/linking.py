"""Streamlit glue for links: the settings in the URL (a shared link, a preset, a classroom link) into
the widgets, and the widgets back into the URL. Parsing and checking live in dann_demo/links.py."""

from __future__ import annotations

import streamlit as st

from dann_demo.config import RUN_SPECS, RunConfig, dataset_defaults
from dann_demo.links import (
    HIDE_PARAM,
    LINK_FIELDS,
    PRESET_PARAM,
    ROOM_PARAM,
    RUN_PARAM,
    config_values_from_query,
    hidden_from_query,
    params_from_query,
    query_from_config,
)
from dann_demo.presets import PRESETS, Preset
from dann_demo.views.text import markdown_literal

FILE_KINDS = ("table", "images")  # own data: each kind keeps its own defaults and edits


def widget_key(prefix: str, scope: str, name: str) -> str:
    """Widget keys carry the data set's name (for own data, "file-table" or "file-images"), so each keeps
    its own defaults and edits."""
    return f"{prefix}_dataset" if name == "dataset" else f"{prefix}_{scope}_{name}"


def scopes(dataset: str) -> list[tuple[str, str | None]]:
    """(widget-key scope, kind) pairs of a data set: own data has one per kind of file."""
    if dataset == "file":
        return [(f"file-{kind}", kind) for kind in FILE_KINDS]
    return [(dataset, None)]


def apply_values(prefix: str, values: dict) -> None:
    """Set the settings widgets to a whole setup (from a link, a preset or a loaded config): the
    named RunConfig fields take the given values, every other field its data set's default."""
    dataset = values.get("dataset", "moons")
    st.session_state[widget_key(prefix, dataset, "dataset")] = dataset
    for scope, kind in scopes(dataset):
        defaults = dataset_defaults(dataset, kind)
        for name in LINK_FIELDS:
            if name == "dataset":
                continue
            key = widget_key(prefix, scope, name)
            value = values.get(name, defaults[name])
            # The widget's type: 3 from a link or a JSON file is 3.0 for a float slider.
            st.session_state[key] = float(value) if RUN_SPECS[name].kind == "float" else value


def apply_preset(prefix: str, preset: Preset) -> None:
    """A lesson preset's whole setup, and its lesson shown above the Train button."""
    apply_values(prefix, {"dataset": preset.dataset, **preset.values})
    st.session_state[f"{prefix}_lesson"] = preset.id


def read_link(prefix: str, page_params: dict | None = None) -> None:
    """Once per session and page: take the settings in the URL (a shared link or a preset link).
    `page_params` ({name: (Spec, default)}) are the page's own settings (widget keys `{prefix}_{name}`).
    Values that are not allowed are left out and listed by link_notes()."""
    params = st.query_params.to_dict()
    params.pop(RUN_PARAM, None)  # the run the page shows (the Train page reads it), not a setting
    preset_id = params.get(PRESET_PARAM)
    if preset_id is None:
        st.session_state.pop(f"{prefix}_preset_applied", None)
    if st.session_state.get(f"{prefix}_link_read"):
        # Later in a session only a preset link (How it works -> Train) changes the settings, once.
        if preset_id is None or preset_id == st.session_state.get(f"{prefix}_preset_applied"):
            return
        params = {PRESET_PARAM: preset_id}
    st.session_state[f"{prefix}_link_read"] = True
    page_params = page_params or {}
    extra = tuple(page_params)
    page_values, notes = params_from_query(params, page_params)
    for name, value in page_values.items():
        st.session_state[f"{prefix}_{name}"] = value
    if PRESET_PARAM in params:
        preset = PRESETS.get(params[PRESET_PARAM])
        if preset is None:
            notes.append(f"preset={params[PRESET_PARAM]!r} ignored: one of {', '.join(PRESETS)} is allowed")
        else:
            apply_preset(prefix, preset)
            st.session_state[f"{prefix}_preset_applied"] = preset.id
    elif set(params) - {HIDE_PARAM, ROOM_PARAM, *extra}:
        values, config_notes = config_values_from_query(params, extra)
        notes += config_notes
        apply_values(prefix, values)
    hidden, hide_notes = hidden_from_query(params, LINK_FIELDS)
    st.session_state[f"{prefix}_hidden"] = hidden
    st.session_state[f"{prefix}_link_notes"] = notes + hide_notes


def link_notes(prefix: str) -> None:
    """Tell the user which values of the link they opened were left out, and why."""
    notes = st.session_state.get(f"{prefix}_link_notes")
    if notes:
        st.warning(
            "Some settings in the link were not used:\n\n" + "\n".join(f"- {markdown_literal(n)}" for n in notes),
            icon=":material/link_off:",
        )


def room_notes(prefix: str, config) -> None:
    """What the room changed in this page's settings, one line each, for as long as they stay so."""
    kept, notes = st.session_state.get(f"{prefix}_room_notes", (None, []))
    if config is not None and kept == config.stable_hash():
        for note in notes:
            st.info(note, icon=":material/rule:")


def write_link(prefix: str, config: RunConfig, exclude: tuple[str, ...] = (), extra: dict | None = None) -> None:
    """Keep the URL in step with the settings, so the address bar is always a shareable link.
    `extra`: the page's own settings, already formatted (Spec.format)."""
    from dann_demo.datasets import data_kind

    query = {k: v for k, v in query_from_config(config, data_kind(config)).items() if k not in exclude}
    hidden = st.session_state.get(f"{prefix}_hidden") or set()
    if hidden:
        query[HIDE_PARAM] = ",".join(sorted(hidden))
    for kept in (ROOM_PARAM, RUN_PARAM):  # the room it joins and the run it shows stay in the address
        if st.query_params.get(kept):
            query[kept] = st.query_params[kept]
    query.update(extra or {})
    if st.query_params.to_dict() != query:
        st.query_params.from_dict(query)


def room_of_this_session(prefix: str):
    """The room the link names (?room=CODE), else the room this session joined on another page, or None;
    a code that opens no room gets a note, and a closed room a line saying it has ended."""
    from pages.server import class_rooms

    code = st.query_params.get(ROOM_PARAM) or st.session_state.get("class_room_joined")
    if not code:
        return None
    room = class_rooms().get(code)
    if room is None:
        notes = st.session_state.setdefault(f"{prefix}_link_notes", [])
        note = f"room={str(code)[:40]!r} ignored: no such room (mistyped, or it has ended); your runs stay your own"
        if note not in notes:
            notes.append(note)
        return None
    if room.closed:
        st.info(f"Room {room.code} has ended: its teacher closed it. Your runs stay your own.",
                icon=":material/door_front:")  # fmt: skip
        return None
    st.session_state["class_room_joined"] = room.code
    return room


def room_gate(page: str) -> None:
    """A page a student's room has turned off: one line saying so, and nothing else of the page."""
    from dann_demo.classroom.room_limits import PAGE_TITLES

    room = room_of_this_session(page)
    if room is not None and not room.limits.allows_page(page):
        st.warning(
            f"The {PAGE_TITLES[page]} page is off in room {room.code} (its teacher's choice for this lesson): "
            "Train live is open to you.",
            icon=":material/block:",
        )
        st.stop()


def prepare_room_widgets(prefix: str, room) -> None:
    """Before the widgets are drawn: the values keep_to_room asked for, and the settings the room's lesson
    fixes hidden from its students."""
    if (pending := st.session_state.pop(f"{prefix}_room_pending", None)) is not None:
        apply_values(prefix, pending)
    if room is not None and (fixed := room.limits.fixed_settings()):
        st.session_state[f"{prefix}_hidden"] = set(st.session_state.get(f"{prefix}_hidden") or ()) | set(fixed)


def keep_to_room(prefix: str, room, config) -> None:
    """The settings within the room's limits: where they were not, the widgets are set to what the room
    allows (on the next run, which comes at once) and the page says so in one line each (a link edited by
    hand, a fresh tab). The library checks the same limits again where the run is submitted."""
    if room is None or config is None:
        return
    kept, notes = room.limits.apply(config)
    if notes:  # the widgets are drawn: their new values wait for the next run, which comes at once
        st.session_state[f"{prefix}_room_pending"] = {name: getattr(kept, name) for name in LINK_FIELDS}
        st.session_state[f"{prefix}_room_notes"] = (kept.stable_hash(), notes)
        st.rerun()
