"""A job's log records, one line each, following the end while the job runs.

The view only shows what it is given (`show_job`, `append`): the Jobs tab reads the records
from the store in the background and polls for new ones while the job runs. It keeps the
newest MAX_LINES lines; a user who scrolls up is not pulled back down by new lines.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from PySide6.QtGui import QColor, QFontDatabase, QTextCharFormat, QTextCursor
from PySide6.QtWidgets import QPlainTextEdit, QWidget

from desktop_app.kit.formatting import format_local_time
from desktop_app.kit.widgets import described

MAX_LINES = 20_000
NO_JOB_TEXT = "Select a job to see its log."
_LEVEL_COLOURS = {"WARNING": QColor(181, 137, 0), "ERROR": QColor(179, 38, 30)}


def record_line(record: Any) -> str:
    """`HH:MM:SS  LEVEL    message`: the time in local time, the level padded."""
    clock = format_local_time(record.time, seconds=True)[-8:]
    return f"{clock}  {record.level:<7}  {record.message}"


class JobLogView(QPlainTextEdit):
    """Read-only, monospaced; knows which job it shows and the last record id it has."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        described(
            self,
            "Job log",
            "The selected job's log records: start, checkpoints, warnings, failure, retries",
            object_name="jobLogView",
        )
        self.setReadOnly(True)
        self.setUndoRedoEnabled(False)
        self.setMaximumBlockCount(MAX_LINES)
        self.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.setPlaceholderText(NO_JOB_TEXT)
        self.job_id: int | None = None
        self.last_id = 0  # the newest record shown (the next poll asks for those after it)
        self.lines = 0

    def show_job(self, job_id: int | None, empty_text: str = "") -> None:
        """Start over for another job (None: none); `empty_text` shows until records come."""
        self.job_id = job_id
        self.last_id = 0
        self.lines = 0
        self.clear()
        self.setPlaceholderText(NO_JOB_TEXT if job_id is None else empty_text)

    def append(self, job_id: int, records: Sequence[Any]) -> int:
        """Add the records of `job_id` newer than those shown (others are dropped: an
        answer for a job no longer selected); how many were added."""
        if job_id != self.job_id:
            return 0
        fresh = [r for r in records if r.id > self.last_id]
        if not fresh:
            return 0
        bar = self.verticalScrollBar()
        following = bar.value() >= bar.maximum() - 2
        cursor = QTextCursor(self.document())
        cursor.movePosition(QTextCursor.MoveOperation.End)
        cursor.beginEditBlock()
        plain = QTextCharFormat()
        for record in fresh:
            if self.lines:
                cursor.insertBlock()
            colour = _LEVEL_COLOURS.get(record.level)
            if colour is None:
                cursor.insertText(record_line(record), plain)
            else:
                coloured = QTextCharFormat()
                coloured.setForeground(colour)
                cursor.insertText(record_line(record), coloured)
            self.lines += 1
        cursor.endEditBlock()
        self.last_id = fresh[-1].id
        if following:
            bar.setValue(bar.maximum())
        return len(fresh)

    def text(self) -> str:
        return self.toPlainText()
