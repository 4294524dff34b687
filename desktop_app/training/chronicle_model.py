"""The chronicle as a table model: rows appended in batches, a column per field seen so far."""

from __future__ import annotations

import bisect
import csv
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QModelIndex, QObject, Qt

from desktop_app.kit.formatting import format_value
from desktop_app.kit.table_model import ALIGN_NUMBER, ALIGN_TEXT, RowTableModel
from engine.training.chronicle import is_epoch_end

# Known fields first, in this order (with their headers); anything else follows in order of
# appearance, its key as its header.
HEADER_LABELS = {
    "epoch": "Epoch",
    "step": "Step",
    "loss": "Loss",
    "loss_ema": "Loss EMA",
    "train_loss": "Train loss",
    "test_loss": "Test loss",
    "train_accuracy": "Train acc.",
    "test_accuracy": "Test acc.",
    "train_r2": "Train R²",
    "test_r2": "Test R²",
    "train_mae": "Train MAE",
    "test_mae": "Test MAE",
    "lr": "LR",
    "grad_norm": "Grad norm",
    "epoch_time": "Epoch time (s)",
    "timestamp": "Time",
    "warning": "Warning",
}
COLUMN_ORDER = {key: i for i, key in enumerate(HEADER_LABELS)}

# Roles as plain ints: Qt asks data() for seven roles of every visible cell at every repaint
# (several times a second while training), so the roles this model does not serve are
# answered first and cheaply, and no enum arithmetic happens per call.
_DISPLAY = int(Qt.ItemDataRole.DisplayRole)
_TOOLTIP = int(Qt.ItemDataRole.ToolTipRole)
_ALIGNMENT = int(Qt.ItemDataRole.TextAlignmentRole)
_ROW = int(Qt.ItemDataRole.UserRole) + 1
_DATA_ROLES = frozenset({_DISPLAY, _TOOLTIP, _ALIGNMENT, _ROW})


class ChronicleModel(RowTableModel):
    """Every chronicle row, a column per field; epoch-end rows indexed for the plots' links."""

    RowRole = Qt.ItemDataRole.UserRole + 1  # the raw value of a cell

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._rows: list[dict[str, Any]] = []
        self._columns: list[str] = []
        self._epoch_end_rows: list[int] = []  # row indexes of epoch-end rows, ascending
        self._epoch_end_epochs: list[int] = []  # their epochs (non-decreasing)

    # ---- Qt model --------------------------------------------------------------------------
    def column_count(self) -> int:
        return len(self._columns)

    def column_title(self, column: int) -> str:
        key = self._columns[column]
        return HEADER_LABELS.get(key, key)

    def column_tip(self, column: int) -> str:
        return self._columns[column]

    def row_title(self, row: int) -> str:
        return str(row + 1)

    def data(self, index: QModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if role not in _DATA_ROLES or not index.isValid():
            return None
        row, column = index.row(), index.column()
        rows, columns = self._rows, self._columns
        if not (0 <= row < len(rows) and 0 <= column < len(columns)):
            return None
        key = columns[column]
        value = rows[row].get(key)
        if role == _DISPLAY:
            return format_cell(key, value)
        if role == _ALIGNMENT:
            if isinstance(value, int | float) and not isinstance(value, bool):
                return ALIGN_NUMBER
            return ALIGN_TEXT
        if role == _TOOLTIP:
            return None if value is None else f"{key} = {value!r}"
        return value  # RowRole

    # ---- content ---------------------------------------------------------------------------
    @property
    def columns(self) -> list[str]:
        return list(self._columns)

    def row(self, index: int) -> dict[str, Any]:
        return self._rows[index]

    def rows(self) -> list[dict[str, Any]]:
        return list(self._rows)

    def clear(self) -> None:
        self.beginResetModel()
        self._rows, self._columns = [], []
        self._epoch_end_rows, self._epoch_end_epochs = [], []
        self.endResetModel()

    def set_rows(self, rows: Iterable[dict[str, Any]]) -> None:
        self.clear()
        self.append_rows(list(rows))

    def append_rows(self, rows: list[dict[str, Any]]) -> None:
        """Append a batch: new columns first (once), then one beginInsertRows for all rows."""
        if not rows:
            return
        self._add_columns(rows)
        first = len(self._rows)
        self.beginInsertRows(QModelIndex(), first, first + len(rows) - 1)
        for offset, row in enumerate(rows):
            self._rows.append(row)
            if is_epoch_end(row):
                self._epoch_end_rows.append(first + offset)
                self._epoch_end_epochs.append(int(row.get("epoch", 0)))
        self.endInsertRows()

    def _add_columns(self, rows: list[dict[str, Any]]) -> None:
        """The fields not seen before become columns, known ones in their usual order."""
        known = set(self._columns)
        new: list[str] = []
        for row in rows:
            for key in row:
                if key not in known:
                    known.add(key)
                    new.append(key)
        if not new:
            return
        new.sort(key=lambda k: COLUMN_ORDER.get(k, len(COLUMN_ORDER)))
        first = len(self._columns)
        self.beginInsertColumns(QModelIndex(), first, first + len(new) - 1)
        self._columns.extend(new)
        self.endInsertColumns()

    # ---- epochs ----------------------------------------------------------------------------
    def epoch_end_row_near(self, epoch: float) -> int | None:
        """The epoch-end row whose epoch is nearest to `epoch` (the later one on a tie)."""
        epochs = self._epoch_end_epochs
        if not epochs:
            return None
        i = bisect.bisect_left(epochs, epoch)
        if i >= len(epochs):
            return self._epoch_end_rows[-1]
        if i > 0 and abs(epochs[i - 1] - epoch) < abs(epochs[i] - epoch):
            i -= 1
        return self._epoch_end_rows[i]

    def epoch_of_row(self, row: int) -> int | None:
        if 0 <= row < len(self._rows):
            epoch = self._rows[row].get("epoch")
            return int(epoch) if epoch is not None else None
        return None

    # ---- export ----------------------------------------------------------------------------
    def export_csv(self, path: str | Path) -> int:
        """Write every row (raw values, one column per field) as CSV; returns the row count."""
        with open(path, "w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=self._columns, restval="")
            writer.writeheader()
            for row in self._rows:
                writer.writerow({k: row.get(k, "") for k in self._columns})
        return len(self._rows)


def format_cell(key: str, value: Any) -> str:
    """A cell's text: a timestamp as the time of day, numbers to 6 significant digits."""
    if key == "timestamp" and isinstance(value, int | float) and not isinstance(value, bool):
        return time.strftime("%H:%M:%S", time.localtime(value))
    return format_value(value, precision=6, booleans=("yes", "no"))
