"""The paper's schedules over training progress p in [0, 1] (Ganin & Lempitsky 2015, section 5)."""

from __future__ import annotations

import math

from dann_demo.config import RunConfig


def paper_lambda(p: float, gamma: float = 10.0) -> float:
    """lambda_p = 2 / (1 + exp(-gamma p)) - 1: 0 at the start, so noisy early features are not
    pushed around, rising to about 1."""
    return 2.0 / (1.0 + math.exp(-gamma * p)) - 1.0


def paper_lr(p: float, mu0: float = 0.01, alpha: float = 10.0, beta: float = 0.75) -> float:
    """lr_p = mu0 / (1 + alpha p)^beta."""
    return mu0 / (1.0 + alpha * p) ** beta


def lambda_at(config: RunConfig, p: float, constant: float | None = None) -> float:
    """The lambda a run uses at progress p. `constant` overrides lambda_value (a live slider).

    The paper schedule is scaled by lambda_value so that its ceiling is adjustable (1 = paper).
    """
    ceiling = config.lambda_value if constant is None else constant
    if config.lambda_schedule == "constant":
        return ceiling
    return ceiling * paper_lambda(p, config.gamma)


def lr_at(config: RunConfig, p: float) -> float:
    return paper_lr(p, config.lr, config.lr_alpha, config.lr_beta)
