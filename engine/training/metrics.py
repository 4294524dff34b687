"""Epoch statistics accumulated from the training steps, and evaluation on held-out data."""

from __future__ import annotations

from typing import Any

import torch


class EpochAccumulator:
    """Running train loss and accuracy (or R² and MAE) over one epoch's steps.

    Built from the outputs the steps computed anyway, so train metrics cost no extra forward.
    """

    def __init__(self, regression: bool) -> None:
        self.regression = regression
        self.reset()

    def reset(self) -> None:
        self.loss_sum = 0.0
        self.count = 0
        self.correct: torch.Tensor | int = 0
        self.sums: torch.Tensor | float = 0.0  # regression: [sse, sae, sum_y, sum_y2]

    def update(self, outputs: torch.Tensor, targets: torch.Tensor, loss_value: float) -> None:
        # detach() rather than a no_grad context: same result, a fraction of the per-step cost.
        outputs = outputs.detach()
        n = len(targets)
        self.loss_sum += loss_value * n
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
        out = {"train_loss": self.loss_sum / self.count}
        if self.regression:
            sse, sae, sy, syy = (float(v) for v in torch.as_tensor(self.sums).tolist())
            out["train_r2"] = _r2(sse, sy, syy, self.count)
            out["train_mae"] = sae / self.count
        else:
            out["train_accuracy"] = int(self.correct) / self.count
        return out

    def state_dict(self) -> dict[str, Any]:
        return {
            "loss_sum": self.loss_sum,
            "count": self.count,
            "correct": int(self.correct),
            "sums": torch.as_tensor(self.sums, dtype=torch.float64).cpu(),
        }

    def load_state_dict(self, state: dict[str, Any], device: torch.device) -> None:
        self.loss_sum, self.count = state["loss_sum"], state["count"]
        self.correct = torch.tensor(state["correct"], device=device)
        sums = state["sums"]
        self.sums = sums.to(device) if sums.numel() == 4 else 0.0


@torch.no_grad()
def evaluate(
    model: torch.nn.Module, loss_fn: Any, x: torch.Tensor, y: torch.Tensor, chunk: int = 65536
) -> dict[str, float]:
    """Test loss and accuracy (or R² and MAE) in eval mode, restoring train mode after."""
    if len(y) == 0:
        return {}
    was_training = model.training
    model.eval()
    try:
        if len(x) <= chunk:  # one chunk: no torch.cat copy of the outputs
            outputs = model(x)
        else:
            outputs = torch.cat([model(x[i : i + chunk]) for i in range(0, len(x), chunk)])
        out = {"test_loss": float(loss_fn(outputs, y))}
        if y.is_floating_point():
            pred = outputs.reshape(y.shape).to(torch.float64)
            target = y.to(torch.float64)
            sse = float(((pred - target) ** 2).sum())
            out["test_r2"] = _r2(sse, float(target.sum()), float((target**2).sum()), len(y))
            out["test_mae"] = float((pred - target).abs().mean())
        else:
            out["test_accuracy"] = float((outputs.argmax(-1) == y).double().mean())
        return out
    finally:
        model.train(was_training)


def _r2(sse: float, sum_y: float, sum_y2: float, n: int) -> float:
    total = sum_y2 - sum_y * sum_y / n
    return 1.0 - sse / total if total > 0 else 0.0
