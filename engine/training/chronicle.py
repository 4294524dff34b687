"""chronicle.jsonl: one flushed JSON line per logged step; the byte offset makes resume exact."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

# Fields that record when, not what: replay and resume compare everything else.
VOLATILE_FIELDS = frozenset({"timestamp", "epoch_time"})

# The chronicle's row schema. Every row has `step` and `epoch`; a step row (one every
# `log_every` steps) has the batch `loss`, `loss_ema` (a debiased exponential moving average of
# every step's loss, decay 0.98, TensorBoard's smoothing: `metrics.LossEMA`, carried across a
# resume by the full checkpoints), `lr` and `grad_norm`; the row that closes an epoch also carries
# the epoch's metrics, always `train_loss` (and `test_loss`, accuracies, … on evaluated
# epochs); a warning row carries `warning`. `EPOCH_END_FIELD` is how any reader tells them apart.
EPOCH_END_FIELD = "train_loss"


def is_epoch_end(row: dict[str, Any]) -> bool:
    """True for the row that closes an epoch (it carries the epoch's metrics)."""
    return EPOCH_END_FIELD in row


class ChronicleWriter:
    def __init__(self, path: Path, *, truncate_at: int | None = None) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(self.path, "ab")  # noqa: SIM115 - held for the run
        if truncate_at is not None:
            self._file.truncate(truncate_at)
            self._file.seek(truncate_at)
        self.offset = self._file.tell()

    def append(self, row: dict[str, Any]) -> None:
        data = (json.dumps(row, separators=(",", ":")) + "\n").encode()
        self._file.write(data)
        self._file.flush()
        self.offset += len(data)

    def sync(self) -> None:
        self._file.flush()
        os.fsync(self._file.fileno())

    def close(self) -> None:
        if not self._file.closed:
            self.sync()
            self._file.close()


def read_chronicle(path: Path, *, limit_bytes: int | None = None) -> Iterator[dict[str, Any]]:
    """Rows in order; a torn last line (a crash mid-write) is skipped."""
    path = Path(path)
    if not path.exists():
        return
    with open(path, "rb") as handle:
        data = handle.read() if limit_bytes is None else handle.read(limit_bytes)
    for line in data.splitlines():
        if not line.strip():
            continue
        try:
            yield json.loads(line)
        except json.JSONDecodeError:
            continue


def stable_fields(row: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in row.items() if k not in VOLATILE_FIELDS}
