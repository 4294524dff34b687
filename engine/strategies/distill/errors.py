"""Errors of distillation requests; messages are safe to show a user as they are."""

from __future__ import annotations

from engine.errors import TrainwrightError


class DistillError(TrainwrightError):
    """A teacher that is missing, untrained, a regression model, or on other data."""
