"""Loss and accuracy (or R²) curves of several variants, overlaid, one colour per variant
(Okabe–Ito), with legends below the plots that name what differs between the variants'
configs (`lr=0.01, hidden_dim=64`) rather than their hashed names.

Every plot made here (`overlay_plot`, also the Analyses and Classification pages') follows the
window's theme, scales no axis with an SI prefix and writes log ticks as plain numbers.

Imports pyqtgraph (slow): import this module only once the window has painted.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QSplitter, QWidget

from desktop_app.kit.plot_export import prepare_exporters
from desktop_app.kit.theme import follow_theme, series_color, style_plot
from desktop_app.kit.widgets import described

TRAIN_STYLE = Qt.PenStyle.SolidLine
TEST_STYLE = Qt.PenStyle.DashLine
MAX_LEGEND_KEYS = 4  # differing config keys named in a legend entry
LOG_LABELS_ALL = 6  # a log axis with more ticks labels only …
LOG_LABELLED = (1.0, 2.0, 5.0, 10.0)  # … these mantissas
IGNORED_KEYS = ("variant", "config_hash", "data.sha256")  # differ with everything else


def plain_number(value: float) -> str:
    """A tick label without exponent notation where it reads: 0.001, 0.3, 1, 20, 5000."""
    if value == 0 or 1e-4 <= abs(value) < 1e6:
        return f"{value:.6g}" if abs(value) >= 1e-4 else "0"
    return f"{value:.0e}".replace("e-0", "e-").replace("e+0", "e").replace("e+", "e")


class PlainAxis(pg.AxisItem):
    """An axis whose numbers are never scaled with an SI prefix ("(x0.001)"), whose log ticks
    read as plain numbers (0.1, 0.3, 1 rather than 10⁻¹, 3·10⁻¹), and, `integer` (epochs,
    steps), with no ticks between whole numbers."""

    def __init__(self, *args: Any, integer: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.integer = integer
        self.enableAutoSIPrefix(False)
        if integer:
            self.setStyle(maxTextLevel=0)  # numbers on the major ticks only: 5, 10, 15

    def tickSpacing(self, minVal: float, maxVal: float, size: float) -> Any:
        levels = super().tickSpacing(minVal, maxVal, size)
        if not self.integer or self.logMode or not levels:
            return levels
        whole = [(spacing, offset) for spacing, offset in levels if spacing >= 1.0]
        return whole or [(1.0, 0.0)]

    def logTickStrings(self, values: Any, scale: float, spacing: float) -> list[str]:
        """Plain numbers; over more than a few ticks, only 1, 2 and 5 times a power of ten
        are written (the others keep their tick, unlabelled)."""
        sparse = len(values) > LOG_LABELS_ALL
        labels = []
        for v in values:
            mantissa = round(10.0 ** (float(v) - math.floor(float(v))), 6)
            shown = not sparse or mantissa in LOG_LABELLED
            labels.append(plain_number(float(10.0**v) * scale) if shown else "")
        return labels


def flat_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """A stored config.json as {key: value}: the domain's, training's and strategy's parameters
    by their own names (`lr`, `hidden_dim`), anything else (or a name two sections share) by its
    dotted path."""
    dotted: dict[str, Any] = {}

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, Mapping) and value:
            for key, inner in value.items():
                walk(f"{prefix}.{key}" if prefix else str(key), inner)
        else:
            dotted[prefix] = value

    walk("", config)
    short: dict[str, list[str]] = {}
    for path in dotted:
        head, _, tail = path.partition(".")
        if tail and head in ("domain", "training", "strategy_params"):
            short.setdefault(tail, []).append(path)
    names = {paths[0]: tail for tail, paths in short.items() if len(paths) == 1}
    return {names.get(path, path): value for path, value in dotted.items()}


def differing_keys(configs: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """The config keys whose values differ between these variants (missing counts as a value),
    in the order of the first config that has them (family first)."""
    flats = [flat_config(config) for config in configs.values()]
    order: list[str] = []
    for flat in flats:
        order += [key for key in flat if key not in order]
    missing = object()
    keys = [
        key
        for key in order
        if key not in IGNORED_KEYS
        and len({json.dumps(f.get(key, missing), sort_keys=True, default=str) for f in flats}) > 1
    ]
    return sorted(keys, key=lambda key: key != "family")


def legend_labels(configs: Mapping[str, Mapping[str, Any] | None]) -> dict[str, str]:
    """A legend entry per variant (keyed as given, by path or name) naming what differs between
    their configs, `lr=0.01, hidden_dim=64`; a variant without a config, or configs that do
    not differ, or variants of different families, keep the variant's name (the key's last
    path part)."""
    known = {key: config for key, config in configs.items() if config}
    families = {config.get("family") for config in known.values()}
    # Variants of different families share no parameters worth comparing: their names say
    # the family and its shape.
    keys = differing_keys(known) if len(known) > 1 and len(families) == 1 else []
    labels: dict[str, str] = {}
    for key in configs:
        name = Path(key).name
        if key not in known or not keys:
            labels[key] = name
            continue
        flat = flat_config(known[key])
        parts = [f"{k}={_short_value(flat.get(k))}" for k in keys[:MAX_LEGEND_KEYS]]
        if len(keys) > MAX_LEGEND_KEYS:
            parts.append("…")
        labels[key] = ", ".join(parts)
    if len(set(labels.values())) < len(labels):  # e.g. differing only past MAX_LEGEND_KEYS
        return {key: f"{label} ({Path(key).name})" for key, label in labels.items()}
    return labels


def _short_value(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, list | dict):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def finite(x: np.ndarray, y: Any, positive: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """The points whose y is finite (and > 0 for a log axis)."""
    y = np.asarray(y, dtype=np.float64)
    mask = np.isfinite(y) & (y > 0 if positive else True)
    return x[mask], y[mask]


def overlay_plot(
    object_name: str, title: str, tip: str, left: str, bottom: str = "epoch"
) -> pg.PlotWidget:
    """A titled plot with a grid, in the theme's colours (and following it)."""
    prepare_exporters()
    axes = {"left": PlainAxis("left"), "bottom": PlainAxis("bottom", integer=bottom == "epoch")}
    plot = described(pg.PlotWidget(axisItems=axes), title, tip, object_name=object_name)
    item = plot.getPlotItem()
    item.setTitle(title)
    item.setLabel("left", left)
    item.setLabel("bottom", bottom)
    item.showGrid(x=True, y=True, alpha=0.25)
    follow_theme(plot, lambda: style_plot(plot))
    return plot


def legend_below(plot: pg.PlotWidget) -> pg.LegendItem:
    """A legend under the plot's x axis (never over the curves), filled by named curves."""
    item = plot.getPlotItem()
    legend = pg.LegendItem(colCount=2)
    item.layout.addItem(legend, 4, 1)
    item.legend = legend
    style_plot(plot)
    return legend


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
            legend_below(plot)
            item.setDownsampling(auto=True, mode="peak")
            item.setClipToView(True)
        self.metric_plot.setXLink(self.loss_plot)
        self.addWidget(self.loss_plot)
        self.addWidget(self.metric_plot)
        self.curve_items: dict[str, list[pg.PlotDataItem]] = {}
        self.legend_names: dict[str, str] = {}

    def draw(self, entries: list[tuple[str, dict[str, Any]]]) -> None:
        """Show exactly these (variant directory, curves), replacing what was drawn; a
        legend entry names what differs between the variants' configs (the curves' "config",
        as CurvesTask reads it)."""
        loss, metric = self.loss_plot.getPlotItem(), self.metric_plot.getPlotItem()
        loss.clear()
        metric.clear()
        self.curve_items = {}
        names = legend_labels({path: curves.get("config") for path, curves in entries})
        self.legend_names = names
        labels: set[str] = set()
        for i, (path, curves) in enumerate(entries):
            color = series_color(i)
            name = names[path]
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
