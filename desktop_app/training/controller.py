"""Training off the GUI thread: one TrainingWorker task on its own QThread per run.

The engine's callbacks run on the worker's thread. They put chronicle rows into a thread-safe
buffer; the worker drains it at most ~20 times a second (and once more at the end) into one
batched signal. The worker never touches a widget; like every Task it catches everything and
ends with `result` (a RunOutcome) or `failed`. The RunController lives on the GUI thread, owns
the run in progress through a TaskRunner (which keeps the thread referenced until it has
ended), relays the worker's signals and starts queued runs one at a time.
"""

from __future__ import annotations

import logging
import threading
import time
import traceback
from dataclasses import dataclass, field
from typing import Any

from PySide6.QtCore import QObject, Signal, Slot

from desktop_app.kit.tasks import (
    PROGRESS_INTERVAL_S,
    ActiveTask,
    RequestTask,
    TaskRunner,
    error_message,
)
from desktop_app.training.run_queue import RunQueueModel, RunRequest
from engine.errors import TrainwrightError
from engine.training.callbacks import Callback
from engine.training.chronicle import read_chronicle
from engine.variants import Variant

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
    status: str  # completed, cancelled, failed, identical, diverged
    message: str = ""
    session: dict[str, Any] = field(default_factory=dict)
    replay: dict[str, Any] | None = None

    @property
    def failed(self) -> bool:
        return self.status == "failed"


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
    """Runs one request on its thread: result RunOutcome (completed, cancelled, a replay's);
    `failed` when the run failed or could not start."""

    runStarted = Signal(object)  # info dict (+ "history": chronicle rows kept on resume)
    rowsReady = Signal(object)  # list of chronicle rows
    warningRaised = Signal(str)

    kind = "run"

    request: RunRequest

    def __init__(self, workspace: Any, request: RunRequest) -> None:
        super().__init__(workspace, request)
        self.buffer = RowBuffer()
        self._last_flush = 0.0
        self._variant: Any = None

    def compute(self) -> RunOutcome:
        """Train, retrain, resume or replay the variant; the outcome as the GUI shows it."""
        request, ws = self.request, self.workspace
        callbacks = [_WorkerCallback(self)]
        if request.mode in ("train", "retrain") and request.config is not None:
            variant = Variant(ws.home, request.config)  # resolved once, by the form
        elif request.mode in ("train", "retrain"):
            assert request.family is not None
            variant = ws.create_variant(request.family, request.domain, request.training)
        else:
            variant = ws.variant(request.variant, request.family)
        self._variant = variant
        if request.mode == "replay":
            result = ws.replay(variant, callbacks, self.cancel_event)
            self._flush()
            return RunOutcome(request, result.status, result.message, replay=result.model_dump())
        trainer = ws.trainer(variant, callbacks, self.cancel_event)
        if request.mode == "resume":
            session = trainer.resume()
        else:
            session = trainer.train(overwrite=request.mode == "retrain")
        self._flush()
        if session.status == "failed":
            return RunOutcome(request, "failed", session.error_message or "the run failed")
        summary = session.model_dump(mode="json", exclude={"metrics"})
        return RunOutcome(request, session.status, _session_message(summary), session=summary)

    def failure_message(self, exc: BaseException) -> str:
        if isinstance(exc, TrainwrightError):  # a refused request: its message says it all
            log.warning("%s refused: %s", self.request.describe(), exc)
        else:
            log.error("%s raised:\n%s", self.request.describe(), traceback.format_exc())
        self._safe_flush()  # the rows before the failure still reach the table and plots
        return error_message(exc)

    # ---- called on the training thread by _WorkerCallback ----------------------------------
    def _report_start(self, info: dict[str, Any]) -> None:
        payload = {k: v for k, v in info.items() if k != "metrics"}
        history: list[dict[str, Any]] = []
        if info.get("resumed") and self._variant is not None:
            # The trainer has just cut the chronicle back to the checkpoint: what is in the
            # file now is exactly the history this run continues from.
            history = list(read_chronicle(self._variant.chronicle_path))
        payload["history"] = history
        payload["mode"] = self.request.mode
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


def _session_message(summary: dict[str, Any]) -> str:
    """The status line for a finished (or stopped) run."""
    status = summary.get("status")
    done, total = summary.get("epochs_completed", 0), summary.get("total_epochs", 0)
    if status == "completed":
        return f"completed {done} epochs in {summary.get('duration_s', 0.0):.1f} s"
    if status == "cancelled":
        return f"stopped at epoch {done} of {total}; resumable"
    return str(status)


class RunController(QObject):
    """Owns the run in progress (a TrainingWorker task) and the queue; lives on the GUI
    thread. Busy from `start` until the run's thread has ended."""

    runStarted = Signal(object, object)  # RunRequest, info dict
    rowsReady = Signal(object)  # list of rows
    runWarning = Signal(str)
    runEnded = Signal(object)  # RunOutcome, emitted once the thread has finished
    busyChanged = Signal(bool)

    def __init__(self, workspace: Any, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.workspace = workspace
        self.queue = RunQueueModel(self)
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
        """The request running now (None when idle)."""
        return self.active.request

    # ---- requests --------------------------------------------------------------------------
    def start(self, request: RunRequest) -> None:
        """Start now; the caller checks `busy` first (queue otherwise)."""
        if self.busy:
            raise RuntimeError("a run is already in progress")
        self._shutting_down = False
        worker = TrainingWorker(self.workspace, request)
        worker.runStarted.connect(self._on_worker_started)
        worker.rowsReady.connect(self._on_worker_rows)
        worker.warningRaised.connect(self._on_worker_warning)
        self._outcome = None
        log.info("starting: %s", request.describe())
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
        """Clear the queue, stop the run and wait for its thread (on quit). True if idle."""
        self._shutting_down = True
        self.queue.clear()
        self.stop()
        return self.runner.shutdown(timeout_ms)

    # ---- worker signals (queued onto the GUI thread) ---------------------------------------
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
    def _on_worker_result(self, request_id: int, outcome: RunOutcome) -> None:
        self._outcome = outcome

    @Slot(int, str)
    def _on_worker_failed(self, request_id: int, message: str) -> None:
        if self.current is not None:
            self._outcome = RunOutcome(self.current, "failed", message)

    def _on_ended(self) -> None:
        """The run's thread has ended: report the outcome, then start the next queued run."""
        request, outcome = self.active.request, self._outcome
        if outcome is None and request is not None:
            outcome = RunOutcome(request, "failed", "the run ended without reporting a result")
        self.active.ended()
        self._outcome = None
        self.last_outcome = outcome
        if outcome is not None:
            log.info(
                "ended: %s: %s %s", outcome.request.describe(), outcome.status, outcome.message
            )
        self.busyChanged.emit(False)
        if outcome is not None:
            self.runEnded.emit(outcome)
        if not self._shutting_down and not self.busy:
            self.start_next()

    @Slot()
    def start_next(self) -> None:
        if self.busy:
            return
        request = self.queue.pop_next()
        if request is not None:
            self.start(request)
