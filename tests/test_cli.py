import json
import subprocess
import sys

import pytest

from dann_demo.__main__ import main, parse_seeds
from dann_demo.config import RunConfig


def test_parse_seeds():
    assert parse_seeds("0-4") == [0, 1, 2, 3, 4]
    assert parse_seeds("3") == [3]
    assert parse_seeds("0,2,5") == [0, 2, 5]


def test_train_prints_summary_and_writes_json(tmp_path, capsys):
    out = tmp_path / "run.json"
    rc = main(
        [
            "train",
            "--dataset",
            "moons",
            "--mode",
            "dann",
            "--steps",
            "200",
            "--n-samples",
            "100",
            "--seeds",
            "0-1",
            "--json",
            str(out),
        ]
    )
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
        (["train", "--mode", "adversarial"], "mode='adversarial' is not allowed: one of source_only, dann"),
        (["train", "--lr", "fast"], "lr='fast' is not allowed: a number from 1e-06 to 10"),
        (["train", "--lr", "-1"], "lr=-1.0 is not allowed"),
        (["train", "--steps", "0"], "steps=0 is not allowed: a whole number from 1"),
        (["train", "--seeds", "a-b"], "--seeds"),
        (["fly"], "invalid choice"),
    ],
)
def test_bad_arguments_give_one_line_and_exit_2(argv, fragment, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1, lines
    assert fragment in lines[0]


def test_the_module_and_the_console_command_run_from_any_directory(tmp_path):
    """`python -m dann_demo` and the installed `dann-playground` command, started outside the repository."""
    from pathlib import Path

    command = Path(sys.executable).parent / "dann-playground"
    if not command.exists():
        pytest.skip("the project is not installed in this environment (make test installs it)")
    for argv in ([sys.executable, "-m", "dann_demo"], [str(command)]):
        proc = subprocess.run(
            [*argv, "train", "--steps", "30", "--n-samples", "40"],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert proc.returncode == 0, proc.stderr
        assert "moons / dann / seed 0" in proc.stdout
    proc = subprocess.run([str(command), "train", "--mode", "x"], cwd=tmp_path, capture_output=True, text=True)
    assert proc.returncode == 2 and proc.stderr.startswith("dann-playground train: error:")


def test_every_config_field_is_settable():
    import dataclasses

    from dann_demo import RunConfig
    from dann_demo.__main__ import build_parser, config_from_args

    args = build_parser().parse_args(
        [
            "train",
            "--dataset",
            "digits",
            "--lambda-schedule",
            "constant",
            "--lambda-value",
            "0.3",
            "--batch-size",
            "16",
            "--device",
            "cpu",
            "--snapshot-steps",
            "0,10",
            "--seeds",
            "4",
        ]
    )
    c = config_from_args(args, 4)
    assert (c.dataset, c.lambda_schedule, c.lambda_value, c.batch_size, c.seed) == ("digits", "constant", 0.3, 16, 4)
    assert c.snapshot_steps == (0, 10)
    flags = {a.dest for a in build_parser()._subparsers._group_actions[0].choices["train"]._actions}
    assert {f.name for f in dataclasses.fields(RunConfig)} - {"seed"} <= flags


def test_sweep_on_moons_two_lambdas_one_seed(tmp_path, capsys):
    out_json, out_csv = tmp_path / "sweep.json", tmp_path / "sweep.csv"
    rc = main(
        [
            "sweep",
            "--dataset",
            "moons",
            "--lambdas",
            "0,paper",
            "--seeds",
            "0",
            "--steps",
            "150",
            "--n-samples",
            "100",
            "--json",
            str(out_json),
            "--csv",
            str(out_csv),
        ]
    )
    assert rc == 0
    text = capsys.readouterr().out
    assert "lambda      0 seed 0" in text and "lambda  paper seed 0" in text
    payload = json.loads(out_json.read_text())
    assert [r["lambda"] for r in payload["summary"]] == ["0.0", "paper"]
    assert len(payload["runs"]) == 2 and out_csv.read_text().startswith("lambda,seed,target_acc")


def test_sweep_bad_lambda_exits_2(capsys):
    for lambdas, message in (
        ("0,lots", "lambdas='lots' is not allowed"),
        ("0,20", "lambdas='20' is not allowed: comma-separated numbers from 0 to 10"),
    ):
        with pytest.raises(SystemExit) as exit_:
            main(["sweep", "--lambdas", lambdas])
        assert exit_.value.code == 2 and message in capsys.readouterr().err


def test_config_file_from_the_app_runs_in_the_cli(tmp_path, capsys):
    from dann_demo.__main__ import main
    from dann_demo.views import exports

    config = RunConfig.for_dataset("moons", steps=60, n_samples=60, seed=5, mode="source_only")
    path = tmp_path / "config.json"
    path.write_bytes(exports.config_json(config))
    assert main(["train", "--config", str(path), "--json", str(tmp_path / "out.json")]) == 0
    assert "moons / source_only / seed 5" in capsys.readouterr().out
    saved = json.loads((tmp_path / "out.json").read_text())["runs"][0]["config"]
    assert RunConfig.from_dict(saved) == config
    # Options on top of the file win.
    assert main(["train", "--config", str(path), "--steps", "30", "--seeds", "2"]) == 0
    assert "seed 2" in capsys.readouterr().out


def test_bad_config_file_is_one_line(tmp_path, capsys):
    from dann_demo.__main__ import main

    (tmp_path / "bad.json").write_text('{"dataset": "moons", "lambda_value": 99}')
    with pytest.raises(SystemExit) as e:
        main(["train", "--config", str(tmp_path / "bad.json")])
    assert e.value.code == 2 and "lambda_value=99" in capsys.readouterr().err


def test_train_on_blobs(capsys):
    rc = main(
        [
            "train",
            "--dataset",
            "blobs",
            "--mode",
            "source_only",
            "--steps",
            "100",
            "--n-samples",
            "100",
            "--blob-shift",
            "1.5",
            "--blob-angle",
            "30",
            "--blob-scale",
            "2",
        ]
    )
    assert rc == 0
    assert "blobs / source_only / seed 0" in capsys.readouterr().out


def _npz(tmp_path, with_target_labels=True):
    import numpy as np

    rng = np.random.RandomState(0)
    y = np.arange(60) % 2
    arrays = {"source_x": rng.randn(60, 3) + y[:, None], "source_y": y, "target_x": rng.randn(60, 3) + y[:, None] + 1}
    if with_target_labels:
        arrays["target_y"] = y
    path = tmp_path / "mine.npz"
    np.savez(path, **arrays)
    return path


def test_train_on_an_npz_file(tmp_path, capsys):
    rc = main(["train", "--dataset", "file", "--data-file", str(_npz(tmp_path)), "--steps", "60"])
    assert rc == 0
    out = capsys.readouterr().out
    assert "file / dann / seed 0" in out and "target acc 0." in out
    # --data-file alone means dataset "file"; without target labels target accuracy is unknown.
    rc = main(["train", "--data-file", str(_npz(tmp_path, with_target_labels=False)), "--steps", "60"])
    assert rc == 0
    assert "target acc —" in capsys.readouterr().out


def test_train_on_a_csv_pair(tmp_path, capsys):
    rows = "\n".join(f"{i % 7},{(i * 3) % 5},{i % 2}" for i in range(40))
    (tmp_path / "s.csv").write_text("f1,f2,kind\n" + rows + "\n")
    (tmp_path / "t.csv").write_text("f1,f2,kind\n" + rows + "\n")
    rc = main(
        [
            "train",
            "--data-file",
            str(tmp_path / "s.csv"),
            "--target-file",
            str(tmp_path / "t.csv"),
            "--label-column",
            "kind",
            "--steps",
            "40",
        ]
    )
    assert rc == 0 and "file / dann / seed 0" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("content", "extra", "fragment"),
    [
        (None, [], "data_file='{dir}/gone.npz' is not allowed: an existing file"),
        ("not a zip", [], "bad.npz, the file: found something that is not a .npz archive"),
        ("npz-one-class", [], "bad.npz, array 'source_y': found a single class (0)"),
        ("npz-ok", ["--mode", "target_oracle"], "bad.npz, target labels: found none"),
    ],
)
def test_bad_data_file_gives_one_line_and_exit_2(tmp_path, capsys, content, extra, fragment):
    import numpy as np

    name = "gone.npz" if content is None else "bad.npz"
    path = tmp_path / name
    if content == "not a zip":
        path.write_text(content)
    elif content is not None:
        y = np.zeros(20, int) if content == "npz-one-class" else np.arange(20) % 2
        np.savez(path, source_x=np.ones((20, 2)), source_y=y, target_x=np.ones((20, 2)))
    # In process (the subprocess tests above show the same exit path): main() exits 2 with one line.
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "--data-file", str(path), "--steps", "5", *extra])
    assert exit_info.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1, lines
    assert fragment.format(dir=tmp_path) in lines[0]


def test_lists_a_person_types_are_refused_before_they_are_built():
    """A seed range or a list of lambdas is counted before it is built, and an over-long one is not read:
    a billion seeds or a 100,000-character value costs no time and no memory (bounded work, not a speed
    figure: the parse of 1,000 characters at most)."""
    import time

    from dann_demo.experiments.sweep import parse_lambdas, parse_seeds
    from dann_demo.spec import ConfigError

    for parse, field, text in (
        (parse_seeds, "seeds", "0-1000000000"),
        (parse_seeds, "seeds", "0-5,7-1000000000000"),
        (parse_seeds, "seeds", "7" * 100_000),
        (parse_lambdas, "lambdas", "1," * 50_000),
        (parse_lambdas, "lambdas", ",".join(str(i / 10) for i in range(30))),
    ):
        began = time.perf_counter()
        with pytest.raises(ConfigError) as e:
            parse(text)
        assert time.perf_counter() - began < 0.1 and e.value.field == field and len(str(e.value)) < 400
    assert parse_seeds("0-4,9") == [0, 1, 2, 3, 4, 9] and parse_lambdas("0,0.5,paper") == [0.0, 0.5, "paper"]
