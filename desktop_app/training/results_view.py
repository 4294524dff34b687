"""The live plots over the chronicle table, linked both ways: a click in the plots selects
the epoch's row, a selected row marks its epoch in the plots."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt, Slot
from PySide6.QtWidgets import QSplitter, QWidget

from desktop_app.training.chronicle_view import ChronicleView

if TYPE_CHECKING:
    from desktop_app.training.plots import TrainingPlots


class ResultsView(QSplitter):
    """The plots (made on first use, after the window's first paint: pyqtgraph is slow to
    import) over the chronicle; rows go to both."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(Qt.Orientation.Vertical, parent)
        self.setObjectName("resultsSplitter")
        self._plots: TrainingPlots | None = None
        self._sizes_restored = False
        self._placeholder = QWidget()
        self._placeholder.setObjectName("plotsPlaceholder")
        self.chronicle = ChronicleView()
        self.chronicle.epochSelected.connect(self._on_chronicle_epoch)
        self.addWidget(self._placeholder)
        self.addWidget(self.chronicle)
        self.setStretchFactor(0, 3)
        self.setStretchFactor(1, 2)
        self.setChildrenCollapsible(False)

    @property
    def plots(self) -> TrainingPlots:
        """The live plots, created on first use in the placeholder's place."""
        if self._plots is None:
            from desktop_app.training.plots import TrainingPlots

            plots = TrainingPlots()
            plots.epochClicked.connect(self.chronicle.select_epoch)
            sizes = self.sizes()
            self.replaceWidget(0, plots)
            self._placeholder.deleteLater()
            self._plots = plots
            total = sum(sizes)
            if not self._sizes_restored and total > 0:
                self.setSizes([total * 3 // 5, total - total * 3 // 5])
            else:
                self.setSizes(sizes)
        return self._plots

    @property
    def plots_made(self) -> bool:
        return self._plots is not None

    def show_rows(self, rows: list[dict[str, Any]]) -> None:
        """Show exactly these rows (a run's history, a variant's chronicle)."""
        self.chronicle.set_rows(rows)
        self.plots.set_rows(rows)

    def add_rows(self, rows: list[dict[str, Any]]) -> None:
        """A batch of a run's new rows."""
        self.chronicle.append_rows(rows)
        self.plots.add_rows(rows)

    def clear(self) -> None:
        self.chronicle.clear()
        self.plots.clear()

    def restore_sizes(self, state: Any) -> None:
        """Sizes saved by `saveState()`: kept when the plots replace their placeholder."""
        if state is not None and self.restoreState(state):
            self._sizes_restored = True

    @Slot(object)
    def _on_chronicle_epoch(self, epoch: int | None) -> None:
        self.plots.mark_epoch(epoch)
