"""Named training losses, chosen with the training parameter `loss` (`-t loss=huber`).

Each loss declares the task types it serves; `engine.resolution.resolve_parameters` checks
the choice against the family's task type before a run (`loss_errors`), and the trainer
builds the function with `loss_function`. `auto` (the default) is no entry here: it is the
family's own `compute_loss` (cross-entropy or MSE by task; the modulo family's
cross-entropy in float64), so default runs compute what they always did. A named loss is
computed in the model's output dtype.

Importing this module does not import torch (parameters are resolved before torch loads).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

AUTO = "auto"
# Focal loss's focusing parameter: gamma = 2, the value Lin et al. (2017) found best.
FOCAL_GAMMA = 2.0
HUBER_DELTA = 1.0

LossFn = Callable[["torch.Tensor", "torch.Tensor"], "torch.Tensor"]


def cross_entropy(
    outputs: torch.Tensor, targets: torch.Tensor, label_smoothing: float = 0.0
) -> torch.Tensor:
    """Mean cross-entropy of class logits `[n, classes]` against class indices `[n]`."""
    import torch.nn.functional as F

    return F.cross_entropy(outputs, targets, label_smoothing=label_smoothing)


def focal(outputs: torch.Tensor, targets: torch.Tensor, gamma: float = FOCAL_GAMMA) -> torch.Tensor:
    """Mean focal loss -(1 - p_t)^gamma · log p_t (Lin et al. 2017); gamma 0 is cross-entropy."""
    import torch.nn.functional as F

    log_pt = F.log_softmax(outputs, dim=-1).gather(-1, targets.unsqueeze(-1)).squeeze(-1)
    return -((1.0 - log_pt.exp()) ** gamma * log_pt).mean()


def mse(outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean squared error; predictions `[n, 1]` are read as `[n]`, like the targets."""
    import torch.nn.functional as F

    return F.mse_loss(outputs.reshape(targets.shape), targets)


def huber(outputs: torch.Tensor, targets: torch.Tensor, delta: float = HUBER_DELTA) -> torch.Tensor:
    """Mean Huber loss: squared below `delta` (1), linear above it."""
    import torch.nn.functional as F

    return F.huber_loss(outputs.reshape(targets.shape), targets, delta=delta)


@dataclass(frozen=True)
class Loss:
    """A named loss and the task types ("classification", "regression") it serves."""

    name: str
    task_types: tuple[str, ...]
    function: Callable[..., Any]
    label_smoothing: bool = False  # takes the `label_smoothing` parameter


LOSSES: dict[str, Loss] = {
    loss.name: loss
    for loss in (
        Loss("cross_entropy", ("classification",), cross_entropy, label_smoothing=True),
        Loss("focal", ("classification",), focal),
        Loss("mse", ("regression",), mse),
        Loss("huber", ("regression",), huber),
    )
}


def allowed_losses(task_type: str) -> list[str]:
    """The values of `loss` for a task type: auto, then the losses that serve it."""
    return [AUTO, *(name for name, loss in LOSSES.items() if task_type in loss.task_types)]


def loss_errors(loss: str, label_smoothing: float, task_type: str) -> dict[str, str]:
    """Per-field errors (`loss`, `label_smoothing`) of this choice for a task type; {} if none."""
    errors: dict[str, str] = {}
    chosen = LOSSES.get(loss)
    if chosen is not None and task_type not in chosen.task_types:
        errors["loss"] = (
            f"{loss} is for {' and '.join(chosen.task_types)}; this dataset is {task_type} — "
            f"allowed: {', '.join(allowed_losses(task_type))}"
        )
    if label_smoothing and (chosen is None or not chosen.label_smoothing):
        takes = ", ".join(name for name, entry in LOSSES.items() if entry.label_smoothing)
        errors["label_smoothing"] = (
            f"{label_smoothing:g} needs loss={takes}; loss is {loss} — allowed: 0"
        )
    return errors


def loss_function(loss: str, label_smoothing: float = 0.0) -> LossFn:
    """The named loss as `(outputs, targets) -> scalar tensor`; KeyError for auto or unknown."""
    entry = LOSSES[loss]
    if entry.label_smoothing:
        return _WithSmoothing(entry.function, label_smoothing)
    return entry.function


@dataclass(frozen=True)
class _WithSmoothing:
    function: Callable[..., Any]
    label_smoothing: float

    def __call__(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return self.function(outputs, targets, label_smoothing=self.label_smoothing)


def chosen_loss(family: Any, training: Any) -> LossFn:
    """The loss a run's TrainingConfig chooses: `family.compute_loss` for auto (so default
    runs compute what they did before `loss` existed), else the named loss."""
    if training.loss == AUTO:
        return family.compute_loss
    return loss_function(training.loss, training.label_smoothing)
