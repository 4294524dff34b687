"""The preview of one dataset: a table's first rows (each column's type in its header) with a
target-column picker, or an image dataset's thumbnails per class with each class's count.

The preview only draws what a PreviewTask read in the background; until then (and when
nothing is selected, or reading failed) it says so in one place, so the layout stays put.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtGui import QFont, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QScrollArea,
    QStackedWidget,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from desktop_app.datasets.library_model import DatasetRow
from desktop_app.datasets.workers import THUMB_SIZE, ImagePreview, TablePreview
from desktop_app.kit.formatting import format_bytes
from desktop_app.kit.style import NOTE_STYLE
from desktop_app.kit.table_model import ALIGN_NUMBER, ALIGN_TEXT, Index, RowTableModel
from desktop_app.kit.widgets import described, selectable, text_label

NOTHING_SELECTED = "Select a dataset above to see its rows or its images."
TARGET_TIP = (
    "The column the model learns to predict; Train on this sets it in the Training tab "
    "(the other columns are the inputs)"
)
FIXED_TARGET_TIP = "A built-in dataset's target is fixed"
NUMERIC_TYPES = ("integer", "number")


class PreviewTableModel(RowTableModel):
    """The first rows of a table; each header shows the column's name over its type, and the
    target column is bold."""

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self.columns: list[tuple[str, str]] = []
        self.target: str | None = None
        self._bold = QFont()
        self._bold.setBold(True)

    def show(self, preview: TablePreview | None) -> None:
        self.beginResetModel()
        self.columns = list(preview.columns) if preview else []
        self._rows = list(preview.rows) if preview else []
        self.target = preview.target if preview else None
        self.endResetModel()

    def set_target(self, target: str | None) -> None:
        self.target = target
        if self.columns:
            self.headerDataChanged.emit(Qt.Orientation.Horizontal, 0, len(self.columns) - 1)
            if self._rows:
                last = self.index(len(self._rows) - 1, len(self.columns) - 1)
                self.dataChanged.emit(self.index(0, 0), last)

    def column_count(self) -> int:
        return len(self.columns)

    def column_title(self, column: int) -> str:
        name, kind = self.columns[column]
        marker = " (target)" if name == self.target else ""
        return f"{name}\n{kind}{marker}" if kind else f"{name}{marker}"

    def column_tip(self, column: int) -> str:
        name, kind = self.columns[column]
        role = "the target (what the model predicts)" if name == self.target else "an input"
        return f"{name}: {kind or 'unknown type'}, {role}"

    def row_title(self, row: int) -> str:
        return str(row + 1)

    def cell_text(self, item: list[str], column: int) -> str:
        return item[column] if column < len(item) else ""

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = 0) -> Any:
        if (
            role == Qt.ItemDataRole.FontRole
            and orientation == Qt.Orientation.Horizontal
            and 0 <= section < len(self.columns)
            and self.columns[section][0] == self.target
        ):
            return self._bold
        return super().headerData(section, orientation, role)

    def role_data(self, item: list[str], index: Index, role: int) -> Any:
        column = index.column()
        if column >= len(self.columns):
            return None
        if role == Qt.ItemDataRole.TextAlignmentRole:
            return ALIGN_NUMBER if self.columns[column][1] in NUMERIC_TYPES else ALIGN_TEXT
        if role == Qt.ItemDataRole.FontRole and self.columns[column][0] == self.target:
            return self._bold
        if role == Qt.ItemDataRole.AccessibleTextRole:
            return self.accessible_text(column, self.cell_text(item, column))
        return None

    def accessible_text(self, column: int, text: str) -> str:
        return f"{self.columns[column][0]}: {text or 'empty'}"


class DatasetPreview(QWidget):
    """The selected dataset's rows or images; `targetChanged(column)` when the user picks
    another target column of an imported table."""

    targetChanged = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("datasetPreview")
        self.dataset_id: str | None = None
        self.table_preview: TablePreview | None = None
        self.image_preview: ImagePreview | None = None
        self.title = text_label(
            "previewTitle", "Dataset previewed", "The dataset shown below", select=True
        )
        font = self.title.font()
        font.setBold(True)
        self.title.setFont(font)
        self.details = text_label(
            "previewDetails",
            "Dataset details",
            "Where the dataset comes from and what it holds",
            wrap=True,
            select=True,
        )
        self.details.setStyleSheet(NOTE_STYLE)
        self.pages = QStackedWidget()
        self.message = selectable(QLabel(NOTHING_SELECTED))
        self.message.setObjectName("previewMessage")
        self.message.setAccessibleName("Preview status")
        self.message.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.pages.addWidget(self.message)
        self.pages.addWidget(self._build_table_page())
        self.pages.addWidget(self._build_image_page())
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.title)
        layout.addWidget(self.details)
        layout.addWidget(self.pages, 1)
        self.show_message(NOTHING_SELECTED)

    def _build_table_page(self) -> QWidget:
        self.target_combo = described(
            QComboBox(), "Target column", TARGET_TIP, object_name="targetCombo"
        )
        self.target_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.target_combo.currentIndexChanged.connect(self._on_target_picked)
        self.rows_note = text_label(
            "previewRowsNote", "Rows shown", "How many of the table's rows are shown"
        )
        self.rows_note.setStyleSheet(NOTE_STYLE)
        label = QLabel("T&arget column:")
        label.setBuddy(self.target_combo)
        top = QHBoxLayout()
        top.addWidget(label)
        top.addWidget(self.target_combo)
        top.addStretch(1)
        top.addWidget(self.rows_note)
        self.table_model = PreviewTableModel(self)
        self.table = described(
            QTableView(),
            "Table preview",
            "The first rows of the table; each column's header shows its type",
            object_name="previewTable",
        )
        self.table.setModel(self.table_model)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setAlternatingRowColors(True)
        self.table.setWordWrap(False)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        self.table.verticalHeader().setDefaultSectionSize(22)
        page = QWidget()
        box = QVBoxLayout(page)
        box.setContentsMargins(0, 0, 0, 0)
        box.addLayout(top)
        box.addWidget(self.table, 1)
        return page

    def _build_image_page(self) -> QWidget:
        self.image_note = text_label(
            "previewImagesNote", "Images", "How many images and classes, and what was skipped"
        )
        self.image_note.setWordWrap(True)
        self.image_scroll = described(
            QScrollArea(),
            "Image preview",
            f"The first {THUMB_SIZE}-pixel thumbnails of each class, as training sees them "
            "(centre square)",
            object_name="previewImages",
        )
        self.image_scroll.setWidgetResizable(True)
        self.image_scroll.setFrameShape(QFrame.Shape.StyledPanel)
        self.image_grid_host = QWidget()
        self.image_scroll.setWidget(self.image_grid_host)
        page = QWidget()
        box = QVBoxLayout(page)
        box.setContentsMargins(0, 0, 0, 0)
        box.addWidget(self.image_note)
        box.addWidget(self.image_scroll, 1)
        return page

    # ---- what the tab shows ----------------------------------------------------------------
    def show_dataset(self, row: DatasetRow | None) -> None:
        """The title and details of `row` (its rows or images follow when they are read)."""
        if row is None:
            self.dataset_id = None
            self.title.setText("No dataset selected")
            self.details.setText("")
            return
        self.dataset_id = row.id
        self.title.setText(row.name if row.name == row.id else f"{row.name} ({row.id})")
        self.details.setText(_details(row))

    def show_message(self, text: str) -> None:
        """A word instead of a preview: nothing selected, loading, or why it failed."""
        self.table_preview = self.image_preview = None
        self.message.setText(text)
        self.pages.setCurrentWidget(self.message)

    def show_table(self, preview: TablePreview) -> None:
        """The first rows, the columns' types, and the target (a picker for an imported
        table; fixed for a built-in)."""
        self.image_preview = None
        self.table_preview = preview
        self.table_model.show(preview)
        combo = self.target_combo
        blocked = combo.blockSignals(True)
        try:
            combo.clear()
            for name, kind in preview.columns:
                combo.addItem(f"{name} ({kind})" if kind else name, name)
            combo.setCurrentIndex(max(combo.findData(preview.target), 0))
        finally:
            combo.blockSignals(blocked)
        combo.setEnabled(not preview.target_fixed and combo.count() > 1)
        combo.setToolTip(FIXED_TARGET_TIP if preview.target_fixed else TARGET_TIP)
        shown = len(preview.rows)
        self.rows_note.setText(
            f"First {shown:,} of {preview.total_rows:,} rows"
            if shown < preview.total_rows
            else f"All {preview.total_rows:,} rows"
        )
        self.table.resizeColumnsToContents()
        self.pages.setCurrentIndex(1)

    def show_images(self, preview: ImagePreview) -> None:
        """Each class's count and first thumbnails, one class per row."""
        self.table_preview = None
        self.image_preview = preview
        host = QWidget()
        grid = QGridLayout(host)
        grid.setHorizontalSpacing(4)
        grid.setVerticalSpacing(6)
        grid.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        for row, klass in enumerate(preview.classes):
            noun = "image" if klass.count == 1 else "images"
            caption = QLabel(f"<b>{_escape(klass.name)}</b><br>{klass.count:,} {noun}")
            caption.setObjectName("classCaption")
            caption.setAccessibleName(f"Class {klass.name}: {klass.count} {noun}")
            caption.setMinimumWidth(110)
            grid.addWidget(caption, row, 0)
            for column, image in enumerate(klass.images, start=1):
                grid.addWidget(_thumbnail(image, klass.name, column), row, column)
        self.image_grid_host = host
        self.image_scroll.setWidget(host)  # the old grid goes with its host
        sizes = ", ".join(f"{size} ×{count}" for size, count in _top(preview.sizes))
        note = f"{preview.total:,} images in {preview.class_total:,} classes"
        if preview.class_total > len(preview.classes):
            note += f" (the first {len(preview.classes)} shown)"
        note += ", grey" if preview.channels == 1 else ", colour"
        if sizes:
            note += f"; sizes {sizes}"
        if preview.skipped:
            note += f"; {len(preview.skipped)} file(s) skipped (hover for why)"
            lines = [f"{path}: {reason}" for path, reason in preview.skipped[:20]]
            if len(preview.skipped) > 20:
                lines.append(f"… and {len(preview.skipped) - 20} more")
            self.image_note.setToolTip("Skipped:\n" + "\n".join(lines))
        else:
            self.image_note.setToolTip("How many images and classes")
        self.image_note.setText(note)
        self.pages.setCurrentIndex(2)

    def target(self) -> str | None:
        """The target column picked for an imported table (None: not a table, or fixed)."""
        preview = self.table_preview
        if preview is None or preview.target_fixed:
            return None
        return self.target_combo.currentData()

    def thumbnail_count(self) -> int:
        preview = self.image_preview
        return sum(len(c.images) for c in preview.classes) if preview else 0

    @Slot(int)
    def _on_target_picked(self, _: int) -> None:
        target = self.target_combo.currentData()
        self.table_model.set_target(target)
        self.table.resizeColumnsToContents()  # the target's bold text is wider
        if target:
            self.targetChanged.emit(target)


def _thumbnail(image: Any, class_name: str, number: int) -> QLabel:
    """A thumbnail at THUMB_SIZE pixels; a smaller image is scaled up with its pixels kept
    sharp (an 8×8 digit stays readable)."""
    pixmap = QPixmap.fromImage(image)
    if pixmap.width() < THUMB_SIZE:
        pixmap = pixmap.scaled(
            THUMB_SIZE,
            THUMB_SIZE,
            Qt.AspectRatioMode.KeepAspectRatio,
            Qt.TransformationMode.FastTransformation,
        )
    label = QLabel()
    label.setPixmap(pixmap)
    label.setFixedSize(THUMB_SIZE, THUMB_SIZE)
    label.setObjectName("thumbnail")
    label.setAccessibleName(f"{class_name} image {number}")
    label.setToolTip(f"{class_name}, image {number}")
    return label


def _details(row: DatasetRow) -> str:
    """One or two lines on where a dataset comes from and what it is."""
    if not row.imported:
        return row.description
    parts = [f"Imported from {row.source}" if row.source else "Imported"]
    if row.imported_at:
        parts.append(f"on {row.imported_at[:19].replace('T', ' ')} UTC")
    if row.size_bytes is not None:
        parts.append(f"· {format_bytes(row.size_bytes)}")
    if row.sha256:
        parts.append(f"· sha256 {row.sha256[:12]}…")
    text = " ".join(parts)
    if row.status == "error":
        text += f"\nError: {row.error or 'unknown'}"
    return text


def _top(sizes: dict[str, int], n: int = 3) -> list[tuple[str, int]]:
    return sorted(sizes.items(), key=lambda kv: (-kv[1], kv[0]))[:n]


def _escape(text: str) -> str:
    import html

    return html.escape(text)
