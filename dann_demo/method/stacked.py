"""K DANNs of one architecture as one stacked model: each parameter a (K, ...) tensor, linear layers as
batched matrix products, convolutions as grouped convolutions, and SGD with momentum over the stack.

The members share no weights, so one backward pass over the sum of their losses gives each member
exactly its own gradients, and SGD is elementwise: row r of every tensor is one run's network.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from dann_demo.method.grl import scale_gradient
from dann_demo.method.models import DANN

_LAYERS = (nn.Linear, nn.Conv2d, nn.Tanh, nn.ReLU, nn.Sigmoid, nn.MaxPool2d, nn.Flatten)
PARTS = ("feature_extractor", "label_classifier", "domain_classifier")


def _layers(part: nn.Module, prefix: str) -> list[tuple[str, nn.Module]]:
    """(parameter-name prefix, layer) for a Sequential or a single layer."""
    if isinstance(part, nn.Sequential):
        return [(f"{prefix}.{name}", layer) for name, layer in part.named_children()]
    return [(prefix, part)]


def supports(model: nn.Module) -> bool:
    """The grouped forward knows these layers (every model build_model makes today)."""
    layers = [layer for name in PARTS for _, layer in _layers(getattr(model, name), "")]
    return all(isinstance(layer, _LAYERS) for layer in layers) and all(
        layer.padding_mode == "zeros" and layer.groups == 1 for layer in layers if isinstance(layer, nn.Conv2d)
    )


class StackedDANN:
    """The rows of K networks shaped like `template`. `params[name][r]` is row r's tensor `name`, and
    `momentum` holds SGD's buffers stacked the same way."""

    def __init__(self, template: DANN, is_image: bool):
        if not supports(template):
            raise ValueError("this model has a layer the grouped forward does not know")
        self.is_image = is_image
        self._parts = [_layers(getattr(template, name), name) for name in PARTS]
        self._names = [name for name, _ in template.named_parameters()]
        self.params: dict[str, torch.Tensor] = {}
        self.momentum: dict[str, torch.Tensor] = {}
        self._lr_shapes: list[tuple[int, ...]] = []

    @property
    def k(self) -> int:
        return next(iter(self.params.values())).shape[0] if self.params else 0

    # --- rows in and out ---
    def append(self, models: list[DANN]) -> None:
        """Rows for `models` after the present ones, with their weights and zero momentum."""
        params = {}
        for name in self._names:
            rows = torch.stack([dict(m.named_parameters())[name].detach() for m in models])
            old = self.params.get(name)
            params[name] = rows if old is None else torch.cat([old.detach(), rows])
            buffer = self.momentum.get(name)
            self.momentum[name] = (
                torch.zeros_like(rows) if buffer is None else torch.cat([buffer, torch.zeros_like(rows)])
            )
        self.params = {name: p.requires_grad_() for name, p in params.items()}
        self._reshaped()

    def keep(self, rows: torch.Tensor) -> None:
        """Only `rows` stay, in that order."""
        self.params = {n: p.detach().index_select(0, rows).requires_grad_() for n, p in self.params.items()}
        self.momentum = {n: m.index_select(0, rows) for n, m in self.momentum.items()}
        self._reshaped()

    def _reshaped(self) -> None:
        # Each parameter's shape for a per-row learning rate: (K, 1, ...) against (K, out, in, ...).
        self._lr_shapes = [(self.k,) + (1,) * (p.dim() - 1) for p in self.params.values()]

    @torch.no_grad()
    def copy_row_to(self, r: int, model: DANN) -> None:
        """Row r's weights into `model` (a network of the same architecture)."""
        for name, p in model.named_parameters():
            p.copy_(self.params[name][r])

    def row_momentum(self, r: int) -> dict[str, torch.Tensor]:
        """Row r's momentum buffers by parameter name, copied."""
        return {name: buffer[r].detach().clone() for name, buffer in self.momentum.items()}

    @torch.no_grad()
    def freeze_row(self, r: int) -> None:
        """Row r takes no more momentum (its loss weight goes to zero with it): in place, for a CUDA graph."""
        for buffer in self.momentum.values():
            buffer[r].zero_()

    # --- the grouped model ---
    def _apply(self, layers: list[tuple[str, nn.Module]], x: torch.Tensor) -> torch.Tensor:
        """Run one part of every row. Rows: x is (K, n, features). Images: x is (n, K*C, H, W),
        row i's channels at i*C..(i+1)*C, so a convolution with groups=K is K convolutions."""
        for name, layer in layers:
            if isinstance(layer, nn.Linear):
                w, bias = self.params[f"{name}.weight"], self.params.get(f"{name}.bias")
                x = (
                    torch.bmm(x, w.transpose(1, 2))
                    if bias is None
                    else torch.baddbmm(bias.unsqueeze(1), x, w.transpose(1, 2))
                )
            elif isinstance(layer, nn.Conv2d):
                w, bias = self.params[f"{name}.weight"], self.params.get(f"{name}.bias")
                x = F.conv2d(
                    x,
                    w.flatten(0, 1),
                    None if bias is None else bias.flatten(),
                    layer.stride,
                    layer.padding,
                    layer.dilation,
                    groups=self.k,
                )
            elif isinstance(layer, nn.Flatten):
                x = x.reshape(x.shape[0], self.k, -1).transpose(0, 1)  # (n, K*C, h, w) -> (K, n, C*h*w)
            else:
                x = layer(x)  # elementwise or per channel: the same for every row
        return x

    def forward(self, x: torch.Tensor, coeff: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """x: (K, n, ...) one batch per row. Returns (features, class logits, domain logits), each with the
        row first; coeff (K, 1, 1) scales the domain gradient into each row's features (the GRL)."""
        if self.is_image:
            x = x.transpose(0, 1).flatten(1, 2)  # (K, n, C, H, W) -> (n, K*C, H, W)
        features = self._apply(self._parts[0], x)
        class_logits = self._apply(self._parts[1], features)
        domain_logits = self._apply(self._parts[2], scale_gradient(features, coeff)).squeeze(-1)
        return features, class_logits, domain_logits

    @torch.no_grad()
    def sgd(self, lr: torch.Tensor, momentum: float) -> None:
        """torch.optim.SGD's momentum step (buffer = momentum * buffer + grad; weights -= lr * buffer) with
        each row's learning rate lr (K,). A zero buffer at the first step gives the gradient itself, as
        SGD's first step does."""
        params, buffers = list(self.params.values()), list(self.momentum.values())
        torch._foreach_mul_(buffers, momentum)
        torch._foreach_add_(buffers, [p.grad for p in params])
        neg_lr = lr.neg()
        torch._foreach_addcmul_(params, [neg_lr.view(shape) for shape in self._lr_shapes], buffers)

    def zero_grad(self) -> None:
        for p in self.params.values():
            p.grad = None
