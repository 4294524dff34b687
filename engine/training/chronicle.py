"""chronicle.jsonl: one flushed JSON line per logged step; the byte offset makes resume exact."""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from engine.atomic import StorageError
from engine.errors import CheckpointError

# Fields that record when, not what: replay and resume compare everything else.
VOLATILE_FIELDS = frozenset({"timestamp", "epoch_time"})

# The chronicle's row schema. Every row has `step` and `epoch`; a step row (one every
# `log_every` steps) has the batch `loss`, `loss_ema` (a debiased exponential moving average of
# every step's loss, decay 0.98, TensorBoard's smoothing: `metrics.LossEMA`, carried across a
# resume by the full checkpoints), `lr` and `grad_norm`; the row that closes an epoch also carries
# the epoch's metrics, always `train_loss` (and `test_loss`, accuracies, … on evaluated
# epochs); a warning row carries `warning`. `EPOCH_END_FIELD` is how any reader tells them apart.
EPOCH_END_FIELD = "train_loss"


class ChronicleCut(CheckpointError):
    """chronicle.jsonl is shorter than (or differs from) what a checkpoint covers."""


def is_epoch_end(row: dict[str, Any]) -> bool:
    """True for the row that closes an epoch (it carries the epoch's metrics)."""
    return EPOCH_END_FIELD in row


class ChronicleWriter:
    """Appends rows to chronicle.jsonl. `truncate_at` cuts the file back to a checkpoint's
    offset first; it never lengthens it (a shorter file is refused, never padded)."""

    def __init__(self, path: Path, *, truncate_at: int | None = None) -> None:
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = open(self.path, "ab")  # noqa: SIM115 - held for the run
        except OSError as exc:
            raise StorageError(self.path, exc) from exc
        if truncate_at is not None:
            size = self._file.seek(0, os.SEEK_END)
            if size < truncate_at:
                self._file.close()
                raise ChronicleCut(
                    f"{self.path.name} holds {size} bytes, fewer than the {truncate_at} the "
                    "checkpoint covers: it was cut"
                )
            self._file.truncate(truncate_at)
            self._file.seek(truncate_at)
        self.offset = self._file.tell()

    def append(self, row: dict[str, Any]) -> None:
        data = (json.dumps(row, separators=(",", ":")) + "\n").encode()
        try:
            self._file.write(data)
            self._file.flush()
        except OSError as exc:
            raise StorageError(self.path, exc) from exc
        self.offset += len(data)

    def sync(self) -> None:
        try:
            self._file.flush()
            os.fsync(self._file.fileno())
        except OSError as exc:
            raise StorageError(self.path, exc) from exc

    def close(self) -> None:
        """Sync and close; a failure to sync (a full disk) is not raised again: the rows a
        checkpoint covers were synced when it was written."""
        if self._file.closed:
            return
        with contextlib.suppress(OSError):
            self.sync()
        with contextlib.suppress(OSError):
            self._file.close()


def read_chronicle(path: Path, *, limit_bytes: int | None = None) -> Iterator[dict[str, Any]]:
    """Rows in order. A line that is not a JSON object (a torn last line after a crash, bytes
    that are not UTF-8, an array) is skipped, never raised."""
    path = Path(path)
    try:
        with open(path, "rb") as handle:
            data = handle.read() if limit_bytes is None else handle.read(limit_bytes)
    except FileNotFoundError:
        return
    for line in data.splitlines():
        row = _parse(line)
        if row is not None:
            yield row


def _parse(line: bytes) -> dict[str, Any] | None:
    if not line.strip():
        return None
    try:
        row = json.loads(line.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return None
    return row if isinstance(row, dict) else None


def stable_fields(row: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in row.items() if k not in VOLATILE_FIELDS}
