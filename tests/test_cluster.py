"""A class beyond one process, against a real redis-server: the codec (no pickle), the rooms in Redis,
training workers (`dann-playground worker` processes) fed by app-side managers, a worker killed with
SIGKILL mid-batch, Redis unreachable at start and lost mid-class."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import numpy as np
import pytest

from dann_demo import RunConfig
from dann_demo.jobs import codec
from dann_demo.jobs.cluster import StreamQueue
from dann_demo.jobs.manager import JobManager
from dann_demo.jobs.redis_store import RedisStore
from dann_demo.method.train import Trainer
from tests.conftest import ROOT
from tests.redis_server import RedisServer, fresh_prefix, needs_redis
from tests.waiting import wait_until

pytestmark = needs_redis


def _worker(url: str, prefix: str, name: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "dann_demo", "worker", "--redis", url, "--name", name],
        cwd=ROOT,
        env={**os.environ, "DANN_REDIS_PREFIX": prefix},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


@pytest.fixture(autouse=True)
def _apps():
    """The app-side managers a test made, closed after it (their watcher heartbeat stops)."""
    made.clear()
    yield
    for manager in made:
        manager.close()


made: list[JobManager] = []


def _app(url: str, prefix: str) -> JobManager:
    """An app process's manager; every session counts as connected (its heartbeat keeps them)."""
    store = RedisStore(url, prefix=prefix)
    made.append(JobManager(store, StreamQueue(store, session_alive=lambda _session: True)))
    return made[-1]


def _ended(manager, jobs, seconds: float = 120):
    wait_until(lambda: all(manager.get(j.id).done for j in jobs), seconds, "every run to end", poll=0.1)
    return [manager.get(j.id) for j in jobs]


def test_a_result_travels_as_npz_and_json_and_nothing_else():
    """A moons result (input plane, snapshots, weights) and a digits one (gallery) come back equal; a blob
    holding an object array (what pickle would carry) is refused on reading."""
    for config in (
        RunConfig.for_dataset("moons", steps=60, log_every=30, n_samples=100),
        RunConfig.for_dataset("digits", steps=20, log_every=10),
    ):
        result = Trainer(config).run()
        back = codec.result_from_bytes(codec.result_bytes(result))
        assert back.config == config and json.dumps(back.metrics) == json.dumps(result.metrics)  # NaN != NaN
        assert [codec.record_json(r) for r in back.history] == [codec.record_json(r) for r in result.history]
        assert sorted(back.snapshots) == sorted(result.snapshots)
        for step, snap in result.snapshots.items():
            assert np.array_equal(back.snapshots[step].features, snap.features)
        for name, tensor in result.state_dict.items():
            assert back.state_dict[name].equal(tensor)
        picture = result.gallery if config.dataset == "digits" else result.input_plane
        assert picture is not None
        again = back.gallery if config.dataset == "digits" else back.input_plane
        assert all(np.array_equal(getattr(again, k), getattr(picture, k)) for k in vars(picture))
    import io

    buffer = io.BytesIO()
    np.savez(buffer, meta=np.frombuffer(b"{}", dtype=np.uint8), evil=np.array([object()], dtype=object))
    with pytest.raises(ValueError, match="allow_pickle"):
        codec.unpack(buffer.getvalue())


def test_two_app_processes_share_runs_rooms_and_results_through_a_worker(redis_url):
    """Runs started through either app process train on one worker (batched together); identical settings
    from the two share one run; a room opened on one lists the runs of both; a digits run trains too; a
    second request for a finished config comes from the cache."""
    from dann_demo.classroom.redis_rooms import RedisRooms

    prefix = fresh_prefix()
    worker = _worker(redis_url, prefix, "w1")
    try:
        one, two = _app(redis_url, prefix), _app(redis_url, prefix)
        room = RedisRooms(one.store.r, prefix).create("teacher")[0]
        moons = RunConfig.for_dataset("moons", steps=400, log_every=50, n_samples=200)
        a = one.submit(moons, watcher="alice")
        b = two.submit(moons, watcher="bob")  # the same settings on another process: the same run
        c = two.submit(moons.replace(seed=1), watcher="carol")
        d = one.submit(RunConfig.for_dataset("digits", steps=30, log_every=10), watcher="dave")
        assert a.id == b.id and c.id != a.id
        for who, job in (("alice", a), ("bob", b), ("carol", c)):
            RedisRooms(two.store.r, prefix).add_run(room.code, who, who, job.id)
        waited = two.wait_end(a, 120)  # a page's copy of the run, read again once the run has ended
        assert a.status == "queued" and waited.done and waited.result is not None
        a, c, d = _ended(one, [a, c, d])
        assert {a.status, c.status, d.status} == {"finished"}, (a.error, c.error, d.error)
        assert sorted(a.watchers) == ["alice", "bob"] and a.input_plane is not None and d.gallery is not None
        assert len(a.history) == 9 and a.result.metrics["target_acc"] > 0.5 and d.result.snapshots
        assert [e.nickname for e in RedisRooms(one.store.r, prefix).entries(room.code)] == ["alice", "bob", "carol"]
        again = two.submit(moons, watcher="erin")
        assert again.from_cache and again.result.metrics == a.result.metrics
    finally:
        worker.terminate()
        out = worker.communicate(timeout=30)[0]
    assert worker.returncode == 0 and "Traceback" not in out, out


def test_a_worker_killed_mid_batch_loses_no_run(redis_url):
    """SIGKILL the worker whose batch trains: the other claims its runs, trains them again from step 0, and
    each run's page says so; every run ends with a result and nothing stays pending."""
    prefix = fresh_prefix()
    app = _app(redis_url, prefix)
    workers = {name: _worker(redis_url, prefix, name) for name in ("w1", "w2")}
    configs = [RunConfig.for_dataset("moons", seed=s, steps=1500, log_every=100, n_samples=200) for s in range(4)]
    jobs = [app.submit(c, watcher=f"s{n}") for n, c in enumerate(configs)]
    wait_until(lambda: all(app.get(j.id).step >= 100 for j in jobs), 90, "the batch to train", poll=0.05)
    pending = app.store.r.xpending(f"{prefix}:work", "workers")
    (holder,) = [c["name"].decode() for c in pending["consumers"]]  # one batch: every run on one worker
    workers[holder].kill()
    workers[holder].wait(timeout=10)
    assert all(app.get(j.id).status == "running" for j in jobs)
    (survivor,) = [w for name, w in workers.items() if name != holder]
    try:
        ended = _ended(app, jobs)
        wait_until(lambda: app.store.r.xpending(f"{prefix}:work", "workers")["pending"] == 0, 10, "every ack", 0.1)
    finally:
        survivor.terminate()
        out = survivor.communicate(timeout=30)[0]
    assert [j.status for j in ended] == ["finished"] * 4, [j.error for j in ended]
    assert all("started again from step 0" in j.notice for j in ended)
    assert all([r.step for r in j.history] == list(range(0, 1501, 100)) for j in ended)  # one clean history
    assert f"worker {holder} died: 4 run(s) claimed" in out, out


def test_redis_unreachable_at_start_is_one_line_and_exit_2():
    port = RedisServer().port  # a free port nobody listens on
    done = subprocess.run(
        [sys.executable, "-m", "dann_demo", "worker", "--redis", f"redis://127.0.0.1:{port}/0"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2 and "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and f"cannot reach Redis at redis://127.0.0.1:{port}/0" in lines[0], done.stderr


def test_redis_lost_mid_class_pauses_the_training_and_it_goes_on_when_back(tmp_path):
    """Redis (with its append-only file, as scripts/cluster.sh runs it) goes away while a run trains and
    comes back on the same port: the worker waits, without a traceback, and the run ends."""
    server = RedisServer(persist=tmp_path).start()
    prefix = fresh_prefix()
    worker = _worker(server.url, prefix, "patient")
    try:
        app = _app(server.url, prefix)
        job = app.submit(RunConfig.for_dataset("moons", steps=2500, log_every=100, n_samples=200), watcher="s")
        wait_until(lambda: app.get(job.id).step >= 200, 90, "the run to train", poll=0.05)
        server.stop()
        time.sleep(2)
        server.start()
        (job,) = _ended(app, [job])
        assert job.status == "finished" and job.history[-1].step == 2500
    finally:
        worker.terminate()
        out = worker.communicate(timeout=30)[0]
        server.stop()
    assert "Traceback" not in out, out


def test_a_run_whose_file_has_gone_fails_alone_and_the_worker_goes_on(redis_url, tmp_path):
    """Its config decodes (a config is data), its training names the missing file, and the next run trains."""
    from tests.test_userdata import _good_arrays, write_npz

    prefix = fresh_prefix()
    app = _app(redis_url, prefix)
    path = write_npz(tmp_path, **_good_arrays())
    gone = app.submit(RunConfig.for_dataset("file", data_file=str(path), steps=20), watcher="s")
    path.unlink()  # pruned from the uploads, or on a machine the worker cannot see
    worker = _worker(redis_url, prefix, "steady")
    try:
        (failed,) = _ended(app, [gone])
        assert failed.status == "failed" and f"{path.name}, the file: found nothing at this path" in failed.error
        after = app.submit(RunConfig.for_dataset("moons", steps=50, n_samples=100, seed=44), watcher="s")
        (trained,) = _ended(app, [after])
        assert trained.status == "finished" and worker.poll() is None
    finally:
        worker.terminate()
        out = worker.communicate(timeout=30)[0]
    assert "Traceback" not in out, out
