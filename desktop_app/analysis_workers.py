"""Worker objects for the Analysis tab and the runner that gives each one a QThread.

Every worker is a QObject moved to its own QThread; `run()` catches every exception and
emits `failed` instead, never touches a widget, and stops early once its `cancel_event` is
set. Results travel back through signals carrying the request id, so the tab can drop answers
to requests it has since replaced.
"""

from __future__ import annotations

import threading
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Qt, QThread, Signal, Slot
from shiboken6 import isValid


class Worker(QObject):
    """Base: override `compute()`; `run()` reports its value or its exception."""

    finished = Signal(int, object)  # request id, result
    failed = Signal(int, str)  # request id, message
    progress = Signal(int, int, int)  # request id, done, total

    kind = "work"

    def __init__(self, request_id: int, path: str = "") -> None:
        super().__init__()
        self.request_id = request_id
        self.path = path  # the variant directory it works on ("" if several)
        self.cancel_event = threading.Event()
        self.done = threading.Event()
        self.details = ""  # the traceback of an unexpected failure

    def cancel(self) -> None:
        self.cancel_event.set()

    def report_progress(self, done: int, total: int) -> None:
        self.progress.emit(self.request_id, done, total)

    @Slot()
    def run(self) -> None:
        try:
            result = self.compute()
        except BaseException as exc:  # every failure becomes a signal
            message = str(exc) or type(exc).__name__
            if not _user_facing(exc):
                message = f"{type(exc).__name__}: {message}"
                self.details = traceback.format_exc()
            self.failed.emit(self.request_id, message)
        else:
            self.finished.emit(self.request_id, result)
        finally:
            self.done.set()  # after the signal: a collected job's signal is already posted

    def compute(self) -> Any:  # pragma: no cover - overridden
        raise NotImplementedError


def _user_facing(exc: BaseException) -> bool:
    from engine.errors import TrainwrightError

    return isinstance(exc, TrainwrightError)


class CurvesWorker(Worker):
    """Reads the epoch curves of several variants: result {path: curves dict}."""

    kind = "curves"

    def __init__(self, request_id: int, paths: Sequence[str]) -> None:
        super().__init__(request_id)
        self.paths = list(paths)

    def compute(self) -> dict[str, dict[str, Any]]:
        from engine.analysis.curves import epoch_curves

        out: dict[str, dict[str, Any]] = {}
        for path in self.paths:
            if self.cancel_event.is_set():
                break
            out[path] = epoch_curves(Path(path))
        return out


class AnalysisWorker(Worker):
    """Runs the family's checkpoint analyses on one variant: result CheckpointAnalysis."""

    kind = "analysis"

    def __init__(self, request_id: int, path: str, analyses: Sequence[str]) -> None:
        super().__init__(request_id, path)
        self.analyses = list(analyses)

    def compute(self) -> Any:
        from engine.analysis import analyse_checkpoints

        return analyse_checkpoints(
            Path(self.path),
            self.analyses,
            cancel_event=self.cancel_event,
            progress=self.report_progress,
        )


class ReplayWorker(Worker):
    """Trains the variant again in a temporary home and compares: result ReplayResult."""

    kind = "replay"

    def __init__(self, request_id: int, workspace: Any, path: str) -> None:
        super().__init__(request_id, path)
        self.workspace = workspace

    def compute(self) -> Any:
        from engine.training.callbacks import Callback
        from engine.variants import Variant

        worker = self

        class _Progress(Callback):
            total = 0

            def on_train_start(self, info: dict[str, Any]) -> None:
                self.total = int(info.get("total_epochs") or 0)

            def on_epoch_end(self, metrics: Any) -> None:
                worker.report_progress(int(metrics.epoch), self.total)

        variant = Variant.load(Path(self.path))
        return self.workspace.replay(variant, [_Progress()], self.cancel_event)


@dataclass
class Job:
    """A started worker: its thread, and plain-Python handles that outlive the Qt objects."""

    thread: QThread
    worker: Worker
    kind: str
    path: str
    cancel_event: threading.Event
    done: threading.Event

    def alive(self) -> bool:
        """True while the thread's C++ object exists (deleteLater removes it after it ends)."""
        return isValid(self.thread)

    def running(self) -> bool:
        return self.alive() and self.thread.isRunning()

    def wait(self, timeout_ms: int) -> bool:
        return not self.alive() or self.thread.wait(timeout_ms)


class WorkerRunner(QObject):
    """Starts workers on their own QThreads, keeps both referenced, and cleans up after them.

    The usual Qt wiring: the worker's finished/failed quit the thread; the thread's finished
    deletes the worker (in its own thread, as the thread ends) and then the thread itself
    (deleteLater), and `_collect` drops the Python references once the thread has ended.
    """

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._jobs: list[Job] = []

    def start(
        self,
        worker: Worker,
        on_finished: Callable[[int, Any], None],
        on_failed: Callable[[int, str], None],
        on_progress: Callable[[int, int, int], None] | None = None,
    ) -> QThread:
        """Move `worker` to a new QThread and start it; the slots must be bound methods."""
        thread = QThread()
        thread.setObjectName(f"trainwright-{worker.kind}-{worker.request_id}")
        worker.moveToThread(thread)
        thread.started.connect(worker.run)
        worker.finished.connect(on_finished)
        worker.failed.connect(on_failed)
        if on_progress is not None:
            worker.progress.connect(on_progress)
        # quit is thread-safe: end the thread's loop as soon as the worker is done.
        worker.finished.connect(thread.quit, Qt.ConnectionType.DirectConnection)
        worker.failed.connect(thread.quit, Qt.ConnectionType.DirectConnection)
        thread.finished.connect(worker.deleteLater)
        thread.finished.connect(thread.deleteLater)
        thread.finished.connect(self._collect)
        job = Job(thread, worker, worker.kind, worker.path, worker.cancel_event, worker.done)
        self._jobs.append(job)
        thread.start()
        return thread

    @Slot()
    def _collect(self) -> None:
        """Drop every job whose worker is done, once its thread has really ended."""
        self._jobs = [j for j in self._jobs if not (j.done.is_set() and j.wait(5000))]

    def jobs(self, kind: str | None = None) -> list[Job]:
        return [j for j in self._jobs if kind is None or j.kind == kind]

    def _matching(self, kind: str | None, path: str | None) -> list[Job]:
        return [j for j in self.jobs(kind) if path is None or j.path == path]

    def busy(self, kind: str | None = None, path: str | None = None) -> bool:
        """True while a worker (of this kind, on this variant) has not finished."""
        return any(not j.done.is_set() for j in self._matching(kind, path))

    def cancel(self, kind: str | None = None, path: str | None = None) -> None:
        """Ask matching workers to stop; their results still arrive (marked cancelled)."""
        for job in self._matching(kind, path):
            job.cancel_event.set()

    def wait_for(
        self, kind: str | None = None, path: str | None = None, timeout_ms: int = 10000
    ) -> bool:
        """Cancel matching workers and wait for their threads; True if all ended in time."""
        ended = True
        for job in self._matching(kind, path):
            job.cancel_event.set()
            ended = job.wait(timeout_ms) and ended
        return ended

    def shutdown(self, timeout_ms: int = 30000) -> bool:
        """Cancel every worker, stop and wait for every thread; True if all ended in time."""
        for job in self._jobs:
            job.cancel_event.set()
        ended = True
        for job in self._jobs:
            if job.alive():
                job.thread.quit()
            ended = job.wait(timeout_ms) and ended
        self._jobs = [j for j in self._jobs if j.running()]
        return ended

    def running(self) -> int:
        """Threads still running (0 once everything has ended)."""
        return sum(1 for j in self._jobs if j.running())
