"""One declaration per setting: a `Spec` says what a setting may be and how a person sets it, and a bad
value is a ConfigError that names the field, the value and what is allowed (config.py declares RunConfig's
settings with it; the feature maps' settings use it too)."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any


class ConfigError(ValueError):
    """A setting has a value that is not allowed; the message names field and range."""

    def __init__(self, field_name: str, value: Any, allowed: str):
        self.field = field_name
        self.value = value
        self.allowed = allowed
        super().__init__(f"{field_name}={value!r} is not allowed: {allowed}")


@dataclass(frozen=True)
class Spec:
    """What one setting may be, and how a person sets it.

    kind: "choice" (one of `choices`), "int" or "float" (from `lo` to `hi`), "bool", or "text" (at
    most 1000 characters, no NUL). `label`, `help`, `step` and `widget` ("slider", "number", "select",
    "radio") tell a page how to draw it; `advanced` puts it under "More settings".
    """

    kind: str
    lo: float | None = None
    hi: float | None = None
    choices: tuple = ()
    label: str = ""
    help: str | None = None
    step: float | None = None
    widget: str = ""
    advanced: bool = False
    in_links: bool = True  # file paths and bookkeeping stay out of links

    def allowed(self) -> str:
        if self.kind == "choice":
            return f"one of {', '.join(map(str, self.choices))}"
        if self.kind == "int":
            return f"a whole number from {int(self.lo)} to {int(self.hi)}"
        if self.kind == "float":
            return f"a number from {self.lo:g} to {self.hi:g}"
        if self.kind == "bool":
            return "true or false"
        return "a text (up to 1000 characters)"

    def check(self, name: str, value: Any) -> None:
        """Raise ConfigError naming `name` unless `value` is allowed (nothing is clamped)."""
        if self.kind == "choice":
            ok = value in self.choices
        elif self.kind == "bool":
            ok = isinstance(value, bool)
        elif self.kind == "text":
            ok = isinstance(value, str) and len(value) <= 1000 and "\x00" not in value
        else:
            number = (int,) if self.kind == "int" else (int, float)
            ok = isinstance(value, number) and not isinstance(value, bool) and math.isfinite(value)
            ok = ok and self.lo <= value <= self.hi
        if not ok:
            raise ConfigError(name, value, self.allowed())

    def parse(self, name: str, text: str) -> Any:
        """The value a text stands for (a link's or the command line's), checked; else ConfigError."""
        text = str(text).strip()
        if self.kind == "bool":
            if text.lower() not in ("true", "false", "1", "0"):
                raise ConfigError(name, text, self.allowed())
            return text.lower() in ("true", "1")
        if self.kind in ("int", "float"):
            try:
                value: Any = int(text) if self.kind == "int" else float(text)
            except ValueError:
                raise ConfigError(name, text, self.allowed()) from None
        else:
            value = text
        self.check(name, value)
        return value

    def format(self, value: Any) -> str:
        """The value as a link writes it: short and lossless enough."""
        if self.kind == "bool":
            return str(value).lower()
        return f"{value:.12g}" if self.kind == "float" else str(value)


def setting(default: Any, spec: Spec) -> Any:
    """A dataclass field with its Spec."""
    return field(default=default, metadata={"spec": spec})


def specs(cls: type) -> dict[str, Spec]:
    """Every field of a settings dataclass that has a Spec, in declaration order."""
    return {f.name: f.metadata["spec"] for f in dataclasses.fields(cls) if "spec" in f.metadata}


def validate_fields(obj: Any) -> None:
    for name, spec in specs(type(obj)).items():
        spec.check(name, getattr(obj, name))
