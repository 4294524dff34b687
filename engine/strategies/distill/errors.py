"""Errors of distillation requests; messages are safe to show a user as they are."""

from __future__ import annotations

from engine.backends import TENSORFLOW
from engine.errors import TrainwrightError
from engine.strategies.base import TORCH_STUDENT


class DistillError(TrainwrightError):
    """A teacher that is missing, untrained, a regression model, or on other data; a student
    of the tensorflow backend."""


def refuse_tensorflow_student(backend: str) -> None:
    """DistillError for a student the tensorflow backend would train (its training loop has
    no place for the distillation loss), before anything is written."""
    if backend == TENSORFLOW:
        raise DistillError(
            f"the student would train with the tensorflow backend; {TORCH_STUDENT} "
            "(use -t backend=torch for the student)"
        )
