"""Epoch statistics accumulated from the training steps, and evaluation on held-out data."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

_SPLIT = 134217729.0  # 2**27 + 1: Veltkamp's splitter for a float64 (Dekker's two-product)
_EXACT_WEIGHT = 1 << 26  # a split half times an int up to this is exact


def compensated_add(total: float, compensation: float, value: float) -> tuple[float, float]:
    """Kahan–Neumaier: `total + value`, the rounding error added to `compensation`.

    `total + compensation` stays within an ulp or so of the exact sum however many values are
    added (a plain running sum drifts by about sqrt(n) ulps, and by far more when small values
    follow large ones), as long as the values do not cancel each other out.
    """
    t = total + value
    if abs(total) >= abs(value):
        compensation += (total - t) + value
    else:
        compensation += (value - t) + total
    return t, compensation


def product_error(x: float, n: int, product: float) -> float:
    """The exact rounding error `x * n - product` of `product = x * n` (Dekker), for an int
    0 <= n <= 2**26 and a finite |x| < 1e300; 0.0 otherwise (n == 1 is exact anyway, batches
    of more than 2**26 make epochs of few steps, and such losses fail the run)."""
    if n == 1 or n > _EXACT_WEIGHT or not abs(x) < 1e300:
        return 0.0
    c = _SPLIT * x
    hi = c - (c - x)
    return (hi * n - product) + (x - hi) * n


class LossEMA:
    """A debiased exponential moving average of the step loss (TensorBoard's smoothing).

    The EMA started at 0, `e_t = decay * e_{t-1} + (1 - decay) * x_t`, divided by
    `1 - decay**t` so early values are not pulled toward that 0. Kept in that debiased form,
    `m_t = m_{t-1} + (x_t - m_{t-1}) * (1 - decay) / (1 - decay**t)` (the same, and the first
    value is the first loss exactly). `value` and `count` go into every full checkpoint, so a
    resumed run continues the same sequence bit for bit.
    """

    __slots__ = ("count", "decay", "value")

    def __init__(self, decay: float = 0.98) -> None:
        self.decay = decay
        self.value = 0.0
        self.count = 0

    def update(self, loss: float) -> None:
        self.count += 1
        d = self.decay
        self.value += (loss - self.value) * ((1.0 - d) / (1.0 - d**self.count))

    def result(self) -> float | None:
        return self.value if self.count else None

    def state_dict(self) -> dict[str, Any]:
        return {"decay": self.decay, "value": self.value, "count": self.count}

    def load_state_dict(self, state: dict[str, Any] | None) -> None:
        """`None` (a checkpoint from before the EMA existed): start it afresh."""
        state = state or {}
        self.decay = float(state.get("decay", self.decay))
        self.value = float(state.get("value", 0.0))
        self.count = int(state.get("count", 0))


class EpochAccumulator:
    """Running train loss and accuracy (or R² and MAE) over one epoch's steps.

    Built from the outputs the steps computed anyway, so train metrics cost no extra forward.
    A regression model learns a standardised target: `target_std` (the target's std over the
    train rows) turns the MAE back into the target's own units when the result is read; the
    sums and the checkpointed state stay in the model's units, so a resume is exact.
    """

    def __init__(self, regression: bool, target_std: float = 1.0) -> None:
        self.regression = regression
        self.target_std = target_std
        self.reset()

    def reset(self) -> None:
        # The loss sum is compensated (Kahan–Neumaier, each weighted term exact): the epoch's
        # mean loss does not drift with the number of batches. `loss_sum + loss_comp` is it.
        self.loss_sum = 0.0
        self.loss_comp = 0.0
        self.count = 0
        self.correct: torch.Tensor | int = 0
        self.sums: torch.Tensor | float = 0.0  # regression: [sse, sae, sum_y, sum_y2]

    def update(self, outputs: torch.Tensor, targets: torch.Tensor, loss_value: float) -> None:
        # detach() rather than a no_grad context: same result, a fraction of the per-step cost.
        outputs = outputs.detach()
        n = len(targets)
        term = loss_value * n
        self.loss_sum, comp = compensated_add(self.loss_sum, self.loss_comp, term)
        self.loss_comp = comp + product_error(loss_value, n, term)
        self.count += n
        if self.regression:
            pred = outputs.reshape(targets.shape).to(torch.float64)
            y = targets.to(torch.float64)
            err = pred - y
            self.sums = self.sums + torch.stack(
                [(err * err).sum(), err.abs().sum(), y.sum(), (y * y).sum()]
            )
        else:
            self.correct = self.correct + (outputs.argmax(-1) == targets).sum()

    def result(self) -> dict[str, float]:
        if not self.count:
            return {}
        out = {"train_loss": (self.loss_sum + self.loss_comp) / self.count}
        if self.regression:
            sse, sae, sy, syy = (float(v) for v in torch.as_tensor(self.sums).tolist())
            out["train_r2"] = _r2(sse, sy, syy, self.count)
            out["train_mae"] = sae / self.count * self.target_std
        else:
            out["train_accuracy"] = int(self.correct) / self.count
        return out

    def state_dict(self) -> dict[str, Any]:
        return {
            "loss_sum": self.loss_sum,
            "loss_comp": self.loss_comp,
            "count": self.count,
            "correct": int(self.correct),
            "sums": torch.as_tensor(self.sums, dtype=torch.float64).cpu(),
        }

    def load_state_dict(self, state: dict[str, Any], device: torch.device) -> None:
        self.loss_sum, self.count = state["loss_sum"], state["count"]
        self.loss_comp = state.get("loss_comp", 0.0)  # checkpoints before compensation: 0
        self.correct = torch.tensor(state["correct"], device=device)
        sums = state["sums"]
        self.sums = sums.to(device) if sums.numel() == 4 else 0.0


@dataclass
class Evaluation:
    """One evaluation on the test split: its metrics (test_loss, test_accuracy or test_r2 and
    test_mae) and, when asked for on a classification split, the confusion matrix."""

    metrics: dict[str, float]
    confusion: list[list[int]] | None = None


def evaluate(
    model: torch.nn.Module,
    loss_fn: Any,
    x: torch.Tensor,
    y: torch.Tensor,
    chunk: int = 65536,
    *,
    target_std: float = 1.0,
) -> dict[str, float]:
    """Test loss and accuracy (or R² and MAE) in eval mode, restoring train mode after.

    `target_std`: the scale of a standardised regression target; the MAE is multiplied by it
    to be in the target's own units (the loss stays the model's, R² is the same in either)."""
    return evaluate_split(model, loss_fn, x, y, chunk, target_std=target_std).metrics


@torch.no_grad()
def evaluate_split(
    model: torch.nn.Module,
    loss_fn: Any,
    x: torch.Tensor,
    y: torch.Tensor,
    chunk: int = 65536,
    *,
    target_std: float = 1.0,
    confusion: bool = False,
) -> Evaluation:
    """`evaluate`, and with `confusion` (for a classification split) the confusion matrix
    counted from the same outputs: no second forward pass."""
    if len(y) == 0:
        return Evaluation({})
    was_training = model.training
    model.eval()
    try:
        if len(x) <= chunk:  # one chunk: no torch.cat copy of the outputs
            outputs = model(x)
        else:
            outputs = torch.cat([model(x[i : i + chunk]) for i in range(0, len(x), chunk)])
        out = {"test_loss": float(loss_fn(outputs, y))}
        matrix = None
        if y.is_floating_point():
            pred = outputs.reshape(y.shape).to(torch.float64)
            target = y.to(torch.float64)
            sse = float(((pred - target) ** 2).sum())
            out["test_r2"] = _r2(sse, float(target.sum()), float((target**2).sum()), len(y))
            out["test_mae"] = float((pred - target).abs().mean()) * target_std
        else:
            predicted = outputs.argmax(-1)
            out["test_accuracy"] = float((predicted == y).double().mean())
            if confusion:
                matrix = confusion_matrix(predicted, y, outputs.shape[-1])
        return Evaluation(out, matrix)
    finally:
        model.train(was_training)


def confusion_matrix(
    predicted: torch.Tensor, targets: torch.Tensor, num_classes: int
) -> list[list[int]]:
    """Counts of (true class, predicted class): row i, column j = examples of class i
    predicted as j. Classes beyond `num_classes` (a label the outputs cannot name) widen it."""
    size = max(num_classes, int(targets.max()) + 1, int(predicted.max()) + 1)
    index = targets.to(torch.int64) * size + predicted.to(torch.int64)
    counts = torch.bincount(index.cpu(), minlength=size * size)
    return counts.view(size, size).tolist()


def classification_report(confusion: list[list[int]], epoch: int, step: int) -> Any:
    """metadata.json's ClassificationReport of an evaluation's confusion matrix (both
    backends' trainers record it after each evaluation)."""
    from engine.metadata import ClassificationReport

    return ClassificationReport(
        epoch=epoch,
        step=step,
        confusion=confusion,
        per_class_accuracy=per_class_accuracy(confusion),
    )


def per_class_accuracy(confusion: list[list[int]]) -> list[float | None]:
    """Each class's share of its test examples predicted right (None: it has none)."""
    return [row[i] / sum(row) if sum(row) else None for i, row in enumerate(confusion)]


def _r2(sse: float, sum_y: float, sum_y2: float, n: int) -> float:
    total = sum_y2 - sum_y * sum_y / n
    return 1.0 - sse / total if total > 0 else 0.0
