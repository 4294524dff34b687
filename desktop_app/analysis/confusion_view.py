"""A classifier's confusion matrices over training: a heat map chosen with a slider, and each
class's accuracy as bars beside it (rows aligned with the matrix's).

Counts are written in the cells up to 20 classes; the colour is each cell's share of its true
class (so a rare class reads as well as a common one); hovering over a cell tells its numbers.
Class names label both axes. Pure drawing: the page hands it a ConfusionSeries.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, Qt, Signal, Slot
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import (
    QApplication,
    QHBoxLayout,
    QSlider,
    QSplitter,
    QToolButton,
    QToolTip,
    QVBoxLayout,
    QWidget,
)

from desktop_app.kit.curve_plots import overlay_plot
from desktop_app.kit.theme import follow_theme
from desktop_app.kit.widgets import described, labelled, text_label
from engine.analysis.classification import (
    ConfusionPoint,
    ConfusionSeries,
    confusion_array,
    per_class_accuracy,
)

MAX_COUNTED_CLASSES = 20  # counts are written in the cells up to this many classes
MAX_TICKS = 40  # class names on an axis; more classes: every n-th name
COLOR_MAP = "viridis"
BRIGHT_SHARE = 0.6  # viridis is yellow from here: dark text reads there, light text below
BAR_BRUSH = (80, 160, 255, 200)
OVERALL_PEN = (230, 120, 20)
CONFUSION_TIP = (
    "Rows: the true class; columns: the predicted class. Each cell's colour is its share of "
    "the true class's test examples (the diagonal is right), with the count written in it "
    "when there are at most 20 classes. Hover over a cell for its numbers."
)


class ConfusionView(QWidget):
    """The slider over the checkpoints, the most confused pairs, the heat map and the bars;
    `pointChanged(index)` when the slider chooses another checkpoint."""

    pointChanged = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.series: ConfusionSeries | None = None
        self.cell_texts: list[pg.TextItem] = []
        self._counted_shape = (0, 0)  # the matrix shape cell_texts are laid out for
        self.bar_texts: list[pg.TextItem] = []
        self.accuracy_bars: pg.BarGraphItem | None = None
        self.confused_label = text_label(
            "mostConfusedLabel",
            "Most confused classes",
            "The off-diagonal cells with the most test examples at the chosen checkpoint",
            wrap=True,
            select=True,
        )
        self.plots = QSplitter(Qt.Orientation.Horizontal)
        self.plots.setObjectName("confusionSplitter")
        self.plots.addWidget(self._build_confusion_plot())
        self.plots.addWidget(self._build_accuracy_plot())
        self.plots.setStretchFactor(0, 3)
        self.plots.setStretchFactor(1, 2)
        self.plots.setChildrenCollapsible(False)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(self._build_slider_row())
        layout.addWidget(self.checkpoint_label)  # its own line: the slider keeps its width
        layout.addWidget(self.confused_label)
        layout.addWidget(self.plots, 1)
        self.slider.valueChanged.connect(self._on_slider_changed)
        self.best_button.clicked.connect(self.show_best)
        follow_theme(self, self._restyle)

    def _restyle(self) -> None:
        """The palette changed (the plots restyle themselves): the colour bar's axis and the
        bars' numbers take its text colour."""
        _style_axes(self.color_bar.axis)
        label = self.color_bar.getAxis("left")
        label.setLabel("share of the true class", color=_text_color().name())
        for text in self.bar_texts:
            text.setColor(_text_color())

    # ---- construction ----------------------------------------------------------------------
    def _build_slider_row(self) -> QHBoxLayout:
        self.slider = described(
            QSlider(Qt.Orientation.Horizontal),
            "Confusion checkpoint",
            "Choose the evaluated checkpoint whose confusion matrix is shown",
            object_name="confusionSlider",
        )
        self.slider.setTickPosition(QSlider.TickPosition.TicksBelow)
        self.slider.setRange(0, 0)
        self.slider.setEnabled(False)
        self.best_button = described(
            QToolButton(),
            "Best checkpoint",
            "Show the confusion matrix of the best checkpoint (highest test accuracy)",
            object_name="bestCheckpointButton",
        )
        self.best_button.setText("★ Best")
        self.best_button.setAccessibleDescription(self.best_button.toolTip())
        self.checkpoint_label = text_label(
            "confusionCheckpointLabel",
            "Chosen checkpoint",
            "The epoch shown, whether it is the best checkpoint, and its test accuracy",
            "no checkpoint",
        )
        row = labelled("&Checkpoint:", self.slider, stretch=1)
        row.addWidget(self.best_button)
        return row

    def _build_confusion_plot(self) -> pg.PlotWidget:
        self.confusion_plot = _fixed_plot(
            "confusionPlot", "Confusion matrix", CONFUSION_TIP, "true class", "predicted class"
        )
        item = self.confusion_plot.getPlotItem()
        item.showGrid(x=False, y=False)
        self.confusion_image = pg.ImageItem(axisOrder="row-major")
        self.color_map = pg.colormap.get(COLOR_MAP)
        self.confusion_image.setColorMap(self.color_map)
        item.addItem(self.confusion_image)
        self.color_bar = pg.ColorBarItem(
            values=(0, 1),
            colorMap=self.color_map,
            interactive=False,
            width=14,
        )
        self.color_bar.setImageItem(self.confusion_image, insert_in=item)
        _style_axes(self.color_bar.axis)
        label = self.color_bar.getAxis("left")  # where ColorBarItem puts its label
        label.setLabel("share of the true class", color=_text_color().name())
        self.confusion_plot.scene().sigMouseMoved.connect(self._on_confusion_hover)
        self.confusion_plot.setMinimumSize(260, 200)
        return self.confusion_plot

    def _build_accuracy_plot(self) -> pg.PlotWidget:
        self.accuracy_plot = _fixed_plot(
            "perClassAccuracyPlot",
            "Per-class accuracy",
            "Each class's share of its test examples predicted right at the chosen checkpoint "
            "(rows as in the confusion matrix); the dashed line is the overall accuracy",
            "class",
            "accuracy",
        )
        self.accuracy_plot.getPlotItem().showGrid(x=True, y=False, alpha=0.25)
        self.accuracy_line = pg.InfiniteLine(
            angle=90,
            movable=False,
            pen=pg.mkPen(OVERALL_PEN, width=1.5, style=Qt.PenStyle.DashLine),
        )
        self.accuracy_plot.setMinimumSize(200, 200)
        return self.accuracy_plot

    # ---- showing ---------------------------------------------------------------------------
    def show_series(self, series: ConfusionSeries | None) -> None:
        """Show `series` at its last checkpoint (None: clear everything)."""
        self.series = series
        count = len(series.points) if series is not None else 0
        self.slider.blockSignals(True)
        self.slider.setRange(0, max(count - 1, 0))
        self.slider.setValue(max(count - 1, 0))
        self.slider.setTickInterval(max(1, count // 20))
        self.slider.blockSignals(False)
        self.slider.setEnabled(count > 1)
        self.best_button.setEnabled(series is not None and series.best_index is not None)
        if series is None or not count:
            self.clear()
            return
        self.show_point(count - 1)

    def current_point(self) -> ConfusionPoint | None:
        """The checkpoint the slider chooses (None: nothing shown)."""
        series, index = self.series, self.slider.value()
        if series is None or not 0 <= index < len(series.points):
            return None
        return series.points[index]

    @Slot()
    def show_best(self) -> None:
        """Move the slider to the best checkpoint."""
        if self.series is not None and self.series.best_index is not None:
            self.slider.setValue(self.series.best_index)

    def clear(self) -> None:
        item = self.confusion_plot.getPlotItem()
        for text in self.cell_texts:
            item.removeItem(text)
        self.cell_texts = []
        self._counted_shape = (0, 0)
        self.confusion_image.clear()
        self._clear_bars()
        self.confused_label.setText("")
        self.checkpoint_label.setText("no checkpoint")

    @Slot(int)
    def _on_slider_changed(self, index: int) -> None:
        self.show_point(index)
        self.pointChanged.emit(index)

    def show_point(self, index: int) -> None:
        series = self.series
        if series is None or not 0 <= index < len(series.points):
            self.clear()
            return
        point = series.points[index]
        if point.best:
            mark = " · ★ best"
        else:
            mark = " · latest evaluation" if point.kind == "latest" else ""
        accuracy = point.accuracy
        shown = f"{accuracy:.1%} ({point.correct:,} of {point.total:,})" if accuracy else "—"
        self.checkpoint_label.setText(
            f"epoch {point.epoch}{mark} · accuracy {shown} · {index + 1} of {len(series.points)}"
        )
        self._draw_confusion(point, series.class_names)
        self._draw_accuracy(point, series.class_names)
        self.confused_label.setText(most_confused(point, series.class_names))

    def _draw_confusion(self, point: ConfusionPoint, names: list[str]) -> None:
        matrix = confusion_array(point.confusion)
        rows, cols = matrix.shape
        totals = matrix.sum(axis=1, keepdims=True)
        share = np.divide(matrix, totals, out=np.zeros(matrix.shape), where=totals > 0)
        self.confusion_image.setImage(share, levels=(0.0, 1.0), autoLevels=False)
        self.confusion_image.setRect(0, 0, cols, rows)
        item = self.confusion_plot.getPlotItem()
        self._draw_counts(item, matrix, share)
        _set_class_ticks(item.getAxis("left"), names[:rows])
        _set_class_ticks(item.getAxis("bottom"), names[:cols])
        item.setRange(xRange=(0, cols), yRange=(0, rows), padding=0.02)
        accuracy = point.accuracy
        self.confusion_plot.setAccessibleDescription(
            f"Confusion matrix at epoch {point.epoch}: {rows} classes"
            + (f", accuracy {accuracy:.1%}" if accuracy is not None else "")
        )

    def _draw_counts(self, item: Any, matrix: np.ndarray, share: np.ndarray) -> None:
        """The count in each cell, a zero dimmed so the mistakes stand out. The text items of a
        matrix of the same shape are kept and given new texts: moving the slider over a
        20-class matrix would otherwise remove and create 400 items each step."""
        rows, cols = matrix.shape
        shape = (rows, cols) if max(rows, cols) <= MAX_COUNTED_CLASSES else (0, 0)
        if shape != self._counted_shape:
            for text in self.cell_texts:
                item.removeItem(text)
            self.cell_texts = []
            font = QApplication.font()
            if rows > 10:
                font.setPointSizeF(max(6.5, font.pointSizeF() - 1))
            for i in range(shape[0]):
                for j in range(shape[1]):
                    text = pg.TextItem("", anchor=(0.5, 0.5))
                    text.setFont(font)
                    text.setPos(j + 0.5, i + 0.5)
                    item.addItem(text)
                    self.cell_texts.append(text)
            self._counted_shape = shape
        for k, text in enumerate(self.cell_texts):
            i, j = divmod(k, cols)
            value = int(matrix[i, j])
            if value == 0:
                color: tuple[int, ...] = (150, 150, 150, 150)
            else:
                color = (20, 20, 20) if share[i, j] > BRIGHT_SHARE else (240, 240, 240)
            text.setText(str(value), color=color)

    def _clear_bars(self) -> None:
        plot = self.accuracy_plot.getPlotItem()
        if self.accuracy_bars is not None:
            plot.removeItem(self.accuracy_bars)
            self.accuracy_bars = None
        for text in self.bar_texts:
            plot.removeItem(text)
        self.bar_texts = []
        if self.accuracy_line.scene() is not None:
            plot.removeItem(self.accuracy_line)

    def _draw_accuracy(self, point: ConfusionPoint, names: list[str]) -> None:
        plot = self.accuracy_plot.getPlotItem()
        self._clear_bars()
        accuracies = per_class_accuracy(point.confusion)
        widths = np.asarray([a if a is not None else 0.0 for a in accuracies], dtype=np.float64)
        positions = np.arange(len(accuracies), dtype=np.float64) + 0.5
        self.accuracy_bars = pg.BarGraphItem(
            x0=0.0, y=positions, height=0.7, width=widths, brush=pg.mkBrush(*BAR_BRUSH), pen=None
        )
        plot.addItem(self.accuracy_bars)
        if len(accuracies) <= MAX_COUNTED_CLASSES:
            text_color = _text_color()
            for position, accuracy in zip(positions, accuracies, strict=True):
                shown = f"{accuracy:.0%}" if accuracy is not None else "no test example"
                text = pg.TextItem(shown, color=text_color, anchor=(0, 0.5))
                text.setPos(0.01, float(position))
                plot.addItem(text)
                self.bar_texts.append(text)
        _set_class_ticks(plot.getAxis("left"), names[: len(accuracies)])
        overall = point.accuracy
        if overall is not None:
            self.accuracy_line.setValue(overall)
            plot.addItem(self.accuracy_line)
        plot.setRange(xRange=(-0.02, 1.04), yRange=(0, max(len(accuracies), 1)), padding=0)
        self.accuracy_plot.setAccessibleDescription(
            "; ".join(
                f"{name}: {acc:.0%}" if acc is not None else f"{name}: no test example"
                for name, acc in zip(names, accuracies, strict=False)
            )
        )

    @Slot(object)
    def _on_confusion_hover(self, position: QPointF) -> None:
        """A tooltip with the numbers of the cell under the mouse."""
        series, point = self.series, self.current_point()
        if series is None or point is None:
            return
        view = self.confusion_plot.getPlotItem().getViewBox()
        if not view.sceneBoundingRect().contains(position):
            return
        at = view.mapSceneToView(position)
        text = cell_text(point, series.class_names, math.floor(at.y()), math.floor(at.x()))
        if text is None:
            QToolTip.hideText()
            return
        where = self.confusion_plot.mapToGlobal(self.confusion_plot.mapFromScene(position))
        QToolTip.showText(where, text, self.confusion_plot)


# ---- text ----------------------------------------------------------------------------------
def cell_text(point: ConfusionPoint, names: list[str], i: int, j: int) -> str | None:
    """What cell (true i, predicted j) holds, in words (None: no such cell)."""
    matrix = point.confusion
    if not (0 <= i < len(matrix) and 0 <= j < len(matrix[i])):
        return None
    total = sum(matrix[i])
    count = matrix[i][j]
    share = f" ({count / total:.1%} of its {total:,} test examples)" if total else ""
    verb = "predicted right" if i == j else f"predicted as {names[j]}"
    return f"true {names[i]}, {verb}: {count:,}{share}"


def most_confused(point: ConfusionPoint, names: list[str], top: int = 5) -> str:
    """The largest off-diagonal cells, "3 → 8 (4), …"."""
    cells = [
        (count, i, j)
        for i, row in enumerate(point.confusion)
        for j, count in enumerate(row)
        if i != j and count > 0
    ]
    if not cells:
        return f"No test example is misclassified at epoch {point.epoch}."
    cells.sort(key=lambda c: (-c[0], c[1], c[2]))
    listed = ", ".join(f"{names[i]} → {names[j]} ({count:,})" for count, i, j in cells[:top])
    return f"Most confused (true → predicted): {listed}"


# ---- plots ---------------------------------------------------------------------------------
def _fixed_plot(object_name: str, title: str, tip: str, left: str, bottom: str) -> pg.PlotWidget:
    """A plot that does not pan or zoom (it always shows every class), rows top to bottom,
    its text in the palette's colour."""
    plot = overlay_plot(object_name, title, tip, left, bottom)
    item = plot.getPlotItem()
    item.invertY(True)
    item.setMenuEnabled(False)
    item.getViewBox().setMouseEnabled(x=False, y=False)
    item.hideButtons()
    item.setTitle(title, color=_text_color())
    _style_axes(item.getAxis("left"), item.getAxis("bottom"))
    return plot


def _set_class_ticks(axis: pg.AxisItem, names: list[str]) -> None:
    """Class names at the cell centres (every n-th one when there are many)."""
    step = max(1, math.ceil(len(names) / MAX_TICKS))
    ticks = [(i + 0.5, _short(name)) for i, name in enumerate(names) if i % step == 0]
    axis.setTicks([ticks, []])


def _short(name: str, limit: int = 14) -> str:
    return name if len(name) <= limit else name[: limit - 1] + "…"


def _text_color() -> QColor:
    """The palette's text colour (dark or light theme alike)."""
    return QColor(QApplication.palette().color(QPalette.ColorRole.WindowText))


def _style_axes(*axes: pg.AxisItem) -> None:
    """Axis text and labels in the palette's text colour: class names must read well, not in
    pyqtgraph's mid grey."""
    color = _text_color()
    for axis in axes:
        axis.setTextPen(pg.mkPen(color))
        axis.label.setDefaultTextColor(color)
