"""Epoch curves of stored variants, read in the background and cached.

The Analysis tab overlays the curves of the variants selected, the Sweeps tab those of the runs
selected: both ask a `CurveLoader`, which reads what is not cached (or whose chronicle changed
since) in a CurvesTask and says `ready` when the curves of the paths last asked for are in.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Signal, Slot

from desktop_app.kit.tasks import Task, TaskRunner
from engine import variants

CURVE_CACHE_SIZE = 64  # variants whose curves stay in memory

Curves = dict[str, Any]  # engine.analysis.curves.Curves: field -> numpy array


def file_key(path: Path) -> tuple[int, int] | None:
    """What tells a cached result is stale: the file's mtime and size (None: no file)."""
    try:
        stat = path.stat()
    except OSError:
        return None
    return stat.st_mtime_ns, stat.st_size


def remember(cache: dict[str, Any], key: str, value: Any, limit: int) -> None:
    """Store `value` as the newest entry, dropping the oldest beyond `limit`."""
    cache.pop(key, None)
    cache[key] = value
    while len(cache) > limit:
        cache.pop(next(iter(cache)))


class CurvesTask(Task):
    """Reads the epoch curves of several variants, each with its stored config (under
    "config": the config.json dict, None if unreadable): result {path: curves}."""

    kind = "curves"

    def __init__(self, request_id: int, paths: Sequence[str]) -> None:
        super().__init__(request_id)
        self.paths = list(paths)

    def compute(self) -> dict[str, Curves]:
        from engine.analysis.curves import epoch_curves

        out: dict[str, Curves] = {}
        for path in self.paths:
            if self.cancel_event.is_set():
                break
            curves: Curves = dict(epoch_curves(Path(path)))
            curves["config"] = read_config(Path(path))
            out[path] = curves
        return out


def read_config(directory: Path) -> dict[str, Any] | None:
    """A variant's config.json as stored (None: missing or unreadable)."""
    try:
        config = json.loads(variants.config_path(directory).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return config if isinstance(config, dict) else None


class CurveLoader(QObject):
    """The curves of the variants last asked for (`request`), from its cache or a task."""

    ready = Signal()  # `wanted()` holds every curve of the last request that could be read
    failed = Signal(str)  # the last request could not be read: why

    def __init__(
        self,
        runner: TaskRunner,
        on_ready: Callable[[], None],
        on_failed: Callable[[str], None],
        parent: QObject | None = None,
    ) -> None:
        """`on_ready` and `on_failed` (slots of the view) receive `ready` and `failed`."""
        super().__init__(parent)
        self.ready.connect(on_ready)
        self.failed.connect(on_failed)
        self.runner = runner
        self._ids = itertools.count(1)
        self._request = 0
        self._wanted: list[str] = []
        self._cache: dict[str, tuple[Any, Curves]] = {}
        self._pending: dict[int, dict[str, Any]] = {}  # request id -> {path: file key}
        self._closed = False

    def request(self, paths: Sequence[str]) -> None:
        """Want the curves of these variant directories; `ready` follows (at once if cached)."""
        self._wanted = list(paths)
        self.runner.cancel("curves")
        keys = {p: file_key(variants.chronicle_path(Path(p))) for p in self._wanted}
        missing = {p: k for p, k in keys.items() if self._cache.get(p, (None,))[0] != k}
        self._request = next(self._ids)
        if not missing:
            self.ready.emit()
            return
        self._pending[self._request] = missing
        task = CurvesTask(self._request, list(missing))
        self.runner.start(task, self._on_result, self._on_failed)

    def wanted(self) -> list[tuple[str, Curves]]:
        """(path, curves) of the paths asked for whose curves are in, in the order asked."""
        return [(p, self._cache[p][1]) for p in self._wanted if p in self._cache]

    def forget(self, path: str) -> None:
        self._cache.pop(path, None)

    def close(self) -> None:
        """Answers that arrive from now on are dropped (the view is closing)."""
        self._closed = True

    @Slot(int, object)
    def _on_result(self, request_id: int, curves: dict[str, Curves]) -> None:
        keys = self._pending.pop(request_id, {})
        if self._closed:
            return
        for path, data in curves.items():  # an older request's curves are cached all the same
            remember(self._cache, path, (keys.get(path), data), CURVE_CACHE_SIZE)
        if request_id == self._request:
            self.ready.emit()

    @Slot(int, str)
    def _on_failed(self, request_id: int, message: str) -> None:
        self._pending.pop(request_id, None)
        if not self._closed and request_id == self._request:
            self.failed.emit(message)
