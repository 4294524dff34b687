"""The jobs package's one error: a request about a job that cannot be met, in one line."""

from __future__ import annotations

from engine.errors import TrainwrightError


class JobError(TrainwrightError):
    """A job that is missing, or in the wrong state for what was asked (the CLI exits 2)."""


class StoreUnavailable(JobError):
    """trainwright.db cannot be opened or written at all (a read-only home, a full disk, a
    path that is a folder): runs go on without a history, and say so once."""
