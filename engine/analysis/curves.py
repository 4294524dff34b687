"""Epoch curves: the epoch-end rows of chronicle.jsonl as numpy arrays, one per field."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from engine import variants
from engine.analysis.checkpoints import VariantRef, variant_directory
from engine.training.chronicle import is_epoch_end, read_chronicle

CURVE_FIELDS = (
    "epoch",
    "step",
    "train_loss",
    "test_loss",
    "train_accuracy",
    "test_accuracy",
    "train_r2",
    "test_r2",
    "lr",
    "loss_ema",  # the step loss EMA at the epoch's last step (NaN in older chronicles)
    "timestamp",  # the wall-clock time (Unix seconds) the epoch's row was written
)

Curves = dict[str, np.ndarray]


def chronicle_path(source: VariantRef) -> Path:
    """The chronicle of a variant, or `source` itself when it is a .jsonl file."""
    if isinstance(source, str | Path) and Path(source).suffix == ".jsonl":
        return Path(source)
    return variants.chronicle_path(variant_directory(source))


def curves_from_rows(rows: Iterable[dict[str, Any]]) -> Curves:
    """Arrays for every field in CURVE_FIELDS over the epoch-end rows (those with train_loss).

    `epoch` and `step` are int64; the rest float64 with NaN where a row lacks the field (test
    metrics on epochs without evaluation; accuracy on regression). A repeated epoch keeps its
    last row.
    """
    by_epoch: dict[int, dict[str, Any]] = {}
    for row in rows:
        if is_epoch_end(row) and "epoch" in row:
            by_epoch[int(row["epoch"])] = row
    ordered = [by_epoch[e] for e in sorted(by_epoch)]
    curves: Curves = {}
    for field in CURVE_FIELDS:
        if field in ("epoch", "step"):
            curves[field] = np.array([int(r.get(field, -1)) for r in ordered], dtype=np.int64)
        else:
            curves[field] = np.array([_number(r.get(field)) for r in ordered], dtype=np.float64)
    return curves


def epoch_curves(source: VariantRef) -> Curves:
    """Epoch curves of a variant (or a chronicle .jsonl path); empty arrays if none."""
    return curves_from_rows(read_chronicle(chronicle_path(source)))


def _number(value: Any) -> float:
    try:
        return float(value) if value is not None else np.nan
    except (TypeError, ValueError):
        return np.nan
