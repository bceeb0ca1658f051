"""The contract of a ClassStore: what pages and runners may rely on, whichever store keeps the class's
state. Every test runs against every implementation in STORES."""

import threading

import pandas as pd
import pytest

from dann_demo import RunConfig
from dann_demo.jobs import FAILED, FINISHED, QUEUED, RUNNING, STOPPED, Job, MemoryStore, SweepJob
from dann_demo.method.results import ProgressRecord, RunResult

STORES = ["memory", "redis"]


@pytest.fixture(params=STORES)
def store(request):
    if request.param == "memory":
        return MemoryStore(cache_entries=2, max_jobs=3)
    from dann_demo.jobs.redis_store import RedisStore
    from tests.redis_server import fresh_prefix

    return RedisStore(request.getfixturevalue("redis_url"), prefix=fresh_prefix(), cache_entries=2, max_jobs=3)


def _record(step: int) -> ProgressRecord:
    return ProgressRecord(step, step / 100, 1.0, 0.1, 0.5, 0.69, 0.5, 0.9, 0.8, step / 1000)


def _result(config: RunConfig, stopped: bool = False, changes=()) -> RunResult:
    return RunResult(config, [_record(100)], {"stopped": stopped, "target_acc": 0.8}, {}, {}, list(changes))


def test_a_job_added_is_found_by_id_and_counted_by_status(store):
    job = Job(RunConfig(seed=1))
    store.add(job, watcher="s1")
    assert store.get(job.id).config == job.config and "s1" in store.get(job.id).watchers
    assert store.get("no such id") is None and store.get(None) is None
    assert [j and j.id for j in store.get_many([job.id, "no such id"])] == [job.id, None]
    assert store.count(QUEUED) == 1 and store.count(RUNNING, FINISHED) == 0
    store.set_status(job.id, RUNNING)
    assert store.get(job.id).status == RUNNING and [j.id for j in store.jobs(RUNNING)] == [job.id]


def test_records_pictures_and_snapshots_arrive_in_order(store):
    job = Job(RunConfig(seed=2))
    store.add(job)
    for step in (0, 50, 100):
        store.add_record(job.id, _record(step))
    assert [r.step for r in store.get(job.id).history] == [0, 50, 100]
    store.restart(job.id, "again from step 0")
    assert store.get(job.id).history == [] and store.get(job.id).notice == "again from step 0"


def test_a_notice_is_kept_unless_there_is_one(store):
    job = Job(RunConfig(seed=3))
    store.add(job)
    store.add_notice(job.id, "first")
    store.add_notice(job.id, "second")
    assert store.get(job.id).notice == "first"


def test_the_end_of_a_run_and_a_failure(store):
    done, failed = Job(RunConfig(seed=4)), Job(RunConfig(seed=5))
    store.add(done)
    store.add(failed)
    result = _result(done.config, changes=[(10, 2.0)])
    store.finish(done.id, result, FINISHED)
    assert store.get(done.id).done and store.get(done.id).result is not None
    assert store.get(done.id).lambda_changes == [(10, 2.0)]
    store.fail(failed.id, "non-finite loss at step 3")
    assert store.get(failed.id).status == FAILED and store.get(failed.id).error == "non-finite loss at step 3"


def test_a_page_waiting_for_the_end_sees_it_when_another_thread_finishes_the_run(store):
    job = Job(RunConfig(seed=6))
    store.add(job)
    store.set_status(job.id, RUNNING)
    assert not store.wait_done(job.id, 0.05)
    finisher = threading.Timer(0.2, store.finish, (job.id, _result(job.config), FINISHED))
    finisher.start()
    try:
        assert store.wait_done(job.id, 30.0)  # returns at the end, not after the timeout
    finally:
        finisher.join()
    assert store.get(job.id).done
    assert store.wait_done("no such id", 30.0)  # a forgotten job waits for nothing


def test_a_lambda_asked_for_is_taken_once(store):
    job = Job(RunConfig(seed=6))
    store.add(job)
    assert store.take_lambda(job.id) is None
    store.request_lambda(job.id, 0.5)
    store.request_lambda(job.id, 2.0)  # the latest wins
    assert store.take_lambda(job.id) == 2.0 and store.take_lambda(job.id) is None
    assert store.get(job.id).steered and not store.get(job.id).shareable


def test_stop_and_copies(store):
    job = Job(RunConfig(seed=7))
    store.add(job)
    assert not store.request_copy(job.id, "copy1")  # queued: nothing to copy
    store.set_status(job.id, RUNNING)
    assert store.request_copy(job.id, "copy1") and store.request_copy(job.id, "copy2")
    assert store.take_copies(job.id) == ["copy1", "copy2"] and store.take_copies(job.id) == []
    assert not store.stop_requested(job.id)
    store.request_stop(job.id)
    assert store.stop_requested(job.id) and not store.get(job.id).shareable


def test_watchers_come_and_go(store):
    job = Job(RunConfig(seed=8))
    store.add(job, watcher="a")
    store.watch(job.id, "b", at=5.0)
    assert store.get(job.id).watchers["b"] == 5.0
    assert store.unwatch(job.id, "a") == 1 and store.unwatch(job.id, "b") == 0


def test_an_identical_untouched_run_under_way_is_shared(store):
    config = RunConfig(seed=9)
    job = Job(config)
    store.add(job)
    assert store.shared_run(config).id == job.id and store.shared_run(config.replace(seed=10)) is None
    store.request_lambda(job.id, 1.5)
    assert store.shared_run(config) is None  # steered: no longer the run of its config


def test_the_result_cache_is_bounded(store):
    for seed in range(3):
        store.cache_result(f"k{seed}", _result(RunConfig(seed=seed)))
    assert store.cached_result("k0") is None and store.cached_result("k2").config.seed == 2
    table = pd.DataFrame({"target_acc": [0.9]})
    store.cache_sweep("s", table)
    assert store.cached_sweep("s").equals(table) and store.cached_sweep("t") is None


def test_old_ended_jobs_are_forgotten_and_running_ones_kept(store):
    running = Job(RunConfig(seed=11))
    store.add(running)
    store.set_status(running.id, RUNNING)
    ended = []
    for seed in range(12, 16):
        job = Job(RunConfig(seed=seed), status=STOPPED)
        store.add(job)
        ended.append(job)
    assert store.get(running.id) is not None and store.get(ended[-1].id) is not None
    assert store.get(ended[0].id) is None and store.count(STOPPED, RUNNING) == 3


def test_a_sweep_ends_with_its_table(store):
    sweep = SweepJob(RunConfig(), [0.1], [0])
    store.add(sweep)
    store.set_progress(sweep.id, fraction=0.5)
    assert store.get(sweep.id).fraction == 0.5
    store.finish_sweep(sweep.id, pd.DataFrame({"x": [1]}), FINISHED)
    assert store.get(sweep.id).fraction == 1.0 and store.get(sweep.id).status == FINISHED


def test_progress_takes_only_what_it_knows(store):
    job = Job(RunConfig(seed=17))
    store.add(job)
    store.set_progress(job.id, batch_size=4)
    assert store.get(job.id).batch_size == 4
    with pytest.raises(ValueError):
        store.set_progress(job.id, status="finished")


def test_a_restarted_job_asks_for_its_sessions_lambda_again(store):
    """A run that trains again from step 0 (out of memory, a failed batch) takes the lambda its session set."""
    job = Job(RunConfig(seed=18))
    store.add(job)
    store.request_lambda(job.id, 2.5)
    assert store.take_lambda(job.id) == 2.5
    store.set_progress(job.id, lambda_changes=[(0, 2.5)])
    store.restart(job.id, "again")
    assert store.take_lambda(job.id) == 2.5 and store.get(job.id).lambda_changes == []


def test_a_copy_goes_on_from_another_runs_records(store):
    job = Job(RunConfig(seed=19))
    store.add(job)
    store.continue_from(job.id, [_record(0), _record(50)], {}, [(40, 1.5)])
    assert [r.step for r in store.get(job.id).history] == [0, 50] and store.get(job.id).lambda_changes == [(40, 1.5)]


def test_identical_runs_asked_for_at_once_are_one_run(store):
    """Eight sessions press Train on the same settings at the same moment (with Redis, through two stores:
    two app processes): one run, all eight watching it."""
    from concurrent.futures import ThreadPoolExecutor

    stores = [store]
    if not isinstance(store, MemoryStore):
        from dann_demo.jobs.redis_store import RedisStore

        stores.append(RedisStore(store.r, prefix=store.p))
    config = RunConfig(seed=20)
    with ThreadPoolExecutor(8) as pool:
        got = list(pool.map(lambda n: stores[n % len(stores)].add_shared(Job(config), f"s{n}"), range(8)))
    assert len({j.id for j in got}) == 1 and store.count(QUEUED) == 1
    assert sorted(store.get(got[0].id).watchers) == [f"s{n}" for n in range(8)]
    store.request_stop(got[0].id)  # no longer shareable: the next one is a run of its own
    assert store.add_shared(Job(config), "s9").id != got[0].id


def test_an_ended_job_leaves_what_runners_are_asked(redis_url):
    """A class that runs all day: the sets runners poll hold only jobs that may still train."""
    from dann_demo.jobs.redis_store import RedisStore
    from tests.redis_server import fresh_prefix

    store = RedisStore(redis_url, prefix=fresh_prefix(), max_jobs=2)
    asked = [f"{store.p}:{name}" for name in ("asked:lambda", "asked:copies", "stopped")]
    ended = []
    for seed, end in enumerate(("finish", "fail", "stop")):
        job = Job(RunConfig(seed=40 + seed))
        store.add(job)
        store.set_status(job.id, RUNNING)
        store.request_lambda(job.id, 0.5)
        store.request_copy(job.id, f"copy{seed}")
        store.request_stop(job.id)
        assert all(store.r.sismember(key, job.id) for key in asked)
        if end == "finish":
            store.finish(job.id, _result(job.config, stopped=True), STOPPED)
        elif end == "fail":
            store.fail(job.id, "bad")
        else:
            store.set_status(job.id, STOPPED)
        store.request_lambda(job.id, 0.7)  # asked of a run that has ended: nobody will take it
        store.request_stop(job.id)
        ended.append(job.id)
    assert not any(store.r.sismember(key, i) for key in asked for i in ended)
