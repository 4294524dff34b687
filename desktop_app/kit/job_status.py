"""Run and job statuses in words and colours: one table, whichever view shows them.

The engine's words (`engine.jobs.records` statuses, a variant's metadata status) are short
identifiers; a view shows them as a user reads them ("timed out — resumable"), with a
sentence saying what can be done next and a tint for the table rows.
"""

from __future__ import annotations

from PySide6.QtGui import QColor

# status -> (the word shown, what it means and what to do next)
STATUS_TEXT: dict[str, tuple[str, str]] = {
    "queued": ("queued", "Waiting in the queue."),
    "running": ("running", "Running now."),
    "completed": ("completed", "Finished."),
    "failed": ("failed", "Ended with an error: Retry runs it again."),
    "cancelled": ("cancelled", "Stopped before the end: Resume continues from its checkpoint."),
    "timed_out": (
        "timed out — resumable",
        "Stopped at its time limit with a resumable checkpoint: Resume continues it.",
    ),
    "interrupted": (
        "interrupted — resumable",
        "Its process ended without a clean stop: Resume continues from its last checkpoint.",
    ),
}

# Finished jobs that one action continues from their last checkpoint (Resume), and those
# that run again (Retry).
RESUMABLE = frozenset({"cancelled", "timed_out", "interrupted"})
RETRYABLE = frozenset({"failed"})
CANCELLABLE = frozenset({"queued", "running"})

TINTS: dict[str, QColor] = {
    "running": QColor(38, 139, 210, 45),
    "queued": QColor(108, 113, 196, 30),
    "failed": QColor(220, 50, 47, 45),
    "interrupted": QColor(255, 165, 0, 60),
    "timed_out": QColor(255, 165, 0, 45),
    "cancelled": QColor(160, 160, 160, 45),
}


def status_word(status: str) -> str:
    """The status as shown ("timed out — resumable"); an unknown one as it is."""
    return STATUS_TEXT.get(status, (status, ""))[0]


def status_tip(status: str) -> str:
    """What the status means and what to do next ("" for an unknown one)."""
    return STATUS_TEXT.get(status, (status, ""))[1]
