"""Exports load back: config in the CLI's --config, weights with weights_only=True, figures as HTML."""

import io
import json
import zipfile

import pandas as pd
import pytest
import torch

from dann_demo.config import RunConfig
from dann_demo.datasets import load_pair
from dann_demo.method.train import history_frame, train
from dann_demo.views import exports, plots


def test_run_exports_load_back(tmp_path, quick_moons):
    result = train(quick_moons)
    assert RunConfig.from_json(exports.config_json(result.config).decode()) == result.config
    history = pd.read_csv(io.BytesIO(exports.history_csv(result)))
    assert list(history["step"]) == [r.step for r in result.history]
    assert json.loads(exports.metrics_json(result))["metrics"]["target_acc"] == result.metrics["target_acc"]
    blob = exports.weights_bytes(result)
    saved = torch.load(io.BytesIO(blob), weights_only=True)  # no pickled code needed
    assert set(saved) == {"config", "state_dict"}
    config, model = exports.load_weights(blob)
    assert config == result.config and not model.training
    for name, tensor in model.state_dict().items():
        assert torch.equal(tensor, result.state_dict[name]), name
    pair = load_pair(config)
    with torch.no_grad():
        predicted = model(torch.as_tensor(pair.source_test_x))[1].argmax(1).numpy()
    assert (predicted == pair.source_test_y).mean() == pytest.approx(result.metrics["source_acc"], abs=0.05)
    figs = {"accuracy": plots.accuracy_figure(history_frame(result.history), [])}
    with zipfile.ZipFile(io.BytesIO(exports.figures_zip(figs))) as z:
        html = z.read("accuracy.html").decode()
    assert "<html>" in html and "plotly" in html.lower() and len(html) > 1_000_000  # plotly.js inside: offline
