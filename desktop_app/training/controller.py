"""Training off the GUI thread: one TrainingWorker task on its own QThread per run.

Every run is a job of the data home's job store (engine.jobs): the worker submits its request
as a job that starts at once, or claims the next queued one, and runs it with
`engine.jobs.runner.run_job`, which records its history, log records and resources.

The engine's callbacks run on the worker's thread. They put chronicle rows into a thread-safe
buffer; the worker drains it at most ~20 times a second (and once more at the end) into one
batched signal. The worker never touches a widget; like every Task it catches everything and
ends with `result` (a RunOutcome) or `failed`. The RunController lives on the GUI thread, owns
the run in progress through a TaskRunner (which keeps the thread referenced until it has
ended), relays the worker's signals and, while the queue is active, claims the next queued
job when a run ends.
"""

from __future__ import annotations

import logging
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Signal, Slot

from desktop_app.kit.job_store import JobStoreService
from desktop_app.kit.tasks import (
    PROGRESS_INTERVAL_S,
    ActiveTask,
    RequestTask,
    TaskRunner,
    error_message,
)
from desktop_app.training.run_queue import RunQueue, RunRequest
from engine import variants
from engine.errors import TrainwrightError
from engine.training.callbacks import Callback
from engine.training.chronicle import read_chronicle
from engine.variants import variant_dir

log = logging.getLogger("trainwright.desktop")


class RowBuffer:
    """Rows handed from the training thread to whoever drains them; safe across threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rows: list[dict[str, Any]] = []

    def put(self, row: dict[str, Any]) -> None:
        with self._lock:
            self._rows.append(row)

    def drain(self) -> list[dict[str, Any]]:
        with self._lock:
            rows, self._rows = self._rows, []
        return rows

    def __len__(self) -> int:
        with self._lock:
            return len(self._rows)


@dataclass
class RunOutcome:
    """How a run ended, as the GUI shows it."""

    request: RunRequest
    status: str  # completed, cancelled, timed_out, failed, identical, diverged
    message: str = ""
    session: dict[str, Any] = field(default_factory=dict)
    replay: dict[str, Any] | None = None
    job_id: int | None = None  # the job it ran as (None: it never got one)
    variant: str = ""  # the variant it trained (a queued train may not have known its name)
    duration_s: float = 0.0  # wall time of this run, start to end
    metrics: dict[str, Any] = field(default_factory=dict)  # the session's final metrics

    @property
    def failed(self) -> bool:
        return self.status == "failed"

    @property
    def name(self) -> str:
        """What ran: the variant, else the request's own description."""
        return self.variant or self.request.variant or self.request.describe()


class _WorkerCallback(Callback):
    """Engine hooks on the training thread: buffer rows, nothing else."""

    def __init__(self, worker: TrainingWorker) -> None:
        self.worker = worker

    def on_train_start(self, info: dict[str, Any]) -> None:
        self.worker._report_start(info)

    def on_log(self, row: dict[str, Any]) -> None:
        self.worker.buffer.put(dict(row))
        self.worker._maybe_flush()

    def on_warning(self, message: str) -> None:
        self.worker._flush()
        self.worker.warningRaised.emit(message)


class TrainingWorker(RequestTask):
    """Runs one request on its thread as a job of the store (`engine.jobs.execute_job`
    records its history, log and resources): result RunOutcome, or None when asked to claim
    the next queued job and none was left; `failed` when the run could not start at all.

    With a request it submits it as a job that starts at once; with none it claims the first
    unpaused queued job (atomically: a CLI working through the same queue never takes the
    same one) and runs that. A store that cannot be opened does not stop a run started here:
    it runs unrecorded, and says so as a warning."""

    runStarted = Signal(object)  # info dict (+ "history": chronicle rows kept on resume)
    rowsReady = Signal(object)  # list of chronicle rows
    warningRaised = Signal(str)
    jobStarted = Signal(object)  # the RunRequest, with the id of the job it runs as

    kind = "run"

    request: RunRequest | None

    def __init__(self, workspace: Any, request: RunRequest | None) -> None:
        super().__init__(workspace, request)
        self.buffer = RowBuffer()
        self._last_flush = 0.0
        self._resumed = False  # the run continues a variant's earlier ones (its time adds up)

    def compute(self) -> RunOutcome | None:
        """Submit (or claim) the job, run it, and say how it ended as the GUI shows it."""
        from engine.jobs.runner import execute_job
        from engine.jobs.store import JobStore

        callbacks = [_WorkerCallback(self)]
        asked = self.request
        try:
            store = JobStore(self.workspace.home)
        except Exception as exc:
            if asked is None:
                raise
            return self._run_unrecorded(callbacks, exc)
        try:
            try:
                job = self._take_job(store)
            except Exception as exc:  # the store cannot be written: a request still runs
                if asked is None:
                    raise
                return self._run_unrecorded(callbacks, exc)
            if job is None:
                return None
            started = time.monotonic()
            done = execute_job(self.workspace, job, callbacks, self.cancel_event, store=store)
        finally:
            store.close()
        self._flush()
        for warning in done.warnings:
            self.warningRaised.emit(warning)
        return self._outcome(done.job, done.outcome, time.monotonic() - started)

    def _take_job(self, store: Any) -> Any:
        """The job to run: this request submitted as a running job, or the next queued one
        (None: nothing left, or stopped before anything was claimed)."""
        if self.request is None:
            if self.cancel_event.is_set():
                return None
            job = store.claim_next()
            if job is None:
                return None
            self.request = RunRequest.from_job(job)
        else:
            job = store.submit(self.request.to_job_request(), queued=False)
            self.request = self.request.with_job(int(job.id))
        self.jobStarted.emit(self.request)
        return job

    def _run_unrecorded(self, callbacks: list[Callback], problem: BaseException) -> RunOutcome:
        """The store cannot be opened: run the request all the same, without a job."""
        from engine.jobs.runner import run_unrecorded

        assert self.request is not None
        self.warningRaised.emit(
            f"{error_message(problem)}; this run is not recorded in the job history"
        )
        started = time.monotonic()
        outcome = run_unrecorded(
            self.workspace, self.request.to_job_request(), callbacks, self.cancel_event
        )
        self._flush()
        return self._outcome(None, outcome, time.monotonic() - started)

    def _outcome(self, job: Any, outcome: Any, seconds: float) -> RunOutcome:
        """The finished job (None: unrecorded) as the Training tab and notifications show it:
        the engine's result (a session, a replay's comparison) says the most."""
        request = self.request
        assert request is not None
        result = outcome.result
        if isinstance(result, tuple):  # a distillation: (strategy, session)
            result = result[-1]
        status = str(job.status if job is not None else outcome.status)
        error = (job.error if job is not None else None) or outcome.error
        common: dict[str, Any] = {
            "job_id": int(job.id) if job is not None else None,
            "variant": (job.variant if job is not None else None) or outcome.variant or "",
            "duration_s": seconds,
        }
        if request.mode == "replay" and result is not None and hasattr(result, "identical"):
            return RunOutcome(
                request, result.status, result.message, replay=result.model_dump(), **common
            )
        if status == "failed" or result is None:
            return RunOutcome(request, "failed", error or "the run failed", **common)
        if not hasattr(result, "final_metrics"):  # a sweep's record
            return RunOutcome(request, status, error or status, **common)
        summary = result.model_dump(mode="json", exclude={"metrics"})
        total = _variant_elapsed(summary.get("path")) if self._resumed else None
        return RunOutcome(
            request,
            status,
            _session_message(summary, status, total),
            session=summary,
            metrics=dict(result.final_metrics or {}),
            **common,
        )

    def failure_message(self, exc: BaseException) -> str:
        what = self.request.describe() if self.request is not None else "the next queued run"
        if isinstance(exc, TrainwrightError):  # a refused request: its message says it all
            log.warning("%s refused: %s", what, exc)
        else:
            log.error("%s raised:\n%s", what, traceback.format_exc())
        self._safe_flush()  # the rows before the failure still reach the table and plots
        return error_message(exc)

    # ---- called on the training thread by _WorkerCallback ----------------------------------
    def _report_start(self, info: dict[str, Any]) -> None:
        payload = {k: v for k, v in info.items() if k != "metrics"}
        history: list[dict[str, Any]] = []
        if info.get("resumed") and info.get("family") and info.get("variant"):
            # The trainer has just cut the chronicle back to the checkpoint: what is in the
            # file now is exactly the history this run continues from.
            directory = variant_dir(self.workspace.home, str(info["family"]), str(info["variant"]))
            history = list(read_chronicle(variants.chronicle_path(directory)))
            # The time its earlier runs took: the progress bar counts on from it.
            self._resumed = True
            payload["elapsed_s"] = _variant_elapsed(str(directory)) or 0.0
        payload["history"] = history
        payload["mode"] = self.request.mode if self.request is not None else "train"
        self.runStarted.emit(payload)

    def _maybe_flush(self) -> None:
        if time.monotonic() - self._last_flush >= PROGRESS_INTERVAL_S:
            self._flush()

    def _flush(self) -> None:
        rows = self.buffer.drain()
        self._last_flush = time.monotonic()
        if rows:
            self.rowsReady.emit(rows)

    def _safe_flush(self) -> None:
        try:
            self._flush()
        except Exception:
            log.exception("could not flush the last rows")


def _variant_elapsed(path: str | None) -> float | None:
    """The training time of every run of the variant at `path` so far (metadata.json's
    elapsed_s), or None if it cannot be read."""
    from engine.metadata import VariantMetadata

    if not path:
        return None
    try:
        return float(VariantMetadata.load(variants.metadata_path(Path(path))).elapsed_s)
    except Exception:
        return None


def _session_message(summary: dict[str, Any], status: str, total_s: float | None = None) -> str:
    """The status line for a finished (or stopped) run; `total_s`, the variant's training time
    over all its runs (a resumed run), follows this run's own."""
    done, total = summary.get("epochs_completed", 0), summary.get("total_epochs", 0)
    if status == "completed":
        duration = float(summary.get("duration_s", 0.0))
        message = f"completed {done} epochs in {duration:.1f} s"
        if total_s is not None and total_s > duration + 0.05:
            message += f" ({total_s:.1f} s in all)"
        reason = summary.get("stop_reason")
        return f"{message}: {reason}" if reason else message
    if status == "cancelled":
        return f"stopped at epoch {done} of {total}; resumable"
    if status == "timed_out":
        return f"stopped at its time limit at epoch {done} of {total}; resumable"
    return status


class RunController(QObject):
    """Owns the run in progress (a TrainingWorker task) and the queue; lives on the GUI
    thread. Busy from `start` until the run's thread has ended."""

    runStarted = Signal(object, object)  # RunRequest, info dict
    rowsReady = Signal(object)  # list of rows
    runWarning = Signal(str)
    runEnded = Signal(object)  # RunOutcome, emitted once the thread has finished
    busyChanged = Signal(bool)
    jobStarted = Signal(object)  # RunRequest with its job id: the job the run is recorded as

    def __init__(
        self,
        workspace: Any,
        parent: QObject | None = None,
        *,
        store: JobStoreService | None = None,
    ) -> None:
        super().__init__(parent)
        self.workspace = workspace
        self._owns_store = store is None
        self.store = store if store is not None else JobStoreService(workspace.home, self)
        self.queue = RunQueue(self.store, self)
        self.queue.startRequested.connect(self.start_next)
        self.runner = TaskRunner(self)
        self.active = ActiveTask(self.runner)  # the run in progress: its request, thread, cancel
        self._outcome: RunOutcome | None = None
        self._shutting_down = False
        self.last_outcome: RunOutcome | None = None

    # ---- state -----------------------------------------------------------------------------
    @property
    def busy(self) -> bool:
        return self.active.busy

    @property
    def current(self) -> RunRequest | None:
        """The request running now (None when idle, or while the next one is being claimed)."""
        return self.active.request

    @property
    def current_job_id(self) -> int | None:
        """The job the run in progress is recorded as (None when idle or not known yet)."""
        current = self.active.request
        return current.job_id if current is not None else None

    # ---- requests --------------------------------------------------------------------------
    def start(self, request: RunRequest) -> None:
        """Start now; the caller checks `busy` first (queue otherwise)."""
        self._start_worker(request)

    @Slot()
    def start_next(self) -> None:
        """Claim the first unpaused queued job and run it (if idle; nothing left: the queue
        stops being worked through)."""
        if self.busy or self._shutting_down:
            return
        self._start_worker(None)

    def enqueue(self, request: RunRequest) -> None:
        """Queue `request` behind the run in progress; the queue is worked through from now."""
        self.queue.submit(request)
        self.queue.set_active(True)

    def retry(
        self,
        job_id: int,
        on_done: Callable[[Any], None] | None = None,
        on_failed: Callable[[str], None] | None = None,
    ) -> None:
        """Queue a finished job again (the store decides: resume from its checkpoint, or start
        over). Idle: it goes to the front and starts now; mid-run: it waits at the end and the
        queue is worked through. `on_done(job)` / `on_failed(message)` on the GUI thread."""
        to_front = not self.busy

        def retry(store: Any) -> Any:
            job = store.retry(job_id)
            queued = store.queue()
            if to_front and queued and queued[0].id != job.id:
                store.move(job.id, queued[0].id)
            return job

        def done(job: Any) -> None:
            self.queue.refresh()
            if self.busy:
                self.queue.set_active(True)
            else:
                self.start_next()
            if on_done is not None:
                on_done(job)

        self.store.call(retry, done, on_failed)

    def _start_worker(self, request: RunRequest | None) -> None:
        if self.busy:
            raise RuntimeError("a run is already in progress")
        self._shutting_down = False
        worker = TrainingWorker(self.workspace, request)
        worker.runStarted.connect(self._on_worker_started)
        worker.rowsReady.connect(self._on_worker_rows)
        worker.warningRaised.connect(self._on_worker_warning)
        worker.jobStarted.connect(self._on_job_started)
        self._outcome = None
        log.info("starting: %s", request.describe() if request else "the next queued job")
        self.active.start(
            worker, request, self._on_worker_result, self._on_worker_failed, self._on_ended
        )
        self.busyChanged.emit(True)  # its signals are queued: none arrives before this

    @Slot()
    def stop(self) -> None:
        """Cancel the run in progress; the engine writes a resumable checkpoint."""
        self.active.stop()

    @Slot()
    def shutdown(self, timeout_ms: int = 60_000) -> bool:
        """Stop the run and wait for its thread (on quit), then close the store's thread (if
        this controller opened it). The queue stays in the store. True if idle."""
        self._shutting_down = True
        self.queue.stop_polling()
        self.stop()
        ended = self.runner.shutdown(timeout_ms)
        if self._owns_store:
            ended = self.store.shutdown() and ended
        return ended

    # ---- worker signals (queued onto the GUI thread) ---------------------------------------
    @Slot(object)
    def _on_job_started(self, request: RunRequest) -> None:
        if self.active.busy:
            self.active.request = request  # a claimed job: now the run has a request
            self.jobStarted.emit(request)
            self.queue.refresh()

    @Slot(object)
    def _on_worker_started(self, info: dict[str, Any]) -> None:
        if self.current is not None:
            self.runStarted.emit(self.current, info)

    @Slot(object)
    def _on_worker_rows(self, rows: list[dict[str, Any]]) -> None:
        self.rowsReady.emit(rows)

    @Slot(str)
    def _on_worker_warning(self, message: str) -> None:
        self.runWarning.emit(message)

    @Slot(int, object)
    def _on_worker_result(self, request_id: int, outcome: RunOutcome | None) -> None:
        self._outcome = outcome

    @Slot(int, str)
    def _on_worker_failed(self, request_id: int, message: str) -> None:
        current = self.current
        self._outcome = RunOutcome(
            current or RunRequest("train", "", label="The next queued run"), "failed", message
        )

    def _on_ended(self) -> None:
        """The run's thread has ended: report the outcome, then (queue active) claim the next
        queued job. A claim that found nothing ends quietly and the queue stops."""
        outcome = self._outcome
        self.active.ended()
        self._outcome = None
        if outcome is None:  # nothing was left to claim
            self.queue.set_active(False)
            self.busyChanged.emit(False)
            self.queue.refresh()
            return
        self.last_outcome = outcome
        if outcome.job_id is None:  # it never became a job (the store failed): stop here
            self.queue.set_active(False)
        log.info("ended: %s: %s %s", outcome.request.describe(), outcome.status, outcome.message)
        self.busyChanged.emit(False)
        self.runEnded.emit(outcome)
        self.queue.refresh()
        if not self._shutting_down and not self.busy and self.queue.active:
            self.start_next()
