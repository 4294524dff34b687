"""How long a sweep will take, from the per-epoch time of earlier runs of its family.

    from engine.sweeps.estimate import family_epoch_time, estimate_seconds, format_duration
    timing = family_epoch_time(ws.home, "mlp")        # EpochTime(seconds=0.012, runs=5) or None
    seconds = estimate_seconds(plan.combinations, training.get("epochs", 100), timing.seconds)
    format_duration(seconds)                           # "about 2 min"

The per-epoch time of a variant is the median `epoch_time` of the epoch-end rows of its
chronicle (only its last `TAIL_BYTES` are read, so a long chronicle costs no more than a short
one); a family's is the median over its most recently modified completed variants. It is a
rough guide: the time of an epoch depends on the model size, the batch size and the machine,
which earlier runs share with the sweep only in part. Pure Python: no torch is imported.
"""

from __future__ import annotations

import json
import math
import statistics
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from engine import variants
from engine.discovery import discover_variants
from engine.training.chronicle import is_epoch_end

TAIL_BYTES = 1 << 20  # the end of a chronicle holds plenty of epoch-end rows
DEFAULT_RUNS = 8  # earlier variants sampled, most recently modified first


class EpochTime(BaseModel):
    """The typical seconds per epoch of a family, and how many earlier runs it comes from."""

    model_config = ConfigDict(frozen=True)

    seconds: float
    runs: int


def variant_epoch_time(directory: Path, *, tail_bytes: int = TAIL_BYTES) -> float | None:
    """Median `epoch_time` over the epoch-end rows at the end of a variant's chronicle, or
    None when it has none (no chronicle, or a chronicle written before epoch_time existed)."""
    path = variants.chronicle_path(directory)
    try:
        with open(path, "rb") as handle:
            size = handle.seek(0, 2)
            start = max(0, size - tail_bytes)
            handle.seek(start)
            data = handle.read()
    except OSError:
        return None
    lines = data.splitlines()
    if start > 0 and lines:
        lines = lines[1:]  # the first line read from the middle of the file is partial
    times: list[float] = []
    for line in lines:
        if b'"epoch_time"' not in line:  # most rows are step rows: skip them unparsed
            continue
        try:
            row = json.loads(line)
            value = float(row["epoch_time"])
        except (ValueError, KeyError, TypeError):
            continue
        if is_epoch_end(row) and math.isfinite(value) and value >= 0:
            times.append(value)
    return statistics.median(times) if times else None


def family_epoch_time(
    home: Path, family: str, *, runs: int = DEFAULT_RUNS, tail_bytes: int = TAIL_BYTES
) -> EpochTime | None:
    """Median per-epoch time over the `runs` most recently modified completed variants of
    `family` that recorded one; None when there are none (the estimate is then unknown)."""
    completed = [
        s for s in discover_variants(home) if s.family == family and s.status == "completed"
    ]
    completed.sort(key=lambda s: s.last_modified, reverse=True)
    times: list[float] = []
    for summary in completed:
        if len(times) >= runs:
            break
        value = variant_epoch_time(Path(summary.path), tail_bytes=tail_bytes)
        if value is not None:
            times.append(value)
    if not times:
        return None
    return EpochTime(seconds=statistics.median(times), runs=len(times))


def total_epochs(combinations: Iterable[Mapping[str, Any]], epochs: int) -> int:
    """Epochs trained over all combinations: each one's swept `epochs`, else the fixed value."""
    return sum(int(combo.get("epochs", epochs)) for combo in combinations)


def estimate_seconds(
    combinations: Iterable[Mapping[str, Any]], epochs: int, epoch_seconds: float
) -> float:
    """Seconds to train every combination at `epoch_seconds` per epoch."""
    return total_epochs(combinations, epochs) * max(0.0, float(epoch_seconds))


def format_duration(seconds: float) -> str:
    """A duration in words for a label: "under 1 s", "about 40 s", "about 3 min", "about 2.5 h"."""
    if not math.isfinite(seconds):
        return "unknown"
    if seconds < 1:
        return "under 1 s"
    if seconds < 60:
        return f"about {round(seconds)} s"
    if seconds < 3600:
        return f"about {round(seconds / 60)} min"
    hours = seconds / 3600
    if hours < 48:
        return f"about {hours:.1f} h".replace(".0 h", " h")
    return f"about {hours / 24:.1f} days".replace(".0 days", " days")


__all__ = [
    "EpochTime",
    "estimate_seconds",
    "family_epoch_time",
    "format_duration",
    "total_epochs",
    "variant_epoch_time",
]
