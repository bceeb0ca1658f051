"""Where a run trains: the one place that decides what a device name means and whether this machine has it."""

from __future__ import annotations

import torch

from dann_demo.config import ConfigError

# What "auto" means in this process: None picks as below; a training worker's --device sets it.
AUTO: str | None = None


def available(name: str) -> bool:
    """Whether device `name` ("auto", "cpu", "cuda", "mps") can train on this machine."""
    if name == "cuda":
        return torch.cuda.is_available()
    if name == "mps":
        return torch.backends.mps.is_available()
    return name in ("auto", "cpu")


def check_device(name: str) -> None:
    """ConfigError (the message the app shows and the CLI prints) for a device this machine lacks."""
    if not available(name):
        raise ConfigError("device", name, "it is not available on this machine; choose auto or cpu")


def resolve_device(name: str) -> torch.device:
    """`auto` picks cuda, then mps, then cpu; a device this machine lacks is a ConfigError."""
    check_device(name)
    if name == "auto" and AUTO not in (None, "auto"):
        return torch.device(AUTO)
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    return torch.device(name)


def device_label(device: torch.device) -> str:
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    return device.type
