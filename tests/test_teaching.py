"""A room's rules where runs are submitted and stopped (classroom/teaching.py), on one process's rooms and
on Redis's: limits, runs per student, closing, the teacher's Stop, the room's reference runs."""

import pytest

from dann_demo import RunConfig
from dann_demo.classroom import rooms, teaching
from dann_demo.classroom.room_limits import RoomLimits
from dann_demo.jobs import STOPPED, JobManager
from tests.waiting import wait_until


@pytest.fixture(params=["memory", "redis"])
def registry(request):
    if request.param == "memory":
        return rooms.MemoryRooms()
    from dann_demo.classroom.redis_rooms import RedisRooms
    from dann_demo.jobs.redis_store import RedisStore
    from tests.redis_server import fresh_prefix

    return RedisRooms(RedisStore(request.getfixturevalue("redis_url")).r, fresh_prefix())


@pytest.fixture
def manager():
    made = JobManager(max_concurrent=1, max_batch=1)
    yield made
    made.close()


def test_a_link_edited_by_hand_gets_the_rooms_limits(registry, manager):
    room, key = registry.create("teacher")
    registry.set_limits(room.code, key, RoomLimits(datasets=("moons",), modes=("dann",), max_steps=3000))
    asked = RunConfig.for_dataset("digits", steps=50_000, mode="no_reversal", seed=4)
    job, notes = teaching.submit_in_room(registry, manager, room.code, asked, "s1", "Ada")
    assert (job.config.dataset, job.config.mode, job.config.steps, job.config.seed) == ("moons", "dann", 3000, 4)
    assert any("moons only" in n for n in notes) and any("modes dann only" in n for n in notes)
    assert [e.job_id for e in registry.entries(room.code)] == [job.id]
    manager.stop(job, "s1")


def test_a_student_has_as_many_runs_at_once_as_the_room_allows(registry, manager):
    room, key = registry.create("teacher")
    long = RunConfig.for_dataset("moons", steps=3000, n_samples=100)
    first, _ = teaching.submit_in_room(registry, manager, room.code, long.replace(seed=1), "tab1", owner="ada")
    with pytest.raises(rooms.RoomRefused, match=r"the most its teacher allows at once \(1\)"):
        teaching.submit_in_room(registry, manager, room.code, long.replace(seed=2), "tab2", owner="ada")
    other, _ = teaching.submit_in_room(registry, manager, room.code, long.replace(seed=3), "tab3", owner="bea")
    registry.set_limits(room.code, key, RoomLimits(runs_per_student=2))
    second, _ = teaching.submit_in_room(registry, manager, room.code, long.replace(seed=2), "tab2", owner="ada")
    for job in (first, other, second):
        manager.stop(job)


def test_closing_stops_the_rooms_runs_and_only_the_teacher_stops_one_for_the_class(registry, manager):
    room, key = registry.create("teacher")
    config = RunConfig.for_dataset("moons", steps=100_000, n_samples=100, seed=5)
    job, _ = teaching.submit_in_room(registry, manager, room.code, config, "s1")
    wait_until(lambda: job.step > 0, what="the run to start")
    with pytest.raises(rooms.NotTeacher):
        teaching.stop_for_class(registry, manager, room.code, "not the key", job.id)
    with pytest.raises(rooms.NotTeacher):
        teaching.close_room(registry, manager, room.code, None)
    assert not manager.get(job.id).done
    assert teaching.close_room(registry, manager, room.code, key) == 1
    wait_until(lambda: manager.get(job.id).done, what="the run to stop")
    assert manager.get(job.id).status == STOPPED
    with pytest.raises(rooms.RoomRefused, match="its teacher closed it"):
        teaching.submit_in_room(registry, manager, room.code, config.replace(seed=6), "s2")
    assert [e.job_id for e in registry.teacher_entries(room.code, key)] == [job.id]  # its table stays


def test_the_rooms_floor_and_ceiling_are_its_data_set_at_its_limits(registry):
    room, key = registry.create("teacher")
    assert [c.mode for c in teaching.reference_configs(room, [])] == ["source_only", "target_oracle"]
    assert {c.dataset for c in teaching.reference_configs(room, ["digits", "digits", "moons"])} == {"digits"}
    registry.set_limits(room.code, key, RoomLimits(datasets=("blobs",), max_steps=500))
    configs = teaching.reference_configs(registry.get(room.code), ["digits"])
    assert {(c.dataset, c.steps) for c in configs} == {("blobs", 500)}
    assert teaching.reference_configs(room, ["file"]) == []
