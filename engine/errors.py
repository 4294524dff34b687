"""Errors whose messages are safe to show a user as they are."""

from __future__ import annotations


class TrainwrightError(Exception):
    """Base for every error the CLI turns into exit code 2 and one line on stderr."""


class ParameterError(TrainwrightError, ValueError):
    """A parameter value that is unknown, of the wrong type or out of range."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class FamilyError(TrainwrightError):
    """A family that is unknown, malformed or fails to load."""


class CheckpointError(TrainwrightError):
    """A checkpoint that is missing, corrupt, tampered with or from another config."""


class VariantError(TrainwrightError):
    """A variant that is missing, already exists, or is in the wrong state for the request."""
