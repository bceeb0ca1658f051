"""Where a submitted run waits until it trains: the one seam between the job manager and whoever trains.

    LocalTrainers (trainers.py)   this process's trainer threads, fed by its BatchScheduler
    StreamQueue (cluster.py)      the class's Redis work stream, read by the training workers

The manager (manager.py) is the same object over either: an app process of a cluster is a JobManager
with a StreamQueue, a training worker (worker.py) a JobManager with LocalTrainers fed from the stream.
"""

from __future__ import annotations

from typing import Protocol

from dann_demo.jobs.job import AnyJob


class WorkQueue(Protocol):
    def put(self, job: AnyJob) -> None: ...  # a job the store holds, to be trained (from its last record)
    def withdraw(self, job_id: str) -> bool: ...  # a queued job leaves before it starts; whether it was queued
    def position(self, job_id: str) -> int: ...  # how many queued jobs start before it (0: next, or not queued)
    def idle(self) -> bool: ...  # nothing waits and nothing trains
    def free_cores(self) -> int: ...  # this machine's cores no trainer here uses (at least 1)
    def close(self) -> None: ...  # the process is going: end the threads this queue started
