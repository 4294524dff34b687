"""Run requests and the queue of runs waiting for the one in progress to end."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from PySide6.QtCore import QAbstractListModel, QItemSelectionModel, QModelIndex, QObject, Qt, Slot
from PySide6.QtWidgets import QHBoxLayout, QListView, QPushButton, QVBoxLayout, QWidget

from desktop_app.kit.widgets import button
from engine.variants import RunConfig

RunMode = Literal["train", "retrain", "resume", "replay"]

MODE_LABELS: dict[str, str] = {
    "train": "Train",
    "retrain": "Retrain",
    "resume": "Resume",
    "replay": "Replay",
}


@dataclass(frozen=True)
class RunRequest:
    """What to run: `train`/`retrain` carry the resolved config (or the parameters to resolve),
    `resume`/`replay` just the name."""

    mode: RunMode
    variant: str
    family: str | None = None
    domain: dict[str, Any] = field(default_factory=dict)
    training: dict[str, Any] = field(default_factory=dict)
    config: RunConfig | None = None  # the engine's resolution, trained as it is

    def describe(self) -> str:
        return f"{MODE_LABELS[self.mode]} {self.variant}"

    def details(self) -> str:
        lines = [self.describe()]
        if self.family:
            lines.append(f"family: {self.family}")
        domain, training = self.domain, self.training
        if self.config is not None:
            domain, training = self.config.domain, self.config.training.model_dump()
        for key, value in {**domain, **training}.items():
            lines.append(f"{key} = {value}")
        return "\n".join(lines)


class RunQueueModel(QAbstractListModel):
    """The waiting runs, first to start at the top."""

    RequestRole = Qt.ItemDataRole.UserRole + 1

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._items: list[RunRequest] = []

    # ---- Qt model --------------------------------------------------------------------------
    def rowCount(self, parent: QModelIndex | None = None) -> int:
        if parent is not None and parent.isValid():
            return 0
        return len(self._items)

    def data(self, index: QModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._items):
            return None
        request = self._items[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return f"{index.row() + 1}. {request.describe()}"
        if role == Qt.ItemDataRole.ToolTipRole:
            return request.details()
        if role == self.RequestRole:
            return request
        return None

    # ---- queue operations ------------------------------------------------------------------
    def requests(self) -> list[RunRequest]:
        return list(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def enqueue(self, request: RunRequest) -> None:
        row = len(self._items)
        self.beginInsertRows(QModelIndex(), row, row)
        self._items.append(request)
        self.endInsertRows()

    def pop_next(self) -> RunRequest | None:
        if not self._items:
            return None
        self.beginRemoveRows(QModelIndex(), 0, 0)
        request = self._items.pop(0)
        self.endRemoveRows()
        self._renumber()
        return request

    def remove(self, row: int) -> None:
        if 0 <= row < len(self._items):
            self.beginRemoveRows(QModelIndex(), row, row)
            del self._items[row]
            self.endRemoveRows()
            self._renumber()

    def move(self, row: int, delta: int) -> int:
        """Move one entry up (delta -1) or down (+1); returns its new row."""
        target = row + delta
        if not (0 <= row < len(self._items) and 0 <= target < len(self._items)):
            return row
        # Qt's destination index counts positions before the move.
        destination = target + 1 if delta > 0 else target
        self.beginMoveRows(QModelIndex(), row, row, QModelIndex(), destination)
        self._items.insert(target, self._items.pop(row))
        self.endMoveRows()
        self._renumber()
        return target

    def clear(self) -> None:
        if self._items:
            self.beginResetModel()
            self._items.clear()
            self.endResetModel()

    def _renumber(self) -> None:
        if self._items:
            last = self.index(len(self._items) - 1)
            self.dataChanged.emit(self.index(0), last, [Qt.ItemDataRole.DisplayRole])


class RunQueuePanel(QWidget):
    """The queue, visible, with up/down/remove/clear buttons."""

    def __init__(self, model: RunQueueModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = model
        self.view = QListView(self)
        self.view.setObjectName("queueList")
        self.view.setModel(model)
        self.view.setAccessibleName("Queued runs")
        self.view.setToolTip("Runs waiting to start; the top one starts when the current run ends.")
        self.view.setSelectionMode(QListView.SelectionMode.SingleSelection)
        self.view.setMinimumHeight(48)

        self.up_button = _button("queueUpButton", "Up", "Move the selected queued run earlier")
        self.down_button = _button("queueDownButton", "Down", "Move the selected queued run later")
        self.remove_button = _button(
            "queueRemoveButton", "Remove", "Remove the selected queued run"
        )
        self.clear_button = _button("queueClearButton", "Clear", "Remove every queued run")
        self.up_button.clicked.connect(self.move_up)
        self.down_button.clicked.connect(self.move_down)
        self.remove_button.clicked.connect(self.remove_selected)
        self.clear_button.clicked.connect(self.model.clear)

        buttons = QHBoxLayout()
        for widget in (self.up_button, self.down_button, self.remove_button, self.clear_button):
            buttons.addWidget(widget)
        buttons.addStretch(1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.view, 1)
        layout.addLayout(buttons)

        model.rowsInserted.connect(self._update_buttons)
        model.rowsRemoved.connect(self._update_buttons)
        model.rowsMoved.connect(self._update_buttons)
        model.modelReset.connect(self._update_buttons)
        self.view.selectionModel().selectionChanged.connect(self._update_buttons)
        self._update_buttons()

    def selected_row(self) -> int:
        indexes = self.view.selectionModel().selectedIndexes()
        return indexes[0].row() if indexes else -1

    @Slot()
    def move_up(self) -> None:
        self._move(-1)

    @Slot()
    def move_down(self) -> None:
        self._move(+1)

    @Slot()
    def remove_selected(self) -> None:
        row = self.selected_row()
        if row >= 0:
            self.model.remove(row)

    def _move(self, delta: int) -> None:
        row = self.selected_row()
        if row < 0:
            return
        new_row = self.model.move(row, delta)
        self.view.selectionModel().setCurrentIndex(
            self.model.index(new_row), QItemSelectionModel.SelectionFlag.ClearAndSelect
        )

    @Slot()
    def _update_buttons(self, *args: object) -> None:
        row = self.selected_row()
        count = self.model.rowCount()
        self.up_button.setEnabled(row > 0)
        self.down_button.setEnabled(0 <= row < count - 1)
        self.remove_button.setEnabled(row >= 0)
        self.clear_button.setEnabled(count > 0)


def _button(name: str, text: str, tip: str) -> QPushButton:
    """A queue button, announced by what it does (its text alone says too little)."""
    return button(name, text, tip, accessible=tip)
