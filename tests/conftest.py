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


@pytest.fixture(autouse=True)
def rooms_for_every_test(monkeypatch):
    """Every AppTest session is "test session id", so the whole suite is one opener of rooms: the rate
    limit of one browser (tests/test_rooms.py tests it) would refuse the suite's later rooms."""
    from dann_demo.classroom import rooms

    monkeypatch.setattr(rooms, "ROOMS_PER_OPENER_PER_HOUR", 10_000)


@pytest.fixture
def quick_moons():
    """A short moons config that still learns something (kept fast)."""
    from dann_demo import RunConfig

    return RunConfig.for_dataset("moons", steps=300, log_every=50, n_samples=200)


@pytest.fixture(scope="session")
def redis_url():
    """One real redis-server for the tests that share it (each uses keys under its own prefix)."""
    from tests.redis_server import REDIS_SERVER, RedisServer

    if not os.path.exists(REDIS_SERVER):
        pytest.skip("Debian's redis-server is missing (make test installs it)")
    server = RedisServer().start()
    yield server.url
    server.stop()


@pytest.fixture(scope="session")
def app_url(tmp_path_factory):
    """One real server for every browser test (starting one costs seconds). Its data folder holds small
    MNIST files, so an MNIST link can train."""
    from tests.browser import start_app
    from tests.test_mnist import write_mnist

    data = tmp_path_factory.mktemp("browser-data")
    write_mnist(data)
    proc, url = start_app({"DANN_DATA_DIR": str(data)})
    yield url
    proc.terminate()
    proc.wait(timeout=20)


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    from tests.browser import CHROMIUM, CHROMIUM_ARGS

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()
