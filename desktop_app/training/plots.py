"""Live training curves: loss (log y), accuracy or R², and learning rate, one point per epoch.

The loss plot also draws the step loss EMA (the chronicle's `loss_ema`) at each epoch's end.

The x axis counts epochs, optimizer steps, relative time or wall time (TensorBoard's choice,
desktop_app.kit.x_axis). Epochs stay the key of every point (the readout, the selected epoch,
the chronicle's rows): each row's step and timestamp are kept beside its epoch, and a curve's
epochs are mapped to the chosen axis when the mode changes or rows arrive.

Rows arrive in batches and go into growing numpy buffers (capacity doubling); a GUI-thread
QTimer redraws at 25 Hz, and only curves that changed, with `setData` on whole arrays. Clip to
view and peak downsampling keep 100,000 points smooth.

While the x axis follows the run (auto range, the usual case), a curve is handed to pyqtgraph
already peak-downsampled to one max/min pair per pen width of its view (`peak_envelope`): what
would be drawn anyway, for a fraction of the cost. pyqtgraph's own pipeline (log mapping,
finiteness and bounds checks, downsampling: each over every point, twice a frame) made a frame
of 100,000 points cost tens of milliseconds. Zoomed or panned, curves get their full arrays
again and pyqtgraph clips and downsamples them to the view. The grid is drawn opaque under the
curves (see `GridAxis`), and the view ranges are settled in `redraw`, so a frame is painted
once instead of twice. See bench/b2_gui.py.

Like TensorBoard's: a smoothing slider (its debiased EMA, the raw curve faint behind the
smoothed one; the readout and the chronicle keep the raw values), a log/linear button per plot,
Okabe–Ito colours, keys in the titles instead of legends over the curves. No axis scales its
numbers with an SI prefix ("(x0.001)"); log axes read 0.1, 0.3, 1; the epoch axis has whole
ticks. Empty, the plots show no made-up axes but a line saying how to get curves. Colours
follow the window's theme (desktop_app.kit.theme).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QObject, Qt, QTimer, Signal, Slot
from PySide6.QtGui import QColor, QPen
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QSizePolicy,
    QSlider,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from desktop_app.kit.curve_plots import PlainAxis
from desktop_app.kit.plot_export import prepare_exporters
from desktop_app.kit.theme import OKABE_ITO, PlotColors, follow_theme, plot_colors, style_plot
from desktop_app.kit.widgets import described
from desktop_app.kit.x_axis import X_AXIS_TITLES, X_MODE_NAMES, X_MODE_TIP, X_MODES, x_values
from engine.analysis.curves import curves_from_rows

REDRAW_INTERVAL_MS = 40  # 25 Hz

TRAIN_COLOR = OKABE_ITO[0]  # blue
TEST_COLOR = OKABE_ITO[5]  # vermillion
LR_COLOR = OKABE_ITO[2]  # bluish green
EMA_COLOR = OKABE_ITO[3]  # reddish purple
MARKER_COLOR = OKABE_ITO[1]  # orange
BACKGROUND = (255, 255, 255)  # GridAxis's until the theme styles its plot
DEFAULT_PLOT_WIDTH_PX = 1000  # for the envelope of a plot that has no size yet
DEFAULT_SMOOTHING = 0.6  # TensorBoard's
MAX_SMOOTHING = 0.99
SMOOTHING_STEPS = 100  # the slider's steps from 0 to 1
SMOOTHED_KEYS = (
    "train_loss",
    "test_loss",
    "train_accuracy",
    "test_accuracy",
    "train_r2",
    "test_r2",
)
RAW_ALPHA = 70  # the raw curve behind a smoothed one
EMPTY_TEXT = "No run yet: Start trains the variant shown above."
LOG_BY_DEFAULT = {"lossPlot": True, "metricPlot": False, "lrPlot": False}
DEFAULT_X_MODE = "epoch"
# How a plot's tooltip says what its x axis counts.
X_MODE_PHRASES = {
    "epoch": "per epoch",
    "step": "by optimizer step",
    "relative": "over the time since the first epoch ended",
    "wall": "by the wall-clock time each epoch ended",
}
EPOCH_END_FIELDS = ("epoch", "step", "timestamp")  # what maps an epoch to every x axis
# pyqtgraph draws a tick label in its bounding rect shrunk to this height: the text itself is
# taller, and two labels closer than its full height overlap.
TICK_TEXT_SHRINK = 0.8
TICK_LABEL_GAP_PX = 4  # between two labels of a horizontal axis


def _hex(color: tuple[int, int, int]) -> str:
    return "#{:02x}{:02x}{:02x}".format(*color)


def key_colors(plot_name: str) -> list[tuple[str, tuple[int, int, int]]]:
    """The curves of a plot, as (label, color), for the key in its title."""
    if plot_name == "lrPlot":
        return []
    keys = [("train", TRAIN_COLOR), ("test", TEST_COLOR)]
    if plot_name == "lossPlot":
        keys.append(("step loss EMA", EMA_COLOR))
    return keys


def _title(title: str, keys: list[tuple[str, tuple[int, int, int]]]) -> str:
    """A title with a colored key (instead of a legend that would hide the newest points)."""
    parts = [f"<b>{title}</b>"]
    parts += [f'<span style="color:{_hex(color)}">━ {label}</span>' for label, color in keys]
    return "&nbsp;&nbsp;&nbsp;".join(parts)


def debiased_ema(
    values: np.ndarray, weight: float, state: tuple[float, int] = (0.0, 0)
) -> tuple[np.ndarray, tuple[float, int]]:
    """TensorBoard's smoothing: an EMA from 0, divided by 1 - weight^n so the first points are
    not pulled towards 0. `state` (last EMA, points so far) continues an earlier call; returns
    the smoothed values and the state after them."""
    last, count = state
    out = np.empty(len(values), dtype=np.float64)
    keep = 1.0 - weight
    for i, value in enumerate(values.tolist()):
        last = last * weight + keep * value
        count += 1
        debias = 1.0 - weight**count
        out[i] = last / debias if debias > 0 else value
    return out, (last, count)


def peak_envelope(x: np.ndarray, y: np.ndarray, bins: int) -> tuple[np.ndarray, np.ndarray]:
    """`x` (ascending) and `y` cut into `bins` runs of consecutive points; each run becomes two
    points: (its first x, its max) and (its last x, its min). With a run per pen width of the
    view, this draws the same picture as every point would (pyqtgraph's "peak" downsampling,
    without dropping the last, partial run), and the curve still spans exactly x[0]..x[-1]."""
    n = len(x)
    if bins < 1 or n <= 2 * bins:
        return x, y
    size = -(-n // bins)  # points per run, rounded up: at most `bins` runs
    full = n // size
    rest = n - full * size
    runs = full + (1 if rest else 0)
    ex = np.empty((runs, 2), dtype=np.float64)
    ey = np.empty((runs, 2), dtype=np.float64)
    ex[:full, 0] = x[: full * size : size]
    ex[:full, 1] = x[size - 1 : full * size : size]
    grouped = y[: full * size].reshape(full, size)
    np.max(grouped, axis=1, out=ey[:full, 0])
    np.min(grouped, axis=1, out=ey[:full, 1])
    if rest:
        ex[full] = (x[full * size], x[-1])
        ey[full] = (y[full * size :].max(), y[full * size :].min())
    return ex.reshape(-1), ey.reshape(-1)


def plottable_mask(y: np.ndarray, positive: bool = False) -> np.ndarray:
    """Which points a curve can draw: y finite (missing values are NaN), and > 0 on a log axis."""
    mask = np.isfinite(y)
    if positive:
        mask &= y > 0
    return mask


def plottable_points(
    x: np.ndarray, y: np.ndarray, positive: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """The points a curve can draw (see `plottable_mask`)."""
    mask = plottable_mask(y, positive)
    return x[mask], y[mask]


def labels_apart(text_specs: list[Any], vertical: bool, log: bool = False) -> list[Any]:
    """The tick labels of an axis (pyqtgraph's text specs: rect, flags, text) without those
    that would overlap one already kept. pyqtgraph always labels every major tick, and on a
    short plot they crowd into each other. The specs come major level first, and on a log axis
    powers of ten go first, then 2 and 5 times them: the labels kept are the round numbers."""
    specs = [spec for spec in text_specs if spec[2]]  # an empty label draws nothing
    if log:
        specs.sort(key=lambda spec: _log_label_rank(spec[2]))
    kept: list[Any] = []
    for spec in specs:
        if not any(_labels_overlap(spec[0], other[0], vertical) for other in kept):
            kept.append(spec)
    return kept


def _log_label_rank(text: str) -> int:
    """0 for a power of ten, 1 for 2 or 5 times one, 2 for any other label of a log axis."""
    try:
        value = abs(float(text))
    except ValueError:
        return 2
    if value == 0 or not math.isfinite(value):
        return 2
    mantissa = round(value / 10.0 ** math.floor(math.log10(value)), 6)
    return 0 if mantissa in (1.0, 10.0) else 1 if mantissa in (2.0, 5.0) else 2


def _labels_overlap(a: Any, b: Any, vertical: bool) -> bool:
    """Whether two label rects are closer than their text's full height (vertical axis) or
    than their widths and a gap (horizontal axis)."""
    if vertical:
        room = (a.height() + b.height()) / 2 / TICK_TEXT_SHRINK
        return abs(a.center().y() - b.center().y()) < room
    room = (a.width() + b.width()) / 2 + TICK_LABEL_GAP_PX
    return abs(a.center().x() - b.center().x()) < room


def wants_envelope(points: int, bins: int | None) -> bool:
    """Whether a curve of `points` is drawn as its envelope (more than two points a run)."""
    return bins is not None and points > 2 * bins


def _blend(color: QColor, background: tuple[int, int, int]) -> QColor:
    alpha = color.alphaF()
    channels = (color.red(), color.green(), color.blue())
    return QColor(
        *(round(c * alpha + b * (1.0 - alpha)) for c, b in zip(channels, background, strict=True))
    )


class GridAxis(PlainAxis):
    """An axis whose grid lines are opaque, in the color they would blend to on the plot's
    background, and drawn under the curves instead of over them.

    Qt's raster engine blends a semi-transparent line pixel by pixel, about ten times the cost
    of an opaque one: the translucent grid was most of the paint of a frame. The picture is the
    same but for the pixels where a grid line crosses a curve (the curve now stays on top).

    Its numbers read as PlainAxis's do, and its labels never overlap (`labels_apart`): a short
    plot labels fewer ticks.
    """

    def __init__(
        self,
        *args: Any,
        background: tuple[int, int, int] = BACKGROUND,
        integer: bool = False,
        **kwargs: Any,
    ):
        super().__init__(*args, integer=integer, **kwargs)
        self.background = background

    def generateDrawSpecs(self, p: Any) -> Any:
        specs = super().generateDrawSpecs(p)
        if specs is None:
            return specs
        axis_spec, tick_specs, text_specs = specs
        vertical = self.orientation in ("left", "right")
        text_specs = labels_apart(text_specs, vertical, log=bool(self.logMode))
        if self.grid is False:
            return axis_spec, tick_specs, text_specs
        # One pen per tick level, shared by its ticks: decide once per pen.
        replaced: dict[int, QPen | None] = {}
        ticks = []
        for pen, p1, p2 in tick_specs:
            key = id(pen)
            if key not in replaced:
                replaced[key] = self._opaque(pen)
            solid = replaced[key]
            if solid is None:
                ticks.append((pen, p1, p2))
            elif solid.color().alpha():  # alpha 0: invisible; opaque, it would hide the grid
                ticks.append((solid, p1, p2))
        return axis_spec, ticks, text_specs

    def _opaque(self, pen: QPen) -> QPen | None:
        """The opaque pen for a translucent solid one (alpha 0 stays 0); None: keep it."""
        color = pen.color()
        if color.alpha() == 255 or pen.style() != Qt.PenStyle.SolidLine:
            return None
        solid = QPen(pen)
        solid.setColor(_blend(color, self.background) if color.alpha() else color)
        return solid


class GrowingArray:
    """A float64 array that doubles its capacity as it fills; `values` is a view, no copy."""

    __slots__ = ("_data", "_size")

    def __init__(self, capacity: int = 256) -> None:
        self._data = np.empty(max(1, capacity), dtype=np.float64)
        self._size = 0

    def __len__(self) -> int:
        return self._size

    @property
    def capacity(self) -> int:
        return len(self._data)

    @property
    def values(self) -> np.ndarray:
        return self._data[: self._size]

    def append(self, value: float) -> None:
        if self._size == len(self._data):
            self._grow(self._size + 1)
        self._data[self._size] = value
        self._size += 1

    def extend(self, values: Iterable[float]) -> None:
        array = np.asarray(list(values) if not isinstance(values, np.ndarray) else values, float)
        needed = self._size + len(array)
        if needed > len(self._data):
            self._grow(needed)
        self._data[self._size : needed] = array
        self._size = needed

    def clear(self) -> None:
        self._size = 0

    def _grow(self, needed: int) -> None:
        capacity = len(self._data)
        while capacity < needed:
            capacity *= 2
        data = np.empty(capacity, dtype=np.float64)
        data[: self._size] = self._data[: self._size]
        self._data = data


class Series:
    """One curve and its data; smoothed (`set_smoothing`), the curve draws the debiased EMA of
    the data and `raw_curve` (faint) the data itself.

    `x` holds each point's epoch (the key the readout and the marker use), `axis_x` its x on
    the plots' current axis (NaN where unknown: such a point is not drawn)."""

    def __init__(
        self,
        key: str,
        curve: pg.PlotDataItem,
        *,
        positive: bool = False,
        plot_item: pg.PlotItem | None = None,
        raw_curve: pg.PlotDataItem | None = None,
    ) -> None:
        self.key = key
        self.curve = curve
        self.raw_curve = raw_curve
        self.smoothing = 0.0
        self.smooth = GrowingArray()
        self._ema: tuple[float, int] = (0.0, 0)
        self.plot_item = plot_item  # whose clip-to-view and downsampling settings apply
        self.positive = positive  # log axis: only values > 0 can be drawn
        self.x = GrowingArray()
        self.axis_x = GrowingArray()
        self.placed = 0  # points whose axis_x is known: those drawn
        self.y = GrowingArray()
        self.dirty = False
        # What the curve shows since the last redraw, at full resolution (the curve itself may
        # hold its peak envelope), and whether it holds the envelope.
        self.shown: tuple[np.ndarray, np.ndarray] = (np.empty(0), np.empty(0))
        self.enveloped = False

    def extend(self, epochs: np.ndarray, axis_x: np.ndarray, values: np.ndarray) -> None:
        """Append points already checked with `plottable_mask`, with their x on the axis."""
        if len(epochs):
            self.x.extend(epochs)
            self.axis_x.extend(axis_x)
            self.placed += int(np.count_nonzero(np.isfinite(axis_x)))
            self.y.extend(values)
            if self.smoothing > 0:
                smoothed, self._ema = debiased_ema(np.asarray(values), self.smoothing, self._ema)
                self.smooth.extend(smoothed)
            self.dirty = True

    def remap(self, axis_x: np.ndarray) -> None:
        """The x axis counts something else: every point's x on it (parallel to `x`)."""
        self.axis_x.clear()
        self.axis_x.extend(axis_x)
        self.placed = int(np.count_nonzero(np.isfinite(axis_x)))
        self.dirty = True

    def set_smoothing(self, weight: float) -> None:
        """Smooth with this EMA weight (0: the raw curve alone); recomputed over all points."""
        if self.raw_curve is None or weight == self.smoothing:
            return
        self.smoothing = weight
        self.smooth.clear()
        self._ema = (0.0, 0)
        if weight > 0:
            smoothed, self._ema = debiased_ema(self.y.values, weight)
            self.smooth.extend(smoothed)
        self.dirty = True

    def clear(self) -> None:
        self.x.clear()
        self.axis_x.clear()
        self.placed = 0
        self.y.clear()
        self.smooth.clear()
        self._ema = (0.0, 0)
        self.curve.setData([], [])
        if self.raw_curve is not None:
            self.raw_curve.setData([], [])
        self.shown = (np.empty(0), np.empty(0))
        self.enveloped = False
        self.dirty = False

    def draw(self, bins: int | None) -> None:
        """Hand the data to the curve: its peak envelope of `bins` runs, or (None) all of it."""
        x, raw = self.axis_x.values, self.y.values
        smoothed = self.smoothing > 0
        y = self.smooth.values if smoothed else raw
        if self.placed < len(x):  # points without an x on this axis are not drawn
            known = np.isfinite(x)
            x, y, raw = x[known], y[known], raw[known]
        self.shown = (x, y)
        enveloped = wants_envelope(len(x), bins)
        if enveloped != self.enveloped:
            self._reduce_in_pyqtgraph(not enveloped)
        pairs = [(self.curve, y)]
        if self.raw_curve is not None:
            if smoothed:
                pairs.append((self.raw_curve, raw))
            else:
                self.raw_curve.setData([], [])
        for curve, values in pairs:
            if enveloped:
                assert bins is not None
                curve.setData(*peak_envelope(x, values, bins))
            else:
                curve.setData(x, values)
        self.enveloped = enveloped
        self.dirty = False

    def _reduce_in_pyqtgraph(self, on: bool) -> None:
        """pyqtgraph clips and downsamples full arrays to the view, as the plot is set (its
        context menu can change that). An envelope is already reduced: doing it again at every
        change of the view range would find nothing to drop, at a cost."""
        item = self.plot_item
        clip = on and (item.clipToViewMode() if item is not None else True)
        ds, auto, method = item.downsampleMode() if item is not None else (1, True, "peak")
        for curve in (self.curve, self.raw_curve):
            if curve is not None:
                curve.setClipToView(clip)
                curve.setDownsampling(ds if on else 1, auto and on, method)

    def value_at(self, epoch: float) -> float | None:
        xs = self.x.values
        if not len(xs):
            return None
        i = int(np.searchsorted(xs, epoch))
        if i < len(xs) and xs[i] == epoch:
            return float(self.y.values[i])
        return None


class _PlotHover(QObject):
    """Forwards one plot's scene mouse events with the plot they happened in."""

    def __init__(self, owner: TrainingPlots, widget: pg.PlotWidget) -> None:
        super().__init__(owner)
        self.owner = owner
        self.widget = widget
        widget.scene().sigMouseMoved.connect(self.moved)
        widget.scene().sigMouseClicked.connect(self.clicked)

    @Slot(object)
    def moved(self, pos: Any) -> None:
        self.owner._hover(self.widget, pos)

    @Slot(object)
    def clicked(self, event: Any) -> None:
        if event.button() == Qt.MouseButton.LeftButton:
            self.owner._click(self.widget, event.scenePos())


class TrainingPlots(QWidget):
    """Three x-linked plots with a crosshair readout and a selected-epoch marker, a smoothing
    slider, an x axis choice (epoch, step, relative or wall time) and a log/linear button per
    plot."""

    epochClicked = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        prepare_exporters()  # Export… → SVG works; only the formats that can work are listed
        self.readout = QLabel("Hover over a plot to read values; click to select its epoch.")
        self.readout.setObjectName("crosshairReadout")
        self.readout.setAccessibleName("Crosshair readout")
        self.readout.setToolTip("Values at the epoch under the mouse pointer")
        self.readout.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.readout.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
        self.colors: PlotColors = plot_colors()
        self._x_mode = DEFAULT_X_MODE
        # Per epoch end added (in order): its epoch, step and timestamp, to map epochs to x.
        self._epoch_ends = {field: GrowingArray() for field in EPOCH_END_FIELDS}
        self._axis_x_cache: np.ndarray | None = None
        self._build_plots()
        self._build_series()
        self._build_lines()
        self._build_controls()
        # The loss plot leads the x axis (the others are linked to it): while it auto-ranges,
        # curves get their envelopes; zoomed or panned, their full arrays.
        self.loss_plot.getPlotItem().vb.sigXRangeChanged.connect(self._on_x_range_changed)
        for plot in self.plots:
            plot.getPlotItem().vb.sigResized.connect(self._on_view_resized)
        self._hovers = [_PlotHover(self, plot) for plot in self.plots]
        self.marked_epoch: int | None = None

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addLayout(self.controls)
        layout.addWidget(self.readout)
        layout.addWidget(self.loss_plot, 2)
        layout.addWidget(self.metric_plot, 1)
        layout.addWidget(self.lr_plot, 1)

        self._timer = QTimer(self)
        self._timer.setInterval(REDRAW_INTERVAL_MS)
        self._timer.timeout.connect(self.redraw)
        self.set_smoothing(DEFAULT_SMOOTHING)
        follow_theme(self, self._restyle)
        self._show_empty_state(True)

    def _build_plots(self) -> None:
        """Loss (log y) over accuracy or R² over the learning rate, x-linked to the loss."""
        self.loss_plot = self._make_plot("lossPlot", "Loss", "loss")
        self.metric_plot = self._make_plot("metricPlot", "Accuracy", "accuracy")
        self.lr_plot = self._make_plot("lrPlot", "Learning rate", "lr")
        self.lr_plot.getPlotItem().setLabel("bottom", X_AXIS_TITLES[DEFAULT_X_MODE])
        self.metric_plot.setXLink(self.loss_plot)
        self.lr_plot.setXLink(self.loss_plot)
        self._metric_kind = "accuracy"
        self.plots = [self.loss_plot, self.metric_plot, self.lr_plot]
        self.empty_text = pg.TextItem(EMPTY_TEXT, anchor=(0.5, 0.5))
        self.empty_text.setParentItem(self.loss_plot.getPlotItem().vb)  # in pixels, not data
        self.loss_plot.getPlotItem().vb.sigResized.connect(self._place_empty_text)

    def _build_series(self) -> None:
        """A curve per field of the engine's epoch curves that the plots show; the smoothed
        ones with a faint raw curve behind."""
        self.series: dict[str, Series] = {}
        self._plot_of: dict[str, pg.PlotWidget] = {}
        self._add_series("train_loss", self.loss_plot, TRAIN_COLOR, "train", positive=True)
        self._add_series("test_loss", self.loss_plot, TEST_COLOR, "test", positive=True)
        self._add_series(
            "loss_ema", self.loss_plot, EMA_COLOR, "step loss EMA", positive=True, width=1
        )
        self._add_series("train_accuracy", self.metric_plot, TRAIN_COLOR, "train")
        self._add_series("test_accuracy", self.metric_plot, TEST_COLOR, "test")
        self._add_series("train_r2", self.metric_plot, TRAIN_COLOR, "train R²")
        self._add_series("test_r2", self.metric_plot, TEST_COLOR, "test R²")
        self._add_series("lr", self.lr_plot, LR_COLOR, "lr")

    def _build_controls(self) -> None:
        """The smoothing slider and the plots' log/linear buttons, above the plots."""
        self.smoothing_slider = described(
            QSlider(Qt.Orientation.Horizontal),
            "Smoothing",
            "Smooth the loss and accuracy curves (TensorBoard's debiased exponential moving "
            "average, 0 to 0.99); the raw curve stays faint behind, the table keeps raw values",
            object_name="smoothingSlider",
        )
        self.smoothing_slider.setRange(0, round(MAX_SMOOTHING * SMOOTHING_STEPS))
        self.smoothing_slider.setMaximumWidth(180)
        self.smoothing_slider.setMinimumWidth(80)  # still a slider in a narrow window
        self.smoothing_value = QLabel()
        self.smoothing_value.setObjectName("smoothingValue")
        self.smoothing_value.setAccessibleName("Smoothing weight")
        self.smoothing_slider.valueChanged.connect(self._on_smoothing_changed)
        self.controls = QHBoxLayout()
        self.controls.setContentsMargins(0, 0, 0, 0)
        caption = QLabel("&Smoothing:")
        caption.setBuddy(self.smoothing_slider)
        self.controls.addWidget(caption)
        self.controls.addWidget(self.smoothing_slider)
        self.controls.addWidget(self.smoothing_value)
        self.controls.addSpacing(12)
        x_caption = QLabel("&X axis:")
        x_caption.setBuddy(self._build_x_axis_combo())
        self.controls.addWidget(x_caption)
        self.controls.addWidget(self.x_axis_combo)
        self.controls.addStretch(1)
        self.controls.addWidget(QLabel("Log scale:"))
        self.log_buttons: dict[str, QToolButton] = {}
        for plot, text in (
            (self.loss_plot, "Loss"),
            (self.metric_plot, "Metric"),
            (self.lr_plot, "LR"),
        ):
            self.controls.addWidget(self._log_button(plot, text))

    def _build_x_axis_combo(self) -> QComboBox:
        """The choice of what the x axis counts (desktop_app.kit.x_axis's modes)."""
        combo = described(QComboBox(), "X axis", X_MODE_TIP, object_name="xAxisCombo")
        for mode in X_MODES:
            combo.addItem(X_MODE_NAMES[mode], mode)
        combo.setCurrentIndex(X_MODES.index(self._x_mode))
        combo.currentIndexChanged.connect(self._on_x_mode_chosen)
        self.x_axis_combo = combo
        return combo

    def _log_button(self, plot: pg.PlotWidget, text: str) -> QToolButton:
        """A checkable button that puts `plot`'s y axis on a log scale (and the plot's own
        menu's Log Y box stays in step with it)."""
        name = plot.objectName()
        button = described(
            QToolButton(),
            f"{text} log scale",
            f"Show the {plot.accessibleName().removesuffix(' plot').lower()} plot's y axis on a "
            "log scale (unchecked: linear)",
            object_name=name.removesuffix("Plot") + "LogButton",
        )
        button.setText(text)
        button.setCheckable(True)
        item = plot.getPlotItem()
        button.setChecked(LOG_BY_DEFAULT[name])
        item.setLogMode(x=False, y=LOG_BY_DEFAULT[name])
        button.toggled.connect(lambda on: self._set_log(plot, on))
        item.ctrl.logYCheck.toggled.connect(button.setChecked)
        self.log_buttons[name] = button
        return button

    def _set_log(self, plot: pg.PlotWidget, on: bool) -> None:
        plot.getPlotItem().setLogMode(y=on)
        if plot is self.lr_plot:
            self._fit_flat_lr()

    def is_log(self, plot: pg.PlotWidget) -> bool:
        return bool(plot.getPlotItem().ctrl.logYCheck.isChecked())

    def _build_lines(self) -> None:
        """Per plot, a dashed crosshair that follows the mouse and the selected epoch's marker."""
        self._cursors: dict[int, pg.InfiniteLine] = {}
        self._markers: dict[int, pg.InfiniteLine] = {}
        marker_pen = pg.mkPen(MARKER_COLOR, width=2)
        for plot in self.plots:
            cursor = pg.InfiniteLine(angle=90, movable=False, pen=self._cursor_pen())
            marker = pg.InfiniteLine(angle=90, movable=False, pen=marker_pen)
            for line in (cursor, marker):
                line.setVisible(False)
                plot.addItem(line, ignoreBounds=True)
            self._cursors[id(plot)] = cursor
            self._markers[id(plot)] = marker

    def _plot_tip(self, title: str) -> str:
        """A plot's tooltip: what it shows against what its x axis counts now."""
        return (
            f"{title} {X_MODE_PHRASES[self._x_mode]}. Drag to pan, wheel to zoom, click to "
            "select an epoch."
        )

    def _update_tooltips(self) -> None:
        for plot in self.plots:
            plot.setToolTip(self._plot_tip(plot.accessibleName().removesuffix(" plot")))

    def _cursor_pen(self) -> QPen:
        return pg.mkPen(self.colors.muted, width=1, style=Qt.PenStyle.DashLine)

    def _make_plot(self, name: str, title: str, y_label: str) -> pg.PlotWidget:
        axes = {
            "left": GridAxis("left", background=self.colors.rgb("background")),
            "bottom": GridAxis("bottom", background=self.colors.rgb("background"), integer=True),
        }
        plot = pg.PlotWidget(self, axisItems=axes)
        plot.setObjectName(name)
        plot.setAccessibleName(f"{title} plot")
        plot.setToolTip(self._plot_tip(title))
        plot.setMinimumHeight(90)
        item = plot.getPlotItem()
        item.setTitle(_title(title, key_colors(name)), size="10pt")
        item.setLabel("left", y_label)
        item.showGrid(x=True, y=True, alpha=0.25)
        for axis in axes.values():
            axis.setZValue(item.vb.zValue() - 1)  # the (opaque) grid goes under the curves
        item.setClipToView(True)
        item.setDownsampling(auto=True, mode="peak")
        style_plot(plot, self.colors)
        return plot

    def _add_series(
        self,
        key: str,
        plot: pg.PlotWidget,
        color: tuple[int, int, int],
        name: str,
        *,
        positive: bool = False,
        width: float = 2,
    ) -> None:
        item = plot.getPlotItem()
        raw = None
        if key in SMOOTHED_KEYS:
            raw = item.plot([], [], pen=pg.mkPen((*color, RAW_ALPHA), width=1))
        curve = item.plot([], [], pen=pg.mkPen(color, width=width), name=name)
        self.series[key] = Series(key, curve, positive=positive, plot_item=item, raw_curve=raw)
        self._plot_of[key] = plot

    # ---- theme, smoothing, empty state -----------------------------------------------------
    def _restyle(self) -> None:
        """The palette changed: plots, grid, crosshairs and the empty text take its colours."""
        self.colors = plot_colors()
        for plot in self.plots:
            style_plot(plot, self.colors)
        for cursor in self._cursors.values():
            cursor.setPen(self._cursor_pen())
        self.empty_text.setColor(self.colors.foreground)

    def set_smoothing(self, weight: float) -> None:
        """Smooth the loss and metric curves with this EMA weight (0 to MAX_SMOOTHING)."""
        weight = min(max(float(weight), 0.0), MAX_SMOOTHING)
        steps = round(weight * SMOOTHING_STEPS)
        if self.smoothing_slider.value() != steps:
            self.smoothing_slider.setValue(steps)  # comes back through _on_smoothing_changed
            return
        self.smoothing_value.setText(f"{weight:.2f}")
        for series in self.series.values():
            series.set_smoothing(weight)
        if any(series.dirty for series in self.series.values()):
            self.redraw()

    def smoothing(self) -> float:
        return self.smoothing_slider.value() / SMOOTHING_STEPS

    @Slot(int)
    def _on_smoothing_changed(self, steps: int) -> None:
        self.set_smoothing(steps / SMOOTHING_STEPS)

    def is_empty(self) -> bool:
        return not any(len(series.x) for series in self.series.values())

    def _show_empty_state(self, empty: bool) -> None:
        """Empty: no tick numbers, no grid, and a line saying how curves come; else the axes."""
        self.empty_text.setVisible(empty)
        self.empty_text.setColor(self.colors.foreground)
        for plot in self.plots:
            item = plot.getPlotItem()
            for side in ("left", "bottom"):
                axis = item.getAxis(side)
                axis.setStyle(showValues=not empty)
                axis.setTicks([[], []] if empty else None)  # empty: no made-up ticks
            item.showGrid(x=not empty, y=not empty, alpha=0.25)
        self._place_empty_text()

    @Slot()
    def _place_empty_text(self, *args: Any) -> None:
        box = self.loss_plot.getPlotItem().vb
        self.empty_text.setPos(box.width() / 2, box.height() / 2)

    # ---- x axis ----------------------------------------------------------------------------
    def x_mode(self) -> str:
        """What the x axis counts: one of desktop_app.kit.x_axis's X_MODES."""
        return self._x_mode

    def set_x_mode(self, mode: str) -> None:
        """Count `mode` (epoch, step, relative or wall) on the x axis: every curve is drawn
        again at its new x, the bottom axes tick and read accordingly, and x auto-ranges."""
        if mode not in X_MODES:
            raise ValueError(f"x axis: {mode!r} is not one of {', '.join(X_MODES)}")
        if self.x_axis_combo.currentData() != mode:
            self.x_axis_combo.setCurrentIndex(X_MODES.index(mode))  # back through the signal
            return
        if mode == self._x_mode:
            return
        self._x_mode = mode
        self._axis_x_cache = None
        for series in self.series.values():
            series.remap(self.x_of_epochs(series.x.values))
        for plot in self.plots:
            plot.getPlotItem().getAxis("bottom").set_x_mode(mode)
        self.lr_plot.getPlotItem().setLabel("bottom", X_AXIS_TITLES[mode])
        self._update_tooltips()
        for cursor in self._cursors.values():
            cursor.setVisible(False)  # at an x of the old axis until the mouse moves
        self._place_marker()
        self.loss_plot.getPlotItem().vb.enableAutoRange(axis="x")  # the others follow it
        self.redraw()

    @Slot(int)
    def _on_x_mode_chosen(self, index: int) -> None:
        if index >= 0:
            self.set_x_mode(self.x_axis_combo.itemData(index))

    def _axis_x(self) -> np.ndarray:
        """The x of every epoch end added, on the current axis (kept until rows or the mode
        change: relative time counts from the first of them)."""
        if self._axis_x_cache is None:
            ends = {field: array.values for field, array in self._epoch_ends.items()}
            self._axis_x_cache = x_values(ends, self._x_mode)
        return self._axis_x_cache

    def x_of_epochs(self, epochs: np.ndarray) -> np.ndarray:
        """The x of these epochs (ascending) on the current axis; NaN for one not added or
        without a step or timestamp."""
        epochs = np.asarray(epochs, dtype=np.float64)
        if self._x_mode == "epoch":
            return epochs.copy()
        known = self._epoch_ends["epoch"].values
        if not len(known):
            return np.full(len(epochs), np.nan)
        at = np.minimum(np.searchsorted(known, epochs), len(known) - 1)
        return np.where(known[at] == epochs, self._axis_x()[at], np.nan)

    def epoch_x(self, epoch: int) -> float | None:
        """Where `epoch` lies on the current x axis (None: not on it)."""
        x = float(self.x_of_epochs(np.array([epoch]))[0])
        return x if np.isfinite(x) else None

    # ---- data ------------------------------------------------------------------------------
    def add_rows(self, rows: Iterable[dict[str, Any]]) -> int:
        """Take the epoch-end rows of a batch (the engine's curves); returns how many."""
        curves = curves_from_rows(rows)
        epochs = curves["epoch"].astype(np.float64)
        if not len(epochs):
            return 0
        was_empty = self.is_empty()
        for field, array in self._epoch_ends.items():
            array.extend(curves[field])
        self._axis_x_cache = None
        # The batch's rows are the last added: their x are the tail of the axis's.
        axis_x = epochs if self._x_mode == "epoch" else self._axis_x()[-len(epochs) :]
        for key, series in self.series.items():
            shown = plottable_mask(curves[key], series.positive)
            series.extend(epochs[shown], axis_x[shown], curves[key][shown])
        self._update_metric_kind()
        if self.marked_epoch is not None and self._x_mode != "epoch":
            self._place_marker()  # its epoch may have just come
        if was_empty and not self.is_empty():
            self._show_empty_state(False)
        if not self._timer.isActive():
            self._timer.start()
        return len(epochs)

    def set_rows(self, rows: Iterable[dict[str, Any]]) -> None:
        self.clear()
        self.add_rows(rows)
        self.redraw()

    def clear(self) -> None:
        for series in self.series.values():
            series.clear()
        for array in self._epoch_ends.values():
            array.clear()
        self._axis_x_cache = None
        self.clear_marker()
        self._metric_kind = ""
        self._update_metric_kind()
        self._show_empty_state(True)

    def point_count(self, key: str = "train_loss") -> int:
        return len(self.series[key].x)

    def curve_data(self, key: str) -> tuple[np.ndarray, np.ndarray]:
        """What the curve currently draws (after the last redraw), at full resolution."""
        series = self.series[key]
        if series.enveloped:
            return series.shown
        x, y = series.curve.getOriginalDataset()
        empty = np.empty(0)
        return (empty if x is None else x), (empty if y is None else y)

    def epochs(self) -> np.ndarray:
        return self.series["train_loss"].x.values

    @Slot()
    def redraw(self) -> None:
        changed = False
        following = self._following()
        for key, series in self.series.items():
            if series.dirty:
                series.draw(self._bins(key) if following else None)
                changed = True
        if changed:
            self._fit_flat_lr()
            # Settle the auto ranges now (the loss plot first: the others follow its x axis).
            # Left to the paint, the range change would invalidate the curves and axes it has
            # just painted and ask for a second paint.
            for plot in self.plots:
                plot.getPlotItem().vb.prepareForPaint()
        else:
            self._timer.stop()

    def _following(self) -> bool:
        """True while the x axis auto-ranges over the whole run (not zoomed or panned)."""
        return bool(self.loss_plot.getPlotItem().vb.autoRangeEnabled()[0])

    def _bins(self, key: str) -> int:
        """Envelope runs for a curve: one per pen width across its view (a 2-pixel pen covers
        two pixel columns with each run: finer runs would only overlap)."""
        width = int(self._plot_of[key].getPlotItem().vb.width()) or DEFAULT_PLOT_WIDTH_PX
        pen = self.series[key].curve.opts["pen"]
        pen_width = pen.widthF() if isinstance(pen, QPen) else 1.0
        return max(1, int(width / max(1.0, pen_width)))

    @Slot(object, object)
    def _on_x_range_changed(self, box: Any, x_range: Any) -> None:
        """Zoomed or panned: envelopes go (now, so the view never shows a coarse curve); back
        to auto range: they come back at the next redraw."""
        following = self._following()
        stale = [
            series
            for key, series in self.series.items()
            if series.enveloped != (following and wants_envelope(series.placed, self._bins(key)))
        ]
        if not stale:
            return
        for series in stale:
            series.dirty = True
        if following:
            if not self._timer.isActive():
                self._timer.start()
        else:
            for series in stale:
                series.draw(None)

    @Slot(object)
    def _on_view_resized(self, box: Any) -> None:
        """The envelopes have one run per pen width of the view: redo them for its new width."""
        resized = False
        for key, series in self.series.items():
            if series.enveloped and self._plot_of[key].getPlotItem().vb is box:
                series.dirty = True
                resized = True
        if resized and not self._timer.isActive():
            self._timer.start()

    def _fit_flat_lr(self) -> None:
        """A constant learning rate gets the range [0, 1.5 lr] instead of a tiny band."""
        values = self.series["lr"].y.values
        box = self.lr_plot.getPlotItem().vb
        flat = len(values) and float(values.min()) == float(values.max()) > 0
        if flat and not self.is_log(self.lr_plot):
            box.setYRange(0.0, float(values.max()) * 1.5, padding=0)
        elif not box.autoRangeEnabled()[1]:
            box.enableAutoRange(axis="y")

    def _update_metric_kind(self) -> None:
        has_r2 = len(self.series["train_r2"].x) or len(self.series["test_r2"].x)
        kind = "r2" if has_r2 else "accuracy"
        if kind != self._metric_kind:
            self._metric_kind = kind
            item = self.metric_plot.getPlotItem()
            title = "R²" if kind == "r2" else "Accuracy"
            color = self.colors.foreground.name()
            item.setTitle(_title(title, key_colors("metricPlot")), size="10pt", color=color)
            item.setLabel("left", "R²" if kind == "r2" else "accuracy")
            self.metric_plot.setAccessibleName(title + " plot")
            self.metric_plot.setToolTip(self._plot_tip(title))

    # ---- epochs, crosshair and marker ------------------------------------------------------
    def nearest_epoch(self, x: float) -> int | None:
        """The epoch whose point lies nearest to `x` on the current axis (a view x)."""
        series = self.series["train_loss"]
        epochs, xs = series.x.values, series.axis_x.values
        if series.placed < len(xs):
            known = np.isfinite(xs)
            epochs, xs = epochs[known], xs[known]
        if not len(xs):
            return None
        i = int(np.searchsorted(xs, x))
        if i >= len(xs):
            i = len(xs) - 1
        elif i > 0 and abs(xs[i - 1] - x) <= abs(xs[i] - x):
            i -= 1
        return int(epochs[i])

    def mark_epoch(self, epoch: int | None) -> None:
        self.marked_epoch = epoch
        self._place_marker()

    def _place_marker(self) -> None:
        """The marker at the selected epoch's x on the current axis (hidden: none, or the
        epoch has no x there)."""
        x = None if self.marked_epoch is None else self.epoch_x(self.marked_epoch)
        for marker in self._markers.values():
            if x is not None:
                marker.setValue(x)
            marker.setVisible(x is not None)

    def clear_marker(self) -> None:
        self.mark_epoch(None)

    def marker_value(self) -> float | None:
        marker = self._markers[id(self.loss_plot)]
        return float(marker.value()) if marker.isVisible() else None

    def readout_text(self, epoch: int) -> str:
        parts = [f"epoch {epoch}"]
        labels = {
            "train_loss": "train loss",
            "test_loss": "test loss",
            "loss_ema": "loss EMA",
            "train_accuracy": "train acc",
            "test_accuracy": "test acc",
            "train_r2": "train R²",
            "test_r2": "test R²",
            "lr": "lr",
        }
        for key, label in labels.items():
            value = self.series[key].value_at(epoch)
            if value is not None:
                parts.append(f"{label} {value:.4g}")
        return "  ·  ".join(parts)

    def _view_x(self, widget: pg.PlotWidget, scene_pos: Any) -> float | None:
        box = widget.getPlotItem().vb
        if not box.sceneBoundingRect().contains(scene_pos):
            return None
        return float(box.mapSceneToView(scene_pos).x())

    def _hover(self, widget: pg.PlotWidget, pos: Any) -> None:
        x = self._view_x(widget, pos)
        epoch = None if x is None else self.nearest_epoch(x)
        at = None if epoch is None else self.epoch_x(epoch)
        for cursor in self._cursors.values():
            cursor.setVisible(at is not None)
            if at is not None:
                cursor.setValue(at)
        if epoch is not None:
            self.readout.setText(self.readout_text(epoch))

    def _click(self, widget: pg.PlotWidget, pos: Any) -> None:
        x = self._view_x(widget, pos)
        epoch = None if x is None else self.nearest_epoch(x)
        if epoch is not None:
            self.epochClicked.emit(epoch)
