"""Imports, one after another, each an ImportTask on its own thread, and the tab's one line
of feedback: the import's stage and progress with Cancel while one runs, else the last
message (an import refused, a rename that failed, a dataset imported).

The line keeps its height whichever it shows, so an error never moves the table.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

from PySide6.QtCore import Signal, Slot
from PySide6.QtWidgets import QHBoxLayout, QSizePolicy, QStackedWidget, QWidget

from desktop_app.datasets.workers import ImportTask
from desktop_app.kit.style import ERROR_STYLE, OK_STYLE
from desktop_app.kit.tasks import TaskRunner
from desktop_app.kit.widgets import button, progress_bar, text_label

CANCELLED = "import cancelled"  # the engine's ImportCancelled message


class ImportPanel(QStackedWidget):
    """Runs queued imports through `runner`; `imported(manifest)` for each that succeeds,
    `idle()` when the queue is done."""

    imported = Signal(object)  # the new dataset's Manifest
    idle = Signal()

    def __init__(self, home: Path, runner: TaskRunner, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("importPanel")
        self.home = Path(home)
        self.runner = runner
        self._ids = itertools.count(1)
        self._queue: list[str] = []
        self._task: ImportTask | None = None
        self._source = ""
        self._closing = False
        self._errors: list[str] = []  # of the imports since the queue was last empty
        self._notes: list[str] = []
        self.messages: list[str] = []  # what the line said, newest last (tests read it)
        self._build()

    def _build(self) -> None:
        self.message = text_label(
            "datasetMessage",
            "Datasets message",
            "The outcome of the last import, rename or delete",
            select=True,
        )
        self.message.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.stage = text_label(
            "importStage", "Import stage", "What the import is doing now", select=False
        )
        self.stage.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.bar = progress_bar(
            "importProgress", "Import progress", "Files handled of the files in this stage"
        )
        self.bar.setFormat("%v of %m")
        self.bar.setMaximumWidth(260)
        self.cancel_button = button(
            "cancelImportButton",
            "Cancel",
            "Stop the import (and any waiting); nothing of it is kept",
            enabled=False,
        )
        self.cancel_button.clicked.connect(self.cancel)
        progress_page = QWidget()
        row = QHBoxLayout(progress_page)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.stage, 1)
        row.addWidget(self.bar, 1)
        row.addWidget(self.cancel_button)
        message_page = QWidget()
        line = QHBoxLayout(message_page)
        line.setContentsMargins(0, 0, 0, 0)
        line.addWidget(self.message, 1)
        self.addWidget(message_page)
        self.addWidget(progress_page)
        self.setFixedHeight(max(self.cancel_button.sizeHint().height(), 26))

    # ---- the line --------------------------------------------------------------------------
    def show_error(self, text: str) -> None:
        self._say(text, ERROR_STYLE)

    def show_note(self, text: str, *, good: bool = False) -> None:
        self._say(text, OK_STYLE if good else "")

    def clear(self) -> None:
        self._say("", "")

    def _say(self, text: str, style: str) -> None:
        first = text.splitlines()[0] if text else ""
        self.message.setText(first)
        self.message.setStyleSheet(style)
        self.message.setToolTip(text or "The outcome of the last import, rename or delete")
        self.message.setAccessibleDescription(text)
        if text:
            self.messages.append(text)
        if not self.busy:
            self.setCurrentIndex(0)

    @property
    def error_text(self) -> str:
        """The message shown, if it is an error ("" otherwise)."""
        return self.message.text() if self.message.styleSheet() == ERROR_STYLE else ""

    # ---- imports ---------------------------------------------------------------------------
    @property
    def busy(self) -> bool:
        """An import runs or waits (True until its thread has ended)."""
        return self._task is not None or bool(self._queue)

    def pending(self) -> list[str]:
        return list(self._queue)

    def enqueue(self, sources: list[str]) -> None:
        """Import each source after the ones before it."""
        if self._closing:
            return
        self._queue.extend(str(s) for s in sources)
        if self._task is None:
            self._start_next()

    @Slot()
    def cancel(self) -> None:
        """Cancel the running import and drop the waiting ones."""
        dropped = len(self._queue)
        self._queue.clear()
        if self._task is not None:
            self._task.cancel()
            self.stage.setText(f"Cancelling the import of {Path(self._source).name}…")
            self.cancel_button.setEnabled(False)
        elif dropped:
            self.show_note("Imports cancelled")

    def shutdown(self) -> None:
        self._closing = True
        self._queue.clear()
        if self._task is not None:
            self._task.cancel()

    def _start_next(self) -> None:
        if not self._queue or self._closing:
            if not self._closing:
                self._report()
                self.idle.emit()
            return
        source = self._queue.pop(0)
        self._source = source
        request = next(self._ids)
        task = ImportTask(request, self.home, source)
        task.stepped.connect(self._on_stepped)
        self._task = task
        name = Path(source).name or source
        waiting = f" ({len(self._queue)} more waiting)" if self._queue else ""
        self.stage.setText(f"Importing {name}…{waiting}")
        self.stage.setToolTip(source)
        self.bar.setRange(0, 0)  # busy until the first step says how many
        self.cancel_button.setEnabled(True)
        self.setCurrentIndex(1)
        self.runner.start(task, self._on_result, self._on_failed, on_ended=self._on_ended)

    @Slot(int, str, int, int)
    def _on_stepped(self, request: int, stage: str, done: int, total: int) -> None:
        task = self._task
        if task is None or request != task.request_id or task.cancel_event.is_set():
            return
        name = Path(self._source).name or self._source
        waiting = f" ({len(self._queue)} more waiting)" if self._queue else ""
        self.stage.setText(f"Importing {name}: {stage}{waiting}")
        if total > 0:
            self.bar.setRange(0, total)
            self.bar.setValue(min(done, total))
        else:
            self.bar.setRange(0, 0)

    @Slot(int, object)
    def _on_result(self, request: int, manifest: Any) -> None:
        if self._closing:
            return
        what = (
            f"{manifest.image_count():,} images in {len(manifest.classes)} classes"
            if manifest.kind == "images"
            else f"{manifest.rows or 0:,} rows, {len(manifest.columns)} columns"
        )
        skipped = f"; {len(manifest.skipped)} file(s) skipped" if manifest.skipped else ""
        self._notes.append(f"Imported “{manifest.name}” as {manifest.id}: {what}{skipped}")
        self.imported.emit(manifest)

    @Slot(int, str)
    def _on_failed(self, request: int, message: str) -> None:
        if self._closing:
            return
        name = Path(self._source).name or self._source
        task = self._task
        if message == CANCELLED or (task is not None and task.cancel_event.is_set()):
            self._notes.append(f"Import of {name} cancelled; nothing was kept")
        else:
            # The engine's message names the file or entry first; say it once.
            named = message.startswith(f"{name}:")
            self._errors.append(
                f"Import refused: {message}" if named else f"Import of {name} refused: {message}"
            )

    def _report(self) -> None:
        """The queue is done: its errors (they outrank any success), else its last note."""
        errors, notes = self._errors, self._notes
        self._errors, self._notes = [], []
        if errors:
            more = f" (and {len(errors) - 1} more refused: hover)" if len(errors) > 1 else ""
            self.show_error(errors[0] + more + ("\n" + "\n".join(errors[1:]) if more else ""))
        elif notes:
            good = notes[-1].startswith("Imported")
            self.show_note(notes[-1] if len(notes) == 1 else "\n".join(reversed(notes)), good=good)
        else:
            self.setCurrentIndex(0)

    def _on_ended(self) -> None:
        self._task = None
        self.cancel_button.setEnabled(False)
        self._start_next()

    def current_source(self) -> str | None:
        return self._source if self._task is not None else None
