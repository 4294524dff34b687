"""The chronicle under the training plots: every logged row, its count, and CSV export."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QModelIndex, Qt, Signal, Slot
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QSizePolicy,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from desktop_app.kit.widgets import button, described
from desktop_app.training.chronicle_model import ChronicleModel


class ChronicleView(QWidget):
    """The chronicle table with its row count and Export CSV… button.

    New rows keep the newest in view unless the user has scrolled up (`following`: set by
    where the user leaves the scroll bar, not by where rows, a model reset or a resize move
    it); selecting a row says which epoch it belongs to (`epochSelected`), and
    `select_epoch` goes the other way.
    """

    epochSelected = Signal(object)  # the epoch of the current row (None: no row)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = ChronicleModel(self)
        # Whether new rows scroll the newest into view. Only a scroll bar position that
        # changes while this view is not moving it itself decides: a range that grows (rows,
        # a smaller window) leaves it alone, one that shrinks clamps to the bottom (True).
        self.following = True
        self._scrolling = False  # this view is moving the scroll bar (or resetting the model)
        self.shown = ""  # the variant whose rows these are ("": none)
        self.table = self._build_table()
        self.export_button = button(
            "exportCsvButton", "Export CSV…", "Save the chronicle as a CSV file", enabled=False
        )
        self.rows_label = QLabel("0 rows")
        self.rows_label.setObjectName("chronicleRowsLabel")
        # A fixed size: the count changes with every batch of rows, and a label whose width
        # follows its digits made Qt lay out and repaint most of the window each time.
        self.rows_label.setFixedSize(
            self.rows_label.fontMetrics().horizontalAdvance("999,999,999 rows") + 8,
            self.rows_label.sizeHint().height(),
        )
        # Whose rows these are: the plots and the table may show a run while the forms
        # already name another variant.
        self.title_label = QLabel("Chronicle")
        self.title_label.setObjectName("chronicleTitle")
        self.title_label.setAccessibleName("Chronicle of")
        self.title_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.title_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        header = QHBoxLayout()
        header.addWidget(self.title_label, 1)
        header.addWidget(self.rows_label)
        header.addWidget(self.export_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(header)
        layout.addWidget(self.table)

    def _build_table(self) -> QTableView:
        """Fixed-height rows and single selection: the table stays cheap as rows stream in."""
        table = described(
            QTableView(),
            "Chronicle",
            "Every logged step; select a row to mark its epoch in the plots",
            object_name="chronicleTable",
        )
        table.setModel(self.model)
        table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        table.setAlternatingRowColors(True)
        table.setWordWrap(False)
        vertical = table.verticalHeader()
        vertical.setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        vertical.setDefaultSectionSize(self.fontMetrics().height() + 6)
        table.horizontalHeader().setStretchLastSection(False)
        table.selectionModel().currentRowChanged.connect(self._on_row_changed)
        table.verticalScrollBar().valueChanged.connect(self._on_scrolled)
        self.model.columnsInserted.connect(self._on_columns_inserted)
        return table

    # ---- rows ------------------------------------------------------------------------------
    def set_rows(self, rows: list[dict[str, Any]]) -> None:
        """Show exactly these rows (a resumed run's history, a variant's chronicle), the newest
        in view, following the rows that come next."""
        self._scrolling = True
        try:
            self.model.set_rows(rows)
            self.following = True
            self.table.scrollToBottom()
        finally:
            self._scrolling = False
        self._update_count()

    def append_rows(self, rows: list[dict[str, Any]]) -> None:
        """Add a batch; the view shows the newest row unless the user has scrolled up."""
        self._scrolling = True
        try:
            self.model.append_rows(rows)
            if self.following:
                self.table.scrollToBottom()
        finally:
            self._scrolling = False
        self._update_count()

    def clear(self) -> None:
        self._scrolling = True
        try:
            self.model.clear()
            self.following = True
        finally:
            self._scrolling = False
        self._update_count()

    @Slot(int)
    def _on_scrolled(self, value: int) -> None:
        """The user moved the scroll bar (wheel, drag, keys, a row chosen): at the bottom the
        view follows new rows, anywhere else it stays where it is."""
        if not self._scrolling:
            self.following = value >= self.table.verticalScrollBar().maximum() - 1

    def set_shown(self, variant: str) -> None:
        """Name the variant whose rows are shown ("": none)."""
        self.shown = variant
        text = f"Chronicle of {variant}" if variant else "Chronicle"
        self.title_label.setText(text)
        self.title_label.setToolTip(text)

    def _update_count(self) -> None:
        rows = self.model.rowCount()
        self.rows_label.setText(f"{rows:,} row{'s' if rows != 1 else ''}")
        self.export_button.setEnabled(rows > 0)

    # ---- epochs ----------------------------------------------------------------------------
    def select_epoch(self, epoch: int) -> None:
        """Select and centre the epoch-end row nearest to `epoch` (a click in the plots)."""
        row = self.model.epoch_end_row_near(epoch)
        if row is None:
            return
        self.table.selectRow(row)
        self.table.scrollTo(self.model.index(row, 0), QAbstractItemView.ScrollHint.PositionAtCenter)

    @Slot(QModelIndex, QModelIndex)
    def _on_row_changed(self, current: QModelIndex, previous: QModelIndex) -> None:
        epoch = self.model.epoch_of_row(current.row()) if current.isValid() else None
        self.epochSelected.emit(epoch)

    @Slot(QModelIndex, int, int)
    def _on_columns_inserted(self, parent: QModelIndex, first: int, last: int) -> None:
        """Size new columns for their header and any formatted number (no content scan)."""
        metrics = self.table.fontMetrics()
        header = self.table.horizontalHeader()
        number = metrics.horizontalAdvance("-1.23456e-05") + 14
        integer = metrics.horizontalAdvance("9999999") + 14
        for column in range(first, last + 1):
            key = self.model.columns[column]
            title = str(self.model.headerData(column, Qt.Orientation.Horizontal))
            sample = integer if key in ("epoch", "step") else number
            width = max(sample, metrics.horizontalAdvance(title) + 18)
            if key == "warning":
                width = max(width, 320)
            header.resizeSection(column, width)
