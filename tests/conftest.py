import logging
import os
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]

# The app compiles UMAP in the background at start-up; the tests never draw UMAP through the app.
os.environ["DANN_WARM_UP"] = "0"
# Small models on 2 cores: one intra-op thread is faster and keeps runs reproducible.
torch.set_num_threads(1)


class _Collect(logging.Handler):
    def __init__(self):
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@pytest.fixture(autouse=True)
def no_streamlit_deprecations():
    """Streamlit reports a deprecated call (say `use_container_width`) through its logger, not as a
    DeprecationWarning: a page that makes one fails the test that ran it."""
    handler = _Collect()
    logger = logging.getLogger("streamlit.deprecation_util")
    logger.addHandler(handler)
    yield
    logger.removeHandler(handler)
    assert not handler.messages, f"deprecated Streamlit call: {handler.messages[0]}"


@pytest.fixture
def quick_moons():
    """A short moons config that still learns something (kept fast)."""
    from dann_demo import RunConfig

    return RunConfig.for_dataset("moons", steps=300, log_every=50, n_samples=200)
