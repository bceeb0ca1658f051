import os
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# The app compiles UMAP in the background at start-up; the tests never draw UMAP through the app.
os.environ["DANN_WARM_UP"] = "0"
# Small models on 2 cores: one intra-op thread is faster and keeps runs reproducible.
torch.set_num_threads(1)


@pytest.fixture
def quick_moons():
    """A short moons config that still learns something (kept fast)."""
    from dann_demo import RunConfig

    return RunConfig.for_dataset("moons", steps=300, log_every=50, n_samples=200)
