"""The best evaluation of a run (`keep_best`), kept in memory and in every full checkpoint.

After each evaluation the trainer offers its metrics: the test accuracy (R² for regression)
is compared with the best so far, a tie going to the lower test loss, and only a strict
improvement replaces it, with a CPU copy of the weights. The trainer writes
`checkpoints/best.pt` from it when it writes a weights or full checkpoint and the best changed
since its last write (and at the end). The whole best state is part of every full checkpoint,
so a resumed run has the same best as an uninterrupted one, bit for bit. Only evaluation
steps touch any of this: the training steps cost the same with it or without.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from engine.hashing import weights_sha256

if TYPE_CHECKING:
    import torch

    from engine.metadata import BestRecord

BEST_FILE = "best.pt"
# The test metric each kind of split is ranked by, in the order they are looked for.
METRICS = ("test_accuracy", "test_r2")


def ranked_metric(metrics: dict[str, float]) -> str | None:
    """The metric an evaluation is ranked by (None: it has none, e.g. an empty test split)."""
    return next((name for name in METRICS if name in metrics), None)


@dataclass(eq=False)
class BestState:
    """One evaluation and the weights it was made with (CPU tensors, a copy of their own)."""

    metric: str
    value: float
    test_loss: float | None
    epoch: int
    step: int
    state: dict[str, torch.Tensor]
    confusion: list[list[int]] | None = None
    _sha256: str | None = None

    @property
    def weights_sha256(self) -> str:
        if self._sha256 is None:  # computed once, when first written or compared
            self._sha256 = weights_sha256(self.state)
        return self._sha256

    def beats(self, other: BestState | None) -> bool:
        """A strictly better evaluation: a higher value, or the same with a lower test loss."""
        if other is None:
            return True
        if self.value != other.value:
            return self.value > other.value
        mine, theirs = self.test_loss, other.test_loss
        return mine is not None and (theirs is None or mine < theirs)

    def checkpoint(self) -> dict[str, Any]:
        """The payload of best.pt: laid out like a weights checkpoint."""
        return {"model": self.state, "epoch": self.epoch, "step": self.step}

    def payload(self) -> dict[str, Any]:
        """What a full checkpoint holds of it (what `from_payload` reads back)."""
        return {
            "metric": self.metric,
            "value": self.value,
            "test_loss": self.test_loss,
            "epoch": self.epoch,
            "step": self.step,
            "model": self.state,
            "confusion": self.confusion,
        }

    @classmethod
    def from_payload(cls, payload: dict[str, Any] | None) -> BestState | None:
        if not payload:
            return None
        return cls(
            metric=str(payload["metric"]),
            value=float(payload["value"]),
            test_loss=None if payload["test_loss"] is None else float(payload["test_loss"]),
            epoch=int(payload["epoch"]),
            step=int(payload["step"]),
            state=dict(payload["model"]),
            confusion=payload.get("confusion"),
        )

    def same_as(self, record: BestRecord | None) -> bool:
        """Whether metadata.json's record describes these weights at this step."""
        return (
            record is not None
            and (record.epoch, record.step, record.metric) == (self.epoch, self.step, self.metric)
            and record.weights_sha256 == self.weights_sha256
        )


def model_state_copy(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """A CPU copy of the model's weights for a new best (taken only when it is one)."""
    return {k: t.detach().to("cpu", copy=True) for k, t in model.state_dict().items()}


def better_offer(
    metrics: dict[str, float],
    epoch: int,
    step: int,
    confusion: list[list[int]] | None,
    best: BestState | None,
) -> BestState | None:
    """This evaluation as a BestState without weights when it beats `best` (the caller adds
    the weights only then: a torch model's `model_state_copy`, a Keras model's in the
    tensorflow backend); None otherwise, or when it has no finite ranked metric."""
    metric = ranked_metric(metrics)
    if metric is None or not math.isfinite(metrics[metric]):
        return None
    loss = metrics.get("test_loss")
    loss = float(loss) if loss is not None and math.isfinite(loss) else None
    offer = BestState(metric, float(metrics[metric]), loss, epoch, step, {}, confusion)
    return offer if offer.beats(best) else None


def target_reached(metrics: dict[str, float], target: float, epoch: int) -> str | None:
    """Why the run stops, when an evaluation reaches `target` (0: no target): "target
    test_accuracy ≥ 0.95 reached at epoch 12 (0.9611)"; None otherwise."""
    metric = ranked_metric(metrics)
    if target <= 0 or metric is None or not metrics[metric] >= target:
        return None
    return f"target {metric} ≥ {target:g} reached at epoch {epoch} ({metrics[metric]:.4f})"
