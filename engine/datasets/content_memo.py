"""Content hashes remembered while the files are unchanged on disk.

Resolving parameters (on every edit of a form) asks for the hash of the user's data, which
for an image folder means reading every image. The hash is kept per file signature — size,
modification and change times in nanoseconds, inode — so it is recomputed only when a file
was written, replaced, added or removed since.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable
from pathlib import Path

MAX_ENTRIES = 64

_memo: dict[tuple[object, ...], str] = {}
_lock = threading.Lock()


def signature(paths: Iterable[Path]) -> tuple[object, ...]:
    """What changes when any of `paths` is written, replaced, added or removed."""
    out: list[object] = []
    for path in paths:
        st = os.stat(path)
        out.append((str(path), st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino))
    return tuple(out)


def tree_signature(root: Path) -> tuple[object, ...]:
    """`signature` of every file below `root`, read with os.scandir alone: thousands of
    images cost milliseconds, where building a Path per file costs a tenth of a second."""
    out: list[object] = []
    stack = [os.fspath(root)]
    while stack:
        with os.scandir(stack.pop()) as entries:
            for entry in sorted(entries, key=lambda e: e.name):
                if entry.is_dir(follow_symlinks=False):
                    stack.append(entry.path)
                    continue
                st = entry.stat(follow_symlinks=False)
                out.append((entry.path, st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino))
    return tuple(out)


def remembered_hash(paths: Iterable[Path] | tuple[object, ...], compute: Callable[[], str]) -> str:
    """`compute()`, or the value it gave when the files last had this signature (`paths`: the
    files, or a signature already taken, e.g. by `tree_signature`)."""
    key = paths if isinstance(paths, tuple) else signature(paths)
    with _lock:
        if key in _memo:
            return _memo[key]
    value = compute()
    with _lock:
        if len(_memo) >= MAX_ENTRIES:
            _memo.pop(next(iter(_memo)))
        _memo[key] = value
    return value
