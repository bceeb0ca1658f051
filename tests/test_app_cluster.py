"""AppTest: the pages of a class on Redis (DANN_REDIS_URL), trained by a worker. Students in a room train
moons and digits; the Class page lists them, and still does after the app process restarts; a page whose
Redis is away says so, with no traceback."""

from __future__ import annotations

import threading
import time

import pytest

from tests.redis_server import RedisServer, fresh_prefix, needs_redis
from tests.test_app_class import _open_room, _page

pytestmark = needs_redis


def _fresh_process_state() -> None:
    """What an app process holds of the class, dropped as a restart drops it (the rest is in Redis)."""
    from pages import server

    try:
        manager = server.job_manager() if server.REDIS_URL else None
    except Exception:  # noqa: BLE001 - Redis away: no manager was made
        manager = None
    if manager is not None:
        manager.close()
    for cached in (server.job_manager, server.class_rooms, server.shared_store):
        cached.clear()


@pytest.fixture
def cluster(redis_url, monkeypatch):
    """This test process as one app process of a class on Redis, and a worker training in a thread."""
    from dann_demo.jobs.worker import Worker
    from pages import server

    prefix = fresh_prefix()
    monkeypatch.setattr(server, "REDIS_URL", redis_url)
    monkeypatch.setattr(server, "REDIS_PREFIX", prefix)
    monkeypatch.setenv("DANN_REDIS_PREFIX", prefix)
    _fresh_process_state()
    worker = Worker(redis_url, name="in-test")
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    yield redis_url
    worker.trainers.stop_all()  # what it still trains (the room's reference runs) stops with the test
    worker.stop()
    thread.join(timeout=10)
    _fresh_process_state()


def test_a_room_of_moons_and_digits_on_redis_survives_an_app_restart(cluster):
    from pages.server import job_manager

    teacher = _page("pages/classroom.py")
    code = _open_room(teacher)
    students = []
    for nickname, dataset in (("ada", "moons"), ("bea", "digits")):
        at = _page("pages/train.py", {"room": code, "dataset": dataset, "steps": "200", "seed": "3"})
        at.sidebar.text_input(key="train_nickname").set_value(nickname)
        at.run()
        next(b for b in at.button if b.label == "Train").click().run()
        assert not at.exception, at.exception
        students.append(at)
    jobs = [at.session_state["train_job"] for at in students]
    deadline = time.time() + 120
    while not all(job_manager().get(j).done for j in jobs) and time.time() < deadline:
        time.sleep(0.2)
    ended = [job_manager().get(j) for j in jobs]
    assert [j.status for j in ended] == ["finished"] * 2, [j.error for j in ended]
    _fresh_process_state()  # the app process restarts mid-class
    again = _page("pages/classroom.py", {"room": code})
    table = again.dataframe[0].value
    assert list(table["nickname"]) == ["ada", "bea"]
    assert list(table["state"]) == ["finished"] * 2
    assert list(table["target_acc"]) == [j.result.metrics["target_acc"] for j in ended]
    student = _page("pages/train.py", {"room": code, "dataset": "digits", "steps": "200", "seed": "3", "run": jobs[1]})
    assert student.get("metric"), "the student's digits run is found again from its link"


def test_a_page_whose_redis_is_away_says_so_without_a_traceback(monkeypatch):
    from pages import server

    monkeypatch.setattr(server, "REDIS_URL", f"redis://127.0.0.1:{RedisServer().port}/0")  # nobody there
    _fresh_process_state()
    try:
        for page in ("pages/train.py", "pages/classroom.py"):
            # Through app.py, as a served page always runs (AppTest runs a page on its own after its
            # first switch to st.navigation: require_navigation's note).
            monkeypatch.setattr(server, "_navigation_forced", False)
            at = _page(page)
            assert any("cannot be reached" in e.value for e in at.error), page
    finally:
        _fresh_process_state()


def test_a_manager_dropped_from_the_cache_stops_its_watch_beat(redis_url, monkeypatch):
    """A server that runs all day: a released app-process manager leaves no thread behind."""
    from pages import server

    monkeypatch.setattr(server, "REDIS_URL", redis_url)
    monkeypatch.setattr(server, "REDIS_PREFIX", fresh_prefix())
    server.job_manager.clear()
    beat = server.job_manager().queue.beat
    assert beat.alive
    server.job_manager.clear()
    assert not beat.alive
    server.shared_store.clear()
