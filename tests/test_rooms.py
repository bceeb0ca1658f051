"""The contract of Rooms: every test runs against the rooms in memory and the rooms in Redis, so a class
behaves the same on one process and on a cluster."""

import time
from types import SimpleNamespace

import pytest

from dann_demo.classroom import rooms
from dann_demo.classroom.room_limits import RoomLimits

KINDS = ["memory", "redis"]


@pytest.fixture(params=KINDS)
def registry(request, monkeypatch):
    monkeypatch.setattr(rooms, "MAX_ROOMS", 3)
    monkeypatch.setattr(rooms, "MAX_RUNS_PER_ROOM", 2)
    if request.param == "memory":
        return rooms.MemoryRooms()
    from dann_demo.classroom.redis_rooms import RedisRooms
    from dann_demo.jobs.redis_store import RedisStore
    from tests.redis_server import fresh_prefix

    return RedisRooms(RedisStore(request.getfixturevalue("redis_url")).r, fresh_prefix())


def test_rooms_in_use_are_never_pushed_out_and_are_read_in_either_case(registry, monkeypatch):
    clock = [time.time()]
    monkeypatch.setattr(rooms, "time", SimpleNamespace(time=lambda: clock[0]))
    made = []
    for i in range(3):
        made.append(registry.create(f"teacher{i}")[0])
        clock[0] += 1
    with pytest.raises(rooms.RoomRefused, match="All 3 rooms of this server are in use"):
        registry.create("someone")
    assert len(registry) == 3 and all(registry.get(r.code) is not None for r in made)
    clock[0] += 2 * 3600  # two hours on: only the second room's page is still open
    registry.touch(made[1].code)
    fourth, _ = registry.create("someone")
    assert registry.get(made[0].code) is None  # the room idle longest gave way
    assert registry.get(made[1].code) is not None and registry.get(made[2].code) is not None
    assert len(registry) == 3
    assert registry.get(fourth.code.upper()).code == fourth.code
    assert registry.get(f"  {fourth.code} ").code == fourth.code
    assert set(rooms.CODE_ALPHABET).isdisjoint("01ilo") and len(fourth.code) == rooms.CODE_LENGTH


def test_entries_are_bounded_and_the_ended_go_first(registry):
    code = registry.create("teacher")[0].code
    for i in range(3):
        registry.add_run(code, f"s{i}", "x" * 100 + "\x07", f"job{i}", ended=lambda j: j == "job1")
    entries = registry.entries(code)
    assert [e.job_id for e in entries] == ["job0", "job2"] and entries[0].nickname == "x" * rooms.MAX_NICKNAME
    registry.add_run(code, "s3", "", "job3")  # none ended: the oldest goes
    assert [e.job_id for e in registry.entries(code)] == ["job2", "job3"]


def test_nicknames_are_labels_and_a_steered_run_moves_its_entry(registry):
    code = registry.create("teacher")[0].code
    registry.add_run(code, "session-a", "Ada", "job-1")
    assert registry.nickname_taken(code, " ADA ", "session-b")  # letter case and spaces aside
    assert not registry.nickname_taken(code, "Ada", "session-a") and not registry.nickname_taken(code, "", "b")
    registry.add_run(code, "session-b", "ada", "job-2")
    registry.replace_job("job-2", "copy-2", "session-b")
    registry.replace_job("job-1", "copy-x", "someone else")  # another session's entry does not move
    assert [e.job_id for e in registry.entries(code)] == ["job-1", "copy-2"]


@pytest.mark.parametrize(
    "code", ["nosuchroom", "", None, "abc", "abcdefgh:entries", "ABCDEFG0", "../../x", "a" * 10_000]
)
def test_a_value_that_is_no_rooms_code_is_not_found(registry, code):
    real = registry.create("teacher")[0].code
    assert registry.get(code) is None and registry.entries(code or "") == []
    assert registry.add_run(code or "", "s", "n", "j") is None
    assert registry.get(f"{real}:entries") is None  # another key of the room, never read as one


def test_a_room_ends_after_its_hours(registry, monkeypatch):
    code = registry.create("teacher")[0].code
    registry.add_run(code, "s", "n", "j")
    monkeypatch.setattr(rooms, "MAX_AGE_HOURS", -1.0)  # as if its hours were over
    assert registry.get(code) is None and registry.entries(code) == []
    assert registry.add_run(code, "s", "n", "j2") is None


def test_only_the_teacher_key_changes_a_room(registry):
    room, key = registry.create("teacher")
    assert len(key) >= 32 and key not in repr(room) and room.key_hash != key  # 192 bits, kept hashed
    registry.add_run(room.code, "s1", "Ada", "job-1")
    limits = RoomLimits(datasets=("moons",), max_steps=3000, pages=())
    for wrong in (None, "", "guess", key[:-1]):
        assert not registry.is_teacher(room.code, wrong)
        with pytest.raises(rooms.NotTeacher):
            registry.set_limits(room.code, wrong, limits)
        with pytest.raises(rooms.NotTeacher):
            registry.close(room.code, wrong)
        with pytest.raises(rooms.NotTeacher):
            registry.remove_entry(room.code, wrong, "job-1")
        with pytest.raises(rooms.NotTeacher):
            registry.teacher_entries(room.code, wrong)
    assert registry.get(room.code).limits == RoomLimits() and not registry.get(room.code).closed
    assert registry.is_teacher(room.code, key)
    registry.set_limits(room.code, key, limits)
    assert registry.get(room.code).limits == limits
    assert [e.nickname for e in registry.teacher_entries(room.code, key)] == ["Ada"]
    registry.remove_entry(room.code, key, "job-1")
    assert registry.entries(room.code) == []
    registry.close(room.code, key)
    assert registry.get(room.code).closed and registry.add_run(room.code, "s2", "Bea", "job-2") is None


def test_one_opener_opens_a_few_rooms_an_hour(registry, monkeypatch):
    monkeypatch.setattr(rooms, "MAX_ROOMS", 50)
    monkeypatch.setattr(rooms, "ROOMS_PER_OPENER_PER_HOUR", 3)
    for _ in range(rooms.ROOMS_PER_OPENER_PER_HOUR):
        registry.create("a playful student")
    with pytest.raises(rooms.RoomRefused, match="in the last hour"):
        registry.create("a playful student")
    registry.create("the teacher")  # others are not held back


def test_a_teacher_password_when_the_server_sets_one(registry):
    registry.password = "lecture-hall"
    with pytest.raises(rooms.RoomRefused, match="teacher password"):
        registry.create("someone", password="guess")
    assert registry.create("teacher", password="lecture-hall")[0].code


def test_a_hundred_new_rooms_leave_the_teachers_room_and_its_runs(registry, monkeypatch):
    monkeypatch.setattr(rooms, "MAX_ROOMS", 50)
    room, key = registry.create("the teacher")
    for n in range(2):
        registry.add_run(room.code, f"student{n}", f"s{n}", f"job-{n}")
    opened, refused = 0, []
    for n in range(100):
        try:
            registry.create(f"another session {n}")
            opened += 1
        except rooms.RoomRefused as e:
            refused.append(str(e))
    assert opened == 49 and len(refused) == 51 and "All 50 rooms" in refused[0]
    kept = registry.get(room.code)
    assert kept is not None and [e.job_id for e in kept.entries] == ["job-0", "job-1"]
    assert registry.is_teacher(room.code, key)
