"""Command line: python -m dann_demo train | sweep | bench | fetch-mnist. Same RunConfig and Trainer as the app."""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import math
import os
import sys
from pathlib import Path
from typing import Any, NoReturn

from dann_demo.config import RUN_SPECS, ConfigError, RunConfig, Spec
from dann_demo.datasets import BENCH_DATASETS, DATASETS, DataFileError
from dann_demo.datasets.mnist import MnistError
from dann_demo.devices import check_device

SUMMARY_KEYS = ("source_acc", "target_acc", "domain_acc", "domain_loss", "pad", "seconds")


class _Parser(argparse.ArgumentParser):
    """argparse, but a bad argument is one line on stderr and exit code 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\n")


def parse_seeds(text: str) -> list[int]:
    """'3' -> [3]; '0-4' -> [0, 1, 2, 3, 4]; '0,2,5' -> [0, 2, 5]."""
    from dann_demo.experiments.sweep import parse_seeds as parse

    try:
        return parse(text)
    except ConfigError as e:
        raise argparse.ArgumentTypeError(f"--seeds {text!r}: {e.allowed}")


def _int_list(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(s) for s in text.split(",") if s.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: a comma-separated list of whole numbers")


def _dataset_list(text: str) -> str:
    names = [n.strip() for n in text.split(",") if n.strip()]
    bad = [n for n in names if n not in DATASETS]
    if bad or not names:
        raise argparse.ArgumentTypeError(f"--datasets {text!r}: a comma-separated list of {', '.join(DATASETS)}")
    return ",".join(names)


def _option_type(name: str, spec: Spec):
    """argparse's type for a field: its Spec parses and checks the text, so the message is the app's."""

    def parse(text: str):
        try:
            return spec.parse(name, text)
        except ConfigError as e:
            raise argparse.ArgumentTypeError(str(e))

    parse.__name__ = spec.kind  # argparse names the type in its messages
    return parse


def add_config_arguments(parser: argparse.ArgumentParser) -> None:
    """One option per RunConfig field, from the field's Spec; unset options fall back to the data
    set's defaults (or to the --config file's values)."""
    parser.add_argument("--config", metavar="FILE", help="start from this config (JSON, e.g. saved by the app)")
    for f in dataclasses.fields(RunConfig):
        flag = "--" + f.name.replace("_", "-")
        if f.name == "seed":
            continue  # --seeds covers it
        if f.name == "snapshot_steps":
            parser.add_argument(flag, type=_int_list, default=None, help="steps with a feature snapshot, e.g. 0,500")
            continue
        spec = RUN_SPECS[f.name]
        text = f"{spec.help} " if spec.help else ""
        metavar = {"choice": None, "int": "INT", "float": "FLOAT"}.get(spec.kind, "TEXT")
        if f.name.endswith("_file"):
            metavar = "PATH"
        elif f.name == "data_dir":
            metavar = "DIR"
        parser.add_argument(
            flag,
            type=_option_type(f.name, spec),
            default=None,
            metavar=metavar if spec.kind != "choice" else "{" + ",".join(spec.choices) + "}",
            help=f"{text}({spec.allowed()}; default: {f.default!r}, or the data set's)".replace("%", "%%"),
        )


def config_from_args(args: argparse.Namespace, seed: int | None) -> RunConfig:
    """The data set's defaults (or the --config file), with the options given on top."""
    names = {f.name for f in dataclasses.fields(RunConfig)} - {"dataset", "seed"}
    overrides = {n: getattr(args, n) for n in names if getattr(args, n, None) is not None}
    if getattr(args, "config", None):
        given = {"dataset": args.dataset} if args.dataset else {}
        config = _load_config(args.config).replace(**given, **overrides, **({} if seed is None else {"seed": seed}))
        check_device(config.device)
        config.check_files()
        return config
    # --data-file alone means the user's own data.
    dataset = args.dataset or ("file" if getattr(args, "data_file", None) else "moons")
    config = RunConfig.for_dataset(dataset, seed=0 if seed is None else seed, **overrides)
    check_device(config.device)  # before any data is loaded: the app's message, exit code 2
    config.check_files()
    return config


def _load_config(path: str) -> RunConfig:
    """A config saved by the app (Config (JSON)) or written by hand; errors name the file."""
    try:
        return RunConfig.from_json(Path(path).read_text())
    except OSError as e:
        raise ConfigError("--config", path, f"a readable JSON file ({e.strerror})") from None
    except json.JSONDecodeError as e:
        raise ConfigError("--config", path, f"valid JSON ({e.msg} at line {e.lineno})") from None


def _seeds(args: argparse.Namespace) -> list[int | None]:
    """--seeds, or the config file's own seed (None) when only --config is given."""
    return args.seeds if args.seeds is not None else [None] if getattr(args, "config", None) else [0]


def format_metrics(m: dict[str, Any]) -> str:
    target = "—" if math.isnan(m["target_acc"]) else f"{m['target_acc']:.3f}"  # no target labels: unknown
    return (
        f"source acc {m['source_acc']:.3f}  target acc {target}  "
        f"domain acc {m['domain_acc']:.3f}  domain loss {m['domain_loss']:.3f} (ln 2 = 0.693)  "
        f"PAD {m['pad']:.2f}  {m['seconds']:.1f} s on {m['device']}"
    )


def cmd_train(args: argparse.Namespace) -> int:
    from dann_demo.method.metrics import mean_and_std
    from dann_demo.method.train import TrainingDiverged, train

    configs = [config_from_args(args, s) for s in _seeds(args)]
    _print_data_note(configs[0])
    results = []
    for config in configs:
        try:
            result = train(config)
        except TrainingDiverged as e:
            print(f"seed {config.seed}: {e}", file=sys.stderr)
            return 1
        results.append(result)
        c = config
        print(f"{c.dataset} / {c.mode} / seed {c.seed}: {format_metrics(result.metrics)}", flush=True)
    metrics = [r.metrics for r in results]
    payload: dict[str, Any] = {"runs": [r.to_json_dict() for r in results]}
    if len(results) > 1:
        summary = mean_and_std(metrics, SUMMARY_KEYS)
        payload["summary"] = summary
        print(
            f"mean over {len(results)} seeds: "
            + "  ".join(f"{k} {v['mean']:.3f} ± {v['std']:.3f}" for k, v in summary.items())
        )
    if args.json:
        Path(args.json).write_text(json.dumps(payload, indent=1))
        print(f"wrote {args.json}")
    return 0


def cmd_sweep(args: argparse.Namespace) -> int:
    from dann_demo.experiments.sweep import parse_lambdas, run_sweep, summarise_sweep

    lambdas = parse_lambdas(args.lambdas)
    seeds = _seeds(args)
    base = config_from_args(args, seeds[0])
    seeds = [base.seed] if seeds == [None] else seeds
    _print_data_note(base)
    print(
        f"sweep on {base.dataset}: lambdas {', '.join(map(str, lambdas))} x seeds {seeds}"
        + (" + source_only and target_oracle" if args.references else ""),
        flush=True,
    )

    def progress(result) -> None:
        c, m = result.config, result.metrics
        lam = "paper" if c.lambda_schedule == "paper" else f"{c.lambda_value:g}"
        name = f"lambda {lam:>6s}" if c.mode == "dann" else f"{c.mode:>13s}"
        print(
            f"  {name} seed {c.seed}: target acc {m['target_acc']:.3f}  domain acc "
            f"{m['domain_acc']:.3f}  PAD {m['pad']:.2f}",
            flush=True,
        )

    runs = run_sweep(base, lambdas, seeds, on_result=progress, references=args.references, ensemble=args.ensemble)
    for row in runs[runs["note"] != ""].itertuples():
        print(f"  lambda {row[1]:>6s} seed {row.seed}: {row.note}", flush=True)
    together = int(runs["trained_together"].max()) if len(runs) else 1
    print(
        f"trained {'one after another' if together == 1 else f'{together} at a time (ensemble)'}; "
        f"{runs['seconds'].max() if together > 1 else runs['seconds'].sum():.1f} s of training"
    )
    summary = summarise_sweep(runs)
    print(f"{'lambda':>13s}  {'target acc':>15s}  {'domain acc':>15s}  {'PAD':>11s}")
    for row in summary.itertuples():
        name = row[1] if row.mode == "dann" else row.mode
        print(
            f"{name:>13s}  {row.target_acc_mean:.3f} ± {row.target_acc_std:.3f}    "
            f"{row.domain_acc_mean:.3f} ± {row.domain_acc_std:.3f}    {row.pad_mean:.2f} ± {row.pad_std:.2f}"
        )
    if args.json:
        Path(args.json).write_text(
            json.dumps(
                {"base_config": base.to_dict(), "runs": runs.to_dict("records"), "summary": summary.to_dict("records")},
                indent=1,
            )
        )
        print(f"wrote {args.json}")
    if args.csv:
        runs.to_csv(args.csv, index=False)
        print(f"wrote {args.csv}")
    return 0


def _print_data_note(config: RunConfig) -> None:
    """Load the data once up front: a missing file is reported before any training, and a note on
    where the data came from (MNIST's test files only, say) is printed once."""
    from dann_demo.datasets import data_kind, defaults, load_pair

    note = load_pair(config).note
    if note:
        print(note, flush=True)
    if config.dataset == "file":
        kind = data_kind(config)
        shown = ", ".join(f"{k} {v}" for k, v in defaults("file", kind).items())
        print(
            f"your data is {'images' if kind == 'images' else 'a table'}: {kind} defaults ({shown}), "
            "except for the options you gave",
            flush=True,
        )


def cmd_fetch_mnist(args: argparse.Namespace) -> int:
    from dann_demo.datasets import mnist, mnist_download

    files = mnist.locate(args.data_dir)
    if files.missing:
        print(f"downloading {', '.join(files.missing)} into {files.data_dir}", flush=True)
        files = mnist_download.download(files.data_dir)
    print(f"MNIST files in {files.data_dir}:")
    checks = mnist.verify(files)
    for role, path in files.paths.items():
        ok = checks[role]
        print(f"  {path}  " + ("checksum ok" if ok else "does NOT match the official MNIST checksum (kept)"))
    print(f"MNIST-M backgrounds: {mnist.photo_source_label(files.data_dir)}")
    return 0 if all(checks.values()) else 1


def cmd_bench(args: argparse.Namespace) -> int:
    from dann_demo.experiments.bench import run_bench

    datasets = tuple(args.datasets.split(","))
    if args.robustness:  # a measure of its own: the speed figures are not taken again
        from dann_demo.experiments.bench import said_machine
        from dann_demo.experiments.robustness import robustness

        report = {"machine": said_machine()}
        modes = tuple(m for m in args.modes.split(",") if m)
        report["robustness"] = robustness(
            datasets, modes, args.seeds or list(range(20)), args.steps, say=lambda line: print(line, flush=True)
        )
    else:
        report = run_bench(quality_too=args.quality, seeds=args.seeds or list(range(5)), datasets=datasets,
                           quick=args.quick)  # fmt: skip
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1))
        print(f"wrote {args.json}")
    return 0


def cmd_claims(args: argparse.Namespace) -> int:
    from dann_demo.experiments import claims

    seeds = tuple(args.seeds)
    datasets = [d for d in args.datasets.split(",") if d]
    figures = {}
    for dataset in datasets:
        print(f"training every setup of the claims on {dataset}, seeds {list(seeds)}...", flush=True)
        figures[dataset] = claims.measure(dataset, seeds, **({"steps": args.steps} if args.steps else {}))
    rows = claims.check(figures)
    for row in rows:
        print(f"{'holds' if row['holds'] else 'FAILS':5s}  {row['claim']} ({row['dataset']}; {row['where']})")
        print(f"       condition: {row['condition']}")
        print(f"       text: {row['text']}")
    held = sum(r["holds"] for r in rows)
    print(f"{held} of {len(rows)} claims hold over seeds {list(seeds)}")
    if args.write:
        claims.write_measured({**claims.load_measured(), **figures}, seeds)
        print(f"wrote {claims.MEASURED}")
    return 0 if held == len(rows) else 1


def build_parser() -> argparse.ArgumentParser:
    name = Path(sys.argv[0]).name
    prog = "python -m dann_demo" if name in ("__main__.py", "-c", "") else name
    parser = _Parser(prog=prog, description="Train domain-adversarial networks headless.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    p_train = sub.add_parser("train", help="train one or more seeds and print a summary")
    add_config_arguments(p_train)
    p_train.add_argument("--seeds", type=parse_seeds, default=None, help="seed, range (0-4) or list (0,2); default 0")
    p_train.add_argument("--json", metavar="FILE", help="write config, history and metrics here")
    p_train.set_defaults(func=cmd_train)
    p_sweep = sub.add_parser("sweep", help="train DANN for every (lambda, seed) and summarise per lambda")
    add_config_arguments(p_sweep)
    p_sweep.add_argument("--lambdas", default="0,0.03,0.1,0.3,1,3", help="constants and/or 'paper', e.g. 0,0.1,paper")
    p_sweep.add_argument("--seeds", type=parse_seeds, default=None, help="seed, range (0-4) or list (0,2); default 0")
    p_sweep.add_argument("--json", metavar="FILE", help="write every run and the summary here")
    p_sweep.add_argument("--csv", metavar="FILE", help="write one row per run here")
    p_sweep.add_argument(
        "--references", action="store_true", help="also train source_only and target_oracle on the same seeds"
    )
    p_sweep.add_argument(
        "--ensemble",
        choices=("auto", "on", "off"),
        default="auto",
        help="train the runs together as one ensemble (auto: where measured faster)",
    )
    p_sweep.set_defaults(func=cmd_sweep)
    p_bench = sub.add_parser("bench", help="measure speed (and with --quality, accuracy over seeds)")
    p_bench.add_argument("--quality", action="store_true", help="also train every mode over several seeds")
    p_bench.add_argument(
        "--robustness",
        action="store_true",
        help="instead of speed: each data set's defaults over the seeds, alone, in a batch, on 2 threads and "
        "with the initial weights nudged by 1e-6 (mean, minimum, spread across those of one seed)",
    )
    p_bench.add_argument(
        "--seeds", type=parse_seeds, default=None, help="seeds for --quality (default 0-4) and --robustness (0-19)"
    )
    p_bench.add_argument("--modes", default="dann,source_only", help="--robustness: comma-separated modes")
    p_bench.add_argument("--steps", type=int, default=None, help="--robustness: fewer steps than the defaults")
    p_bench.add_argument(
        "--datasets", default=",".join(BENCH_DATASETS), type=_dataset_list, help="comma-separated data sets to measure"
    )
    p_bench.add_argument("--json", metavar="FILE", help="write the figures here")
    p_bench.add_argument("--quick", action="store_true", help="every step of the bench, shrunk to a few steps")
    p_bench.set_defaults(func=cmd_bench)
    p_claims = sub.add_parser("claims", help="re-run the runs behind every claim a page makes; holds or fails")
    p_claims.add_argument("--datasets", default="moons,digits", help="comma-separated: moons, digits")
    p_claims.add_argument("--seeds", type=parse_seeds, default=list(range(5)), help="default 0-4")
    p_claims.add_argument("--steps", type=int, default=None, help="fewer steps than the defaults (a quick check)")
    p_claims.add_argument("--write", action="store_true", help="keep these figures for the pages' texts")
    p_claims.set_defaults(func=cmd_claims)
    p_fetch = sub.add_parser("fetch-mnist", help="download MNIST if missing, check the checksums, say where it is")
    p_fetch.add_argument("--data-dir", metavar="DIR", help="default: $DANN_DATA_DIR, else ~/.cache/dann_playground")
    p_fetch.set_defaults(func=cmd_fetch_mnist)
    p_worker = sub.add_parser("worker", help="train a class's runs from Redis (a cluster; docs/deploy.md)")
    p_worker.add_argument(
        "--redis", metavar="URL", default=os.environ.get("DANN_REDIS_URL"), help="default: $DANN_REDIS_URL"
    )
    p_worker.add_argument("--jobs", type=int, default=1, help="batches it trains at once (default 1)")
    p_worker.add_argument("--threads", type=int, default=1, help="torch threads (default 1: one worker per core)")
    p_worker.add_argument("--device", default="auto", help="auto, cpu, cuda or mps: where runs set to auto train")
    p_worker.add_argument("--name", help="its name in the consumer group (default: host name and a random tail)")
    p_worker.set_defaults(func=cmd_worker)
    return parser


def cmd_worker(args: argparse.Namespace) -> int:
    from dann_demo.jobs.worker import RedisUnreachable, serve

    if not args.redis:
        raise ConfigError("--redis", None, "a Redis URL such as redis://localhost:6379/0 (or set DANN_REDIS_URL)")
    for name in ("jobs", "threads"):
        if getattr(args, name) < 1:
            raise ConfigError(f"--{name}", getattr(args, name), "a whole number of at least 1")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    try:
        return serve(args.redis, args.jobs, args.device, args.name, args.threads)
    except RedisUnreachable as e:
        print(f"dann-playground worker: error: {e}", file=sys.stderr)
        return 2


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except (ConfigError, DataFileError) as e:  # a bad setting or a bad data file: one line, exit 2
        parser.exit(2, f"{parser.prog}: error: {e}\n")
    except MnistError as e:
        parser.exit(1, f"{parser.prog}: {e}\n")


if __name__ == "__main__":
    sys.exit(main())
