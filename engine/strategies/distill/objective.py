"""The distillation loss: soft teacher targets at temperature T mixed with the hard labels."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn


def distillation_loss(
    student_logits: torch.Tensor,
    teacher_logits: torch.Tensor,
    hard_loss: torch.Tensor,
    temperature: float,
    alpha: float,
) -> torch.Tensor:
    """`alpha * T^2 * KL(softmax(teacher/T) || softmax(student/T)) + (1 - alpha) * hard_loss`.

    The T^2 keeps the soft term's gradients on the scale of the hard term's (Hinton et al.
    2015). The KL is averaged over the batch, like the cross-entropy it is mixed with, and is
    computed in the hard loss's dtype (float64 for families that need it).
    """
    dtype = hard_loss.dtype
    t = temperature
    log_student = F.log_softmax(student_logits.to(dtype) / t, dim=-1)
    log_teacher = F.log_softmax(teacher_logits.to(dtype) / t, dim=-1)
    kl = F.kl_div(log_student, log_teacher, reduction="batchmean", log_target=True)
    return alpha * t * t * kl + (1.0 - alpha) * hard_loss


class DistillObjective:
    """The Trainer's `objective` hook: teacher logits on each batch under no_grad, eval mode."""

    def __init__(
        self,
        teacher: nn.Module,
        hard_loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
        temperature: float,
        alpha: float,
    ) -> None:
        self.teacher = teacher.eval()
        self.hard_loss = hard_loss
        self.temperature = float(temperature)
        self.alpha = float(alpha)

    def __call__(
        self, outputs: torch.Tensor, targets: torch.Tensor, inputs: torch.Tensor
    ) -> torch.Tensor:
        with torch.no_grad():
            teacher_logits = self.teacher(inputs)
        if teacher_logits.shape != outputs.shape:
            raise ValueError(
                f"teacher logits have shape {tuple(teacher_logits.shape)} but the student's "
                f"outputs have shape {tuple(outputs.shape)}"
            )
        hard = self.hard_loss(outputs, targets)
        return distillation_loss(outputs, teacher_logits, hard, self.temperature, self.alpha)
