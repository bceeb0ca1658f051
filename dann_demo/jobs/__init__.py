"""Background training for every session of a class, read top to bottom:

- job.py: a run (Job) and a sweep (SweepJob) as the pages see them, and their Status;
- store.py: the one interface for what sessions share (ClassStore), kept in memory (MemoryStore);
- scheduler.py: the queue and the open batches, who trains with whom (BatchScheduler; no threads);
- runners.py: what trains a job (a lone run, a batch, a sweep) and reports to the store;
- queue.py: where a job waits to train (WorkQueue), and trainers.py: this process's trainer threads;
- manager.py: the facade the pages call (JobManager: a store and a queue);
- beyond one process: codec.py, redis_store.py, work_stream.py, cluster.py (StreamQueue), worker.py.
"""

from dann_demo.jobs.job import DONE, FAILED, FINISHED, QUEUED, RUNNING, STOPPED, AnyJob, Job, Status, SweepJob
from dann_demo.jobs.manager import JobManager
from dann_demo.jobs.runners import CLASS_RUNS
from dann_demo.jobs.store import ClassStore, MemoryStore
from dann_demo.jobs.trainers import threads_per_job

__all__ = [
    "CLASS_RUNS",
    "DONE",
    "FAILED",
    "FINISHED",
    "QUEUED",
    "RUNNING",
    "STOPPED",
    "AnyJob",
    "ClassStore",
    "Job",
    "JobManager",
    "MemoryStore",
    "Status",
    "SweepJob",
    "threads_per_job",
]
