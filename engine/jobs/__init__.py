"""Jobs: every long action (train, resume, replay, sweep, distill) as a job in one embedded
store, `<home>/trainwright.db`: a queue that survives restarts, and a history with each
job's status, attempts, error, resources and log.

    from engine.jobs import JobRequest, JobStore, run_job, run_queue
    store = JobStore(workspace.home)             # store.warnings: a rebuild, if there was one
    job = store.submit(JobRequest(kind="train", family="mlp", training={"epochs": 5}))
    run_queue(workspace, store=store)            # or run_job(workspace, job, store=store)
    store.get(job.id).status                     # "completed"
    store.logs(job.id, after_id=0)               # its log records, to follow a live run

Torch-free and Qt-free to import: the runner imports what a job needs when it runs one.
Layout: records (the models), schema (migrations), store (the SQLite file), rebuild (the
history from the directories), retry, processes (is a job's process alive), recorder and
watcher and resources (a running job's log and figures), dispatch (a request by its kind),
runner (run_job, run_queue).
"""

from engine.jobs.errors import JobError, StoreUnavailable
from engine.jobs.records import (
    ACTIVE,
    FINISHED,
    KINDS,
    STATUSES,
    Job,
    JobKind,
    JobRequest,
    JobStatus,
    LogRecord,
)
from engine.jobs.runner import (
    JobOutcome,
    execute_job,
    run_job,
    run_now,
    run_queue,
    run_unrecorded,
)
from engine.jobs.store import DB_FILE, JobStore

__all__ = [
    "ACTIVE",
    "DB_FILE",
    "FINISHED",
    "KINDS",
    "STATUSES",
    "Job",
    "JobError",
    "JobKind",
    "JobOutcome",
    "JobRequest",
    "JobStatus",
    "JobStore",
    "LogRecord",
    "StoreUnavailable",
    "execute_job",
    "run_job",
    "run_now",
    "run_queue",
    "run_unrecorded",
]
