"""Small helpers every view uses to build accessible, named controls."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

from PySide6.QtCore import QAbstractItemModel, QItemSelectionModel, QSize, Qt
from PySide6.QtGui import QAction
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLayout,
    QLineEdit,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QSplitter,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from desktop_app.kit.style import ERROR_STYLE

W = TypeVar("W", bound=QWidget)


def described(widget: W, name: str, tip: str, *, object_name: str | None = None) -> W:
    """Give `widget` the accessible name screen readers announce and the tooltip users see
    (and the object name tests and style sheets find it by)."""
    widget.setAccessibleName(name)
    widget.setToolTip(tip)
    if object_name is not None:
        widget.setObjectName(object_name)
    return widget


def button(
    object_name: str, text: str, tip: str, *, accessible: str | None = None, enabled: bool = True
) -> QPushButton:
    """A push button named for tests, announced as its text (without a trailing "…") and
    described by its tooltip; `enabled=False` for one that waits for something to act on."""
    widget = described(
        QPushButton(text), accessible or text.rstrip("…"), tip, object_name=object_name
    )
    widget.setAccessibleDescription(tip)
    widget.setEnabled(enabled)
    return widget


def selectable(label: QLabel, *, wrap: bool = True) -> QLabel:
    """A label whose text the user can select and copy (messages, names, results)."""
    label.setWordWrap(wrap)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    return label


def text_label(
    object_name: str,
    accessible: str,
    tip: str,
    text: str = "",
    *,
    wrap: bool = False,
    select: bool = False,
) -> QLabel:
    """A named, described label: wrapping for messages, selectable for what users copy."""
    label = described(QLabel(text), accessible, tip, object_name=object_name)
    if select:
        return selectable(label, wrap=wrap)
    label.setWordWrap(wrap)
    return label


def error_label(object_name: str, accessible: str, parent: QWidget | None = None) -> QLabel:
    """A hidden, wrapping label in the error colour, for a message beside what it is about."""
    label = QLabel(parent)
    label.setObjectName(object_name)
    label.setAccessibleName(accessible)
    label.setStyleSheet(ERROR_STYLE)
    label.setWordWrap(True)
    label.setVisible(False)
    return label


def progress_bar(object_name: str, accessible: str, tip: str) -> QProgressBar:
    """A named, described progress bar at 0 of 1 until its work reports a total."""
    bar = described(QProgressBar(), accessible, tip, object_name=object_name)
    bar.setRange(0, 1)
    bar.setValue(0)
    return bar


def choice_filter(
    object_name: str, accessible: str, tip: str, any_text: str, choices: Iterable[str]
) -> QComboBox:
    """A combo that filters by one value: `any_text` first (data None), then each choice."""
    combo = described(QComboBox(), accessible, tip, object_name=object_name)
    combo.addItem(any_text, None)
    for choice in choices:
        combo.addItem(choice, choice)
    return combo


def sortable_table(
    object_name: str,
    accessible: str,
    tip: str,
    model: QAbstractItemModel,
    sort_column: int,
    order: Qt.SortOrder = Qt.SortOrder.AscendingOrder,
) -> QTableView:
    """A read-only table of whole rows (several selectable), sorted by clicking a header,
    alternating row colours, one line per row, interactive columns, the last one stretched."""
    table = described(QTableView(), accessible, tip, object_name=object_name)
    table.setModel(model)
    table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    table.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
    table.setSortingEnabled(True)
    table.sortByColumn(sort_column, order)
    table.setAlternatingRowColors(True)
    table.setWordWrap(False)
    table.verticalHeader().setVisible(False)
    table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
    table.horizontalHeader().setStretchLastSection(True)
    return table


def select_source_row(
    table: QTableView, proxy: Any, row: int, clear_filters: Callable[[], None]
) -> bool:
    """Make the source model's `row` the one selected and current row of `table` (shown
    through `proxy`), clearing the filters first when they hide it; False when `row` < 0."""
    if row < 0:
        return False
    source = proxy.sourceModel()
    index = proxy.mapFromSource(source.index(row, 0))
    if not index.isValid():
        clear_filters()
        index = proxy.mapFromSource(source.index(row, 0))
    flags = QItemSelectionModel.SelectionFlag
    table.selectionModel().setCurrentIndex(index, flags.ClearAndSelect | flags.Rows)
    table.scrollTo(index)
    return True


def group(title: str, content: QWidget, object_name: str | None = None) -> QGroupBox:
    """A titled box around one widget."""
    box = QGroupBox(title)
    if object_name is not None:
        box.setObjectName(object_name)
    QVBoxLayout(box).addWidget(content)
    return box


def scrolling_column(
    widgets: Iterable[QWidget], object_name: str | None = None, *, right_margin: int = 0
) -> QScrollArea:
    """`widgets` one under the other, top-aligned, in a vertical scroll area (the forms)."""
    column = QWidget()
    layout = QVBoxLayout(column)
    layout.setContentsMargins(0, 0, right_margin, 0)
    for widget in widgets:
        layout.addWidget(widget)
    layout.addStretch(1)
    scroll = QScrollArea()
    if object_name is not None:
        scroll.setObjectName(object_name)
    scroll.setWidgetResizable(True)
    scroll.setWidget(column)
    return scroll


def filter_edit(object_name: str, accessible: str, tip: str, placeholder: str) -> QLineEdit:
    """The text filter over a table (with a clear button)."""
    edit = described(QLineEdit(), accessible, tip, object_name=object_name)
    edit.setPlaceholderText(placeholder)
    edit.setClearButtonEnabled(True)
    return edit


def filter_bar(fields: Sequence[tuple[str, QWidget]], trailing: Sequence[QWidget]) -> QHBoxLayout:
    """The row over a table: each filter after a label whose mnemonic (&) focuses it (a text
    filter takes the spare width), then `trailing` (Import…, Refresh) at the right."""
    row = QHBoxLayout()
    for text, widget in fields:
        label = QLabel(text)
        label.setBuddy(widget)
        row.addWidget(label)
        row.addWidget(widget, 1 if isinstance(widget, QLineEdit) else 0)
    row.addStretch(1)
    for widget in trailing:
        row.addWidget(widget)
    return row


def labelled(text: str, widget: QWidget, *, stretch: int = 0) -> QHBoxLayout:
    """A row: a label whose mnemonic (&) focuses `widget`, then the widget."""
    label = QLabel(text)
    label.setBuddy(widget)
    row = QHBoxLayout()
    row.addWidget(label)
    row.addWidget(widget, stretch)
    return row


def splitter(
    object_name: str,
    orientation: Qt.Orientation,
    widgets: Sequence[QWidget],
    stretches: Sequence[int],
) -> QSplitter:
    """`widgets` side by side (or one over the other), sharing spare room by `stretches`,
    none of them collapsible to nothing by a drag."""
    split = QSplitter(orientation)
    split.setObjectName(object_name)
    for index, (widget, stretch) in enumerate(zip(widgets, stretches, strict=True)):
        split.addWidget(widget)
        split.setStretchFactor(index, stretch)
    split.setChildrenCollapsible(False)
    return split


def table_page(filters: QLayout, table: QWidget, hint: QWidget, actions: QLayout) -> QWidget:
    """The upper part of a library tab: filters over the table, its hint, then its actions."""
    page = QWidget()
    layout = QVBoxLayout(page)
    layout.setContentsMargins(0, 0, 0, 0)
    layout.addLayout(filters)
    layout.addWidget(table, 1)
    layout.addWidget(hint)
    layout.addLayout(actions)
    return page


def make_action(parent: QWidget, text: str, tip: str, slot: Callable[[], object]) -> QAction:
    """An action with its tooltip and status tip, triggering `slot`."""
    action = QAction(text, parent)
    action.setToolTip(tip)
    action.setStatusTip(tip)
    action.triggered.connect(slot)
    return action


def action_button(object_name: str, text: str, action: QAction) -> QPushButton:
    """A button for `action`, described by its tooltip (the tab keeps it enabled with it)."""
    widget = button(object_name, text, action.toolTip())
    widget.clicked.connect(action.trigger)
    return widget


def ask_yes_no(parent: QWidget, title: str, question: str) -> bool:
    """A Yes/No question, No by default (what deleting asks)."""
    buttons = QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No
    answer = QMessageBox.question(parent, title, question, buttons, QMessageBox.StandardButton.No)
    return answer == QMessageBox.StandardButton.Yes


def local_paths(mime: Any) -> list[str]:
    """The local files and folders of a drag (URLs of other kinds cannot be opened)."""
    if mime is None or not mime.hasUrls():
        return []
    return [url.toLocalFile() for url in mime.urls() if url.isLocalFile()]


class ElidedLabel(QLabel):
    """One line that never grows: a text too long for the width ends in "…", and the tooltip
    (and accessible description) hold all of it. For messages that must not move the layout
    (an error beside buttons, a queue's state over its list)."""

    def __init__(self, text: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._full = ""
        self.setWordWrap(False)
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
        self.setTextFormat(Qt.TextFormat.PlainText)
        self.setText(text)

    def setText(self, text: str) -> None:  # type: ignore[override]
        self._full = text
        self.setToolTip(text)
        self.setAccessibleDescription(text)
        self._elide()

    def full_text(self) -> str:
        """The whole text (what is shown may end in "…")."""
        return self._full

    def minimumSizeHint(self) -> QSize:
        return QSize(0, super().minimumSizeHint().height())

    def resizeEvent(self, event: Any) -> None:
        super().resizeEvent(event)
        self._elide()

    def _elide(self) -> None:
        width = max(self.contentsRect().width(), 0)
        shown = self.fontMetrics().elidedText(self._full, Qt.TextElideMode.ElideRight, width)
        super().setText(shown if width else self._full)
