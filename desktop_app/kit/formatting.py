"""Values and durations as text: one way to write each, whichever view shows them."""

from __future__ import annotations

import math
from typing import Any

from engine.units import format_bytes as format_bytes  # the CLI says sizes the same way


def format_value(
    value: Any, *, precision: int | None = None, booleans: tuple[str, str] = ("true", "false")
) -> str:
    """A value as text: None is empty, a list is comma-separated, a bool is one of `booleans`.

    A float keeps every digit (as the user would type it; what ParameterSpec.parse reads
    back: 1.0 is "1", 1e-05 is "1e-05") unless `precision` asks for that many significant
    digits (tables); nan and inf stay as they are.
    """
    if value is None:
        return ""
    if isinstance(value, bool):
        return booleans[0] if value else booleans[1]
    if isinstance(value, list | tuple):
        return ", ".join(format_value(v, precision=precision, booleans=booleans) for v in value)
    if isinstance(value, float):
        if not math.isfinite(value):
            return str(value)
        if precision is not None:
            return f"{value:.{precision}g}"
        text = repr(value)
        return text[:-2] if text.endswith(".0") else text
    return str(value)


def format_duration(seconds: float, *, clock: bool = False) -> str:
    """A duration: as a clock ("2:05", "1:02:03") for a run's progress, which ticks every
    second; else in words for a table ("1.5 s", "2 min 05 s", "1 h 02 min")."""
    whole = max(0, round(seconds))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if clock:
        return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"
    if seconds < 60:
        return f"{seconds:.1f} s"
    if not hours:
        return f"{minutes} min {secs:02d} s"
    return f"{hours} h {minutes:02d} min"


def format_local_time(iso: str | None, *, seconds: bool = False) -> str:
    """An ISO timestamp (UTC or with its offset) in local time, to the minute (or second);
    the input itself if it does not parse."""
    from datetime import UTC, datetime

    if not iso:
        return ""
    try:
        stamp = datetime.fromisoformat(iso)
    except (TypeError, ValueError):
        return iso
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=UTC)
    return stamp.astimezone().strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")
