"""The one way the desktop app runs background work: a Task on its own QThread.

A `Task` is a QObject whose `compute()` runs on a QThread that a `TaskRunner` starts for it.
`run()` catches every exception, so a task always ends with exactly one of `result` or
`failed`, then `finished`. Work that can stop early checks `cancel_event` (a
`threading.Event`, set from the GUI thread through the runner or the task). A task never
touches a widget: it emits, and Qt queues each signal onto the GUI thread, where the slots
(bound methods of GUI-thread QObjects, never lambdas, which would run on the task's thread)
update the views. A task may declare more signals of its own (rows of a run, progress of a
sweep); signals emitted on the task's thread reach their GUI-thread receivers in order.

The `TaskRunner` keeps every thread referenced until it has really ended (a QThread destroyed
while running aborts the process), deletes the thread, and calls a job's `on_ended` callback on
the GUI thread once its thread is over: after the task's last signal has been delivered, so
"busy" can mean "the thread still runs".

A task is never destroyed on its own thread (no deleteLater there). Destroying a Python-made
QObject takes a lock of Qt's signal-slot table and then the GIL; the GUI thread, holding the
GIL, can be waiting for that same lock (pyqtgraph connects and disconnects as it draws): a
deadlock, seen in the test suite. A task is owned by Python and goes when the GUI thread drops
the last reference to it, after its thread has ended (which makes that safe).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, Qt, QThread, Signal, Slot
from shiboken6 import isValid

from engine.errors import TrainwrightError
from engine.training.callbacks import Callback

PROGRESS_INTERVAL_S = 0.05  # progress and rows go to the GUI at most ~20 times a second


def error_message(exc: BaseException) -> str:
    """What the user reads for a failure: the engine's own words for a refused request, else
    the exception's type and message."""
    text = str(exc) or type(exc).__name__
    return text if isinstance(exc, TrainwrightError) else f"{type(exc).__name__}: {text}"


class Throttle:
    """True at most once per `interval` seconds (and always for a final value): keeps signals
    from a busy thread at a rate the GUI thread can draw."""

    def __init__(self, interval: float = PROGRESS_INTERVAL_S) -> None:
        self.interval = interval
        self._last = -float("inf")

    def ready(self, final: bool = False) -> bool:
        now = time.monotonic()
        if final or now - self._last >= self.interval:
            self._last = now
            return True
        return False


class Task(QObject):
    """Background work: override `compute()`; `run()` (on the task's thread) reports its value
    through `result`, or its exception through `failed`, and then always `finished`."""

    result = Signal(int, object)  # request id, what compute() returned
    failed = Signal(int, str)  # request id, the message for the user
    progress = Signal(int, int, int)  # request id, done, total
    finished = Signal()  # always last: the runner ends the thread on it

    kind = "task"  # what TaskRunner.busy/cancel select on

    def __init__(self, request_id: int = 0, path: str = "") -> None:
        super().__init__()
        self.request_id = request_id  # lets a view drop answers to requests it has replaced
        self.path = path  # the variant directory it works on ("" if none or several)
        self.cancel_event = threading.Event()
        self.done = threading.Event()  # set once the result or failure has been emitted

    def cancel(self) -> None:
        self.cancel_event.set()

    def report_progress(self, done: int, total: int) -> None:
        self.progress.emit(self.request_id, done, total)

    @Slot()
    def run(self) -> None:
        try:
            value = self.compute()
        except BaseException as exc:  # every failure becomes a signal
            self.failed.emit(self.request_id, self.failure_message(exc))
        else:
            self.result.emit(self.request_id, value)
        finally:
            self.done.set()  # after the signal: a collected job's answer is already posted
            self.finished.emit()

    def compute(self) -> Any:  # pragma: no cover - overridden
        raise NotImplementedError

    def failure_message(self, exc: BaseException) -> str:
        """The message `failed` carries; subclasses log or tidy up here (on the task's
        thread) before the failure is reported."""
        return error_message(exc)


class RequestTask(Task):
    """A task that carries out one request of its owner against the workspace."""

    def __init__(self, workspace: Any, request: Any, request_id: int = 0) -> None:
        super().__init__(request_id)
        self.workspace = workspace
        self.request = request


class EpochReporter(Callback):
    """Engine hooks on a task's thread: `report(epoch, epochs)` at the start of a run and at
    its epochs' ends, throttled (the last epoch always)."""

    def __init__(self, report: Callable[[int, int], None]) -> None:
        self.report = report
        self.total = 0
        self.throttle = Throttle()

    def on_train_start(self, info: dict[str, Any]) -> None:
        self.total = int(info.get("total_epochs") or 0)
        self.throttle = Throttle()
        self.report(int(info.get("start_epoch") or 0), self.total)

    def on_epoch_end(self, metrics: Any) -> None:
        epoch = int(metrics.epoch)
        if self.throttle.ready(final=epoch >= self.total):
            self.report(epoch, self.total)


class Job(QObject):
    """A started task: its thread, and plain-Python handles that outlive the Qt objects.

    Lives on the GUI thread, so its slot runs there when the task's thread has finished.
    """

    def __init__(
        self,
        runner: TaskRunner,
        thread: QThread,
        task: Task,
        on_ended: Callable[[], None] | None,
    ) -> None:
        super().__init__(runner)
        self.runner = runner
        self.thread = thread
        self.task = task
        self.kind = task.kind
        self.path = task.path
        self.cancel_event = task.cancel_event
        self.done = task.done
        self.on_ended = on_ended
        self.ended = False

    def alive(self) -> bool:
        """True while the thread's C++ object exists (deleteLater removes it after it ends)."""
        return isValid(self.thread)

    def running(self) -> bool:
        return self.alive() and self.thread.isRunning()

    def wait(self, timeout_ms: int | None = None) -> bool:
        """Wait for the thread to end (forever with None); True once it has."""
        if not self.alive():
            return True
        return self.thread.wait() if timeout_ms is None else self.thread.wait(timeout_ms)

    @Slot()
    def on_thread_finished(self) -> None:
        # `finished` comes from the thread just before it really ends: wait for that.
        if self.wait(5000):
            self.runner._end(self)


class TaskRunner(QObject):
    """Starts tasks on their own QThreads, keeps both referenced, and cleans up after them.

    The task's `finished` quits the thread (quit() is thread-safe, so the thread ends even
    while the GUI thread waits in a shutdown); the thread's `finished` deletes the thread
    (deleteLater), and the job, once the thread has really ended, drops the references (the
    task goes with the last one, on the GUI thread) and calls `on_ended`.
    """

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._jobs: list[Job] = []

    def start(
        self,
        task: Task,
        on_result: Callable[[int, Any], None],
        on_failed: Callable[[int, str], None],
        on_progress: Callable[[int, int, int], None] | None = None,
        *,
        on_ended: Callable[[], None] | None = None,
    ) -> QThread:
        """Move `task` to a new QThread and start it. The callbacks must be bound methods of
        GUI-thread QObjects (slots), so that they run on the GUI thread; connect the task's own
        signals the same way before calling this."""
        thread = QThread()
        thread.setObjectName(f"trainwright-{task.kind}-{task.request_id}")
        task.moveToThread(thread)
        thread.started.connect(task.run)
        task.result.connect(on_result)
        task.failed.connect(on_failed)
        if on_progress is not None:
            task.progress.connect(on_progress)
        task.finished.connect(thread.quit, Qt.ConnectionType.DirectConnection)
        job = Job(self, thread, task, on_ended)
        thread.finished.connect(thread.deleteLater)
        thread.finished.connect(job.on_thread_finished)
        self._jobs.append(job)
        thread.start()
        return thread

    def _end(self, job: Job) -> None:
        """Forget a job whose thread has ended and tell its owner (once)."""
        if job.ended:
            return
        job.ended = True
        if job in self._jobs:
            self._jobs.remove(job)
        job.deleteLater()
        if job.on_ended is not None:
            job.on_ended()

    def jobs(self, kind: str | None = None) -> list[Job]:
        return [j for j in self._jobs if kind is None or j.kind == kind]

    def _matching(self, kind: str | None, path: str | None) -> list[Job]:
        return [j for j in self.jobs(kind) if path is None or j.path == path]

    def busy(self, kind: str | None = None, path: str | None = None) -> bool:
        """True while a task (of this kind, on this variant) has not reported its answer."""
        return any(not j.done.is_set() for j in self._matching(kind, path))

    def cancel(self, kind: str | None = None, path: str | None = None) -> None:
        """Ask matching tasks to stop; their answers still arrive (marked cancelled)."""
        for job in self._matching(kind, path):
            job.cancel_event.set()

    def wait_for(
        self, kind: str | None = None, path: str | None = None, timeout_ms: int = 10000
    ) -> bool:
        """Cancel matching tasks and wait for their threads; True if all ended in time."""
        ended = True
        for job in self._matching(kind, path):
            job.cancel_event.set()
            ended = job.wait(timeout_ms) and ended
        return ended

    def join(self, timeout_ms: int | None = None) -> bool:
        """Wait for every thread without cancelling anything; True if all ended in time."""
        return all([job.wait(timeout_ms) for job in list(self._jobs)])

    def shutdown(self, timeout_ms: int = 30000) -> bool:
        """Cancel every task, stop and wait for every thread, and end the jobs that are over
        now (their `on_ended` runs here); True if all ended in time."""
        jobs = list(self._jobs)
        for job in jobs:
            job.cancel_event.set()
        ended = True
        for job in jobs:
            if job.alive():
                job.thread.quit()
            finished = job.wait(timeout_ms)
            ended = finished and ended
            if finished:
                self._end(job)
        return ended

    def running(self) -> int:
        """Threads still running (0 once everything has ended)."""
        return sum(1 for j in self._jobs if j.running())


class ActiveTask:
    """The one long task an owner runs at a time (a run, a sweep) and what it was asked:
    `busy` from `start` until its thread has ended and the owner calls `ended()`."""

    def __init__(self, runner: TaskRunner) -> None:
        self.runner = runner
        self.request: Any = None
        self.task: Task | None = None
        self.thread: QThread | None = None
        self.cancel_event: threading.Event | None = None

    @property
    def busy(self) -> bool:
        return self.thread is not None

    @property
    def stopping(self) -> bool:
        """True once asked to stop, until the thread has ended."""
        return self.cancel_event is not None and self.cancel_event.is_set()

    def start(
        self,
        task: Task,
        request: Any,
        on_result: Callable[[int, Any], None],
        on_failed: Callable[[int, str], None],
        on_ended: Callable[[], None],
    ) -> None:
        """Run `task` for `request` (see TaskRunner.start for the callbacks)."""
        self.request, self.task, self.cancel_event = request, task, task.cancel_event
        self.thread = self.runner.start(task, on_result, on_failed, on_ended=on_ended)

    def stop(self) -> bool:
        """Ask the task to stop; False if none runs or it was asked already."""
        if self.cancel_event is None or self.cancel_event.is_set():
            return False
        self.cancel_event.set()
        return True

    def ended(self) -> None:
        """The thread has ended: idle again."""
        self.request = self.task = self.thread = self.cancel_event = None
