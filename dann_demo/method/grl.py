"""Gradient reversal layer: identity forward, -lambda * gradient backward."""

from __future__ import annotations

import torch
from torch import nn


class _ScaleGradient(torch.autograd.Function):
    """Identity on the forward pass; multiplies the incoming gradient by `coeff` on the way back."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, coeff: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(coeff)
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad_output: torch.Tensor) -> tuple[torch.Tensor, None]:
        (coeff,) = ctx.saved_tensors
        return grad_output * coeff, None


def scale_gradient(x: torch.Tensor, coeff: torch.Tensor) -> torch.Tensor:
    return _ScaleGradient.apply(x, coeff)


class GradientReversal(nn.Module):
    """The GRL of Ganin & Lempitsky (2015).

    lambda lives in a 0-d buffer, so it can change between steps (a slider, a schedule, a captured
    CUDA graph) without rebuilding anything. `sign` is -1 for DANN; the `no_reversal` ablation uses
    +1 (the feature extractor then helps the domain classifier), and 0 cuts the gradient (a probe).
    """

    def __init__(self, lambda_: float = 1.0, sign: float = -1.0):
        super().__init__()
        self.sign = sign
        self.register_buffer("lambda_", torch.tensor(float(lambda_)))

    def set_lambda(self, value: float | torch.Tensor) -> None:
        self.lambda_.fill_(value)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.sign == 0:
            return x.detach()
        return scale_gradient(x, self.sign * self.lambda_)

    def extra_repr(self) -> str:
        return f"sign={self.sign:+g}, lambda={self.lambda_.item():.4g}"
