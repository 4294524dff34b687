"""The variant browser's table model (from `Workspace.discover_variants()`) and its filter proxy."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import QApplication, QStyle

from desktop_app.kit.filter_proxy import AttributeFilterProxy
from desktop_app.kit.table_model import ALIGN_NUMBER, Index, RowTableModel
from engine.discovery import VariantSummary

COLUMNS = ("Family", "Variant", "Status", "Epochs", "Accuracy / R²", "Test loss", "Last modified")
COLUMN_TIPS = (
    "The model family",
    "The variant's name (its directory)",
    "completed, training, interrupted (training but no live run), failed, cancelled, timed_out "
    "(stopped at its time limit; resumable), created or broken",
    "Epochs completed of the epochs planned",
    "Final test accuracy (classification) or test R² (regression); train values when no test",
    "Final test loss",
    "When a file of the variant last changed (local time)",
)
FAMILY, VARIANT, STATUS, EPOCHS, METRIC, TEST_LOSS, MODIFIED = range(len(COLUMNS))

STATUSES = (
    "completed",
    "training",
    "interrupted",
    "cancelled",
    "timed_out",
    "failed",
    "created",
    "broken",
)
PROBLEM_STATUSES = frozenset({"broken", "interrupted", "failed"})
_TINTS = {
    "broken": QColor(220, 50, 47, 70),
    "failed": QColor(220, 50, 47, 45),
    "interrupted": QColor(255, 165, 0, 60),
    "cancelled": QColor(160, 160, 160, 45),
    "timed_out": QColor(160, 160, 160, 45),
}


def metric_value(summary: VariantSummary) -> tuple[str, float | None]:
    """("accuracy" | "R²" | "", value) of the final metrics, preferring test over train."""
    metrics = summary.final_metrics or {}
    for key, label in (
        ("test_accuracy", "accuracy"),
        ("test_r2", "R²"),
        ("train_accuracy", "accuracy"),
        ("train_r2", "R²"),
    ):
        value = _float(metrics.get(key))
        if value is not None:
            return (label if key.startswith("test") else f"train {label}"), value
    return "", None


def format_metric(summary: VariantSummary) -> str:
    label, value = metric_value(summary)
    if value is None:
        return ""
    text = f"{value:.1%}" if label.endswith("accuracy") else f"{value:.4f}"
    return text if label in ("accuracy", "R²") else f"{text} (train)"


def local_time(iso: str) -> str:
    """An ISO timestamp shown in local time, to the minute; the input if it does not parse."""
    try:
        return datetime.fromisoformat(iso).astimezone().strftime("%Y-%m-%d %H:%M")
    except (TypeError, ValueError):
        return iso or ""


def _float(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


class VariantTableModel(RowTableModel):
    """One row per discovered variant; ITEM_ROLE gives the row's VariantSummary."""

    columns = COLUMNS
    column_tips = COLUMN_TIPS

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self._rows: list[VariantSummary] = []

    # ---- data --------------------------------------------------------------------------
    def set_variants(self, summaries: Sequence[VariantSummary]) -> None:
        """Replace every row (a model reset: views drop their selection)."""
        self.replace_rows(summaries)

    def summaries(self) -> list[VariantSummary]:
        return list(self._rows)

    def row_of(self, path: str) -> int:
        """The row of the variant at `path`, or -1."""
        return next((i for i, s in enumerate(self._rows) if s.path == path), -1)

    def families(self) -> list[str]:
        return sorted({s.family for s in self._rows})

    # ---- RowTableModel -----------------------------------------------------------------
    def role_data(self, s: VariantSummary, index: Index, role: int) -> Any:
        """What a cell says to a screen reader, its tooltip, tint and icon."""
        column = index.column()
        if role == Qt.ItemDataRole.ToolTipRole:
            return self._tooltip(s)
        if role == Qt.ItemDataRole.BackgroundRole and s.status in _TINTS:
            return QBrush(_TINTS[s.status])
        if role == Qt.ItemDataRole.DecorationRole and column == STATUS:
            return self._icon(s.status)
        if role == Qt.ItemDataRole.AccessibleTextRole:
            return self.accessible_text(column, self.cell_text(s, column))
        if role == Qt.ItemDataRole.TextAlignmentRole and column in (EPOCHS, METRIC, TEST_LOSS):
            return ALIGN_NUMBER
        return None

    def cell_text(self, s: VariantSummary, column: int) -> str:
        """A cell's text."""
        if column == FAMILY:
            return s.family
        if column == VARIANT:
            return s.variant
        if column == STATUS:
            return s.status
        if column == EPOCHS:
            if s.status == "broken":
                return ""
            return (
                f"{s.epochs_completed}/{s.total_epochs}"
                if s.total_epochs
                else str(s.epochs_completed)
            )
        if column == METRIC:
            return format_metric(s)
        if column == TEST_LOSS:
            loss = _float((s.final_metrics or {}).get("test_loss"))
            return "" if loss is None else f"{loss:.4g}"
        if column == MODIFIED:
            return local_time(s.last_modified)
        return ""

    def sort_key(self, s: VariantSummary, column: int) -> Any:
        if column == EPOCHS:
            return s.epochs_completed
        if column == METRIC:
            value = metric_value(s)[1]
            return -math.inf if value is None else value
        if column == TEST_LOSS:
            loss = _float((s.final_metrics or {}).get("test_loss"))
            return math.inf if loss is None else loss
        if column == MODIFIED:
            return s.last_modified
        return super().sort_key(s, column)

    def _tooltip(self, s: VariantSummary) -> str:
        """The variant's status, its problem if any, and its final metrics."""
        lines = [f"{s.variant} ({s.family})", f"status: {s.status}"]
        if s.problem:
            lines.append(f"problem: {s.problem}")
        elif s.status == "interrupted":
            lines.append("problem: training stopped without finishing; resume it to continue")
        metrics = s.final_metrics or {}
        shown = [
            f"{k}: {v:.4g}" if isinstance(v, float) else f"{k}: {v}"
            for k, v in metrics.items()
            if k
            in ("train_loss", "test_loss", "train_accuracy", "test_accuracy", "train_r2", "test_r2")
        ]
        if shown:
            lines.append("final " + ", ".join(shown))
        lines.append(s.path)
        return "\n".join(lines)

    @staticmethod
    def _icon(status: str) -> Any:
        app = QApplication.instance()
        if app is None or status not in PROBLEM_STATUSES:
            return None
        pixmap = (
            QStyle.StandardPixmap.SP_MessageBoxCritical
            if status in ("broken", "failed")
            else QStyle.StandardPixmap.SP_MessageBoxWarning
        )
        return app.style().standardIcon(pixmap)  # type: ignore[attr-defined]


class VariantFilterProxy(AttributeFilterProxy):
    """Filters rows by family and by status (None: any) and sorts on SORT_ROLE."""

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self._family: str | None = None
        self._status: str | None = None

    def set_family(self, family: str | None) -> None:
        self._set_criterion("_family", family or None)

    def set_status(self, status: str | None) -> None:
        self._set_criterion("_status", status or None)

    def accepts(self, item: VariantSummary, source_row: int, source_parent: Index) -> bool:
        if self._family is not None and item.family != self._family:
            return False
        return self._status is None or item.status == self._status
