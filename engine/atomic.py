"""Atomic file writes: a reader (or a crash) sees the old file or the new one, never half of one.

A write goes to a temp file `.NAME.XXXXXXXX.tmp` beside its target, then is renamed over it.
A process killed in between leaves that temp file behind: `remove_temp_files` removes such
debris, and only files of exactly that shape.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from pathlib import Path
from typing import Any

from engine.errors import TrainwrightError

TEMP_SUFFIX = ".tmp"


class StorageError(TrainwrightError, OSError):
    """A file that could not be written (a full disk, a read-only home): one line naming it.

    Both a TrainwrightError (the CLI prints it as one line) and an OSError (with its errno),
    so code that handles OSError still does."""

    def __init__(self, path: Path | str, exc: OSError, note: str = "") -> None:
        reason = exc.strerror or str(exc) or type(exc).__name__
        message = f"could not write {path}: {reason}" + (f"; {note}" if note else "")
        OSError.__init__(self, exc.errno, message)
        self.path = Path(path)
        self.filename = str(path)

    def __str__(self) -> str:
        return str(self.strerror)


def atomic_write_bytes(path: Path, data: bytes) -> str:
    """Write `data` to `path` via a temp file, fsync and `os.replace`; return its SHA-256.

    StorageError (an OSError) naming `path` if it cannot be written; no temp file is left."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=TEMP_SUFFIX)
    except OSError as exc:
        raise StorageError(path, exc) from exc
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, OSError) and not isinstance(exc, StorageError):
            raise StorageError(path, exc) from exc
        raise
    _fsync_dir(path.parent)
    return hashlib.sha256(data).hexdigest()


def atomic_write_text(path: Path, text: str) -> str:
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: Path, obj: Any) -> str:
    return atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True) + "\n")


def temp_file_pattern(names: str) -> re.Pattern[str]:
    """The temp files `atomic_write_bytes` makes for targets whose names match the regular
    expression `names` (`.NAME.` + mkstemp's random letters + `.tmp`)."""
    return re.compile(rf"\.(?:{names})\.[a-z0-9_]+{re.escape(TEMP_SUFFIX)}")


def remove_temp_files(directory: Path, names: str) -> list[str]:
    """Remove the temp files a killed write to one of `names` (a regex) left in `directory`
    (not below it); the names removed. Files it cannot remove (a read-only home) stay."""
    pattern = temp_file_pattern(names)
    removed = []
    try:
        entries = list(Path(directory).iterdir())
    except OSError:
        return removed
    for path in entries:
        if pattern.fullmatch(path.name) and path.is_file() and not path.is_symlink():
            try:
                path.unlink()
            except OSError:
                continue
            removed.append(path.name)
    return removed


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _fsync_dir(directory: Path) -> None:
    """Persist the rename itself; not every platform can open a directory."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
