"""Feature extractors, label and domain classifiers, and the DANN module that joins them."""

from __future__ import annotations

import threading

import torch
from torch import nn

from dann_demo.config import RunConfig
from dann_demo.datasets.pair import is_image_shape
from dann_demo.method.grl import GradientReversal

# How the feature extractor receives the domain classifier's gradient, per mode:
# -1 reverses it (DANN), +1 passes it on (the ablation "without the reversal layer"), 0 cuts it:
# the domain classifier is still trained, as a probe that shows how separable the features are.
GRL_SIGN = {"dann": -1.0, "no_reversal": 1.0, "source_only": 0.0, "target_oracle": 0.0}

_init_lock = threading.Lock()


def mlp_feature_extractor(n_inputs: int, hidden_units: int) -> nn.Module:
    """Two tanh layers. The JMLR toy used one layer of 15 sigmoid units; over 5 seeds on rotated
    moons that (and one wider layer) left some seeds with the domain classifier winning, while
    two tanh layers of 32 adapted every seed (docs/defaults.md)."""
    return nn.Sequential(nn.Linear(n_inputs, hidden_units), nn.Tanh(), nn.Linear(hidden_units, hidden_units), nn.Tanh())


def mnist_feature_extractor(
    channels: int = 3, size: int = 28, second_kernel: int | None = None, padded: bool = False
) -> nn.Module:
    """The paper's MNIST extractor: conv5x5 32, ReLU, maxpool 2, conv5x5 48, ReLU, maxpool 2.

    On images smaller than 24 pixels the second convolution is 3x3: at 16x16 a 5x5 one leaves a single
    position (48 features), a 3x3 one 2x2 positions (192 features), and on digits -> digits-M that
    lifted DANN's share of the source-only -> oracle gap (docs/defaults.md)."""
    second_kernel = second_kernel or (5 if size >= 24 else 3)
    # padded (a lever of scripts/digits_levers.py, not a default): each convolution keeps its input's size
    first_pad, second_pad = (2, second_kernel // 2) if padded else (0, 0)
    return nn.Sequential(
        nn.Conv2d(channels, 32, 5, padding=first_pad),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(32, 48, second_kernel, padding=second_pad),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
    )


class DANN(nn.Module):
    """G_f feeds G_y directly and G_d through the gradient reversal layer."""

    def __init__(
        self,
        feature_extractor: nn.Module,
        label_classifier: nn.Module,
        domain_classifier: nn.Module,
        grl: GradientReversal,
    ):
        super().__init__()
        self.feature_extractor = feature_extractor
        self.label_classifier = label_classifier
        self.domain_classifier = domain_classifier
        self.grl = grl

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Returns (features, class logits, domain logit) for a batch."""
        features = self.feature_extractor(x)
        return features, self.label_classifier(features), self.domain_classifier(self.grl(features)).squeeze(-1)


def build_model(config: RunConfig, input_shape: tuple[int, ...], n_classes: int) -> DANN:
    """The network for `config`'s data; the same seed gives the same initial weights in every mode."""
    # Seeding the global generator is not thread-safe: background jobs build models concurrently.
    with _init_lock, torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        if is_image_shape(input_shape):
            g_f = mnist_feature_extractor(input_shape[0], min(input_shape[1:]))
            n_features = g_f(torch.zeros(1, *input_shape)).shape[1]
            g_y = nn.Sequential(
                nn.Linear(n_features, 100), nn.ReLU(), nn.Linear(100, 100), nn.ReLU(), nn.Linear(100, n_classes)
            )
        else:
            g_f = mlp_feature_extractor(input_shape[0], config.hidden_units)
            n_features = config.hidden_units
            g_y = nn.Linear(n_features, n_classes)
        g_d = domain_classifier(n_features, config.domain_hidden_units, config.domain_hidden_layers)
    return DANN(g_f, g_y, g_d, GradientReversal(0.0, GRL_SIGN[config.mode]))


def domain_classifier(n_features: int, units: int, layers: int) -> nn.Sequential:
    """G_d: `layers` hidden ReLU layers of `units` each, then one logit (the paper's MNIST net: 100, 1)."""
    parts: list[nn.Module] = []
    for i in range(layers):
        parts += [nn.Linear(n_features if i == 0 else units, units), nn.ReLU()]
    return nn.Sequential(*parts, nn.Linear(units, 1))
