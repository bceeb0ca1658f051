"""The contract of Rooms: every test runs against the rooms in memory and the rooms in Redis, so a class
behaves the same on one process and on a cluster."""

import pytest

from dann_demo.classroom import rooms

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


def test_rooms_are_bounded_and_read_in_either_case(registry):
    made = [registry.create() for _ in range(4)]
    assert len(registry) == 3 and registry.get(made[0].code) is None  # the oldest gave way
    assert registry.get(made[3].code.upper()).code == made[3].code
    assert registry.get(f"  {made[3].code} ").code == made[3].code
    assert set(rooms.CODE_ALPHABET).isdisjoint("01ilo") and len(made[1].code) == rooms.CODE_LENGTH


def test_entries_are_bounded_and_the_ended_go_first(registry):
    code = registry.create().code
    for i in range(3):
        registry.add_run(code, f"s{i}", "x" * 100 + "\x07", f"job{i}", ended=lambda j: j == "job1")
    entries = registry.entries(code)
    assert [e.job_id for e in entries] == ["job0", "job2"] and entries[0].nickname == "x" * rooms.MAX_NICKNAME
    registry.add_run(code, "s3", "", "job3")  # none ended: the oldest goes
    assert [e.job_id for e in registry.entries(code)] == ["job2", "job3"]


def test_nicknames_are_labels_and_a_steered_run_moves_its_entry(registry):
    code = registry.create().code
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
    real = registry.create().code
    assert registry.get(code) is None and registry.entries(code or "") == []
    assert registry.add_run(code or "", "s", "n", "j") is None
    assert registry.get(f"{real}:entries") is None  # another key of the room, never read as one


def test_a_room_ends_after_its_hours(registry, monkeypatch):
    code = registry.create().code
    registry.add_run(code, "s", "n", "j")
    monkeypatch.setattr(rooms, "MAX_AGE_HOURS", -1.0)  # as if its hours were over
    assert registry.get(code) is None and registry.entries(code) == []
    assert registry.add_run(code, "s", "n", "j2") is None
