"""AppTest: rooms and the Class page. Three students in one room with different lambdas, one outside it,
and codes that open nothing."""

import json
import time

import pytest
from streamlit.testing.v1 import AppTest

from tests.conftest import ROOT
from tests.waiting import shown


@pytest.fixture(autouse=True)
def fresh_server():
    """A server of this test's own: a new job manager (the last one's runs stop as it is released) and new
    rooms, so that whether the server is busy with a class (the pages' pace) is this test's doing alone."""
    from pages import server

    server.job_manager.clear()
    server.class_rooms.clear()
    yield
    server.job_manager.clear()
    server.class_rooms.clear()


def _page(page: str, query: dict | None = None) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.switch_page(page)
    for k, v in (query or {}).items():
        at.query_params[k] = v
    at.run()
    assert not at.exception, at.exception
    return at


def _open_room(teacher: AppTest, **limits) -> str:
    """The teacher opens a room. Every AppTest session is the same "test session id", so the class's students
    here are one owner to the room: it lets them have a run each at once (the default is one per student)."""
    from dann_demo.classroom.room_limits import RoomLimits
    from pages.server import class_rooms

    next(b for b in teacher.sidebar.button if b.label == "Open a new room").click().run()
    code = teacher.query_params["room"]
    key = teacher.session_state["class_keys"][code]
    class_rooms().set_limits(code, key, RoomLimits(**{"runs_per_student": 20, **limits}))
    return code


def _values(array) -> list:
    """A Plotly array from a chart's JSON: a list, or (Plotly 6 and later) base64-packed numbers."""
    if isinstance(array, dict):
        import base64

        import numpy as np

        return np.frombuffer(base64.b64decode(array["bdata"]), dtype=array["dtype"]).tolist()
    return list(array)


def _student(code: str | None, nickname: str, **settings) -> AppTest:
    query = {"steps": "200", "n_samples": "150", **settings, **({"room": code} if code else {})}
    at = _page("pages/train.py", query)
    # The data's chart before a run, except in a room: a class's 30 pages draw less.
    assert len(at.get("plotly_chart")) == (0 if code else 1)
    if code:
        at.sidebar.text_input(key="train_nickname").set_value(nickname)
        at.run()
    next(b for b in at.button if b.label == "Train").click().run()
    assert not at.exception
    return at


def test_three_students_in_a_room_appear_on_the_class_page_and_an_outsider_does_not():
    from pages.server import job_manager

    teacher = _page("pages/classroom.py")
    code = _open_room(teacher)
    assert len(code) == 8 and any(code in s.value for s in teacher.subheader)
    students = [
        _student(code, f"ada<b>{i}</b>", seed=str(60 + i), lambda_schedule="constant", lambda_value=lam)
        for i, lam in enumerate(("0.1", "1", "3"))
    ]
    assert all(any("room" in s.value for s in st.sidebar.success) for st in students)
    outsider = _student(None, "", seed="70", lambda_schedule="constant", lambda_value="0.3")
    jobs = [job_manager().get(a.session_state["train_job"]) for a in (*students, outsider)]
    deadline = time.time() + 120
    while not all(j.done for j in jobs) and time.time() < deadline:
        time.sleep(0.2)
    assert all(j.done for j in jobs)
    teacher.run()
    assert not teacher.exception
    table = teacher.dataframe[0].value
    assert list(table["lambda"]) == ["0.1", "1", "3"] and list(table["state"]) == ["finished"] * 3
    assert list(table["nickname"]) == ["ada<b>0</b>", "ada<b>1</b>", "ada<b>2</b>"]  # kept as plain text
    assert list(table["target_acc"]) == [j.result.metrics["target_acc"] for j in jobs[:3]]
    assert 70 not in list(table["seed"])  # the outsider's run is not the room's
    charts = [json.loads(c.proto.spec) for c in teacher.get("plotly_chart")]
    points = [x for trace in charts[0]["data"] for x in _values(trace.get("x", []))]
    assert sorted(points) == [0.1, 1.0, 3.0]  # target accuracy against lambda: three points
    assert any(d.label == "Download the room (CSV)" for d in teacher.get("download_button"))


def test_codes_that_open_no_room_get_a_clear_note():
    student = _page("pages/train.py", {"room": "nosuchroom"})
    assert any("room='nosuchroom' ignored: no such room" in shown(w.value) for w in student.warning)
    assert not student.sidebar.success  # not in a room: the run is the student's own
    teacher = _page("pages/classroom.py", {"room": "nosuchroom"})
    assert any("Room 'nosuchroom' was not found" in w.value for w in teacher.warning)
    assert not teacher.dataframe


def test_a_students_page_in_a_room_keeps_the_class_pace_from_its_first_run():
    """In a room the page shows the run's numbers in one line while it trains, even before the class's
    other runs start (one pace from Train to the end: no full rerun while it trains), and at the end its
    summary, with the charts a click away (a class's runs end together); a digits run as well as moons."""
    from pages.server import job_manager

    teacher = _page("pages/classroom.py")
    code = _open_room(teacher, max_steps=20_000)
    for dataset in ("moons", "digits"):
        at = _student(code, "", dataset=dataset, steps="20000", seed="71")
        job = job_manager().get(at.session_state["train_job"])
        deadline = time.time() + 60
        while not job.history and time.time() < deadline:
            time.sleep(0.05)
        at.run()
        lines = [m.value for m in at.markdown if "A class shares this server" in m.value]
        assert len(lines) == 1 and lines[0].startswith("**Step ") and not at.get("plotly_chart"), dataset
        assert job_manager().in_progress_count() < 6  # a class's pace, though the server is not busy
        next(b for b in at.button if b.label == "Stop").click().run()
        while not job.done and time.time() < deadline:
            time.sleep(0.05)
        at.run()
        assert job.done and not any("A class shares" in m.value for m in at.markdown)
        assert at.get("metric") and not at.get("plotly_chart")  # the summary; the charts wait for a click
        assert any(e.label == "Decision boundary and training curves" for e in at.expander)
        at.session_state["train_charts"] = True  # the student opens the expander
        at.run()
        assert len(at.get("plotly_chart")) >= 5, dataset


def test_a_students_room_entry_follows_the_copy_they_steer(monkeypatch):
    """Two students of a room on the same settings share one run; the one who moves lambda gets a copy of
    it, and their entry in the room names the copy, while the other's still names the shared run."""
    import pages.server
    from pages.server import class_rooms, job_manager
    from tests.waiting import wait_until

    me = {"id": "teacher"}  # AppTest gives every page one session id: these are two students' own
    monkeypatch.setattr(pages.server, "session_id", lambda: me["id"])
    teacher = _page("pages/classroom.py")
    code = _open_room(teacher, max_steps=100_000)
    settings = {"steps": "100000", "seed": "71", "lambda_schedule": "constant", "lambda_value": "0.5"}
    me["id"] = "a"
    a = _student(code, "a", **settings)
    me["id"] = "b"
    b = _student(code, "b", **settings)
    manager = job_manager()
    shared = manager.get(a.session_state["train_job"])
    assert b.session_state["train_job"] == shared.id
    wait_until(lambda: shared.step > 0, what="the shared run to start")
    slider = next(s for s in b.sidebar.slider if s.label.startswith("λ"))
    slider.set_value(2.0).run()
    assert not b.exception
    copy = manager.get(b.session_state["train_job"])
    assert copy.id != shared.id and copy.lambda_value == 2.0
    entries = {e.nickname: e.job_id for e in class_rooms().entries(code)}
    assert entries == {"a": shared.id, "b": copy.id}
    teacher.run()
    assert not teacher.exception and len(teacher.dataframe[0].value) == 2
    for at, session in ((a, "a"), (b, "b")):
        me["id"] = session
        next(x for x in at.button if x.label == "Stop").click().run()
    wait_until(lambda: shared.done and copy.done, what="both runs to stop")


def test_the_students_link_uses_the_public_url_and_the_join_screen_shows_the_code(monkeypatch):
    monkeypatch.setenv("DANN_PUBLIC_URL", "https://dann.example.org/lab")
    teacher = _page("pages/classroom.py")
    code = _open_room(teacher)
    assert teacher.code[0].value == f"https://dann.example.org/lab/?room={code}"
    next(b for b in teacher.button if b.label == "Show the join screen").click().run()
    assert not teacher.exception
    assert len(teacher.get("image")) == 1  # the QR code
    assert any(f">{code}</div>" in h.proto.body for h in teacher.get("html"))  # the code in large type
    assert any(f"https://dann.example.org/lab/?room={code}" in m.value for m in teacher.markdown)
    assert not teacher.dataframe and not teacher.code  # the projector sees the join screen alone
    next(b for b in teacher.button if b.label == "Back to the class").click().run()
    assert teacher.code[0].value.endswith(f"?room={code}")


def test_a_student_who_opens_the_link_again_sees_their_run_and_a_taken_nickname_is_told():
    from pages.server import job_manager

    teacher = _page("pages/classroom.py")
    code = _open_room(teacher)
    ada = _student(code, "Ada", seed="81", steps="300")
    run = ada.query_params["run"]
    assert run == ada.session_state["train_job"]
    # The same link in a new session (a reload): the page shows that run, and enters no second one.
    again = _page("pages/train.py", dict(ada.query_params))
    assert again.session_state["train_job"] == run
    job = job_manager().get(run)
    deadline = time.time() + 120
    while not job.done and time.time() < deadline:
        time.sleep(0.2)
    again.run()
    assert any(m.label == "Target accuracy" for m in again.metric)
    teacher.run()
    assert len(teacher.dataframe[0].value) == 1
    # Another student types the same nickname: told. (AppTest gives every session one id, so the other
    # student's run is entered as another browser session's would be.)
    from pages.server import class_rooms

    class_rooms().add_run(code, "another browser session", "Ada", run)
    grace = _page("pages/train.py", {"room": code, "steps": "200", "n_samples": "150", "seed": "82"})
    grace.sidebar.text_input(key="train_nickname").set_value("ada").run()
    assert any("Someone else in this room goes by **ada**" in w.value for w in grace.sidebar.warning)
    # A link whose run the server no longer has says so.
    gone = _page("pages/train.py", {"room": code, "run": "no-such-run"})
    assert any("no longer on the server" in w.value for w in gone.warning)
    assert "run" not in gone.query_params


def test_a_reloaded_digits_run_is_found_again_with_its_images():
    """The run in the URL is a job id, whatever the data: an image run reloads as a moons one does."""
    from pages.server import job_manager

    teacher = _page("pages/classroom.py")
    code = _open_room(teacher)
    grace = _student(code, "Grace", dataset="digits", steps="40", seed="83")
    run = grace.query_params["run"]
    job = job_manager().get(run)
    assert job.config.dataset == "digits"
    deadline = time.time() + 120
    while not job.done and time.time() < deadline:
        time.sleep(0.2)
    again = _page("pages/train.py", dict(grace.query_params))
    assert again.session_state["train_job"] == run and again.query_params["run"] == run
    assert any(m.label == "Target accuracy" for m in again.metric)
    teacher.run()
    assert len(teacher.dataframe[0].value) == 1
