"""What may be done with a variant or a sweep in each state, and deleting a variant safely.

The window's buttons and the CLI's commands ask these rules; neither keeps its own copy.
A variant's status is the one `engine.discovery.summarise` reports: "training" only while a
live run holds its lock (a crashed run reads "interrupted").
"""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path

from engine.errors import VariantError
from engine.training.lock import VariantLock
from engine.variants import lock_path

# Variant statuses a run can continue from its last checkpoint.
RESUMABLE = frozenset({"cancelled", "timed_out", "failed", "interrupted"})
# Sweep statuses whose remaining runs a `sweep resume` carries out.
SWEEP_RESUMABLE = frozenset({"pending", "cancelled", "interrupted"})
TRASH_DIR = ".trash"  # under the data home: deletions are renamed here, then removed


def can_resume(status: str) -> bool:
    return status in RESUMABLE


def can_replay(status: str) -> bool:
    """Only a completed variant has a whole run to reproduce."""
    return status == "completed"


def can_delete(status: str) -> bool:
    """Anything but a variant a live run is training (its lock is held)."""
    return status != "training"


def can_verify(status: str) -> bool:
    """Anything with its files and no live run writing them: not broken, not training."""
    return status not in ("training", "broken")


def can_resume_sweep(status: str) -> bool:
    return status in SWEEP_RESUMABLE


def delete_variant_dir(home: Path, directory: Path) -> None:
    """Remove a variant's directory, refusing while a run holds its lock.

    The lock is taken first (no run can start on the variant meanwhile), then the directory
    is renamed into `<home>/.trash` in one step, so the variant is either all there or gone
    from every listing even if the removal is cut short; the trash is emptied as it goes.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise VariantError(f"no variant folder at {directory}")
    lock = hold_variant(directory)  # refused while a live run trains it
    try:
        move_to_trash(home, directory)
    finally:
        lock.release()
    empty_trash(home)


def hold_variant(directory: Path) -> VariantLock:
    """The lock of the variant stored in `directory`, taken (the folder is created if need
    be); VariantError if a live run holds it. The caller releases it."""
    lock = VariantLock(lock_path(directory))
    try:
        lock.acquire()
    except VariantError:
        raise VariantError(
            f"variant {Path(directory).name} is being trained right now; stop that run first"
        ) from None
    return lock


def move_to_trash(home: Path, directory: Path) -> None:
    """Rename `directory` into `<home>/.trash` in one step (the caller holds its lock);
    `empty_trash` removes it."""
    trash = Path(home) / TRASH_DIR
    trash.mkdir(parents=True, exist_ok=True)
    os.replace(directory, trash / f"{Path(directory).name}-{uuid.uuid4().hex[:8]}")


def empty_trash(home: Path) -> None:
    """Remove what earlier deletions left in the trash (one cut short by a crash, say)."""
    trash = Path(home) / TRASH_DIR
    if trash.is_dir():
        for leftover in trash.iterdir():
            shutil.rmtree(leftover, ignore_errors=True)
