"""Lambda sweep: DANN over a range of lambdas and seeds, with source only and the target oracle as
reference lines, so that "what does lambda do?" is one chart."""

import streamlit as st

from dann_demo.config import LIMITS, ConfigError, RunConfig
from dann_demo.datasets import BENCH_DATASETS
from dann_demo.experiments.claims import claim_text
from dann_demo.experiments.sweep import (
    MAX_LIST_TEXT,
    PAPER,
    parse_lambdas,
    parse_seeds,
    summarise_sweep,
    sweep_configs,
)
from dann_demo.jobs import FAILED, QUEUED, STOPPED, SweepJob
from dann_demo.views import plots
from dann_demo.views.text import markdown_literal
from pages.linking import room_gate
from pages.server import guarded, job_manager, require_navigation, session_id
from pages.settings import DATASET_LABELS

# Caps that keep a classroom machine usable: at most this many values and seeds per sweep.
MAX_LAMBDAS, MAX_SEEDS, MAX_STEPS = 10, 5, 20_000
# Steps per run by default: digits runs one after another on a CPU (docs/benchmarks.md, "Sweeps"), so fewer.
DEFAULT_STEPS = {"moons": 3000, "digits": 1000}
CAPTIONS = {
    "accuracy": "Read it from left to right. λ = 0 *is* source only: the domain classifier is trained but never "
    "pushes the features, so that point sits on the source-only line. "
    + claim_text("small_lambda_already_moves")
    + " In a middle range DANN lifts target accuracy toward the oracle line. **Too large a λ hurts the transfer**: "
    "the features are pushed around before they learn the classes; source accuracy stays high, target accuracy "
    "drops and the seeds disagree more (wider bars). Bars: ± one standard deviation over seeds. λ = 0 has no "
    "place on a log axis, so it is drawn a decade left of the smallest λ; the diamond is the paper's schedule, "
    "drawn at its ceiling λ = 1. (The figures quoted were measured on moons over seeds 0-4.)",
    "domain": "The domain classifier's accuracy on held-out data at the end of training. With a small λ it still "
    "tells the domains apart; as λ grows it is beaten and falls toward 50% (chance). Beaten is not the same as "
    "features without the domain: a fresh classifier may still find it (Train live's summary shows one). Below "
    "50% or far above the dashed source-only line: look at the runs' curves on Train live.",
}

require_navigation()
st.title("Lambda sweep")
room_gate("sweep")
st.caption(
    "What does λ do? DANN trained for each λ and seed, against the floor (source only) and the ceiling "
    "(target oracle) on the same seeds."
)
manager = job_manager()

with st.sidebar:
    st.header("Sweep settings")
    dataset = st.selectbox(
        "Data set",
        list(BENCH_DATASETS),
        format_func=DATASET_LABELS.get,
        key="sweep_dataset",
        help="The data sets that ship with the app. For your own data or MNIST, sweep from the command line: "
        "`dann-playground sweep --data-file my.npz` or `--dataset mnist`.",
    )
    lambdas_text = st.text_input(
        "Lambdas",
        "0,0.03,0.1,0.3,1,3",
        key="sweep_lambdas",
        max_chars=MAX_LIST_TEXT,
        help=f"Constant λ values, comma-separated, from 0 to 10; at most {MAX_LAMBDAS}.",
    )
    with_paper = st.checkbox("Also the paper schedule (λ rises from 0 to 1)", value=True, key="sweep_paper")
    seeds_text = st.text_input(
        "Seeds",
        "0-2",
        key="sweep_seeds",
        max_chars=MAX_LIST_TEXT,
        help=f"A range like 0-2 or a list like 0,3,7; at most {MAX_SEEDS} seeds.",
    )
    steps = int(
        st.number_input(
            "Steps per run",
            LIMITS["steps"][0],
            MAX_STEPS,
            DEFAULT_STEPS.get(dataset, 1000),
            step=500,
            key=f"sweep_{dataset}_steps",
        )
    )

errors: list[str] = []
lambdas: list[float | str] = []
seeds: list[int] = []
try:
    lambdas = parse_lambdas(lambdas_text, MAX_LAMBDAS) + ([PAPER] if with_paper else [])
    lambdas = list(dict.fromkeys(lambdas))
    if len(lambdas) > MAX_LAMBDAS:
        errors.append(f"**Lambdas**: at most {MAX_LAMBDAS} values (paper schedule included); you gave {len(lambdas)}.")
except ConfigError as e:
    errors.append(f"**Lambdas**: {markdown_literal(e)}.")
try:
    seeds = parse_seeds(seeds_text, MAX_SEEDS)
except ConfigError as e:
    errors.append(f"**Seeds**: {markdown_literal(e)}.")
base = None
if not errors:
    try:
        base = RunConfig.for_dataset(dataset, steps=steps)
        n_runs = len(sweep_configs(base, lambdas, seeds, references=True))
    except ConfigError as e:
        errors.append(f"**Sweep settings**: {markdown_literal(e)}.")
        base = None

job = manager.get(st.session_state.get("sweep_job"))
buttons = st.columns([1, 1, 4])
if buttons[0].button("Run sweep", type="primary", icon=":material/play_arrow:", disabled=base is None):
    if isinstance(job, SweepJob) and not job.done:
        manager.stop(job, session_id())
    job = manager.submit_sweep(base, lambdas, seeds, references=True, watcher=session_id())
    st.session_state["sweep_job"] = job.id
if buttons[1].button("Stop", icon=":material/stop:", disabled=job is None or job.done) and job is not None:
    manager.stop(job, session_id())
for message in errors:
    st.error(message, icon=":material/error:")
if base is not None:
    st.caption(
        f"{n_runs} runs of {steps} steps: {len(lambdas)} λ settings × {len(seeds)} seeds, plus source only "
        f"and the target oracle on the same seeds."
    )


def progress_view() -> None:
    """Progress of the running sweep; a full rerun when it ends draws the results."""
    current = manager.get(st.session_state.get("sweep_job"))
    if current is None:
        return
    manager.watch(current, session_id())  # a sweep whose every watcher has left is stopped
    if current.status == QUEUED:
        st.info(
            f"Waiting for a free trainer: {manager.queue_position(current)} run(s) ahead of this sweep.",
            icon=":material/hourglass:",
        )
    else:
        st.progress(current.fraction, text=f"Training the sweep: {current.fraction:.0%} of all steps")
    if current.done:
        st.rerun()


def draw_results(job: SweepJob) -> None:
    runs = job.runs
    if job.status == STOPPED:
        if runs is None or runs.empty:  # stopped while it waited for a trainer, or before any run ended
            st.warning("Stopped before any run of the sweep finished: nothing to show.", icon=":material/stop_circle:")
            return
        st.warning(f"Stopped: {len(runs)} finished runs are shown.", icon=":material/stop_circle:")
    if runs is None or runs.empty:
        return
    for row in runs[runs["note"] != ""].itertuples():
        st.warning(
            f"{row.mode}, λ {row[1]}, seed {row.seed}: {row.note}; left out of the means.", icon=":material/warning:"
        )
    summary = summarise_sweep(runs)
    c = job.base
    st.subheader(
        f"{DATASET_LABELS.get(c.dataset, c.dataset)}, {c.steps} steps per run"
        + (" (from the cache: this sweep was trained before)" if job.from_cache else "")
    )
    st.plotly_chart(plots.sweep_accuracy_figure(summary), key="sweep_accuracy")
    st.caption(CAPTIONS["accuracy"])
    st.plotly_chart(plots.sweep_domain_figure(summary), key="sweep_domain")
    st.caption(CAPTIONS["domain"])
    st.subheader("Mean ± standard deviation over seeds")
    st.dataframe(summary.round(4), hide_index=True)
    st.download_button(
        "Download every run (CSV)",
        runs.to_csv(index=False),
        f"dann_sweep_{c.dataset}.csv",
        "text/csv",
        icon=":material/download:",
    )


if job is None or not isinstance(job, SweepJob):
    st.info(
        "Choose a data set, the λ values and the seeds on the left, then press **Run sweep**. Every run "
        "trains in the background; identical sweeps come from the cache.",
        icon=":material/arrow_back:",
    )
elif job.status == FAILED:
    st.error(markdown_literal(job.error), icon=":material/error:")
elif job.done:
    draw_results(job)
else:
    st.fragment(run_every=0.5)(guarded(progress_view))()
