"""What the Redis store and its readers share: the client, a job's keys, and the Lua scripts that change
several keys in one step.

Every key is under one prefix (`dann:` unless told). Per job:

    {p}:job:{id}            hash: what it is (config JSON), status, notice, error, the lambda asked,
                            stop, batch size, generation (restarts), pictures' version
    {p}:job:{id}:records    stream of its progress records (JSON), capped at MAX_RECORDS
    {p}:job:{id}:snaps      hash: step -> feature snapshot (.npz)
    {p}:job:{id}:pics       hash: the input plane and the gallery (.npz)
    {p}:job:{id}:result     its RunResult (.npz), or a sweep's table (JSON)
    {p}:job:{id}:watchers   hash: session -> when it last looked
    {p}:job:{id}:copies     list of copies asked for

and for the class: {p}:jobs (a sorted set by submission), {p}:status:{status} (sets, so counting is
cheap), {p}:shared:{config hash} (the untouched run of a config), {p}:asked:lambda and {p}:asked:copies
(jobs with something asked), {p}:cache:run:{key} and {p}:cache:sweep:{key} with their recency sets.
"""

from __future__ import annotations

import json
from typing import Any

import redis

from dann_demo.jobs.job import AnyJob, Job

MAX_RECORDS = 10_000  # progress records kept per job (a 20,000-step run logging every 10 steps: 2,000)
JOB_TTL_S = 13 * 3600  # a job's keys outlive a 12-hour room by an hour after its last write
JOB_PARTS = ("", "records", "snaps", "pics", "result", "watchers", "copies")


def job_key(prefix: str, job_id: str, part: str = "") -> str:
    return f"{prefix}:job:{job_id}" + (f":{part}" if part else "")


def job_fields(job: AnyJob) -> dict[str, Any]:
    """A job's hash as first written."""
    fields: dict[str, Any] = {
        "status": str(job.status),
        "notice": job.notice or "",
        "error": job.error or "",
        "from_cache": int(job.from_cache),
        "submitted_at": job.submitted_at,
        "stop_requested": int(job.stop_requested),
        "gen": 0,
        "pics": 0,
    }
    if isinstance(job, Job):
        fields |= {
            "kind": "run",
            "config": job.config.to_json(),
            "batch_size": job.batch_size,
            "lambda_value": "" if job.lambda_value is None else job.lambda_value,
            "lambda_pending": int(job.lambda_pending),
            "lambda_changes": json.dumps(job.lambda_changes),
        }
    else:
        fields |= {
            "kind": "sweep",
            "config": job.base.to_json(),
            "sweep": json.dumps({"lambdas": job.lambdas, "seeds": job.seeds, "references": job.references}),
            "fraction": job.fraction,
        }
    return fields


def connect(url: str, wait: bool = False) -> redis.Redis:
    """A client for `url`. `wait`: retry for ever while the server is away (a worker that should go on
    once Redis is back); otherwise give up after about a second (a page says so and tries again)."""
    from redis.backoff import ExponentialBackoff
    from redis.retry import Retry

    retry = Retry(ExponentialBackoff(cap=2.0, base=0.1), retries=-1 if wait else 2)
    return redis.Redis.from_url(
        url,
        retry=retry,
        retry_on_error=[redis.ConnectionError, redis.TimeoutError],
        socket_connect_timeout=1.0,
        socket_timeout=None if wait else 5.0,
        health_check_interval=10,
    )


# Move a job between the status sets and set its fields, atomically: a page never counts a job twice. A job
# that ends leaves the sets of what runners are asked (a class that runs all day would otherwise grow them).
# KEYS: job hash, the status-set prefix, then the asked sets. ARGV: id, new status, then field, value pairs.
MOVE = """
local old = redis.call('HGET', KEYS[1], 'status')
if not old then return 0 end
redis.call('SREM', KEYS[2] .. old, ARGV[1])
redis.call('SADD', KEYS[2] .. ARGV[2], ARGV[1])
redis.call('HSET', KEYS[1], 'status', ARGV[2])
for i = 3, #ARGV, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
if ARGV[2] == 'finished' or ARGV[2] == 'stopped' or ARGV[2] == 'failed' then
  for i = 3, #KEYS do redis.call('SREM', KEYS[i], ARGV[1]) end
end
return 1
"""
ASKED_SETS = ("asked:lambda", "asked:copies", "stopped")  # what runners poll: jobs with something asked
# Take the lambda asked for, once. KEYS: job hash, the asked-lambda set. ARGV: id.
TAKE_LAMBDA = """
if redis.call('SREM', KEYS[2], ARGV[1]) == 0 then return false end
redis.call('HSET', KEYS[1], 'lambda_pending', '0')
return redis.call('HGET', KEYS[1], 'lambda_value')
"""
# Ask a running job for a copy. KEYS: job hash, its copies list, the asked-copies set. ARGV: id, copy id.
REQUEST_COPY = """
if redis.call('HGET', KEYS[1], 'status') ~= 'running' then return 0 end
redis.call('RPUSH', KEYS[2], ARGV[2])
redis.call('SADD', KEYS[3], ARGV[1])
return 1
"""
# Take every copy asked for. KEYS: the copies list, the asked-copies set. ARGV: id.
TAKE_COPIES = """
redis.call('SREM', KEYS[2], ARGV[1])
local copies = redis.call('LRANGE', KEYS[1], 0, -1)
redis.call('DEL', KEYS[1])
return copies
"""
# Delete the shared key if it still names the stale run. KEYS: the key. ARGV: the stale job id.
RELEASE_SHARED = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""
# Add a notice unless the job has one. KEYS: job hash. ARGV: notice.
NOTICE = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local old = redis.call('HGET', KEYS[1], 'notice')
if old and old ~= '' then return 0 end
redis.call('HSET', KEYS[1], 'notice', ARGV[1])
return 1
"""
