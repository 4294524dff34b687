"""Running jobs: run_job records the run (status, variant, log, resources), a cancel asked
for in the store stops it at its next step, refused requests end failed without raising,
the queue runs in order, and every kind (train, resume, replay, sweep, distill) is a job."""

from __future__ import annotations

import logging
import threading
import time

import pytest

from engine.jobs import JobRequest, JobStore, run_job, run_now, run_queue
from engine.jobs.runner import LinkedEvent
from engine.training.callbacks import Callback

SMALL = {"hidden_dim": 8, "num_hidden_layers": 1}
FAST = {"threads": 1}


def _train(epochs: int, **training) -> JobRequest:
    return JobRequest(
        kind="train", family="mlp", domain=SMALL, training={**FAST, "epochs": epochs, **training}
    )


def _wait_for(condition, timeout: float = 30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.01)
    raise AssertionError("condition not met in time")


def test_run_job_records_the_run_its_log_and_what_it_used(workspace):
    store = JobStore(workspace.home)
    job = store.submit(_train(4, checkpoint_every=1))
    done = run_job(workspace, job, store=store)

    assert (done.status, done.error, done.attempts) == ("completed", None, 1)
    variant = workspace.create_variant("mlp", SMALL, {**FAST, "epochs": 4, "checkpoint_every": 1})
    assert (done.variant, done.family) == (variant.name, "mlp")
    assert done.started_at <= done.finished_at and done.pid is not None
    assert done.cpu_time_s > 0 and done.peak_rss_bytes > 10_000_000
    assert done.peak_gpu_bytes is None  # a CPU run, and torch never asked about CUDA
    messages = [(r.level, r.message) for r in store.logs(job.id)]
    assert messages[0] == ("INFO", f"training {variant.name} from epoch 0")
    assert ("INFO", "saved a resumable checkpoint at epoch 4, step 100") in messages  # 25 a epoch
    assert sum(1 for _, m in messages if m.startswith("saved weights")) == 5  # epochs 0..4
    assert messages[-1][0] == "INFO" and messages[-1][1].startswith(f"completed: {variant.name}")
    ids = [r.id for r in store.logs(job.id)]
    assert [r.id for r in store.logs(job.id, after_id=ids[2])] == ids[3:]


class _CountingStore(JobStore):
    """The real store, counting the write transactions that add log records."""

    batches = 0

    def log_many(self, job_id, records):
        self.batches += 1
        super().log_many(job_id, records)


def test_a_fast_run_writes_its_log_in_batches_not_one_transaction_per_event(workspace):
    store = _CountingStore(workspace.home)
    job = store.submit(_train(30, checkpoint_every=1))
    done = run_job(workspace, job, store=store)
    assert done.status == "completed"
    records = store.logs(job.id)
    assert len(records) >= 33  # start, 31 weights, a full checkpoint, the end
    # At most one write per watcher tick (0.5 s) and one at the end: not one per event.
    assert store.batches <= 2 + int(done.duration_s / 0.5) and store.batches < len(records)


class _LogsFromTheRun(Callback):
    """Logs through the engine's loggers from the training thread, as engine code would."""

    def on_epoch_end(self, metrics) -> None:
        logging.getLogger("engine.training.test").info("epoch %d from the engine", metrics.epoch)


def test_engine_logging_of_the_run_is_recorded_and_other_threads_are_not(workspace):
    store = JobStore(workspace.home)
    job = store.submit(_train(3))
    stop = threading.Event()

    def chatter() -> None:  # another thread logging all along: not this job's
        while not stop.is_set():
            logging.getLogger("engine.other").warning("not the job's")
            time.sleep(0.001)

    thread = threading.Thread(target=chatter)
    thread.start()
    try:
        run_job(workspace, job, [_LogsFromTheRun()], store=store)
    finally:
        stop.set()
        thread.join()
    messages = [r.message for r in store.logs(job.id)]
    assert [m for m in messages if "from the engine" in m] == [
        f"epoch {e} from the engine" for e in (1, 2, 3)
    ]
    assert "not the job's" not in messages


class _Slow(Callback):
    """Gives a cancel from elsewhere time to arrive; says when the run has started."""

    def __init__(self) -> None:
        self.started = threading.Event()

    def on_epoch_end(self, metrics) -> None:
        self.started.set()
        time.sleep(0.01)


def test_a_cancel_asked_for_in_the_store_stops_the_run_at_its_next_step(workspace):
    store = JobStore(workspace.home)
    job = store.submit(_train(2000, resume_every=1))
    slow = _Slow()
    result = {}
    thread = threading.Thread(
        target=lambda: result.update(job=run_job(workspace, job, [slow], store=store))
    )
    thread.start()
    assert slow.started.wait(30)
    other = JobStore(workspace.home)  # another connection, as another process would have
    assert other.request_cancel(job.id).cancel_requested
    thread.join(30)
    done = result["job"]
    assert done.status == "cancelled" and done.cancel_requested
    assert "cancel requested: stopping at the next step" in [r.message for r in other.logs(job.id)]
    assert workspace.summary(done.variant).status == "cancelled"

    again = other.retry(job.id)
    assert (again.kind, again.request.variant) == ("resume", done.variant)


def test_a_refused_request_ends_the_job_failed_and_does_not_raise(workspace):
    store = JobStore(workspace.home)
    first = run_job(workspace, store.submit(_train(1)), store=store)
    again = run_job(workspace, store.submit(_train(1)), store=store)
    assert first.status == "completed"
    assert again.status == "failed" and "already exists" in again.error
    assert store.logs(again.id)[-1].message.startswith("refused: ")
    missing = run_job(
        workspace, store.submit(JobRequest(kind="resume", variant="nope")), store=store
    )
    assert missing.status == "failed" and "nope" in missing.error


def test_the_queue_runs_in_order_skips_paused_jobs_and_stops_when_asked(workspace):
    store = JobStore(workspace.home)
    a, b, c = (store.submit(_train(e)) for e in (1, 2, 3))
    store.set_paused(b.id, True)
    store.move(c.id, a.id)
    started = []
    done = run_queue(workspace, store=store, on_start=lambda j: started.append(j.id))
    assert started == [c.id, a.id] == [j.id for j in done]
    assert [j.status for j in done] == ["completed", "completed"]
    assert [j.id for j in store.queue()] == [b.id]

    stopped = threading.Event()
    stopped.set()
    assert run_queue(workspace, store=store, cancel_event=stopped) == []
    assert store.get(b.id).status == "queued"


def test_a_job_stops_with_its_queue_but_its_own_cancel_stops_only_it():
    queue_stop = threading.Event()
    first, second = LinkedEvent(queue_stop), LinkedEvent(queue_stop)
    first.set()
    assert first.is_set() and not second.is_set() and not queue_stop.is_set()
    queue_stop.set()
    assert second.is_set()


def test_replay_and_sweep_and_distill_run_as_jobs(workspace, teacher):
    from engine.sweeps import create_sweep

    store = JobStore(workspace.home)
    replay = run_job(
        workspace, store.submit(JobRequest(kind="replay", variant=teacher)), store=store
    )
    assert (replay.status, replay.variant, replay.error) == ("completed", teacher, None)

    record = create_sweep(workspace, "mlp", {"epochs": "1,2"}, SMALL, FAST)
    sweep = run_job(
        workspace, store.submit(JobRequest(kind="sweep", sweep_id=record.id)), store=store
    )
    assert (sweep.status, sweep.sweep_id, sweep.family) == ("completed", record.id, "mlp")
    rows = [r.message for r in store.logs(sweep.id) if r.message.startswith("[")]
    assert [row.split()[0:2] for row in rows] == [["[1/2]", "completed"], ["[2/2]", "completed"]]

    request = JobRequest(
        kind="distill", teacher=teacher, family="mlp", domain={"hidden_dim": 16},
        training={"epochs": 2, "threads": 1}, options={"temperature": 2.0},
    )  # fmt: skip
    student = run_job(workspace, store.submit(request), store=store)
    assert student.status == "completed" and student.variant != teacher
    assert workspace.variant(student.variant).config.strategy_params["temperature"] == 2.0
    assert student.describe() == f"Distill {teacher} into {student.variant}"


def test_a_store_that_cannot_be_used_never_stops_a_run(workspace):
    (workspace.home / "trainwright.db").mkdir()
    heard = []
    outcome = run_now(workspace, _train(2), warn=heard.append)
    assert outcome.status == "completed" and outcome.result.status == "completed"
    (warning,) = heard
    assert warning.startswith("could not open") and "not recorded in the job history" in warning


@pytest.mark.parametrize("kind", ["resume", "replay"])
def test_a_request_names_what_it_needs(kind):
    with pytest.raises(ValueError, match=f"a {kind} job needs variant"):
        JobRequest(kind=kind)
