"""What a room does with the class's runs: a student's run submitted within the room's limits, the
teacher stopping a run for the class or closing the room, and the room's floor and ceiling (source only
and the target oracle, trained once for its data set). Every rule is checked here, in the library: a page
only shows what these calls answer."""

from __future__ import annotations

from dann_demo.classroom.rooms import Room, RoomRefused, Rooms
from dann_demo.config import RunConfig
from dann_demo.jobs import Job, JobManager

REFERENCE_MODES = ("source_only", "target_oracle")


def submit_in_room(
    rooms: Rooms,
    manager: JobManager,
    code: str,
    config: RunConfig,
    session: str,
    nickname: str = "",
    owner: str = "",
) -> tuple[Job, list[str]]:
    """Train `config` as a student's run in room `code`: within the room's limits (each change one line of
    the notes returned), and refused (RoomRefused) when the room has ended or the student already has as
    many runs queued or training there as the room allows."""
    room = rooms.get(code)
    if room is None:
        raise RoomRefused(f"Room {code!r} was not found: it may have ended.")
    if room.closed:
        raise RoomRefused("This room has ended: its teacher closed it. Your runs stay your own.")
    config, notes = room.limits.apply(config)
    owner = owner or session
    mine = [e.job_id for e in room.entries if e.owner == owner]
    active = [j for j in manager.get_many(mine).values() if not j.done and not j.stop_requested]
    cap = room.limits.runs_per_student
    if len(active) >= cap:
        raise RoomRefused(
            f"You have {len(active)} run(s) queued or training in this room, the most its teacher allows at once "
            f"({cap}): wait for {'it' if len(active) == 1 else 'one'} to end, or stop it, then press Train again."
        )
    job = manager.submit(config, watcher=session)
    rooms.add_run(room.code, session, nickname, job.id, lambda i: getattr(manager.get(i), "done", True), owner)
    return job, notes


def stop_for_class(rooms: Rooms, manager: JobManager, code: str, key: str | None, job_id: str) -> None:
    """The teacher stops a run of the room for everyone watching it."""
    room = rooms.teacher_room(code, key, "stop a run for the class")
    if job_id not in {e.job_id for e in room.entries}:
        raise RoomRefused("That run is not one of this room's.")
    if (job := manager.get(job_id)) is not None and not job.done:
        manager.stop(job)


def close_room(rooms: Rooms, manager: JobManager, code: str, key: str | None) -> int:
    """The teacher closes the room: it takes no more runs, its link says it has ended, and its runs that
    nobody outside the room watches stop. Returns how many were stopped."""
    room = rooms.close(code, key)
    sessions = {e.session for e in room.entries}
    stopped = 0
    for job in manager.get_many([e.job_id for e in room.entries]).values():
        if not job.done and set(job.watchers) <= sessions:
            manager.stop(job)
            stopped += 1
    return stopped


def reference_configs(room: Room, datasets: list[str]) -> list[RunConfig]:
    """The room's floor and ceiling: source only and the target oracle on the data set its students
    train (the room's one data set, else the one most of its runs use, `datasets`, else moons), at that
    data set's defaults within the room's limits. None for own data (each student's file is their own)."""
    if len(room.limits.datasets) == 1:
        dataset = room.limits.datasets[0]
    else:
        dataset = max(sorted(set(datasets)), key=datasets.count) if datasets else "moons"
    if dataset == "file":
        return []
    base, _ = room.limits.apply(RunConfig.for_dataset(dataset))
    return [base.replace(mode=mode) for mode in REFERENCE_MODES]
