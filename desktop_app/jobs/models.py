"""The job history as a table (one row per `engine.jobs.records.Job`) and its filter proxy."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QBrush

from desktop_app.kit.filter_proxy import AttributeFilterProxy
from desktop_app.kit.formatting import (
    format_bytes,
    format_duration,
    format_local_time,
)
from desktop_app.kit.job_status import TINTS, status_tip, status_word
from desktop_app.kit.table_model import ALIGN_NUMBER, Index, RowTableModel

COLUMNS = (
    "ID",
    "Kind",
    "What",
    "Status",
    "Created",
    "Duration",
    "Attempts",
    "CPU time",
    "Peak RSS",
    "Error",
)
COLUMN_TIPS = (
    "The job's number in this data home's history (`trainwright jobs show ID`)",
    "train, resume, replay, sweep or distill",
    "The variant it trains (or the sweep it runs)",
    "queued, running, completed, failed, cancelled, timed out or interrupted "
    "(the last two are resumable)",
    "When the job was made (local time)",
    "From its start to its end (to now while it runs)",
    "The trainer's tries: 2 or more when a diverging run was retried at a lower learning rate",
    "CPU time the run used",
    "The most memory (RSS) its process used while it ran",
    "Why it failed or stopped",
)
ID, KIND, WHAT, STATUS, CREATED, DURATION, ATTEMPTS, CPU, RSS, ERROR = range(len(COLUMNS))
NUMBER_COLUMNS = frozenset({ID, DURATION, ATTEMPTS, CPU, RSS})


def job_what(job: Any) -> str:
    """The variant (or sweep) a job is about, else its request's description."""
    if job.variant:
        return str(job.variant)
    if job.sweep_id:
        return f"sweep {job.sweep_id}"
    request = job.request
    if request.variant:
        return str(request.variant)
    if request.sweep_id:
        return f"sweep {request.sweep_id}"
    return str(job.describe())


def first_line(text: str | None) -> str:
    """A message's first line (a table cell shows one; the tooltip the rest)."""
    return (text or "").strip().splitlines()[0] if (text or "").strip() else ""


class JobTableModel(RowTableModel):
    """One row per job, newest first as listed; ITEM_ROLE gives the row's Job."""

    columns = COLUMNS
    column_tips = COLUMN_TIPS

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self._rows: list[Any] = []

    # ---- data --------------------------------------------------------------------------
    def set_jobs(self, jobs: Sequence[Any]) -> bool:
        """Show these jobs. The same jobs in the same order only update their cells (the
        views keep their selection and scroll position); True if the rows were replaced."""
        jobs = list(jobs)
        if [j.id for j in jobs] == [j.id for j in self._rows]:
            for row, job in enumerate(jobs):
                if job != self._rows[row] or job.status == "running":  # its duration grows
                    self._rows[row] = job
                    self.row_changed(row)
            return False
        self.replace_rows(jobs)
        return True

    def jobs(self) -> list[Any]:
        return list(self._rows)

    def row_of(self, job_id: int) -> int:
        return next((i for i, j in enumerate(self._rows) if j.id == job_id), -1)

    def job(self, job_id: int) -> Any:
        row = self.row_of(job_id)
        return self._rows[row] if row >= 0 else None

    # ---- RowTableModel -----------------------------------------------------------------
    def cell_text(self, job: Any, column: int) -> str:
        if column == ID:
            return str(job.id)
        if column == KIND:
            return str(job.kind)
        if column == WHAT:
            return job_what(job)
        if column == STATUS:
            word = status_word(job.status)
            if job.status == "queued" and job.paused:
                return f"{word} (paused)"
            if job.status == "running" and job.cancel_requested:
                return f"{word} (cancelling…)"
            return word
        if column == CREATED:
            return format_local_time(job.created_at)
        if column == DURATION:
            seconds = job.duration_s
            return "" if seconds is None else format_duration(seconds)
        if column == ATTEMPTS:
            return str(job.attempts) if job.attempts else ""
        if column == CPU:
            return "" if job.cpu_time_s is None else format_duration(job.cpu_time_s)
        if column == RSS:
            return format_bytes(job.peak_rss_bytes)
        if column == ERROR:
            return first_line(job.error)
        return ""

    def sort_key(self, job: Any, column: int) -> Any:
        if column == ID:
            return int(job.id)
        if column == CREATED:
            return job.created_at or ""
        if column == DURATION:
            return _number(job.duration_s)
        if column == ATTEMPTS:
            return int(job.attempts or 0)
        if column == CPU:
            return _number(job.cpu_time_s)
        if column == RSS:
            return _number(job.peak_rss_bytes)
        return super().sort_key(job, column)

    def role_data(self, job: Any, index: Index, role: int) -> Any:
        """Tooltips, the status tint, number alignment, and what a screen reader says."""
        column = index.column()
        if role == Qt.ItemDataRole.ToolTipRole:
            return self._tooltip(job, column)
        if role == Qt.ItemDataRole.BackgroundRole and job.status in TINTS:
            return QBrush(TINTS[job.status])
        if role == Qt.ItemDataRole.TextAlignmentRole and column in NUMBER_COLUMNS:
            return ALIGN_NUMBER
        if role == Qt.ItemDataRole.AccessibleTextRole:
            return self.accessible_text(column, self.cell_text(job, column))
        return None

    def _tooltip(self, job: Any, column: int) -> str:
        if column == STATUS:
            return status_tip(job.status) or status_word(job.status)
        lines = [f"Job #{job.id}: {job.describe()}", f"status: {status_word(job.status)}"]
        if job.started_at:
            lines.append(f"started: {format_local_time(job.started_at, seconds=True)}")
        if job.finished_at:
            lines.append(f"finished: {format_local_time(job.finished_at, seconds=True)}")
        if job.peak_gpu_bytes:
            lines.append(f"peak GPU memory: {format_bytes(job.peak_gpu_bytes)}")
        if job.retry_of:
            lines.append(f"retries job #{job.retry_of}")
        if job.error:
            lines.append(f"error: {job.error}")
        return "\n".join(lines)


def _number(value: float | None) -> float:
    return -math.inf if value is None else float(value)


class JobFilterProxy(AttributeFilterProxy):
    """Filters jobs by status, kind (None: any) and text (in the id, what, status and
    error), and sorts on SORT_ROLE."""

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self._status: str | None = None
        self._kind: str | None = None
        self._text = ""

    def set_status(self, status: str | None) -> None:
        self._set_criterion("_status", status or None)

    def set_kind(self, kind: str | None) -> None:
        self._set_criterion("_kind", kind or None)

    def set_text(self, text: str) -> None:
        self._set_criterion("_text", text.strip().casefold())

    def accepts(self, item: Any, source_row: int, source_parent: Index) -> bool:
        if self._status is not None and item.status != self._status:
            return False
        if self._kind is not None and item.kind != self._kind:
            return False
        if self._text:
            haystack = " ".join(
                (
                    f"#{item.id}",
                    str(item.id),
                    job_what(item),
                    item.describe(),
                    status_word(item.status),
                    item.error or "",
                )
            ).casefold()
            return self._text in haystack
        return True
