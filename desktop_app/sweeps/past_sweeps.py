"""The sweeps stored in the data home, newest first: select one to show its runs, Resume to
finish it."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QGroupBox,
    QHBoxLayout,
    QListWidget,
    QListWidgetItem,
    QVBoxLayout,
)

from desktop_app.kit.widgets import button, described
from engine.run_rules import can_resume_sweep

ID_ROLE = Qt.ItemDataRole.UserRole + 1
STATUS_ROLE = Qt.ItemDataRole.UserRole + 2
TURNS_TIP = (
    "Runs in this app take turns: a sweep started while the Training tab trains (or a "
    "replay runs) waits for that run to finish."
)


class PastSweeps(QGroupBox):
    """The list of stored sweeps with Resume and Refresh; `selectionChanged` when the user
    picks another (the list is rebuilt without it)."""

    selectionChanged = Signal()

    def __init__(self, workspace: Any) -> None:
        super().__init__("Past sweeps")
        self.workspace = workspace
        self.list = described(
            QListWidget(),
            "Past sweeps",
            "Sweeps stored in this data home; select one to show its runs",
            object_name="pastSweepsList",
        )
        self.list.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.resume_button = button(
            "resumeSweepButton",
            "Resume",
            "Run the combinations of the selected sweep that have not finished. " + TURNS_TIP,
            accessible="Resume sweep",
            enabled=False,
        )
        self.refresh_button = button(
            "refreshSweepsButton",
            "Refresh",
            "Read the stored sweeps again",
            accessible="Refresh sweeps",
        )
        buttons = QHBoxLayout()
        buttons.addWidget(self.resume_button)
        buttons.addWidget(self.refresh_button)
        buttons.addStretch(1)
        layout = QVBoxLayout(self)
        layout.addWidget(self.list, 1)
        layout.addLayout(buttons)
        self.list.itemSelectionChanged.connect(self.selectionChanged)

    def refresh(self, running: str | None, select: str | None = None) -> str | None:
        """List the stored sweeps again (newest first), keeping (or making) the selection;
        `running` is the sweep in progress. Returns why they could not be listed, if not."""
        from engine.sweeps import list_sweeps

        problem = None
        try:
            found = list_sweeps(self.workspace)
        except Exception as exc:  # a bad home must not take the panel down
            problem = f"Could not list sweeps: {exc}"
            found = []
        chosen = select or (self.selected() or (None, None))[0]
        blocked = self.list.blockSignals(True)
        try:
            self.list.clear()
            for summary in reversed(found):
                status = "running" if summary.id == running else summary.status
                item = _item(summary, status)
                self.list.addItem(item)
                if summary.id == chosen:
                    item.setSelected(True)
                    self.list.setCurrentItem(item)
        finally:
            self.list.blockSignals(blocked)
        return problem

    def ids(self) -> list[str]:
        return [self.list.item(i).data(ID_ROLE) for i in range(self.list.count())]

    def selected(self) -> tuple[str, str] | None:
        """(id, status) of the selected sweep, or None."""
        items = self.list.selectedItems()
        if not items:
            return None
        return items[0].data(ID_ROLE), items[0].data(STATUS_ROLE)

    def selected_resumable(self) -> str | None:
        """The selected sweep's id if it has combinations left to run."""
        selected = self.selected()
        return selected[0] if selected is not None and can_resume_sweep(selected[1]) else None

    def select(self, sweep_id: str) -> bool:
        """Select a sweep (emits `selectionChanged`); False if it is not listed."""
        for i in range(self.list.count()):
            item = self.list.item(i)
            if item.data(ID_ROLE) == sweep_id:
                self.list.setCurrentItem(item)
                item.setSelected(True)
                return True
        return False

    def show_progress(self, sweep_id: str, family: str, done: int, total: int) -> None:
        """The running sweep's line follows its progress."""
        for i in range(self.list.count()):
            item = self.list.item(i)
            if item.data(ID_ROLE) == sweep_id:
                first = item.text().split("\n", 1)[0]
                item.setText(f"{first}\n{family or '…'} · running · {done} / {total}")
                return


def _item(summary: Any, status: str) -> QListWidgetItem:
    """A sweep's line: its id, then family, status and progress; the rest in its tooltip."""
    done = summary.completed + summary.failed + summary.pruned
    text = f"{summary.id}\n{summary.family} · {status} · {done} / {summary.total}"
    if summary.failed:
        text += f" · {summary.failed} failed"
    if summary.pruned:
        text += f" · {summary.pruned} pruned"
    item = QListWidgetItem(text)
    item.setData(ID_ROLE, summary.id)
    item.setData(STATUS_ROLE, status)
    tip = [
        f"Sweep {summary.id} of {summary.family}: {status}",
        f"{summary.completed} completed, {summary.failed} failed"
        + (f", {summary.pruned} pruned" if summary.pruned else "")
        + f" of {summary.total}",
        f"created {summary.created_at}",
    ]
    if summary.problem:
        tip.append(summary.problem)
    if can_resume_sweep(status):
        tip.append("Select it and press Resume to finish it")
    item.setToolTip("\n".join(tip))
    return item
