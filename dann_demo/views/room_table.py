"""A room's runs as the Class page shows them: one row per entry, its lambda as the chart names it."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import pandas as pd

from dann_demo.classroom.rooms import RoomEntry


def room_lambda(config) -> tuple[str, float | None]:
    """(what the chart calls the run's lambda, the lambda it is drawn at): a constant lambda at itself, the
    paper schedule at its ceiling; source only and the oracle have none (they are the reference lines)."""
    if config.mode in ("source_only", "target_oracle"):
        return "none", None
    if config.lambda_schedule == "paper":
        return f"paper (to {config.lambda_value:g})", config.lambda_value
    return f"{config.lambda_value:g}", config.lambda_value


def room_frame(entries: list[RoomEntry], job_of: Callable[[str], Any]) -> pd.DataFrame:
    """One row per entry whose job `job_of(id)` still knows: who, the settings, the latest (or final)
    figures and the state. Reads the jobs only: figures of a running job are those of its latest record."""
    rows = []
    found = [(entry, job) for entry in entries if (job := job_of(entry.job_id)) is not None]
    for n, (entry, job) in enumerate(found, start=1):
        c = job.config
        last = job.history[-1] if job.history else None
        final = job.result.metrics if job.result is not None else None
        label, at = room_lambda(c)

        def figure(name: str, final=final, last=last) -> float:
            if final is not None:
                return float(final[name])
            return float(getattr(last, name)) if last is not None else math.nan

        rows.append(
            {
                "run": n,
                "nickname": entry.nickname or "(no name)",
                "mode": c.mode,
                "lambda": label,
                "lambda_at": at if at is not None else math.nan,
                "schedule": c.lambda_schedule,
                "dataset": c.dataset,
                "rotation": c.rotation if c.dataset == "moons" else math.nan,
                "seed": c.seed,
                "state": job.status,
                "step": job.step,
                "steps": c.steps,
                "source_acc": figure("source_acc"),
                "target_acc": figure("target_acc"),
                "domain_acc": figure("domain_acc"),
                "pad": float(final["pad"]) if final is not None else math.nan,
                "steered": bool(job.lambda_changes),
                "job": job.id,
            }
        )
    columns = ["run", "nickname", "mode", "lambda", "lambda_at", "schedule", "dataset", "rotation", "seed", "state",
               "step", "steps", "source_acc", "target_acc", "domain_acc", "pad", "steered", "job"]  # fmt: skip
    return pd.DataFrame(rows, columns=columns)
