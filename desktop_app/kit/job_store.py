"""The window's one connection to the job store (engine.jobs.store), off the GUI thread.

SQLite waits up to its busy timeout (seconds) while another process (a CLI run writing its
log records) holds the write lock, and opening the store may rebuild it from the variant
directories: neither may freeze the window. So the store lives on one thread of its own, a
long-lived kit Task, and views ask it with `JobStoreService.call(fn, on_done, on_failed)`:
`fn(store)` runs there, calls run one at a time in the order they were made (a move, then
the listing that shows it), and the answer comes back on the GUI thread.

`fn` runs on the store's thread: it may only use the store and plain values, never a widget.
`on_done(value)` and `on_failed(message)` run on the GUI thread; answers arriving after
`shutdown()` are dropped, so a closed view is never called back.
"""

from __future__ import annotations

import itertools
import logging
import queue
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Signal, Slot

from desktop_app.kit.tasks import Task, TaskRunner, error_message

log = logging.getLogger("trainwright.desktop")

StoreCall = Callable[[Any], Any]  # fn(store) -> value, run on the store's thread
WAKE_S = 0.1  # the store's thread checks for a shutdown this often while idle
INTERRUPTED_LIMIT = 200  # the interrupted jobs looked at when the store opens


@dataclass(frozen=True)
class StoreOpened:
    """What opening the store found: its warnings (a database rebuilt from the directories
    says so) and the running jobs it marked interrupted (their process had died)."""

    warnings: list[str] = field(default_factory=list)
    interrupted: list[Any] = field(default_factory=list)


class _StoreLoop(Task):
    """Opens the store on its thread and runs the calls it is given, in order, until
    cancelled. A store that cannot be opened refuses every call with the reason."""

    opened = Signal(object)  # StoreOpened
    unavailable = Signal(str)  # why the store could not be opened
    answered = Signal(int, object)  # call id, fn's value
    refused = Signal(int, str)  # call id, the message for the user

    kind = "job-store"

    def __init__(self, home: Path, calls: queue.SimpleQueue[tuple[int, StoreCall]]) -> None:
        super().__init__()
        self.home = home
        self.calls = calls

    def compute(self) -> None:
        store, problem = self._open()
        try:
            while not self.cancel_event.is_set():
                try:
                    call_id, fn = self.calls.get(timeout=WAKE_S)
                except queue.Empty:
                    continue
                if store is None:
                    self.refused.emit(call_id, f"the job history is unavailable: {problem}")
                    continue
                try:
                    value = fn(store)
                except Exception as exc:
                    log.warning("job store call failed:\n%s", traceback.format_exc())
                    self.refused.emit(call_id, error_message(exc))
                else:
                    self.answered.emit(call_id, value)
        finally:
            close = getattr(store, "close", None)
            if close is not None:
                close()

    def _open(self) -> tuple[Any, str]:
        """The store, or None and why not. Opening marks the running jobs whose process
        died as interrupted: those it marked (finished since just before) are reported."""
        from engine.jobs.records import now
        from engine.jobs.store import JobStore

        before = now()
        try:
            store = JobStore(self.home)
            interrupted = [
                job
                for job in store.list(status="interrupted", limit=INTERRUPTED_LIMIT)
                if (job.finished_at or "") >= before
            ]
        except Exception as exc:
            log.error("could not open the job store:\n%s", traceback.format_exc())
            problem = error_message(exc)
            self.unavailable.emit(problem)
            return None, problem
        self.opened.emit(StoreOpened(list(store.warnings), interrupted))
        return store, ""


class JobStoreService(QObject):
    """Runs store calls on the store's own thread, in order; lives on the GUI thread."""

    opened = Signal(object)  # StoreOpened: warnings, and the jobs found interrupted
    unavailable = Signal(str)  # the store could not be opened: why

    def __init__(
        self, home: Path | str, parent: QObject | None = None, *, deferred: bool = False
    ) -> None:
        """`deferred`: calls wait until `start()` (the window opens the store after its first
        paint: importing the store's modules there would compete with it)."""
        super().__init__(parent)
        self.home = Path(home)
        self._deferred = deferred
        self.runner = TaskRunner(self)
        self._calls: queue.SimpleQueue[tuple[int, StoreCall]] = queue.SimpleQueue()
        self._ids = itertools.count(1)
        self._pending: dict[int, tuple[Callable[[Any], None] | None, Callable[[str], None] | None]]
        self._pending = {}
        self._loop: _StoreLoop | None = None
        self._closed = False
        self.problem: str | None = None  # set once the store could not be opened
        self.found: StoreOpened | None = None  # what opening the store found

    # ---- public ----------------------------------------------------------------------------
    def call(
        self,
        fn: StoreCall,
        on_done: Callable[[Any], None] | None = None,
        on_failed: Callable[[str], None] | None = None,
    ) -> int:
        """Run `fn(store)` on the store's thread after the calls made before it; its value
        goes to `on_done`, a failure's message to `on_failed` (else it is logged). Returns
        the call's id (0 once shut down: nothing runs)."""
        if self._closed:
            return 0
        if not self._deferred:
            self._ensure_started()
        call_id = next(self._ids)
        self._pending[call_id] = (on_done, on_failed)
        self._calls.put((call_id, fn))
        return call_id

    @Slot()
    def shutdown(self, timeout_ms: int = 15_000) -> bool:
        """Stop the store's thread (after the call it is running) and drop every answer
        still to come; True if the thread ended in time."""
        self._closed = True
        self._pending.clear()
        return self.runner.shutdown(timeout_ms)

    # ---- the store's thread ----------------------------------------------------------------
    def _ensure_started(self) -> None:
        if self._loop is not None:
            return
        loop = _StoreLoop(self.home, self._calls)
        loop.opened.connect(self._on_opened)
        loop.unavailable.connect(self._on_unavailable)
        loop.answered.connect(self._on_answered)
        loop.refused.connect(self._on_refused)
        self._loop = loop
        # A service destroyed without shutdown() (its window deleted mid-run) still ends its
        # thread: a QThread destroyed while it runs aborts the process.
        self.destroyed.connect(loop.cancel_event.set)
        self.runner.start(loop, self._on_loop_result, self._on_loop_failed)

    def start(self) -> None:
        """Open the store now (else on the first call, unless deferred) and run the calls
        made meanwhile."""
        self._deferred = False
        if not self._closed:
            self._ensure_started()

    @Slot(object)
    def _on_opened(self, found: StoreOpened) -> None:
        self.found = found
        if not self._closed:
            self.opened.emit(found)

    @Slot(str)
    def _on_unavailable(self, message: str) -> None:
        self.problem = message
        if not self._closed:
            self.unavailable.emit(message)

    @Slot(int, object)
    def _on_answered(self, call_id: int, value: Any) -> None:
        on_done, _ = self._pending.pop(call_id, (None, None))
        if on_done is not None and not self._closed:
            on_done(value)

    @Slot(int, str)
    def _on_refused(self, call_id: int, message: str) -> None:
        if call_id not in self._pending:
            return
        _, on_failed = self._pending.pop(call_id)
        if self._closed:
            return
        if on_failed is not None:
            on_failed(message)
        else:
            log.warning("job store: %s", message)

    @Slot(int, object)
    def _on_loop_result(self, request_id: int, value: object) -> None:
        pass  # the loop ends only on shutdown

    @Slot(int, str)
    def _on_loop_failed(self, request_id: int, message: str) -> None:
        log.error("the job store's thread failed: %s", message)
        self.problem = message
        self._loop = None  # the next call starts it again
        for call_id in list(self._pending):
            self._on_refused(call_id, f"The job store failed: {message}")
