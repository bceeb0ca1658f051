import json
import subprocess
import sys

import pytest

from dann_demo.__main__ import main, parse_seeds


def test_parse_seeds():
    assert parse_seeds("0-4") == [0, 1, 2, 3, 4]
    assert parse_seeds("3") == [3]
    assert parse_seeds("0,2,5") == [0, 2, 5]


def test_train_prints_summary_and_writes_json(tmp_path, capsys):
    out = tmp_path / "run.json"
    rc = main(["train", "--dataset", "moons", "--mode", "dann", "--steps", "200", "--n-samples", "100",
               "--seeds", "0-1", "--json", str(out)])  # fmt: skip
    assert rc == 0
    text = capsys.readouterr().out
    assert "moons / dann / seed 0" in text and "target acc" in text and "PAD" in text
    assert "mean over 2 seeds" in text
    payload = json.loads(out.read_text())
    assert len(payload["runs"]) == 2
    run = payload["runs"][0]
    assert run["config"]["steps"] == 200 and run["config"]["seed"] == 0
    assert run["history"][-1]["step"] == 200
    assert {"source_acc", "target_acc", "domain_acc", "pad", "seconds", "device"} <= set(run["metrics"])
    assert payload["summary"]["target_acc"]["std"] >= 0


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["train", "--mode", "adversarial"], "invalid choice"),
        (["train", "--lr", "fast"], "invalid float value"),
        (["train", "--lr", "-1"], "lr=-1.0 is not allowed"),
        (["train", "--steps", "0"], "steps=0 is not allowed: a whole number from 1"),
        (["train", "--seeds", "a-b"], "--seeds"),
        (["fly"], "invalid choice"),
    ],
)
def test_bad_arguments_give_one_line_and_exit_2(argv, fragment):
    proc = subprocess.run([sys.executable, "-m", "dann_demo", *argv], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert fragment in lines[0]


def test_every_config_field_is_settable():
    import dataclasses

    from dann_demo import RunConfig
    from dann_demo.__main__ import build_parser, config_from_args

    args = build_parser().parse_args(["train", "--dataset", "digits", "--lambda-schedule", "constant",
                                      "--lambda-value", "0.3", "--batch-size", "16", "--device", "cpu",
                                      "--snapshot-steps", "0,10", "--seeds", "4"])  # fmt: skip
    c = config_from_args(args, 4)
    assert (c.dataset, c.lambda_schedule, c.lambda_value, c.batch_size, c.seed) == ("digits", "constant", 0.3, 16, 4)
    assert c.snapshot_steps == (0, 10)
    flags = {a.dest for a in build_parser()._subparsers._group_actions[0].choices["train"]._actions}
    assert {f.name for f in dataclasses.fields(RunConfig)} - {"seed"} <= flags


def test_sweep_on_moons_two_lambdas_one_seed(tmp_path, capsys):
    out_json, out_csv = tmp_path / "sweep.json", tmp_path / "sweep.csv"
    rc = main(["sweep", "--dataset", "moons", "--lambdas", "0,paper", "--seeds", "0", "--steps", "150",
               "--n-samples", "100", "--json", str(out_json), "--csv", str(out_csv)])  # fmt: skip
    assert rc == 0
    text = capsys.readouterr().out
    assert "lambda      0 seed 0" in text and "lambda  paper seed 0" in text
    payload = json.loads(out_json.read_text())
    assert [r["lambda"] for r in payload["summary"]] == ["0.0", "paper"]
    assert len(payload["runs"]) == 2 and out_csv.read_text().startswith("lambda,seed,target_acc")


def test_sweep_bad_lambda_exits_2():
    proc = subprocess.run([sys.executable, "-m", "dann_demo", "sweep", "--lambdas", "0,lots"], capture_output=True,
                          text=True, timeout=60)  # fmt: skip
    assert proc.returncode == 2 and "lambdas='lots' is not allowed" in proc.stderr
    proc = subprocess.run([sys.executable, "-m", "dann_demo", "sweep", "--lambdas", "0,20"], capture_output=True,
                          text=True, timeout=60)  # fmt: skip
    assert proc.returncode == 2 and "lambdas='20' is not allowed: comma-separated numbers from 0 to 10" in proc.stderr
