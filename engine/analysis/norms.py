"""Parameter norm over training: the sum of squared weights at each weights checkpoint."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from engine.analysis.checkpoints import VariantRef, iter_weights
from engine.training.callbacks import CancelEvent

if TYPE_CHECKING:
    import torch

# BatchNorm running statistics are buffers, not weights: they stay out of the norm.
BUFFER_SUFFIXES = ("running_mean", "running_var", "num_batches_tracked")


def is_weight(name: str, tensor: torch.Tensor) -> bool:
    """True for floating-point tensors that are parameters (not BatchNorm statistics)."""
    return tensor.is_floating_point() and not name.endswith(BUFFER_SUFFIXES)


def parameter_norm(state_dict: Mapping[str, torch.Tensor]) -> float:
    """Sum of squared weights (the squared L2 norm) of a state dict, accumulated in float64."""
    import torch

    total = torch.zeros((), dtype=torch.float64)
    for name, tensor in state_dict.items():
        if is_weight(name, tensor):
            total += tensor.detach().to("cpu", torch.float64).square().sum()
    return float(total)


def parameter_norms(
    source: VariantRef,
    *,
    strict: bool = True,
    problems: list[str] | None = None,
    cancel_event: CancelEvent = None,
) -> list[tuple[int, float]]:
    """(epoch, sum of squared weights) for every weights checkpoint, in epoch order.

    strict: a corrupt checkpoint raises CheckpointError; otherwise it is skipped and reported
    in `problems`.
    """
    return [
        (checkpoint.epoch, parameter_norm(state))
        for checkpoint, state in iter_weights(
            source, strict=strict, problems=problems, cancel_event=cancel_event
        )
    ]
