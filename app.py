"""DANN Playground: entry point. Page config, navigation over pages/, and the shared sidebar."""

import logging
from pathlib import Path

import streamlit as st

import dann_demo  # noqa: F401 - before torch and scikit-learn load: its OpenMP setting
from pages.server import device_caption, store_errors, store_lost, warm_up

# The tab icon is a file of ours: a ":material/...:" icon would make the browser fetch it from an outside host.
ICON = Path(__file__).resolve().parent / "assets" / "icon.png"
st.set_page_config(page_title="DANN Playground", page_icon=str(ICON), layout="wide")

pages = [
    st.Page("pages/train.py", title="Train live", icon=":material/play_circle:", default=True),
    st.Page("pages/features.py", title="Feature maps", icon=":material/scatter_plot:"),
    st.Page("pages/sweep.py", title="Lambda sweep", icon=":material/tune:"),
    st.Page("pages/classroom.py", title="Class", icon=":material/groups:"),
    st.Page("pages/how_it_works.py", title="How it works", icon=":material/school:"),
]
page = st.navigation(pages)

# The job manager's batches and failures in the server's log (the load test reads the batches there).
library_log = logging.getLogger("dann_demo")
if not library_log.handlers:
    library_log.setLevel(logging.INFO)
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s: %(message)s"))
    library_log.addHandler(handler)

with st.sidebar:
    st.caption(device_caption())
    with st.expander("What is this?", icon=":material/help:"):
        st.markdown(
            "A **domain-adversarial neural network** (DANN, Ganin & Lempitsky 2015) learns to classify a "
            "labelled *source* domain while a **domain classifier** tries to tell source from *target* "
            "features. The **gradient reversal layer** turns that classifier's gradient around, so the "
            "feature extractor learns features the domain classifier cannot separate, and the label "
            "classifier then works on the unlabelled target too. **lambda** sets how hard the reversal "
            "pushes."
        )
try:
    warm_up()
    page.run()
except store_errors() as error:  # a class on Redis whose Redis is away: say so, try again; no traceback
    store_lost(error)
