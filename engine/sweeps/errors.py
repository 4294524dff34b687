"""Errors of sweep requests; messages are safe to show a user as they are."""

from __future__ import annotations

from engine.errors import TrainwrightError


class SweepError(TrainwrightError):
    """An invalid list, too many combinations, a conflict, or an unknown sweep."""
