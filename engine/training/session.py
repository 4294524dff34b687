"""What a run reports: per-epoch metrics and the session returned by every training call."""

from __future__ import annotations

import uuid
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

# "cancelled": stopped by a Stop (its cancel event); "timed_out": stopped by its `timeout`.
# Both saved a full checkpoint where they stopped: a resume continues exactly.
Status = Literal["completed", "failed", "cancelled", "timed_out"]


class EpochMetrics(BaseModel):
    model_config = ConfigDict(extra="allow")

    epoch: int
    step: int
    train_loss: float
    lr: float
    grad_norm: float
    epoch_time: float
    test_loss: float | None = None
    train_accuracy: float | None = None
    test_accuracy: float | None = None
    train_r2: float | None = None
    test_r2: float | None = None
    train_mae: float | None = None
    test_mae: float | None = None


class TrainingSession(BaseModel):
    """The outcome of train/resume; returned for failures too (train never raises for them)."""

    session_id: str = Field(default_factory=lambda: uuid.uuid4().hex)
    family: str
    variant: str
    path: str
    status: Status
    epochs_completed: int = 0
    total_epochs: int = 0
    steps: int = 0
    metrics: list[EpochMetrics] = []
    final_metrics: dict[str, Any] = {}
    error_message: str | None = None
    warnings: list[str] = []
    weights_sha256: str | None = None
    duration_s: float = 0.0
    attempts: int = 1  # attempts so far (1 + retries taken; metadata.json lists each)
    effective_lr: float | None = None  # the peak lr of the last attempt
    # Why a completed run ended before its epochs were done (its `target_metric`), in words.
    stop_reason: str | None = None


def headline(metrics: dict[str, Any]) -> str:
    """A run's result in one line ("train loss 0.02, test loss 0.03, test acc 0.99"): what
    the CLI prints and the job log records at the end of a run."""
    parts = []
    for key, label in (
        ("train_loss", "train loss"),
        ("test_loss", "test loss"),
        ("test_accuracy", "test acc"),
        ("test_r2", "test R²"),
    ):
        if metrics.get(key) is not None:
            parts.append(f"{label} {metrics[key]:.4g}")
    return ", ".join(parts) or "no metrics yet"
