"""Loss and accuracy (or R²) curves of several variants, overlaid, one colour per variant.

Imports pyqtgraph (slow): import this module only once the window has painted.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QSplitter, QWidget

from desktop_app.kit.widgets import described

TRAIN_STYLE = Qt.PenStyle.SolidLine
TEST_STYLE = Qt.PenStyle.DashLine


def finite(x: np.ndarray, y: Any, positive: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """The points whose y is finite (and > 0 for a log axis)."""
    y = np.asarray(y, dtype=np.float64)
    mask = np.isfinite(y) & (y > 0 if positive else True)
    return x[mask], y[mask]


def overlay_plot(
    object_name: str, title: str, tip: str, left: str, bottom: str = "epoch"
) -> pg.PlotWidget:
    """A titled plot with a grid, on the window's background."""
    plot = described(pg.PlotWidget(), title, tip, object_name=object_name)
    plot.setBackground(None)
    item = plot.getPlotItem()
    item.setTitle(title)
    item.setLabel("left", left)
    item.setLabel("bottom", bottom)
    item.showGrid(x=True, y=True, alpha=0.25)
    return plot


class CurveOverlay(QSplitter):
    """A loss plot (log scale) beside an accuracy / R² plot, x-linked, each with a legend;
    `draw` puts one colour per variant in both, train solid and test dashed."""

    def __init__(
        self, loss_name: str, metric_name: str, subject: str, parent: QWidget | None = None
    ) -> None:
        super().__init__(Qt.Orientation.Horizontal, parent)
        self.loss_plot = overlay_plot(
            loss_name, "Loss", f"Train (solid) and test (dashed) loss {subject}, log scale", "loss"
        )
        self.loss_plot.getPlotItem().setLogMode(x=False, y=True)
        self.metric_plot = overlay_plot(
            metric_name,
            "Accuracy / R²",
            f"Train (solid) and test (dashed) accuracy, or R² for regression, {subject}",
            "accuracy / R²",
        )
        for plot in (self.loss_plot, self.metric_plot):
            item = plot.getPlotItem()
            item.addLegend(offset=(-10, 10))
            item.setDownsampling(auto=True, mode="peak")
            item.setClipToView(True)
        self.metric_plot.setXLink(self.loss_plot)
        self.addWidget(self.loss_plot)
        self.addWidget(self.metric_plot)
        self.curve_items: dict[str, list[pg.PlotDataItem]] = {}

    def draw(self, entries: list[tuple[str, dict[str, Any]]]) -> None:
        """Show exactly these (variant directory, curves), replacing what was drawn."""
        loss, metric = self.loss_plot.getPlotItem(), self.metric_plot.getPlotItem()
        loss.clear()
        metric.clear()
        self.curve_items = {}
        hues = max(len(entries), 6)
        labels: set[str] = set()
        for i, (path, curves) in enumerate(entries):
            color = pg.intColor(i, hues=hues)
            name = Path(path).name
            epochs = np.asarray(curves["epoch"], dtype=np.float64)
            items = _pair(loss, epochs, curves, "loss", color, name, positive=True)
            accuracy = np.isfinite(np.asarray(curves["train_accuracy"], dtype=np.float64)).any()
            kind = "accuracy" if accuracy else "r2"
            metrics = _pair(metric, epochs, curves, kind, color, name)
            if metrics:
                labels.add("accuracy" if accuracy else "R²")
            self.curve_items[path] = items + metrics
        metric.setLabel("left", " / ".join(sorted(labels)) or "accuracy / R²")


def _pair(
    item: Any,
    epochs: np.ndarray,
    curves: dict[str, Any],
    metric: str,
    color: Any,
    name: str,
    *,
    positive: bool = False,
) -> list[pg.PlotDataItem]:
    """The train (solid) and test (dashed) curves of one metric; the first drawn carries the
    variant's name into the legend."""
    items: list[pg.PlotDataItem] = []
    legend: str | None = name
    for split, style in (("train", TRAIN_STYLE), ("test", TEST_STYLE)):
        x, y = finite(epochs, curves[f"{split}_{metric}"], positive)
        if len(x):
            pen = pg.mkPen(color, width=1.5, style=style)
            items.append(item.plot(x, y, pen=pen, name=legend))
            legend = None
    return items
