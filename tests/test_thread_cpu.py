"""Per-thread CPU (scripts/thread_cpu.py): a training thread's time counts as training, the rest as the rest."""

import sys
import threading
import time

import pytest

from dann_demo.jobs.trainers import TRAINER_THREAD_NAME, name_trainer_thread
from tests.conftest import ROOT

sys.path.insert(0, str(ROOT / "scripts"))
import thread_cpu  # noqa: E402

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread CPU times are Linux's /proc")


def spin(seconds: float, name_it: bool, named: threading.Event) -> None:
    if name_it:
        name_trainer_thread()
    named.set()
    end = time.thread_time() + seconds
    while time.thread_time() < end:  # CPU time, not wall time: it counts what it spent, however busy the box
        pass


def _only(look: thread_cpu.Look, tids: set[int]) -> thread_cpu.Look:
    """This test's own threads in a look: threads other tests left running (a trainer's pool, a server)
    neither add to its training nor to its rest."""
    mine = {tid: v for tid, v in look.threads.items() if tid in tids}
    return thread_cpu.Look(sum(cpu for _, cpu in mine.values()), mine)


def test_a_live_training_thread_is_split_from_the_rest():
    named, stop = threading.Event(), threading.Event()
    tids = {threading.get_native_id()}

    def train() -> None:
        name_trainer_thread()
        tids.add(threading.get_native_id())
        named.set()
        while not stop.is_set():
            pass

    trainer = threading.Thread(target=train)
    trainer.start()
    named.wait()
    assert TRAINER_THREAD_NAME.decode() == thread_cpu.TRAINING_THREAD
    before = _only(thread_cpu.Look.at(thread_cpu.os.getpid()), tids)
    assert any(name == "dann-job" for name, _ in before.threads.values()), before.threads
    spin(0.4, False, threading.Event())
    time.sleep(0.4)
    after = _only(thread_cpu.Look.at(thread_cpu.os.getpid()), tids)
    stop.set()
    trainer.join()
    training, rest = thread_cpu.training_and_rest(before, after)
    names = thread_cpu.by_name(before, after)
    assert training >= 0.3, names  # it span all along (0.8 s of wall time, the GIL shared with the main thread)
    assert rest >= 0.1, names  # the main thread's spin
    assert training + rest == pytest.approx(after.total - before.total)


def test_core_busy_is_a_fraction_per_core():
    before = thread_cpu.core_ticks()
    spin(0.2, False, threading.Event())
    busy = thread_cpu.core_busy(before, thread_cpu.core_ticks())
    assert len(busy) == len(before) >= 1 and all(0.0 <= b <= 1.0 for b in busy) and max(busy) > 0
