"""A table model whose rows are the items of a Python list, one column per field.

The runs of a sweep, the variants on disk and the chronicle's rows are all shown this way:
the row count, the header (titles and tooltips from the subclass) and whole-row updates are
the same code; each model only says what its columns are and what a cell shows.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QObject, QPersistentModelIndex, Qt

Index = QModelIndex | QPersistentModelIndex

ITEM_ROLE = Qt.ItemDataRole.UserRole + 1  # the row's item (a VariantSummary, a RunEntry, ...)
SORT_ROLE = Qt.ItemDataRole.UserRole + 2  # a value that sorts numerically / chronologically

# Roles as plain ints: the header is asked for several roles of hundreds of sections each time
# rows are added, so the roles not served are answered first and cheaply.
_DISPLAY = int(Qt.ItemDataRole.DisplayRole)
_TOOLTIP = int(Qt.ItemDataRole.ToolTipRole)
ALIGN_NUMBER = int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
ALIGN_TEXT = int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)


class RowTableModel(QAbstractTableModel):
    """Rows in `self._rows`; subclasses give their columns — fixed ones as the class
    attributes `columns` and `column_tips`, changing ones by overriding `column_count`,
    `column_title`, `column_tip` — (and `row_title` for a numbered vertical header), and what
    a cell holds: its text (`cell_text`), its sort key (`sort_key`) and its other roles
    (`role_data`), or their own `data`."""

    columns: tuple[str, ...] = ()  # the headers of a model with fixed columns
    column_tips: tuple[str, ...] = ()  # their tooltips, in the same order

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._rows: list[Any] = []

    # ---- what a subclass says ----------------------------------------------------------------
    def column_count(self) -> int:
        return len(self.columns)

    def column_title(self, column: int) -> str:
        return self.columns[column]

    def column_tip(self, column: int) -> str | None:
        return self.column_tips[column] if column < len(self.column_tips) else None

    def row_title(self, row: int) -> str | None:
        """The vertical header's text for a row (None: no vertical header text)."""
        return None

    def cell_text(self, item: Any, column: int) -> str:  # pragma: no cover - overridden
        raise NotImplementedError

    def sort_key(self, item: Any, column: int) -> Any:
        """What a column sorts by (SORT_ROLE): its text, case-folded, unless overridden."""
        return self.cell_text(item, column).lower()

    def role_data(self, item: Any, index: Index, role: int) -> Any:
        """A cell's tooltip, tint, alignment, ...: every role but display, item and sort."""
        return None

    # ---- QAbstractTableModel -----------------------------------------------------------------
    def rowCount(self, parent: Index | None = None) -> int:
        return 0 if parent is not None and parent.isValid() else len(self._rows)

    def columnCount(self, parent: Index | None = None) -> int:
        return 0 if parent is not None and parent.isValid() else self.column_count()

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if role != _DISPLAY and role != _TOOLTIP:
            return None
        if orientation == Qt.Orientation.Vertical:
            return self.row_title(section) if role == _DISPLAY else None
        if not 0 <= section < self.column_count():
            return None
        return self.column_title(section) if role == _DISPLAY else self.column_tip(section)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        """A cell's text, the row's item (ITEM_ROLE), its sort key (SORT_ROLE), or the rest."""
        item = self.item_at(index)
        if item is None:
            return None
        if role == _DISPLAY:
            return self.cell_text(item, index.column())
        if role == ITEM_ROLE:
            return item
        if role == SORT_ROLE:
            return self.sort_key(item, index.column())
        return self.role_data(item, index, role)

    # ---- helpers -----------------------------------------------------------------------------
    def item_at(self, index: Index) -> Any:
        """The item of the index's row, or None for an invalid index."""
        if not index.isValid() or not 0 <= index.row() < len(self._rows):
            return None
        return self._rows[index.row()]

    def replace_rows(self, rows: Iterable[Any]) -> None:
        """Replace every row (a model reset: views drop their selection)."""
        self.beginResetModel()
        self._rows = list(rows)
        self.endResetModel()

    def row_changed(self, row: int) -> None:
        """Tell the views every cell of `row` may have changed."""
        last = max(0, self.column_count() - 1)
        self.dataChanged.emit(self.index(row, 0), self.index(row, last))

    def accessible_text(self, column: int, text: str) -> str:
        """What a screen reader says for a cell: its column, then its text (or "none")."""
        return f"{self.column_title(column)}: {text or 'none'}"
