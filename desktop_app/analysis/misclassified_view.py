"""The test examples a classifier gets wrong: image thumbnails in a grid ("true → predicted"
and the probability under each, pixels enlarged as sharp squares), or for a table a list of
rows as text.

Pure display: the page finds the examples (a MisclassifiedReport) in a task and hands them in.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QGroupBox,
    QHeaderView,
    QListWidget,
    QListWidgetItem,
    QStackedWidget,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from desktop_app.kit.thumbnails import THUMBNAIL_PX, thumbnail, thumbnail_grid
from desktop_app.kit.widgets import described, labelled, text_label

MIN_SHOWN = 2  # the grid is at least this many thumbnails wide and high
SOURCES = (
    ("best", "Best checkpoint"),
    ("final", "Last checkpoint"),
    ("chosen", "Checkpoint chosen above"),
)


class MisclassifiedView(QGroupBox):
    """Which checkpoint's mistakes (`source()`; `sourceChanged` when the user picks another),
    a line saying how many, and the examples."""

    sourceChanged = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Misclassified test examples", parent)
        described(
            self,
            "Misclassified test examples",
            "Test examples the model gets wrong, most confident mistakes first",
            object_name="misclassifiedGroup",
        )
        self.report: Any = None
        self.source_combo = described(
            QComboBox(),
            "Examples from",
            "The checkpoint whose mistakes are listed: the best, the last, or the one chosen "
            "with the slider above",
            object_name="misclassifiedSource",
        )
        for key, text in SOURCES:
            self.source_combo.addItem(text, key)
        self.label = text_label(
            "misclassifiedLabel",
            "Misclassified summary",
            "How many test examples the checkpoint gets wrong, and how many are shown",
            wrap=True,
            select=True,
        )
        self.grid = self._build_grid()
        self.table = self._build_table()
        self.examples = QStackedWidget()
        self.examples.addWidget(self.grid)
        self.examples.addWidget(self.table)
        top = labelled("&From:", self.source_combo)
        top.addStretch(1)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.label)
        layout.addWidget(self.examples, 1)
        layout.addStretch(0)  # takes the height when there is no example to list
        self.source_combo.currentIndexChanged.connect(self._on_source_changed)

    def _build_grid(self) -> QListWidget:
        grid = thumbnail_grid(
            "misclassifiedGrid",
            "Misclassified images",
            "Each image the model gets wrong: true class → predicted class (the probability "
            "the model gives its prediction)",
        )
        grid.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        line = grid.fontMetrics().height()
        grid.setMinimumHeight(MIN_SHOWN * (THUMBNAIL_PX + 3 * line + 14) + 8)
        grid.setMinimumWidth(MIN_SHOWN * (THUMBNAIL_PX + 24) + 24)
        return grid

    def _build_table(self) -> QTableWidget:
        table = described(
            QTableWidget(0, 4),
            "Misclassified rows",
            "Each test row the model gets wrong: its position in the test split, the true and "
            "the predicted class, and the probability the model gives its prediction",
            object_name="misclassifiedTable",
        )
        table.setHorizontalHeaderLabels(["Test row", "True", "Predicted", "Probability"])
        table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        table.verticalHeader().setVisible(False)
        table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        table.setAlternatingRowColors(True)
        return table

    # ---- the source ------------------------------------------------------------------------
    def source(self) -> str:
        """ "best", "final" or "chosen"."""
        return str(self.source_combo.currentData())

    def set_source(self, source: str, *, has_best: bool = True) -> None:
        """Choose the source without `sourceChanged` (the page sets it for a new variant);
        without a best checkpoint (keep_best off) its entry is disabled."""
        combo = self.source_combo
        blocked = combo.blockSignals(True)
        item = combo.model().item(combo.findData("best"))  # a QStandardItemModel's
        item.setEnabled(has_best)
        item.setToolTip("" if has_best else "This variant kept no best checkpoint")
        combo.setCurrentIndex(max(combo.findData(source), 0))
        combo.blockSignals(blocked)

    def _on_source_changed(self, _: int) -> None:
        self.sourceChanged.emit()

    # ---- the examples ----------------------------------------------------------------------
    def clear(self, message: str = "") -> None:
        """No examples; `message` says why (being found, failed)."""
        self.report = None
        self.grid.clear()
        self.table.setRowCount(0)
        self.label.setText(message)
        self.examples.setVisible(False)

    def show_report(self, report: Any) -> None:
        """Thumbnails for images, rows of text for a table."""
        self.clear(report_text(report))
        self.report = report
        names = report.class_names
        images = any(item.image is not None for item in report.items)
        self.examples.setCurrentWidget(self.grid if images or not report.items else self.table)
        self.examples.setVisible(bool(report.items))
        if images:
            self._fill_grid(report.items, names)
        else:
            self._fill_table(report.items, names)

    def _fill_grid(self, items: list[Any], names: list[str]) -> None:
        metrics = self.grid.fontMetrics()
        captions = [caption(item, names) for item in items]
        widest = max(
            (metrics.horizontalAdvance(line) for c in captions for line in c.split("\n")),
            default=0,
        )
        width = min(max(THUMBNAIL_PX + 16, widest + 14), 200)
        lines = 2 if widest + 14 <= width else 3
        self.grid.setGridSize(QSize(width, THUMBNAIL_PX + 12 + lines * metrics.height()))
        for item, text in zip(items, captions, strict=True):
            entry = QListWidgetItem(QIcon(thumbnail(item.image)), text)
            tip = (
                f"Test example {item.index}: a {names[item.true]}, predicted "
                f"{names[item.predicted]} with probability {item.probability:.2f}"
            )
            entry.setToolTip(tip)
            entry.setData(Qt.ItemDataRole.AccessibleTextRole, tip)
            self.grid.addItem(entry)

    def _fill_table(self, items: list[Any], names: list[str]) -> None:
        self.table.setRowCount(len(items))
        right = Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
        for r, item in enumerate(items):
            values = (
                str(item.index),
                names[item.true],
                names[item.predicted],
                f"{item.probability:.3f}",
            )
            for c, value in enumerate(values):
                cell = QTableWidgetItem(value)
                if c in (0, 3):
                    cell.setTextAlignment(right)
                self.table.setItem(r, c, cell)


def report_text(report: Any) -> str:
    """How many of the test examples are wrong, where, and how many are shown."""
    where = (
        f"the best checkpoint (epoch {report.epoch})"
        if report.checkpoint == "best"
        else f"epoch {report.epoch} ({report.file})"
    )
    if report.wrong == 0:
        return f"No test example is misclassified at {where}: all {report.test_size:,} are right."
    shown = len(report.items)
    listed = (
        "all shown, most confident first"
        if shown == report.wrong
        else f"the {shown} most confident shown"
    )
    return (
        f"{report.wrong:,} of {report.test_size:,} test examples are misclassified at {where}; "
        f"{listed}."
    )


def caption(item: Any, names: list[str]) -> str:
    """Under a thumbnail: "true → predicted" over the prediction's probability."""
    return f"{names[item.true]} → {names[item.predicted]}\np = {item.probability:.2f}"
