"""Feature maps: source against target features, source-only against DANN against no reversal."""

import streamlit as st

from dann_demo.config import Spec, specs
from dann_demo.datasets import load_pair
from dann_demo.jobs import FAILED, Job
from dann_demo.views import exports, plots
from dann_demo.views.compare import (
    comparison_configs,
    comparison_table,
    lambda_setting,
    map_chain,
    mixing_curve,
    project_in_background,
    ready_steps,
)
from dann_demo.views.embed import ProjectionSettings
from dann_demo.views.text import markdown_literal
from pages.linking import link_notes, read_link, room_gate, write_link
from pages.server import guarded, job_manager, require_navigation, session_alive, session_id
from pages.settings import METHOD_LABELS, MODE_LABELS, draw_widget, mode_title, run_settings
from pages.summary import percent

FIGURES: dict = {}  # this run of the script's figures, for the HTML download
TSNE_NOTE = (
    "**How to read these maps.** Each point is one held-out example's feature vector (the feature extractor's "
    "output), squeezed to 2-D. Look at **how well source (circles) and target (triangles) mix**. In t-SNE and "
    "UMAP the sizes of clusters and the distances between them mean little (Wattenberg et al., *How to Use "
    "t-SNE Effectively*, Distill 2016); PCA keeps distances but shows only two directions. **The axes**: at "
    "step 0 the compared runs have the same weights, so the same features, and one projection draws them all "
    "(the panels are identical). Each later step is projected from that run's own features, started from the "
    "step before and turned (rotated or mirrored, and for t-SNE and UMAP scaled) onto it, so the picture does "
    "not jump; the axes themselves carry no meaning, and positions in two panels are not comparable."
)

# The page's own settings, in the URL beside the run settings (widget keys maps_<name>): (Spec, default).
# The projection's come from ProjectionSettings' own Specs, with the page's narrower ranges.
_PROJECTION = specs(ProjectionSettings)
PAGE_PARAMS = {
    "oracle": (Spec("bool", label="Also train the target oracle (upper bound)"), False),
    "method": (_PROJECTION["method"], "pca"),
    "perplexity": (Spec("float", 5.0, 100.0, label="Perplexity", step=1.0, widget="slider"), 30.0),
    "n_neighbors": (Spec("int", 2, 100, label="n_neighbors", widget="slider"), 15),
    "min_dist": (_PROJECTION["min_dist"], 0.1),
    "points": (Spec("int", 50, 500, label="Points per domain", step=50, widget="slider"), 300),
    "colour": (Spec("choice", choices=("domain", "class"), label="Colour by", widget="radio"), "domain"),
    "errors": (Spec("bool", label="Mark misclassified target points"), False),
}

require_navigation()
st.title("Feature maps")
room_gate("features")
st.caption("The paper's most telling picture: features of source and target before and after adaptation.")
manager = job_manager()
me = session_id()
read_link("maps", PAGE_PARAMS)
for name, (_, default) in PAGE_PARAMS.items():
    st.session_state.setdefault(f"maps_{name}", default)


def page_widget(name: str):
    return draw_widget(name, PAGE_PARAMS[name][0], f"maps_{name}")


with st.sidebar:
    st.header("Runs to compare")
    base, error = run_settings("maps", choose_mode=False)
    include_oracle = page_widget("oracle")
    st.header("Projection")
    method = page_widget("method")
    perplexity, n_neighbors, min_dist = 30.0, 15, 0.1
    if method == "tsne":
        perplexity = page_widget("perplexity")
    if method == "umap":
        n_neighbors = page_widget("n_neighbors")
        min_dist = page_widget("min_dist")
    per_domain = page_widget("points")
    colour_by = page_widget("colour")
    mark_errors = page_widget("errors")
if base is not None:
    page_values = {name: st.session_state[f"maps_{name}"] for name in PAGE_PARAMS}
    write_link(
        "maps",
        base,
        exclude=("mode",),
        extra={name: PAGE_PARAMS[name][0].format(v) for name, v in page_values.items() if v != PAGE_PARAMS[name][1]},
    )
link_notes("maps")

if st.button("Train and compare", type="primary", icon=":material/compare:", disabled=base is None):
    jobs = [manager.submit(c, watcher=me) for c in comparison_configs(base, include_oracle)]
    st.session_state["maps_jobs"] = [j.id for j in jobs]
if error:
    st.error(markdown_literal(error), icon=":material/error:")

jobs: list[Job] = [j for j in map(manager.get, st.session_state.get("maps_jobs", [])) if j is not None]
settings = ProjectionSettings(
    method=method,
    perplexity=perplexity,
    n_neighbors=n_neighbors,
    min_dist=min_dist,
    points_per_domain=per_domain,
    seed=jobs[0].config.seed if jobs else 0,
)


@st.fragment(run_every=0.5)
@guarded
def training_progress() -> None:
    """Progress of the compared runs; a full rerun draws the maps once they have all ended."""
    for job in jobs:
        manager.watch(job, me)
        st.progress(job.fraction, text=f"{MODE_LABELS[job.config.mode]}: {job.status}, step {job.step}")
    if all(j.done for j in jobs):
        st.rerun()


def map_runs(finished: list[Job], chains, steps: list[int]) -> list[plots.MapRun]:
    runs = []
    for job, chain in zip(finished, chains, strict=True):
        snaps, i = job.result.snapshots, chain.index
        final = snaps[steps[-1]]
        runs.append(
            plots.MapRun(
                title=mode_title(job.config.mode),
                domain=final.domain[i],
                label=final.label[i],
                predicted={s: snaps[s].predicted[i] for s in steps},
                maps={s: chain.maps[s] for s in steps},
            )
        )
    return runs


@st.fragment(run_every=0.5)
@guarded
def maps_view(finished: list[Job]) -> None:
    """The maps of every step that is projected (the background fills the rest, and this redraws
    until all are in); Play and the step slider run in the browser."""
    chains = [map_chain(job.result, settings) for job in finished]
    project_in_background(chains, manager.idle_cores, wanted=lambda: session_alive(me), owner=me)
    steps = ready_steps(chains)
    total = len(finished[0].result.snapshots)
    if not steps:
        st.info(f"Projecting the first snapshot with {METHOD_LABELS[method]}…", icon=":material/hourglass:")
        return
    if len(steps) < total:
        st.caption(
            f":material/hourglass: {METHOD_LABELS[method]} maps of {len(steps)} of {total} snapshots are ready; "
            "the rest are being projected in the background and join the slider as they come."
        )
    fig = plots.feature_maps_figure(map_runs(finished, chains, steps), steps, colour_by, mark_errors)
    FIGURES[f"maps_{method}"] = fig
    st.plotly_chart(fig, key="maps_animation", config=plots.CHART_CONFIG)
    if len(steps) == total:
        st.rerun(scope="app")  # all there: draw them once more outside the timer, which stops


def draw_maps(finished: list[Job]) -> None:
    chains = [map_chain(job.result, settings) for job in finished]
    if all(c.complete for c in chains):
        steps = ready_steps(chains)
        fig = plots.feature_maps_figure(map_runs(finished, chains, steps), steps, colour_by, mark_errors)
        FIGURES[f"maps_{method}"] = fig
        st.plotly_chart(fig, key="maps_animation", config=plots.CHART_CONFIG)
    else:
        maps_view(finished)
    st.caption(
        "Press **Play** to watch training, or drag the step slider: with DANN the two clouds merge, without "
        "the reversal they stay apart. Each map is one network's own features at that step."
    )
    names = {mode_title(j.config.mode): mixing_curve(j.result) for j in finished}
    fig = plots.mixing_figure(names)
    FIGURES["mixing"] = fig
    st.plotly_chart(fig, key="maps_mixing", config=plots.CHART_CONFIG)
    st.caption(
        "The number beside the picture: a fresh k-nearest-neighbour classifier, trained after the fact on half of "
        "each snapshot's held-out features, tells source from target on the other half. 50% means the features "
        "no longer show the domain; unlike the trained domain classifier, this probe was never fought against."
    )
    columns = st.columns(len(finished))
    for col, job in zip(columns, finished, strict=True):
        m = job.result.metrics
        col.markdown(
            f"**{mode_title(job.config.mode)}**: target acc. **{percent(m['target_acc'])}** · domain classifier "
            f"**{m['domain_acc']:.1%}** · fresh probe **{m['probe_acc']:.1%}** · PAD **{m['pad']:.2f}**",
            help="Final step. Domain classifier: the trained adversary (50% = guessing). Fresh probe: a new "
            "classifier on the features (50% = mixed). PAD: proxy A-distance (0 mixed, 2 separable).",
        )


def draw_comparison(finished: list[Job]) -> None:
    draw_maps(finished)
    st.info(TSNE_NOTE, icon=":material/lightbulb:")
    pair = load_pair(finished[0].config)
    if pair.has_input_plane:
        st.subheader("Input space: decision boundaries side by side")
        for which in ("class", "domain"):
            for col, job in zip(st.columns(len(finished)), finished, strict=True):
                title = mode_title(job.config.mode)
                fig = plots.input_plane_figure(job.result.input_plane, pair, title, panels=(which,))
                FIGURES[f"input_{which}_{job.config.mode}"] = fig
                col.plotly_chart(fig, key=f"plane_{which}_{job.id}", config=plots.CHART_CONFIG)
        st.caption(
            "Top: label classifiers' boundaries. Bottom: domain classifiers' outputs. With DANN the label "
            "boundary follows the rotated target, and the domain classifier cannot draw a line between "
            "the domains."
        )
    st.subheader("The compared runs")
    table = comparison_table([j.result for j in finished])
    st.dataframe(table, hide_index=True)
    left, right = st.columns(2)
    left.download_button(
        "Download CSV", table.to_csv(index=False), "dann_comparison.csv", "text/csv", icon=":material/download:"
    )
    figures = dict(FIGURES)
    right.download_button(
        "Figures (HTML, zip)",
        lambda: exports.figures_zip(figures),
        "dann_comparison_figures.zip",
        "application/zip",
        icon=":material/bar_chart:",
        on_click="ignore",
        help="These maps and boundaries as interactive charts that open offline.",
    )


if not jobs:
    st.info(
        "Pick a data set on the left and press **Train and compare**: source only, DANN and no reversal are "
        "trained on the same data, seed and initial weights (runs trained before come from the cache).",
        icon=":material/arrow_back:",
    )
elif not all(j.done for j in jobs):
    training_progress()
else:
    for job in jobs:
        if job.status == FAILED:
            st.error(f"{MODE_LABELS[job.config.mode]}: {job.error}", icon=":material/error:")
    finished = [j for j in jobs if j.result is not None and j.result.snapshots]
    if finished:
        st.caption("Runs: " + "; ".join(f"{j.config.mode} (λ: {lambda_setting(j.config)})" for j in finished))
        draw_comparison(finished)
