"""The dataset library as a table: one row per dataset (built-in or imported), and its filter.

Rows are `DatasetRow`s, plain values built by the listing task from the engine's catalogue and
the library's manifests; a built-in's row count and classes arrive later (`set_stats`), from
loading it once in the background.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QBrush, QColor

from desktop_app.kit.filter_proxy import AttributeFilterProxy
from desktop_app.kit.formatting import format_bytes
from desktop_app.kit.table_model import ALIGN_NUMBER, Index, RowTableModel

COLUMNS = ("ID", "Name", "Kind", "Origin", "Size", "Rows / images", "Classes", "Status")
COLUMN_TIPS = (
    "The dataset's id: what a variant records and `trainwright train mlp -d dataset=ID` takes",
    "The dataset's display name (imported datasets can be renamed; the id stays)",
    "tabular (a table with a target column) or images (a folder per class)",
    "built-in (shipped with Trainwright) or imported (copied into this data home's library)",
    "The data on disk (imported: its copy in the library; built-in: its file, or generated)",
    "Rows of a table, images of an image dataset",
    "Classes of a classification target or image dataset (empty for regression)",
    "ready, processing, or error (hover for the reason)",
)
ID, NAME, KIND, ORIGIN, SIZE, COUNT, CLASSES, STATUS = range(len(COLUMNS))
ORIGINS = ("built-in", "imported")
KINDS = ("tabular", "images")

_ERROR_TINT = QColor(220, 50, 47, 45)


@dataclass(frozen=True)
class DatasetRow:
    """One dataset as the library shows it (what the table, preview and actions need)."""

    id: str
    name: str
    kind: str  # "tabular" | "images"
    imported: bool
    status: str = "ready"  # "ready" | "processing" | "error"
    error: str | None = None
    description: str = ""
    task_type: str | None = None  # "classification" | "regression" (tabular)
    size_bytes: int | None = None  # None: generated, or not known
    count: int | None = None  # rows, or images
    classes: int | None = None  # None: regression, or not known yet
    target: str | None = None  # a table's default target column
    source: str = ""  # imported: the path it came from; built-in: synthetic / bundled
    imported_at: str = ""
    sha256: str = ""
    skipped: int = 0  # files of the source left out (images)

    @property
    def origin(self) -> str:
        return "imported" if self.imported else "built-in"

    @property
    def ready(self) -> bool:
        return self.status == "ready"


class DatasetTableModel(RowTableModel):
    """One row per dataset; ITEM_ROLE gives the row's DatasetRow."""

    columns = COLUMNS
    column_tips = COLUMN_TIPS

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self._rows: list[DatasetRow] = []

    # ---- data ------------------------------------------------------------------------------
    def set_datasets(self, rows: Sequence[DatasetRow]) -> None:
        """Replace every row (a model reset: the views drop their selection)."""
        self.replace_rows(rows)

    def datasets(self) -> list[DatasetRow]:
        return list(self._rows)

    def row_of(self, dataset_id: str) -> int:
        """The row of a dataset, or -1."""
        return next((i for i, r in enumerate(self._rows) if r.id == dataset_id), -1)

    def dataset(self, dataset_id: str) -> DatasetRow | None:
        row = self.row_of(dataset_id)
        return self._rows[row] if row >= 0 else None

    def set_stats(
        self, dataset_id: str, count: int, classes: int | None, size_bytes: int | None
    ) -> None:
        """A built-in's rows (or images), classes and file size, once loaded."""
        row = self.row_of(dataset_id)
        if row >= 0:
            updated = replace(self._rows[row], count=count, classes=classes, size_bytes=size_bytes)
            self._rows[row] = updated
            self.row_changed(row)

    def imported_count(self) -> int:
        return sum(1 for r in self._rows if r.imported)

    # ---- RowTableModel ---------------------------------------------------------------------
    def cell_text(self, r: DatasetRow, column: int) -> str:
        if column == ID:
            return r.id
        if column == NAME:
            return r.name
        if column == KIND:
            return r.kind
        if column == ORIGIN:
            return r.origin
        if column == SIZE:
            return format_bytes(r.size_bytes) if r.size_bytes is not None else "—"
        if column == COUNT:
            return "" if r.count is None else f"{r.count:,}"
        if column == CLASSES:
            return "" if r.classes is None else str(r.classes)
        if column == STATUS:
            return r.status
        return ""

    def sort_key(self, r: DatasetRow, column: int) -> Any:
        if column == SIZE:
            return -1 if r.size_bytes is None else r.size_bytes
        if column == COUNT:
            return -1 if r.count is None else r.count
        if column == CLASSES:
            return -1 if r.classes is None else r.classes
        return super().sort_key(r, column)

    def role_data(self, r: DatasetRow, index: Index, role: int) -> Any:
        column = index.column()
        if role == Qt.ItemDataRole.ToolTipRole:
            return self._tooltip(r, column)
        if role == Qt.ItemDataRole.BackgroundRole and r.status == "error":
            return QBrush(_ERROR_TINT)
        if role == Qt.ItemDataRole.AccessibleTextRole:
            return self.accessible_text(column, self.cell_text(r, column))
        if role == Qt.ItemDataRole.TextAlignmentRole and column in (SIZE, COUNT, CLASSES):
            return ALIGN_NUMBER
        return None

    @staticmethod
    def _tooltip(r: DatasetRow, column: int) -> str:
        if column == SIZE and r.size_bytes is None:
            return "Generated when it is loaded: nothing on disk"
        lines = [f"{r.name} ({r.id}) — {r.origin} {r.kind} dataset"]
        if r.status == "error":
            lines.append(f"error: {r.error or 'unknown'}")
        elif r.status != "ready":
            lines.append(f"status: {r.status}")
        if r.description:
            lines.append(r.description)
        if r.imported and r.source:
            lines.append(f"imported from {r.source}")
        if r.skipped:
            lines.append(f"{r.skipped} file(s) of the source were left out (see the preview)")
        return "\n".join(lines)


class DatasetFilterProxy(AttributeFilterProxy):
    """Filters by text (in the id or name), origin and kind (None: any); sorts on SORT_ROLE."""

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self._text = ""
        self._origin: str | None = None
        self._kind: str | None = None

    def set_text(self, text: str) -> None:
        self._set_criterion("_text", text.strip().casefold())

    def set_origin(self, origin: str | None) -> None:
        self._set_criterion("_origin", origin or None)

    def set_kind(self, kind: str | None) -> None:
        self._set_criterion("_kind", kind or None)

    def filtering(self) -> bool:
        return bool(self._text or self._origin or self._kind)

    def accepts(self, item: DatasetRow, source_row: int, source_parent: Index) -> bool:
        if self._origin is not None and item.origin != self._origin:
            return False
        if self._kind is not None and item.kind != self._kind:
            return False
        text = self._text
        return not text or text in item.id.casefold() or text in item.name.casefold()
