"""A search's results (random, TPE or LLM sweeps): parallel coordinates, parameter importance
(or an LLM search's proposals) and the best trial one click from training it longer or
publishing it.

Parallel coordinates: one vertical axis per searched parameter and one for the objective;
each completed trial is a line across them, coloured by its objective (the best drawn
thicker), pruned trials in grey without an objective. Each axis runs from its range's low
end (bottom) to its high end (top), on a log scale for a `:log` range; a list's values are
spaced evenly in the order given. Importance (Optuna's PED-ANOVA evaluator) is computed in a
task from the study's journal, once at least two trials have completed. An LLM search has no
study: its proposals (llm_view.ProposalsPanel) take the importance's place. While a search
runs, each trial's row redraws the coordinates and the best trial (importance waits for the
end).
"""

from __future__ import annotations

import itertools
import math
from typing import Any

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QSplitter,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from desktop_app.kit.tasks import Task, TaskRunner
from desktop_app.kit.theme import follow_theme
from desktop_app.kit.widgets import button, text_label
from desktop_app.sweeps.llm_view import NO_IMPORTANCE, ProposalsPanel
from engine.sweeps import SweepRecord, SweepRow
from engine.sweeps.store import best_trial

PRUNED_COLOR = (150, 150, 150, 110)
NO_SEARCH = "Parallel coordinates and importance show for searches (random, Bayesian or LLM)."


def axis_position(spec: Any, name: str, value: Any) -> float | None:
    """Where `value` of parameter `name` sits on its axis, 0 (bottom) to 1 (top)."""
    if name in spec.ranges:
        bounds = spec.ranges[name]
        low, high, v = bounds.low, bounds.high, float(value)
        if bounds.log:
            low, high, v = math.log(low), math.log(high), math.log(v)
        return (v - low) / (high - low) if high > low else 0.5
    values = spec.grid.get(name, [])
    if value not in values:
        return None
    return values.index(value) / (len(values) - 1) if len(values) > 1 else 0.5


def axis_ends(spec: Any, name: str) -> tuple[str, str]:
    """The labels of an axis's bottom and top."""
    if name in spec.ranges:
        bounds = spec.ranges[name]
        fmt = (lambda v: str(int(v))) if bounds.integer else (lambda v: f"{v:.3g}")
        return fmt(bounds.low), fmt(bounds.high)
    values = spec.grid.get(name, [])
    return (str(values[0]), str(values[-1])) if values else ("", "")


class ImportanceTask(Task):
    """The searched parameters' importances from the study (engine.sweeps.search)."""

    kind = "importance"

    def __init__(self, request_id: int, home: Any, record: SweepRecord) -> None:
        super().__init__(request_id, record.id)
        self.home, self.record = home, record

    def compute(self) -> dict[str, float]:
        from engine.sweeps.search import param_importances

        return param_importances(self.home, self.record.id, self.record.spec)


class SearchView(QWidget):
    """The selected search's parallel coordinates, importance (an LLM search: its
    proposals) and best trial."""

    trainLongerRequested = Signal(str)  # the best trial's variant
    publishRequested = Signal(str, str, str)  # variant, family, dataset ("": none)

    def __init__(self, workspace: Any, runner: TaskRunner, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("searchView")
        self.workspace, self.runner = workspace, runner
        self.record: SweepRecord | None = None  # a copy: rows of a running search join it
        self.running = False  # the search shown is running
        self.best: Any = None
        self.importances: dict[str, float] | None = None
        self._ids = itertools.count(1)
        self._request = 0
        self._build()
        self.show_record(None)

    def _build(self) -> None:
        """The best trial's line and buttons now; the plots (pyqtgraph) on the first search
        shown, so a window that never shows one does not load them."""
        self.coordinates: Any = None
        self.importance_plot: Any = None
        self.proposals: ProposalsPanel | None = None
        self.side: QStackedWidget | None = None  # importance, or an LLM search's proposals
        self.importance_note = QLabel("")
        self.importance_note.setObjectName("importanceNote")
        self.importance_note.setWordWrap(True)
        self.best_label = text_label(
            "bestTrialLabel", "Best trial", "The search's best completed trial", wrap=True
        )
        self.best_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.train_button = button(
            "trainBestButton",
            "Train longer…",
            "Open the best trial's settings on the Training tab, with twice the epochs",
            enabled=False,
        )
        self.publish_button = button(
            "publishBestButton",
            "Publish…",
            "Publish the best trial's variant as a model version (Models tab)",
            enabled=False,
        )
        self.train_button.clicked.connect(self._on_train_longer)
        self.publish_button.clicked.connect(self._on_publish)
        row = QHBoxLayout()
        row.addWidget(self.best_label, 1)
        row.addWidget(self.train_button)
        row.addWidget(self.publish_button)
        self._layout = QVBoxLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self._layout.addLayout(row)
        self._layout.addWidget(self.importance_note)
        self._layout.addStretch(1)

    def _ensure_plots(self) -> None:
        if self.coordinates is not None:
            return
        self.coordinates = _fixed_plot(
            "parallelCoordinates",
            "Parallel coordinates",
            "Each completed trial is a line through its parameter values and its objective "
            "(colour: the objective, yellow the best end); grey dashed lines are pruned trials",
        )
        self.coordinates.hideAxis("left")
        self.importance_plot = _fixed_plot(
            "importancePlot",
            "Parameter importance",
            "How much each parameter mattered to the objective (Optuna's PED-ANOVA; shares "
            "sum to 1)",
        )
        importance = QWidget()
        column = QVBoxLayout(importance)
        column.setContentsMargins(0, 0, 0, 0)
        column.addWidget(self.importance_plot, 1)
        column.addWidget(self.importance_note)
        self.proposals = ProposalsPanel(self.workspace, self.runner)
        self.side = QStackedWidget()
        self.side.setObjectName("searchSide")
        self.side.addWidget(importance)
        self.side.addWidget(self.proposals)
        plots = QSplitter(Qt.Orientation.Horizontal)
        plots.setObjectName("searchPlots")
        plots.addWidget(self.coordinates)
        plots.addWidget(self.side)
        plots.setStretchFactor(0, 3)
        plots.setStretchFactor(1, 2)
        self.plots = plots
        self._layout.takeAt(self._layout.count() - 1)  # the stretch
        self._layout.addWidget(plots, 1)

    # ---- showing -----------------------------------------------------------------------------
    @property
    def llm(self) -> bool:
        """Whether the search shown is an LLM search (proposals instead of importance)."""
        return self.record is not None and self.record.spec.search == "llm"

    def show_record(self, record: SweepRecord | None, *, running: bool = False) -> None:
        """Draw `record` (a search; None or a grid: a note) and ask for its importances, or
        an LLM search's proposals. `running`: it runs now (its rows will follow)."""
        searched = record is not None and record.spec.searched
        self.record = record.model_copy(deep=True) if searched and record is not None else None
        self.running = running and self.record is not None
        self.best = best_trial(self.record) if self.record is not None else None
        if self.record is not None:
            self._ensure_plots()
        self._request = 0
        self.importances = None
        self._draw_coordinates()
        self._draw_importances()
        self._show_best()
        self._show_side()
        if self.llm:
            self.importance_note.setText(NO_IMPORTANCE)
        elif self.record is not None:
            completed = sum(1 for r in self.record.rows if r.result == "completed")
            if completed >= 2:
                self._request = next(self._ids)
                task = ImportanceTask(self._request, self.workspace.home, self.record)
                self.importance_note.setText("Computing importance…")
                self.runner.start(task, self._on_importances, self._on_importances_failed)
            else:
                self.importance_note.setText("Importance shows once two trials have completed.")
        else:
            self.importance_note.setText(NO_SEARCH)

    def _show_side(self) -> None:
        """Importance beside the coordinates, or an LLM search's proposals."""
        if self.side is None or self.proposals is None:
            return
        if self.side.currentWidget() is not (self.proposals if self.llm else self.side.widget(0)):
            # The proposals' reasons need more room than the importance bars.
            share = (2, 3) if self.llm else (3, 2)
            width = max(self.plots.width(), 1)
            self.plots.setSizes([width * share[0] // 5, width * share[1] // 5])
        self.side.setCurrentWidget(self.proposals if self.llm else self.side.widget(0))
        self.proposals.show_record(self.record if self.llm else None, running=self.running)

    def set_running(self, running: bool) -> None:
        """The search shown started or stopped running here (which trial is training)."""
        self.running = running and self.record is not None
        if self.llm and self.proposals is not None:
            self.proposals.running = self.running
            self.proposals.refresh()

    def add_row(self, row: SweepRow) -> None:
        """A trial of the running search ended: its line, the best trial, the proposals."""
        record = self.record
        if record is None or row.index < 0:
            return
        record.rows = sorted(
            [r for r in record.rows if r.index != row.index] + [row], key=lambda r: r.index
        )
        self.best = best_trial(record)
        self._draw_coordinates()
        self._show_best()
        if self.llm and self.proposals is not None:
            self.proposals.record = record
            self.proposals.trial_ended()

    def trial_started(self) -> None:
        """A trial of the running search starts: an LLM search lists its proposal now."""
        if self.llm and self.proposals is not None:
            self.proposals.refresh()

    def _show_best(self) -> None:
        best = self.best
        if best is None:
            self.best_label.setText("No completed trial yet." if self.record else NO_SEARCH)
        else:
            metric = (self.record.spec.objective or "").partition(":")[0]  # type: ignore[union-attr]
            params = ", ".join(f"{k}={_short(v)}" for k, v in best.parameters.items())
            self.best_label.setText(
                f"Best: trial {best.index + 1}, {best.variant} — {metric} "
                f"{best.objective:.4g} ({params})"
            )
        self.train_button.setEnabled(best is not None)
        self.publish_button.setEnabled(best is not None)

    def _draw_coordinates(self) -> None:
        import pyqtgraph as pg

        plot = self.coordinates
        record = self.record
        if plot is None:
            return
        plot.clear()
        if record is None:
            plot.getAxis("bottom").setTicks([[]])
            return
        spec = record.spec
        names = spec.swept_names()
        metric = (spec.objective or "objective").partition(":")[0]
        axes = len(names) + 1
        plot.getAxis("bottom").setTicks([list(enumerate([*names, metric]))])
        plot.setXRange(-0.3, axes - 0.7, padding=0)
        plot.setYRange(-0.12, 1.12, padding=0)
        for x in range(axes):
            plot.addItem(pg.InfiniteLine(pos=x, angle=90, pen=pg.mkPen(128, 128, 128, 160)))
            low, high = axis_ends(spec, names[x]) if x < len(names) else self._objective_ends()
            for text, y, anchor in ((low, -0.02, (0.5, 0)), (high, 1.02, (0.5, 1))):
                label = pg.TextItem(text, anchor=anchor, color=(90, 90, 90))
                label.setPos(x, y)
                plot.addItem(label)
        scores = [r.objective for r in record.rows if r.objective is not None]
        low, high = (min(scores), max(scores)) if scores else (0.0, 1.0)
        colormap = pg.colormap.get("viridis")
        best_index = self.best.index if self.best is not None else None
        for row in record.rows:
            if row.result not in ("completed", "pruned"):
                continue
            ys = [axis_position(spec, n, row.parameters.get(n)) for n in names]
            if any(y is None for y in ys):
                continue
            xs = list(range(len(names)))
            if row.result == "completed" and row.objective is not None:
                share = (row.objective - low) / (high - low) if high > low else 0.5
                if not (spec.objective or "").endswith(":max"):
                    share = 1.0 - share  # yellow is always the better end
                ys.append((row.objective - low) / (high - low) if high > low else 0.5)
                xs.append(len(names))
                color = colormap.map(share, mode="qcolor")
                width = 3.5 if row.index == best_index else 1.5
                pen = pg.mkPen(color, width=width)
            else:
                pen = pg.mkPen(PRUNED_COLOR, width=1, style=Qt.PenStyle.DashLine)
            plot.addItem(pg.PlotDataItem(xs, ys, pen=pen))

    def _objective_ends(self) -> tuple[str, str]:
        scores = [r.objective for r in (self.record.rows if self.record else [])]
        scores = [s for s in scores if s is not None]
        return (f"{min(scores):.4g}", f"{max(scores):.4g}") if scores else ("", "")

    def _draw_importances(self) -> None:
        import pyqtgraph as pg

        plot = self.importance_plot
        if plot is None:
            return
        plot.clear()
        found = self.importances or {}
        names = list(reversed(list(found)))  # the most important at the top
        plot.getAxis("left").setTicks([list(enumerate(names))])
        if not names:
            return
        values = [found[n] for n in names]
        plot.addItem(
            pg.BarGraphItem(
                x0=0, y=list(range(len(names))), height=0.6, width=values, brush="#4c72b0"
            )
        )
        plot.setXRange(0, max(1.0, max(values)), padding=0.02)
        plot.setYRange(-0.6, len(names) - 0.4, padding=0)

    @Slot(int, object)
    def _on_importances(self, request: int, importances: dict[str, float]) -> None:
        if request != self._request:
            return
        self.importances = importances
        self.importance_note.setText(
            ", ".join(f"{name} {share:.2f}" for name, share in importances.items())
        )
        self._draw_importances()

    @Slot(int, str)
    def _on_importances_failed(self, request: int, message: str) -> None:
        if request == self._request:
            self.importance_note.setText(f"No importance: {message}")

    # ---- actions -----------------------------------------------------------------------------
    @Slot()
    def _on_train_longer(self) -> None:
        if self.best is not None and self.best.variant:
            self.trainLongerRequested.emit(self.best.variant)

    @Slot()
    def _on_publish(self) -> None:
        if self.best is None or not self.best.variant or self.record is None:
            return
        dataset = self.record.spec.domain.get("dataset")
        if not isinstance(dataset, str):
            dataset = self.best.parameters.get("dataset", "")
        self.publishRequested.emit(
            self.best.variant, self.record.spec.family, dataset if isinstance(dataset, str) else ""
        )


def _fixed_plot(object_name: str, title: str, tip: str) -> Any:
    """A titled pyqtgraph plot in the theme's colours that the mouse does not pan or zoom (its
    ranges are set from the data)."""
    import pyqtgraph as pg

    plot = pg.PlotWidget()
    plot.setObjectName(object_name)
    plot.setAccessibleName(title)
    plot.setToolTip(tip)
    plot.setMenuEnabled(False)
    plot.setMouseEnabled(x=False, y=False)
    plot.setTitle(title)
    follow_theme(plot)
    return plot


def _short(value: Any) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)
