"""Loss and accuracy (or R²) curves of several variants, overlaid, one colour per variant
(Okabe–Ito), with legends below the plots that name what differs between the variants'
configs (`lr=0.01, hidden_dim=64`) rather than their hashed names. What x counts is the
user's choice, as in TensorBoard: epoch, step, relative or wall time (desktop_app.kit.x_axis).

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
from PySide6.QtCore import QSignalBlocker, Qt, Slot
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QSplitter, QVBoxLayout, QWidget

from desktop_app.kit.plot_export import prepare_exporters
from desktop_app.kit.theme import follow_theme, plot_colors, series_color, style_plot
from desktop_app.kit.widgets import described, text_label
from desktop_app.kit.x_axis import (
    TIME_MODES,
    X_AXIS_TITLES,
    X_MODE_NAMES,
    X_MODE_TIP,
    X_MODES,
    local_utc_offset,
    time_tick_spacing,
    time_tick_strings,
    x_values,
)

TRAIN_STYLE = Qt.PenStyle.SolidLine
TEST_STYLE = Qt.PenStyle.DashLine
MAX_LEGEND_KEYS = 4  # differing config keys named in a legend entry
LOG_LABELS_ALL = 6  # a log axis with more ticks labels only …
LOG_LABELLED = (1.0, 2.0, 5.0, 10.0)  # … these mantissas
IGNORED_KEYS = ("variant", "config_hash", "data.sha256")  # differ with everything else
NO_SELECTION_TEXT = "Select variants to compare their curves."
NO_TIMES_NOTE = "(no times recorded)"  # a chronicle whose rows lack timestamps, on a time axis


def plain_number(value: float) -> str:
    """A tick label without exponent notation where it reads: 0.001, 0.3, 1, 20, 5000."""
    if value == 0 or 1e-4 <= abs(value) < 1e6:
        return f"{value:.6g}" if abs(value) >= 1e-4 else "0"
    return f"{value:.0e}".replace("e-0", "e-").replace("e+0", "e").replace("e+", "e")


class PlainAxis(pg.AxisItem):
    """An axis whose numbers are never scaled with an SI prefix ("(x0.001)"), whose log ticks
    read as plain numbers (0.1, 0.3, 1 rather than 10⁻¹, 3·10⁻¹), and, `integer` (epochs,
    steps), with no ticks between whole numbers. An x axis can count time instead
    (`set_x_mode`): ticks on whole seconds, minutes or hours, read as durations or clock times."""

    def __init__(self, *args: Any, integer: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.integer = integer
        self.time_mode: str | None = None  # "relative" or "wall": a time axis
        self.enableAutoSIPrefix(False)
        if integer:
            self.setStyle(maxTextLevel=0)  # numbers on the major ticks only: 5, 10, 15

    def set_x_mode(self, mode: str) -> None:
        """Count epochs or steps (whole numbers), or time (one of desktop_app.kit.x_axis's
        X_MODES)."""
        self.integer = mode in ("epoch", "step")
        self.time_mode = mode if mode in TIME_MODES else None
        self.setStyle(maxTextLevel=0 if self.integer or self.time_mode else 2)
        self.picture = None
        self.update()

    def tickSpacing(self, minVal: float, maxVal: float, size: float) -> Any:
        if self.time_mode is not None and not self.logMode:
            offset = local_utc_offset(minVal) if self.time_mode == "wall" else 0.0
            return time_tick_spacing(maxVal - minVal, size, offset)
        levels = super().tickSpacing(minVal, maxVal, size)
        if not self.integer or self.logMode or not levels:
            return levels
        whole = [(spacing, offset) for spacing, offset in levels if spacing >= 1.0]
        return whole or [(1.0, 0.0)]

    def tickStrings(self, values: Any, scale: float, spacing: float) -> list[str]:
        if self.time_mode is not None and not self.logMode:
            return time_tick_strings(self.time_mode, values, spacing)
        return super().tickStrings(values, scale, spacing)

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
    """The points whose x and y are finite (and y > 0 for a log axis): an x is NaN where the
    chosen axis is unknown, e.g. time in a chronicle whose rows lack timestamps (written
    by hand or by another tool)."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    mask = np.isfinite(x) & np.isfinite(y) & (y > 0 if positive else True)
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


class CurveOverlay(QWidget):
    """A loss plot (log scale) beside an accuracy / R² plot (in a splitter), x-linked, each
    with a legend, under a choice of what x counts (`x_axis_combo`: epoch, step, relative or
    wall time); `draw` puts one colour per variant in both, train solid and test dashed.

    The x-axis choice sits in the overlay itself so that both owners (the Analysis tab's
    Curves page, the Sweeps panel) get it without toolbars of their own. While nothing is
    drawn the plots show no made-up ticks (0…1), only `empty_text` saying how curves come."""

    def __init__(
        self,
        loss_name: str,
        metric_name: str,
        subject: str,
        parent: QWidget | None = None,
        *,
        empty_text: str = NO_SELECTION_TEXT,
    ) -> None:
        super().__init__(parent)
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
        for plot in self.plots:
            item = plot.getPlotItem()
            legend_below(plot)
            item.setDownsampling(auto=True, mode="peak")
            item.setClipToView(True)
        self.metric_plot.setXLink(self.loss_plot)
        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.addWidget(self.loss_plot)
        self.splitter.addWidget(self.metric_plot)
        self.x_axis_combo = self._build_x_axis_combo(loss_name)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(self._x_axis_row(loss_name))
        layout.addWidget(self.splitter, 1)
        self.curve_items: dict[str, list[pg.PlotDataItem]] = {}
        self.legend_names: dict[str, str] = {}  # the legend entry shown, by variant directory
        self._entries: list[tuple[str, dict[str, Any]]] = []
        self._x_mode = "epoch"
        self._build_empty_text(empty_text)
        self._show_empty_state(True)

    @property
    def plots(self) -> tuple[pg.PlotWidget, pg.PlotWidget]:
        return self.loss_plot, self.metric_plot

    def _build_x_axis_combo(self, loss_name: str) -> QComboBox:
        """The x-axis choice; its object name follows the plots' so that two overlays (the
        Analysis tab's, the Sweeps panel's) can be told apart."""
        combo = described(QComboBox(), "X axis", X_MODE_TIP, object_name=f"{loss_name}XAxis")
        for mode in X_MODES:
            combo.addItem(X_MODE_NAMES[mode], mode)
        combo.currentIndexChanged.connect(self._on_x_mode_chosen)
        return combo

    def _x_axis_row(self, loss_name: str) -> QHBoxLayout:
        label = text_label(f"{loss_name}XAxisLabel", "X axis", X_MODE_TIP, "&X axis:")
        label.setBuddy(self.x_axis_combo)
        row = QHBoxLayout()
        row.addWidget(label)
        row.addWidget(self.x_axis_combo)
        row.addStretch(1)
        return row

    def _build_empty_text(self, text: str) -> None:
        """The sentence shown on the loss plot while nothing is drawn (placed in pixels)."""
        self.empty_text = pg.TextItem(text, anchor=(0.5, 0.5))
        box = self.loss_plot.getPlotItem().vb
        self.empty_text.setParentItem(box)
        box.sigResized.connect(self._place_empty_text)
        follow_theme(self, lambda: self.empty_text.setColor(plot_colors().foreground))

    # ---- public ----------------------------------------------------------------------------
    def x_mode(self) -> str:
        """What x counts: one of desktop_app.kit.x_axis's X_MODES."""
        return self._x_mode

    def set_x_mode(self, mode: str) -> None:
        """Count x in `mode` (X_MODES) and draw the last curves again on that axis."""
        if mode not in X_MODES:
            raise ValueError(f"x axis: {mode!r} is not one of {', '.join(X_MODES)}")
        self._x_mode = mode
        with QSignalBlocker(self.x_axis_combo):
            self.x_axis_combo.setCurrentIndex(self.x_axis_combo.findData(mode))
        self._redraw()
        self._auto_range()  # the old range is in other units

    def set_empty_text(self, text: str) -> None:
        """What the plots say while nothing is drawn (the owner knows why nothing is)."""
        self.empty_text.setText(text)
        self._place_empty_text()

    def is_empty(self) -> bool:
        return not self._entries

    def draw(self, entries: list[tuple[str, dict[str, Any]]]) -> None:
        """Show exactly these (variant directory, curves), replacing what was drawn; a
        legend entry names what differs between the variants' configs (the curves' "config",
        as CurvesTask reads it)."""
        shown = [path for path, _ in self._entries]
        self._entries = list(entries)
        self._redraw()
        if [path for path, _ in self._entries] != shown:
            self._auto_range()  # other variants; the same ones read again keep the user's zoom

    # ---- drawing ---------------------------------------------------------------------------
    @Slot(int)
    def _on_x_mode_chosen(self, index: int) -> None:
        mode = self.x_axis_combo.itemData(index)
        if mode in X_MODES and mode != self._x_mode:
            self.set_x_mode(mode)

    def _redraw(self) -> None:
        """Draw the last entries on the chosen x axis, then range the plots to them."""
        loss, metric = self.loss_plot.getPlotItem(), self.metric_plot.getPlotItem()
        for item in (loss, metric):
            item.clear()
            item.legend.clear()  # also the notes, whose samples are not on the plot
        self.curve_items = {}
        names = legend_labels({path: curves.get("config") for path, curves in self._entries})
        self.legend_names = {}
        labels: set[str] = set()
        for i, (path, curves) in enumerate(self._entries):
            color = series_color(i)
            xs = x_values(curves, self._x_mode)
            name = names[path]
            if self._x_mode in TIME_MODES and len(xs) and not np.isfinite(xs).any():
                name = f"{name} {NO_TIMES_NOTE}"  # rows without timestamps: it can draw nothing
                _legend_note(loss, color, name)
                _legend_note(metric, color, name)
            self.legend_names[path] = name
            items = _pair(loss, xs, curves, "loss", color, name, positive=True)
            accuracy = np.isfinite(np.asarray(curves["train_accuracy"], dtype=np.float64)).any()
            kind = "accuracy" if accuracy else "r2"
            metrics = _pair(metric, xs, curves, kind, color, name)
            if metrics:
                labels.add("accuracy" if accuracy else "R²")
            self.curve_items[path] = items + metrics
        metric.setLabel("left", " / ".join(sorted(labels)) or "accuracy / R²")
        self._show_x_axis()
        self._show_empty_state(not self._entries)

    def _show_x_axis(self) -> None:
        """Title and ticks of both plots' x axes for the chosen mode."""
        for plot in self.plots:
            item = plot.getPlotItem()
            item.setLabel("bottom", X_AXIS_TITLES[self._x_mode])
            item.getAxis("bottom").set_x_mode(self._x_mode)

    def _auto_range(self) -> None:
        for plot in self.plots:
            plot.getPlotItem().enableAutoRange()

    def _show_empty_state(self, empty: bool) -> None:
        """Empty: no tick numbers, no grid, and a line saying how curves come; else the axes."""
        self.empty_text.setVisible(empty)
        for plot in self.plots:
            item = plot.getPlotItem()
            for side in ("left", "bottom"):
                axis = item.getAxis(side)
                axis.setStyle(showValues=not empty)
                axis.setTicks([[], []] if empty else None)  # empty: no made-up ticks
            item.showGrid(x=not empty, y=not empty, alpha=0.25)
            item.legend.setVisible(not empty)  # an empty legend is a bare frame
        self._place_empty_text()

    @Slot()
    def _place_empty_text(self, *_: Any) -> None:
        box = self.loss_plot.getPlotItem().vb
        self.empty_text.setPos(box.width() / 2, box.height() / 2)


def _legend_note(item: Any, color: Any, text: str) -> None:
    """A legend entry for a variant that draws nothing (its sample is not on the plot), so
    that the legend still names it and says why."""
    sample = pg.PlotDataItem(pen=pg.mkPen(color, width=1.5, style=TRAIN_STYLE))
    item.legend.addItem(sample, text)


def _pair(
    item: Any,
    xs: np.ndarray,
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
        x, y = finite(xs, curves[f"{split}_{metric}"], positive)
        if len(x):
            pen = pg.mkPen(color, width=1.5, style=style)
            items.append(item.plot(x, y, pen=pen, name=legend))
            legend = None
    return items
