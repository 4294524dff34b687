"""Training off the GUI thread: one worker QObject on its own QThread per run.

The engine's callbacks run on the worker thread. They put chronicle rows into a thread-safe
buffer; the worker drains it at most ~20 times a second (and once more at the end) into one
batched signal. The worker never touches a widget, catches everything, and always ends with
either `failed` or `succeeded`, then `finished`. The RunController lives on the GUI thread,
keeps the thread on `self`, relays the worker's signals and starts queued runs one at a time.
"""

from __future__ import annotations

import gc
import importlib
import logging
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from PySide6.QtCore import QObject, Qt, QThread, QTimer, Signal, Slot

from desktop_app.run_queue import RunQueueModel, RunRequest
from engine.errors import TrainwrightError
from engine.training.callbacks import Callback
from engine.training.chronicle import read_chronicle

log = logging.getLogger("trainwright.desktop")

FLUSH_INTERVAL_S = 0.05  # at most ~20 batches a second


def worker_thread(
    owner: QObject, worker: QObject, name: str, on_thread_finished: Callable[[], None]
) -> QThread:
    """A QThread for `worker` (which has `run` and `finished`), wired for teardown.

    The worker's `finished` quits the thread directly (quit() is thread-safe, so the thread
    ends even while the GUI thread waits in shutdown) and deletes the worker; the thread's
    `finished` calls `on_thread_finished` (a bound method) and deletes the thread. Connect the
    worker's own signals, then `start()` the thread.
    """
    thread = QThread(owner)
    thread.setObjectName(name)
    worker.moveToThread(thread)
    thread.started.connect(worker.run)
    worker.finished.connect(thread.quit, Qt.ConnectionType.DirectConnection)
    worker.finished.connect(worker.deleteLater)
    thread.finished.connect(on_thread_finished)
    thread.finished.connect(thread.deleteLater)
    return thread


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


class TrainingWorker(QObject):
    """Runs one request on the thread it was moved to. Emits; never touches a widget."""

    runStarted = Signal(object)  # info dict (+ "history": chronicle rows kept on resume)
    rowsReady = Signal(object)  # list of chronicle rows
    warningRaised = Signal(str)
    failed = Signal(str)  # the message; the run failed or could not start
    succeeded = Signal(object)  # RunOutcome: completed, cancelled, or a replay result
    finished = Signal()  # always last

    def __init__(self, workspace: Any, request: RunRequest, cancel_event: threading.Event) -> None:
        super().__init__()
        self.workspace = workspace
        self.request = request
        self.cancel_event = cancel_event
        self.buffer = RowBuffer()
        self._last_flush = 0.0
        self._variant: Any = None

    @Slot()
    def run(self) -> None:
        try:
            self._run()
        except BaseException as exc:
            if isinstance(exc, TrainwrightError):  # a refused request: its message says it all
                log.warning("%s refused: %s", self.request.describe(), exc)
            else:
                log.error("%s raised:\n%s", self.request.describe(), traceback.format_exc())
            self._safe_flush()
            self.failed.emit(_message(exc))
        finally:
            self.finished.emit()

    def _run(self) -> None:
        request, ws = self.request, self.workspace
        callbacks = [_WorkerCallback(self)]
        if request.mode in ("train", "retrain"):
            assert request.family is not None
            variant = ws.create_variant(request.family, request.domain, request.training)
        else:
            variant = ws.variant(request.variant, request.family)
        self._variant = variant
        if request.mode == "replay":
            result = ws.replay(variant, callbacks, self.cancel_event)
            self._flush()
            self.succeeded.emit(
                RunOutcome(request, result.status, result.message, replay=result.model_dump())
            )
            return
        trainer = ws.trainer(variant, callbacks, self.cancel_event)
        if request.mode == "resume":
            session = trainer.resume()
        else:
            session = trainer.train(overwrite=request.mode == "retrain")
        self._flush()
        summary = session.model_dump(mode="json", exclude={"metrics"})
        if session.status == "failed":
            self.failed.emit(session.error_message or "the run failed")
        else:
            message = _session_message(summary)
            self.succeeded.emit(RunOutcome(request, session.status, message, session=summary))

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
        if time.monotonic() - self._last_flush >= FLUSH_INTERVAL_S:
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


def _message(exc: BaseException) -> str:
    if isinstance(exc, TrainwrightError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


def _session_message(summary: dict[str, Any]) -> str:
    status = summary.get("status")
    done, total = summary.get("epochs_completed", 0), summary.get("total_epochs", 0)
    if status == "completed":
        return f"completed {done} epochs in {summary.get('duration_s', 0.0):.1f} s"
    if status == "cancelled":
        return f"stopped at epoch {done} of {total}; resumable"
    return str(status)


class RunController(QObject):
    """Owns the run in progress (thread + worker) and the queue; lives on the GUI thread."""

    runStarted = Signal(object, object)  # RunRequest, info dict
    rowsReady = Signal(object)  # list of rows
    runWarning = Signal(str)
    runEnded = Signal(object)  # RunOutcome, emitted once the thread has finished
    busyChanged = Signal(bool)

    def __init__(self, workspace: Any, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.workspace = workspace
        self.queue = RunQueueModel(self)
        self._thread: QThread | None = None
        self._worker: TrainingWorker | None = None
        self._cancel: threading.Event | None = None
        self._current: RunRequest | None = None
        self._outcome: RunOutcome | None = None
        self._shutting_down = False
        self.last_outcome: RunOutcome | None = None

    # ---- state -----------------------------------------------------------------------------
    @property
    def busy(self) -> bool:
        return self._thread is not None

    @property
    def current(self) -> RunRequest | None:
        return self._current

    @property
    def thread(self) -> QThread | None:
        return self._thread

    @property
    def stopping(self) -> bool:
        return self._cancel is not None and self._cancel.is_set()

    # ---- requests --------------------------------------------------------------------------
    def start(self, request: RunRequest) -> None:
        """Start now; the caller checks `busy` first (queue otherwise)."""
        if self.busy:
            raise RuntimeError("a run is already in progress")
        self._shutting_down = False
        cancel = threading.Event()
        worker = TrainingWorker(self.workspace, request, cancel)
        thread = worker_thread(self, worker, "trainwright-run", self._on_thread_finished)
        worker.runStarted.connect(self._on_worker_started)
        worker.rowsReady.connect(self._on_worker_rows)
        worker.warningRaised.connect(self._on_worker_warning)
        worker.failed.connect(self._on_worker_failed)
        worker.succeeded.connect(self._on_worker_succeeded)
        self._thread, self._worker, self._cancel = thread, worker, cancel
        self._current, self._outcome = request, None
        log.info("starting: %s", request.describe())
        self.busyChanged.emit(True)
        thread.start()

    def submit(self, request: RunRequest) -> bool:
        """Start now if idle (True) or append to the queue (False)."""
        if self.busy:
            self.queue.enqueue(request)
            return False
        self.start(request)
        return True

    @Slot()
    def stop(self) -> None:
        """Cancel the run in progress; the engine writes a resumable checkpoint."""
        if self._cancel is not None:
            self._cancel.set()

    @Slot()
    def shutdown(self, timeout_ms: int = 60_000) -> bool:
        """Clear the queue, stop the run and wait for its thread (on quit). True if idle."""
        self._shutting_down = True
        self.queue.clear()
        self.stop()
        thread = self._thread
        if thread is None:
            return True
        finished = thread.wait(timeout_ms)
        if finished:
            self._on_thread_finished()
        return finished

    # ---- worker signals (queued onto the GUI thread) ---------------------------------------
    @Slot(object)
    def _on_worker_started(self, info: dict[str, Any]) -> None:
        if self._current is not None:
            self.runStarted.emit(self._current, info)

    @Slot(object)
    def _on_worker_rows(self, rows: list[dict[str, Any]]) -> None:
        self.rowsReady.emit(rows)

    @Slot(str)
    def _on_worker_warning(self, message: str) -> None:
        self.runWarning.emit(message)

    @Slot(str)
    def _on_worker_failed(self, message: str) -> None:
        if self._current is not None:
            self._outcome = RunOutcome(self._current, "failed", message)

    @Slot(object)
    def _on_worker_succeeded(self, outcome: RunOutcome) -> None:
        self._outcome = outcome

    @Slot()
    def _on_thread_finished(self) -> None:
        thread = self._thread
        if thread is None:
            return
        # `finished` is emitted from the thread just before it really ends: wait for that.
        thread.wait()
        request = self._current
        outcome = self._outcome
        if outcome is None and request is not None:
            outcome = RunOutcome(request, "failed", "the run ended without reporting a result")
        self._thread = self._worker = self._cancel = None
        self._current = self._outcome = None
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


class EngineWarmup(QObject):
    """Imports torch and the built-in families on a background thread after the first paint.

    Registry discovery needs no torch, so the window and forms come up at once; resolving a
    variant name needs the family's implementation (torch), which this loads meanwhile.
    One per process (`EngineWarmup.instance()`), never deleted: the thread may emit after a
    window that asked for it is gone.
    """

    ready = Signal(object)  # list of available devices
    failed = Signal(str)

    _instance: EngineWarmup | None = None

    def __init__(self) -> None:
        super().__init__()
        self._thread: threading.Thread | None = None
        self.devices: list[str] | None = None
        self.error: str | None = None

    @classmethod
    def instance(cls) -> EngineWarmup:
        if cls._instance is None:
            cls._instance = cls()
        return cls._instance

    @property
    def started(self) -> bool:
        return self._thread is not None

    @property
    def done(self) -> bool:
        return self.devices is not None or self.error is not None

    def start(self, workspace: Any) -> None:
        if self._thread is not None:
            return
        modules = [
            spec.implementation.partition(":")[0]
            for spec in workspace.registry.specs()
            if spec.implementation
        ]
        # Not a daemon: interpreter exit waits for a half-done import instead of killing it.
        self._thread = threading.Thread(
            target=self._run, args=(modules,), name="trainwright-warmup", daemon=False
        )
        self._thread.start()

    def join(self, timeout: float | None = None) -> None:
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self, modules: list[str]) -> None:
        try:
            import torch  # the slow part; the families below import it too

            for module in modules:
                importlib.import_module(module)
            devices = available_devices()
        except BaseException as exc:  # reported, never raised on a thread
            self.error = f"{type(exc).__name__}: {exc}"
            if not threading.main_thread().is_alive():
                return  # the process is exiting under us: nobody is waiting for torch
            log.error("engine warm-up failed:\n%s", traceback.format_exc())
            self.failed.emit(self.error)
            return
        self.devices = devices
        if not threading.main_thread().is_alive():
            return
        self.ready.emit(devices)
        # Every torch optimizer's constructor imports torch._dynamo on first use (seconds):
        # do it now, in the background, so the first Start does not wait for it.
        try:
            import torch._dynamo  # noqa: F401
        except Exception:
            if threading.main_thread().is_alive():
                log.warning("could not pre-import torch._dynamo:\n%s", traceback.format_exc())


class GuiThreadGarbageCollector(QObject):
    """While installed, Python's cyclic garbage collector runs on the GUI thread only.

    Automatic collection runs in whichever thread happens to allocate: the training thread or
    the torch import. Cyclic garbage often holds Qt wrappers, and destroying those off the GUI
    thread can deadlock (the GIL against Qt's locks) or crash. So automatic collection is off
    while a main window is open, and a GUI-thread timer collects by the same thresholds
    (the approach of pyqtgraph's GarbageCollector).
    """

    INTERVAL_MS = 250
    _instance: GuiThreadGarbageCollector | None = None
    _users = 0

    def __init__(self) -> None:
        super().__init__()
        self.thresholds = gc.get_threshold()
        self.frozen = False
        self._timer = QTimer(self)
        self._timer.setInterval(self.INTERVAL_MS)
        self._timer.timeout.connect(self.check)

    @classmethod
    def acquire(cls) -> None:
        if cls._instance is None:
            cls._instance = cls()
        cls._users += 1
        if cls._users == 1:
            gc.disable()
            cls._instance._timer.start()

    @classmethod
    def release(cls) -> None:
        if cls._users == 0 or cls._instance is None:
            return
        cls._users -= 1
        if cls._users == 0:
            cls._instance._timer.stop()
            if cls._instance.frozen:
                cls._instance.frozen = False
                gc.unfreeze()
            gc.enable()
            gc.collect()  # here, on the GUI thread

    @classmethod
    def active(cls) -> bool:
        return cls._users > 0

    @Slot()
    def check(self) -> None:
        if not self.frozen and _warmup_finished():
            # Torch and the families are loaded for good. Without this, every full collection
            # walks their ~350,000 objects again (~140 ms on bench B2's 2-core machine), here on
            # the GUI thread, about every half minute while a run allocates: a visible freeze.
            # So, once: collect, then gc.freeze() what survives (the cyclic collector leaves it
            # alone; reference counting still frees it). Unfrozen when the last window closes.
            gc.collect()
            gc.freeze()
            self.frozen = True
            return
        count0, count1, count2 = gc.get_count()
        if count0 > self.thresholds[0]:
            gc.collect(0)
            if count1 > self.thresholds[1]:
                gc.collect(1)
                if count2 > self.thresholds[2]:
                    gc.collect(2)


def _warmup_finished() -> bool:
    """The engine warm-up thread (torch, the families, torch._dynamo) has run to its end."""
    warmup = EngineWarmup._instance
    return warmup is not None and warmup._thread is not None and not warmup._thread.is_alive()


_DEVICES: list[str] | None = None


def available_devices() -> list[str]:
    """cpu, plus cuda/mps where torch sees them (imports torch; cached)."""
    global _DEVICES
    if _DEVICES is None:
        import torch

        found = ["cpu"]
        if torch.cuda.is_available():
            found.append("cuda")
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            found.append("mps")
        _DEVICES = found
    return list(_DEVICES)
