"""Which runs train together as one ensemble, and how many: the one batching policy of the class's job
manager, lambda sweeps and the CLI.

Runs whose configs differ only in `member_fields` (seed, mode, lambda; for moons and blobs the data
settings each member draws from its own seed anyway) have the same `group_key` and can train as one
EnsembleTrainer. They do so where it pays (`ensemble_pays`), at most MAX_BATCH at a time.
"""

from __future__ import annotations

import os

from dann_demo.config import ConfigError, RunConfig
from dann_demo.datasets import REGISTRY
from dann_demo.devices import resolve_device
from dann_demo.method.fast_step import resolve_step_mode

# What may differ between the members of one ensemble; everything else is shared.
MEMBER_FIELDS = ("seed", "mode", "lambda_schedule", "lambda_value", "gamma")
# Runs in one batch. A class of 30 is one batch; memory and each step's time grow with it
# (docs/benchmarks.md, "Class batching").
MAX_BATCH = int(os.environ.get("DANN_MAX_BATCH", "32"))


def member_fields(config: RunConfig) -> tuple[str, ...]:
    """What members may set each on their own: MEMBER_FIELDS, and the data settings a data set draws
    per member from its seed anyway (moons' rotation and noise, blobs' shift, direction and spread)."""
    return MEMBER_FIELDS + REGISTRY[config.dataset].member_settings


def group_key(config: RunConfig) -> str:
    """Configs with the same key differ only in member_fields and can train as one ensemble."""
    defaults = {name: RunConfig.__dataclass_fields__[name].default for name in member_fields(config)}
    return config.replace(**defaults).stable_hash()


def ensemble_pays(config: RunConfig) -> bool:
    """Whether training runs together is faster than one after another. On 2 CPU cores, as measured
    (docs/benchmarks.md, "Sweeps"): yes for the small MLPs, where a step is mostly per-op overhead, and
    no for images, where oneDNN's grouped convolutions ran slower than separate ones. On CUDA yes: K
    models cost one kernel launch per layer instead of K."""
    device = resolve_device(config.device)
    return device.type == "cuda" or (device.type == "cpu" and not config.is_image)


def accepts_members(config: RunConfig) -> bool:
    """Whether an ensemble of `config` can take members while it trains: it pays to batch, and its step
    is no CUDA graph (whose shapes are fixed once captured)."""
    return ensemble_pays(config) and resolve_step_mode("auto", resolve_device(config.device)) != "graph"


def batch_group(config: RunConfig) -> str | None:
    """The group a run of `config` may batch with (its group_key), or None where it trains alone."""
    try:
        return group_key(config) if ensemble_pays(config) else None
    except ConfigError:  # a device this machine lacks: the run itself reports it
        return None


def plan(configs: list[RunConfig], together: bool | None = None, max_batch: int = MAX_BATCH) -> list[list[int]]:
    """The batches to train `configs` in, as lists of their indices, in order of first appearance: runs of
    one group together, at most `max_batch` a batch; the rest alone. `together` forces the choice
    (None: where ensemble_pays)."""
    groups: dict[str, list[int]] = {}
    for i, c in enumerate(configs):
        pays = ensemble_pays(c) if together is None else together
        groups.setdefault(group_key(c) if pays else f"alone {i}", []).append(i)
    size = max(1, max_batch)
    return [members[start : start + size] for members in groups.values() for start in range(0, len(members), size)]
