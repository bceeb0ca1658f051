"""Links and presets: settings to query parameters and back, and every bad value reported."""

import pytest

from dann_demo.config import RunConfig, Spec
from dann_demo.links import config_values_from_query, hidden_from_query, params_from_query, query_from_config
from dann_demo.presets import PRESETS


def test_round_trip_keeps_every_setting():
    config = RunConfig.for_dataset(
        "moons", rotation=60.0, lambda_value=0.3, lambda_schedule="constant", steps=1234, seed=7, mode="no_reversal"
    )
    query = query_from_config(config)
    assert query["rotation"] == "60" and "lr" not in query  # defaults are left out
    values, notes = config_values_from_query(query)
    assert notes == [] and RunConfig.for_dataset(**values) == config


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"dataset": "mnist9"}, "dataset='mnist9' ignored"),
        ({"lambda_value": "11"}, "lambda_value=11.0 is not allowed: a number from 0 to 10"),
        ({"steps": "2.5"}, "steps='2.5' is not allowed: a whole number"),
        ({"mode": "best"}, "mode='best' is not allowed: one of"),
        ({"wibble": "1"}, "unknown setting 'wibble' ignored"),
    ],
)
def test_bad_values_are_left_out_with_a_note(params, expected):
    values, notes = config_values_from_query({"rotation": "10", **params})
    assert values["rotation"] == 10.0  # one bad value never spoils the rest
    assert len(notes) == 1 and expected in notes[0]
    RunConfig.for_dataset(**values)  # what is left is valid


def test_hidden_controls_and_page_params():
    hidden, notes = hidden_from_query({"hide": "mode, dataset,zzz"}, ("mode", "dataset"))
    assert hidden == {"mode", "dataset"} and "hide='zzz'" in notes[0]
    specs = {
        "points": (Spec("int", 50, 500), 300),
        "errors": (Spec("bool"), False),
        "method": (Spec("choice", choices=("pca", "tsne")), "pca"),
    }
    values, notes = params_from_query({"points": "5000", "errors": "true", "method": "tsne"}, specs)
    assert values == {"errors": True, "method": "tsne"} and "points=5000 is not allowed" in notes[0]
    assert specs["errors"][0].format(True) == "true"


def test_every_preset_is_a_valid_config():
    for preset in PRESETS.values():
        config = preset.config()
        assert config.dataset == preset.dataset
        for name, value in preset.values.items():
            assert getattr(config, name) == value


def test_links_for_own_data_carry_settings_but_never_the_file(tmp_path):
    import numpy as np

    path = tmp_path / "mine.npz"
    y = np.arange(40) % 2
    np.savez(path, source_x=np.random.rand(40, 2), source_y=y, target_x=np.random.rand(40, 2))
    config = RunConfig.for_dataset("file", data_file=str(path), steps=500)
    query = query_from_config(config)
    assert query == {"dataset": "file", "steps": "500"}
    values, notes = config_values_from_query({**query, "data_file": "/etc/passwd"})
    assert values == {"dataset": "file", "steps": 500}
    assert "links carry no data files" in notes[0] and "data_file ignored: links carry no file paths" in notes[1]


def test_links_keep_more_than_six_digits():
    config = RunConfig.for_dataset("moons", lr=0.0123456789)
    assert config_values_from_query(query_from_config(config))[0]["lr"] == 0.0123456789
