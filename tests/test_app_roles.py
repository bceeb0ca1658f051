"""AppTest: a room only its teacher runs. The students' view has no control that changes the room, the
teacher link brings the controls back, the room's limits reach a student however the page is opened, and
a room with runs in it is not pushed out by others opening rooms."""

import pytest

from dann_demo.classroom import rooms
from dann_demo.classroom.room_limits import RoomLimits
from tests.test_app_class import _page
from tests.waiting import shown


@pytest.fixture
def fresh_rooms():
    """This test's rooms alone (the server's registry is shared by every AppTest of the process)."""
    from pages import server

    server.class_rooms.clear()
    yield server.class_rooms()
    server.class_rooms.clear()


def _teacher_room(**limits) -> tuple:
    teacher = _page("pages/classroom.py")
    next(b for b in teacher.sidebar.button if b.label == "Open a new room").click().run()
    code = teacher.query_params["room"]
    key = teacher.session_state["class_keys"][code]
    if limits:
        from pages.server import class_rooms

        class_rooms().set_limits(code, key, RoomLimits(**limits))
    return teacher, code, key


def _labels(at) -> set[str]:
    return {b.label for b in at.button} | {e.label for e in at.expander} | {d.label for d in at.get("download_button")}


def test_the_students_view_has_no_control_and_the_teacher_link_brings_them_back(fresh_rooms):
    teacher, code, key = _teacher_room()
    assert {"Save the room's limits", "Show the join screen"} <= {b.label for b in teacher.button} | {
        b.label for b in teacher.get("form_submit_button")
    }
    assert key not in str(teacher.query_params)  # never in the address the projector shows
    student = _page("pages/classroom.py", {"room": code})
    assert not _labels(student) & {"Show the join screen", "The room's limits", "My teacher link",
                                    "Download the room (CSV)", "Close the room"}  # fmt: skip
    assert not student.get("form_submit_button") and any("read only" in c.value for c in student.caption)
    with pytest.raises(rooms.NotTeacher):
        fresh_rooms.close(code, student.session_state["class_keys"].get(code))
    back = _page("pages/classroom.py", {"room": code, "key": key})  # the teacher on another machine
    assert "key" not in back.query_params and back.session_state["class_keys"][code] == key
    assert "Show the join screen" in {b.label for b in back.button}
    wrong = _page("pages/classroom.py", {"room": code, "key": key[:-2] + "xx"})
    assert any("does not open this room's controls" in w.value for w in wrong.warning)
    assert "Show the join screen" not in {b.label for b in wrong.button}


def test_a_room_with_runs_stays_when_others_open_rooms_and_the_last_one_is_refused(fresh_rooms, monkeypatch):
    monkeypatch.setattr(rooms, "MAX_ROOMS", 5)  # the library's test opens 100 against the real 50
    teacher, code, key = _teacher_room()
    student = _page("pages/train.py", {"room": code, "steps": "100", "n_samples": "100", "seed": "3"})
    next(b for b in student.button if b.label == "Train").click().run()
    job = student.session_state["train_job"]
    other = _page("pages/classroom.py")
    errors = []
    for _ in range(10):
        next(b for b in other.sidebar.button if b.label == "Open a new room").click().run()
        errors += [e.value for e in other.sidebar.error]
    assert len(fresh_rooms) == 5 and errors and "All 5 rooms of this server are in use" in errors[-1]
    assert [e.job_id for e in fresh_rooms.entries(code)] == [job] and fresh_rooms.is_teacher(code, key)


def test_a_student_gets_the_rooms_limits_from_an_edited_link_and_on_the_sweep_page(fresh_rooms):
    from pages.server import job_manager

    _, code, _ = _teacher_room(datasets=("moons",), max_steps=3000, pages=("features",))
    student = _page("pages/train.py", {"room": code, "dataset": "digits", "steps": "50000", "seed": "8"})
    config = student.session_state["train_config"]
    assert (config.dataset, config.steps) == ("moons", 3000)
    assert any("This room trains on moons only" in i.value for i in student.info)
    long = _page("pages/train.py", {"room": code, "dataset": "moons", "steps": "50000"})
    assert long.session_state["train_config"].steps == 3000
    assert any("at most 3000 steps a run: 50000 became 3000" in i.value for i in long.info)
    next(b for b in student.button if b.label == "Train").click().run()
    run = job_manager().get(student.session_state["train_job"])
    assert (run.config.dataset, run.config.steps) == ("moons", 3000)
    job_manager().stop(run)
    sweep = _page("pages/sweep.py", {"room": code})
    assert any("Lambda sweep page is off in room" in w.value for w in sweep.warning)
    assert not [b for b in sweep.button if b.label.startswith("Run the sweep")]
    maps = _page("pages/features.py", {"room": code})
    assert not any("is off in room" in w.value for w in maps.warning)


def test_nicknames_and_codes_are_shown_as_typed(fresh_rooms):
    teacher, code, _ = _teacher_room(runs_per_student=20)
    for nickname in ("[x](http://e.x)", "**big**"):
        at = _page("pages/train.py", {"room": code, "steps": "50", "n_samples": "100"})
        at.sidebar.text_input(key="train_nickname").set_value(nickname).run()
        next(b for b in at.button if b.label == "Train").click().run()
    teacher.run()
    nicknames = [shown(n) for n in teacher.dataframe[0].value["nickname"]]
    assert nicknames == ["[x](http://e.x)", "**big**"]
    lost = _page("pages/classroom.py", {"room": "**bold**"})
    assert any("Room '\\*\\*bold\\*\\*' was not found" in w.value for w in lost.warning)
