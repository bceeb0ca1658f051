"""Shareable links: run settings to URL query parameters and back, with every bad value reported.

A link names RunConfig fields by their own names (`?dataset=moons&lambda_value=0.3`), the same
names as the CLI options and the JSON config, so a setup moves between the three unchanged. Only
settings that differ from the data set's defaults are written, which keeps links short. Reading a
link never raises: each value that is unknown or not allowed is left out, with a note saying why.
Each value is parsed and checked by its field's Spec (config.py), the same one the widgets use.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dann_demo.config import RUN_SPECS, ConfigError, RunConfig, Spec, belongs_to, dataset_defaults
from dann_demo.datasets import DATASETS

# Fields a link may carry. Bookkeeping (log_every, snapshot_steps) the pages set themselves; file
# paths stay out, so a link can never point the server at a file of its choosing (uploaded data is
# chosen by uploading it).
LINK_FIELDS = tuple(name for name, spec in RUN_SPECS.items() if spec.in_links)
NOT_IN_LINKS = tuple(name for name in RunConfig.__dataclass_fields__ if name not in LINK_FIELDS)
HIDE_PARAM = "hide"  # ?hide=dataset,mode: a classroom link that fixes these controls
PRESET_PARAM = "preset"
ROOM_PARAM = "room"  # ?room=CODE: the runs started from the link join the teacher's room
RUN_PARAM = "run"  # ?run=JOB: the run this page shows, so a reloaded page (or the link again) finds it
NO_FILES_NOTE = "links carry no data files: upload your data (the link's other settings are applied)"


def _first(value: Any) -> str:
    """Query values arrive as str or, for repeated keys, a list: the first one counts."""
    if isinstance(value, (list, tuple)):
        return str(value[0]) if value else ""
    return str(value)


def config_values_from_query(
    params: Mapping[str, Any], extra: tuple[str, ...] = ()
) -> tuple[dict[str, Any], list[str]]:
    """The valid RunConfig values in `params`, and a note for each value left out.

    `extra` are other parameters the page reads itself (not checked here, not reported). Each
    field is checked on its own, so one bad value never spoils the rest; a setting of another data
    set than the link's is left out with a note.
    """
    notes: list[str] = []
    dataset = _first(params.get("dataset", "moons"))
    if dataset not in DATASETS:
        notes.append(f"dataset={dataset!r} ignored: one of {', '.join(DATASETS)} is allowed")
        dataset = "moons"
    values: dict[str, Any] = {"dataset": dataset}
    if dataset == "file":
        notes.append(NO_FILES_NOTE)
    for key, raw in params.items():
        if key in ("dataset", HIDE_PARAM, PRESET_PARAM, ROOM_PARAM) or key in extra:
            continue
        if key in NOT_IN_LINKS and key in RUN_SPECS:
            notes.append(f"{key} ignored: links carry no file paths or bookkeeping")
            continue
        if key not in LINK_FIELDS:
            notes.append(f"unknown setting {key!r} ignored")
            continue
        if not belongs_to(key, dataset):
            notes.append(f"{key} ignored: not a setting of the {dataset} data set")
            continue
        try:
            values[key] = RUN_SPECS[key].parse(key, _first(raw))
        except ConfigError as e:
            notes.append(f"{e} (ignored)")
    return values, notes


def query_from_config(config: RunConfig, kind: str | None = None) -> dict[str, str]:
    """The link's query parameters for `config`: the data set and every field not at its default."""
    defaults = dataset_defaults(config.dataset, kind)
    out = {"dataset": config.dataset}
    for name in LINK_FIELDS:
        value = getattr(config, name)
        if name != "dataset" and value != defaults[name] and belongs_to(name, config.dataset):
            out[name] = RUN_SPECS[name].format(value)
    return out


def hidden_from_query(params: Mapping[str, Any], allowed: tuple[str, ...]) -> tuple[set[str], list[str]]:
    """Controls a classroom link hides (`?hide=dataset,mode`), and notes for names it does not know."""
    raw = _first(params.get(HIDE_PARAM, ""))
    names = [n.strip() for n in raw.split(",") if n.strip()]
    bad = [n for n in names if n not in allowed]
    notes = [f"hide={n!r} ignored: controls that can be hidden are {', '.join(allowed)}" for n in bad]
    return {n for n in names if n in allowed}, notes


def params_from_query(
    params: Mapping[str, Any], specs: Mapping[str, tuple[Spec, Any]]
) -> tuple[dict[str, Any], list[str]]:
    """A page's own settings in `params` ({name: (Spec, default)}), each checked; a note for each bad one."""
    values: dict[str, Any] = {}
    notes: list[str] = []
    for name, (spec, _) in specs.items():
        if name in params:
            try:
                values[name] = spec.parse(name, _first(params[name]))
            except ConfigError as e:
                notes.append(f"{e} (ignored)")
    return values, notes
