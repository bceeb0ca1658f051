"""Shareable links: run settings to URL query parameters and back, with every bad value reported.

A link names RunConfig fields by their own names (`?dataset=moons&lambda_value=0.3`), the same
names as the CLI options and the JSON config, so a setup moves between the three unchanged. Only
settings that differ from the data set's defaults are written, which keeps links short. Reading a
link never raises: each value that is unknown or not allowed is left out, with a note saying why.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from dann_demo.config import DATASET_DEFAULTS, ConfigError, RunConfig

# Fields a link may carry. log_every and snapshot_steps are bookkeeping the pages set themselves;
# file paths stay out, so a link can never point the server at a file of its choosing (uploaded
# data is chosen by uploading it).
NOT_IN_LINKS = ("log_every", "snapshot_steps", "data_file", "target_file", "data_dir")
LINK_FIELDS = tuple(f.name for f in dataclasses.fields(RunConfig) if f.name not in NOT_IN_LINKS)
HIDE_PARAM = "hide"  # ?hide=dataset,mode: a classroom link that fixes these controls
PRESET_PARAM = "preset"


def _first(value: Any) -> str:
    """Query values arrive as str or, for repeated keys, a list: the first one counts."""
    if isinstance(value, (list, tuple)):
        return str(value[0]) if value else ""
    return str(value)


def _parse(name: str, text: str) -> Any:
    """Text to the field's type; a ConfigError names the field when the text is not of that type."""
    default = RunConfig.__dataclass_fields__[name].default
    if isinstance(default, str):
        return text
    kind, what = (int, "a whole number") if isinstance(default, int) else (float, "a number")
    try:
        return kind(text)
    except ValueError:
        raise ConfigError(name, text, what) from None


def config_values_from_query(
    params: Mapping[str, Any], extra: tuple[str, ...] = ()
) -> tuple[dict[str, Any], list[str]]:
    """The valid RunConfig values in `params`, and a note for each value left out.

    `extra` are other parameters the page reads itself (not checked here, not reported). Each
    field is checked on its own against the link's data set, so one bad value never spoils the rest.
    """
    notes: list[str] = []
    values: dict[str, Any] = {}
    dataset = _first(params.get("dataset", "moons"))
    if dataset not in DATASET_DEFAULTS:
        notes.append(f"dataset={dataset!r} ignored: one of {', '.join(DATASET_DEFAULTS)} is allowed")
        dataset = "moons"
    values["dataset"] = dataset
    # A valid config to check each field against; "file" is only valid with a file, which links never
    # carry, so its fields are checked against the generic ranges (they are the same).
    base = RunConfig.for_dataset("moons" if dataset == "file" else dataset)
    for key, raw in params.items():
        if key in ("dataset", HIDE_PARAM, PRESET_PARAM) or key in extra:
            continue
        if key not in LINK_FIELDS:
            notes.append(f"unknown setting {key!r} ignored")
            continue
        try:
            value = _parse(key, _first(raw))
            base.replace(**{key: value})  # validates this one field
        except ConfigError as e:
            notes.append(f"{e} (ignored)")
            continue
        values[key] = value
    return values, notes


def query_from_config(config: RunConfig) -> dict[str, str]:
    """The link's query parameters for `config`: the data set and every field not at its default."""
    defaults = dataset_defaults(config.dataset)
    out = {"dataset": config.dataset}
    for name in LINK_FIELDS:
        value = getattr(config, name)
        if name != "dataset" and value != defaults[name]:
            out[name] = f"{value:.12g}" if isinstance(value, float) else str(value)  # short, and lossless enough
    return out


def dataset_defaults(dataset: str) -> dict[str, Any]:
    """Every field's default for `dataset` (without building a config: "file" needs a file)."""
    fields = {f.name: f.default for f in dataclasses.fields(RunConfig)}
    return {**fields, **DATASET_DEFAULTS[dataset]}


def hidden_from_query(params: Mapping[str, Any], allowed: tuple[str, ...]) -> tuple[set[str], list[str]]:
    """Controls a classroom link hides (`?hide=dataset,mode`), and notes for names it does not know."""
    raw = _first(params.get(HIDE_PARAM, ""))
    names = [n.strip() for n in raw.split(",") if n.strip()]
    bad = [n for n in names if n not in allowed]
    notes = [f"hide={n!r} ignored: controls that can be hidden are {', '.join(allowed)}" for n in bad]
    return {n for n in names if n in allowed}, notes


@dataclass(frozen=True)
class Param:
    """A page setting outside RunConfig that a link may carry (e.g. the feature-map method)."""

    kind: str  # "choice" | "int" | "float" | "bool"
    allowed: tuple = ()  # choices, or (low, high) for numbers
    default: Any = None  # the page's value when the link does not set it (then the link leaves it out)

    def parse(self, name: str, text: str) -> Any:
        """The value of `text`, or ConfigError naming `name` and what is allowed."""
        if self.kind == "choice":
            if text not in self.allowed:
                raise ConfigError(name, text, f"one of {', '.join(map(str, self.allowed))}")
            return text
        if self.kind == "bool":
            if text.lower() not in ("true", "false", "1", "0"):
                raise ConfigError(name, text, "true or false")
            return text.lower() in ("true", "1")
        lo, hi = self.allowed
        kind = int if self.kind == "int" else float
        try:
            value = kind(text)
        except ValueError:
            value = None
        if value is None or not lo <= value <= hi:
            raise ConfigError(name, text, f"{'a whole number' if kind is int else 'a number'} from {lo} to {hi}")
        return value

    def format(self, value: Any) -> str:
        return str(value).lower() if self.kind == "bool" else f"{value:.12g}" if self.kind == "float" else str(value)


def params_from_query(params: Mapping[str, Any], specs: Mapping[str, Param]) -> tuple[dict[str, Any], list[str]]:
    """The page settings in `params` that `specs` describe, each checked; a note for each bad one."""
    values: dict[str, Any] = {}
    notes: list[str] = []
    for name, spec in specs.items():
        if name in params:
            try:
                values[name] = spec.parse(name, _first(params[name]))
            except ConfigError as e:
                notes.append(f"{e} (ignored)")
    return values, notes
