"""What a finished run can be downloaded as: history (CSV), config (JSON), metrics (JSON), weights,
and figures (interactive HTML). Every export loads back: the config in the app and the CLI
(`--config`), the weights with `load_weights` (torch.load with weights_only=True, never pickle).
"""

from __future__ import annotations

import io
import json
import zipfile

import plotly.graph_objects as go
import torch

from dann_demo.config import RunConfig
from dann_demo.datasets import load_pair
from dann_demo.method.models import DANN, build_model
from dann_demo.method.results import RunResult


def history_csv(result: RunResult) -> bytes:
    return result.history_frame().to_csv(index=False).encode()


def config_json(config: RunConfig) -> bytes:
    return json.dumps(config.to_dict(), indent=1, sort_keys=True).encode()


def metrics_json(result: RunResult) -> bytes:
    return json.dumps(
        {"config": result.config.to_dict(), "metrics": result.metrics, "lambda_changes": result.lambda_changes},
        indent=1,
    ).encode()


def weights_bytes(result: RunResult) -> bytes:
    """The trained weights and the config that built the model: plain tensors and a dict, so
    torch.load(..., weights_only=True) reads them (no code is unpickled)."""
    buffer = io.BytesIO()
    torch.save({"config": result.config.to_dict(), "state_dict": result.state_dict}, buffer)
    return buffer.getvalue()


def load_weights(source: str | io.BytesIO | bytes) -> tuple[RunConfig, DANN]:
    """A model saved by weights_bytes, ready to predict (eval mode, CPU)."""
    if isinstance(source, bytes):
        source = io.BytesIO(source)
    saved = torch.load(source, map_location="cpu", weights_only=True)
    config = RunConfig.from_dict(saved["config"])
    pair = load_pair(config)
    model = build_model(config, pair.input_shape, pair.n_classes)
    model.load_state_dict(saved["state_dict"])
    return config, model.eval()


def figures_zip(figures: dict[str, go.Figure]) -> bytes:
    """Each figure as a self-contained interactive HTML file (plotly.js inside, so it opens offline)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as z:
        for name, fig in figures.items():
            z.writestr(f"{name}.html", fig.to_html(include_plotlyjs=True, full_html=True))
    return buffer.getvalue()
