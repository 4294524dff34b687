"""What a curve's x axis counts, as TensorBoard offers it: epoch, step, relative time or wall time.

The engine's epoch curves (engine.analysis.curves) carry, per epoch end, the epoch, the global
step and the row's wall-clock timestamp; `x_values` turns them into the x of the chosen axis.
Relative time is the wall time since the curve's first epoch end (a resumed run shows the pause,
as in TensorBoard). Time axes get tick spacings that are whole seconds, minutes, hours or days
(`time_tick_spacing`) and labels that read as durations (1:30, 2:00:00) or clock times (14:05),
never as raw seconds; see PlainAxis.set_x_mode in desktop_app.kit.curve_plots.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Mapping
from typing import Any

import numpy as np

X_MODES = ("epoch", "step", "relative", "wall")
X_MODE_NAMES = {
    "epoch": "Epoch",
    "step": "Step",
    "relative": "Relative time",
    "wall": "Wall time",
}
X_AXIS_TITLES = {
    "epoch": "epoch",
    "step": "step",
    "relative": "time since epoch 1 ended (pauses included)",
    "wall": "wall time (local)",
}
X_MODE_TIP = (
    "What the x axis counts: epochs, optimizer steps, time since the first epoch ended, or the "
    "wall-clock time of each epoch's end"
)
TIME_MODES = frozenset({"relative", "wall"})
# Tick spacings a time axis may use, in seconds: whole seconds, minutes, hours and days.
TIME_STEPS = (
    1,
    2,
    5,
    10,
    15,
    30,
    60,
    120,
    300,
    600,
    900,
    1800,
    3600,
    7200,
    10800,
    21600,
    43200,
    86400,
    172800,
    604800,
)
MIN_TICK_PX = 70  # a time label needs about this much room


def x_values(curves: Mapping[str, Any], mode: str) -> np.ndarray:
    """The x of each epoch end in `curves` on the `mode` axis, as float64 (NaN where unknown:
    a row without a step or timestamp, in a chronicle written by hand or another tool)."""
    if mode not in X_MODES:
        raise ValueError(f"x axis: {mode!r} is not one of {', '.join(X_MODES)}")
    if mode in ("epoch", "step"):
        values = np.asarray(curves[mode], dtype=np.float64)
        return np.where(values < 0, np.nan, values)  # -1: the row had none
    stamps = np.asarray(curves.get("timestamp", np.full(len(curves["epoch"]), np.nan)), float)
    if mode == "wall":
        return stamps
    known = stamps[np.isfinite(stamps)]
    return stamps - known[0] if len(known) else stamps


def time_tick_spacing(
    span: float, size_px: float, utc_offset: float = 0.0
) -> list[tuple[float, float]]:
    """pyqtgraph tick levels (spacing, offset) for a time axis `size_px` wide showing `span`
    seconds: major ticks at the smallest whole time step that leaves MIN_TICK_PX per label,
    minor ticks at the largest step that divides it (so the grid is even). A wall-time axis
    gives its `utc_offset` (seconds east of UTC): its ticks fall on local hours and midnights,
    not on UTC ones."""
    if not np.isfinite(span) or span <= 0:
        return [(1.0, 0.0)]
    fits = max(1.0, size_px / MIN_TICK_PX)
    major = float(next((step for step in TIME_STEPS if span / step <= fits), TIME_STEPS[-1]))
    if span / major > fits:
        major = float(np.ceil(span / fits / 86400.0) * 86400.0)  # longer than weeks: whole days
    steps = [major]
    minor = max((step for step in TIME_STEPS if step < major and major % step == 0), default=0)
    if minor:
        steps.append(float(minor))
    return [(step, (-utc_offset) % step) for step in steps]


def local_utc_offset(timestamp: float) -> float:
    """Seconds east of UTC of the local time zone at `timestamp` (0 if it cannot be told)."""
    try:
        offset = _dt.datetime.fromtimestamp(timestamp).astimezone().utcoffset()
    except (OverflowError, OSError, ValueError):
        return 0.0
    return offset.total_seconds() if offset is not None else 0.0


def duration_text(seconds: float, spacing: float) -> str:
    """A relative time as m:ss, h:mm:ss or 'Nd h:mm' (fractions only below one-second ticks)."""
    sign = "-" if seconds < 0 else ""
    seconds = abs(seconds)
    if spacing < 1:
        return f"{sign}{seconds:.3g} s"
    total = round(seconds)
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{sign}{days}d {hours}:{minutes:02d}"
    if hours:
        return f"{sign}{hours}:{minutes:02d}:{secs:02d}"
    return f"{sign}{minutes}:{secs:02d}"


def clock_text(timestamp: float, spacing: float) -> str:
    """A wall time in local time: HH:MM:SS below minute ticks, HH:MM below day ticks, else the
    date."""
    try:
        moment = _dt.datetime.fromtimestamp(timestamp)
    except (OverflowError, OSError, ValueError):
        return ""
    if spacing >= 86400:
        return moment.strftime("%Y-%m-%d")
    if spacing >= 60:
        return moment.strftime("%H:%M")
    return moment.strftime("%H:%M:%S")


def time_tick_strings(mode: str, values: Any, spacing: float) -> list[str]:
    """The labels of a time axis's ticks (`mode` "relative" or "wall")."""
    text = duration_text if mode == "relative" else clock_text
    return [text(float(v), spacing) for v in values]
