"""A per-variant lock file: one process trains a variant at a time, and a crashed run shows."""

from __future__ import annotations

import os
from pathlib import Path

from engine.atomic import StorageError
from engine.errors import VariantError

try:
    import fcntl
except ImportError:  # Windows: no advisory locks; the lock is best effort there.
    fcntl = None  # type: ignore[assignment]


class VariantLock:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the lock; VariantError if a live run holds it, StorageError (one line, nothing
        changed) if the lock file cannot be created (a read-only home, a full disk)."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise StorageError(self.path, exc, "nothing was changed") from None
        if fcntl is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(fd)
                raise VariantError(
                    f"{self.path.parent.name} is being trained by another run"
                ) from None
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing drops the flock
            self._fd = None

    def __enter__(self) -> VariantLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def is_locked(path: Path) -> bool:
    """True while some process holds the variant's lock (it is training right now).

    Probes read-only (flock needs no write access), so a listing works on a read-only home; a
    lock file it cannot open at all is not held by anyone it could see: not locked."""
    if fcntl is None:
        return False
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # missing, unreadable
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)  # conflicts with a run's LOCK_EX
    except BlockingIOError:
        return True
    except OSError:  # a filesystem without flock: nobody can hold it either
        return False
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)
