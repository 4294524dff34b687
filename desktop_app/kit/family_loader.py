"""Importing a user's family in the background, so a slow (or stuck) family.py never freezes
the window: until it has loaded, a view shows "loading family …" and asks again when told."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, Slot

from desktop_app.kit.tasks import Task, TaskRunner


class FamilyLoadTask(Task):
    """Imports one family's implementation (FamilyRegistry.family) on its own thread."""

    kind = "family-load"

    def __init__(self, registry: Any, name: str) -> None:
        super().__init__()
        self.registry = registry
        self.name = name

    def compute(self) -> str:
        self.registry.family(self.name)
        return self.name


class FamilyLoader(QObject):
    """`ready(registry, name)` is True when the family can be used now; otherwise it starts
    (once) a background import and calls `on_loaded(name)` or `on_failed(name, message)` on
    the GUI thread when it ends."""

    def __init__(
        self,
        on_loaded: Callable[[str], None],
        on_failed: Callable[[str, str], None],
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.runner = TaskRunner(self)
        self._on_loaded, self._on_failed = on_loaded, on_failed
        self._loading: dict[int, str] = {}  # request id -> family name
        self._next_id = 0

    def ready(self, registry: Any, name: str) -> bool:
        if not registry.loads_slowly(name):
            return True
        if name not in self._loading.values():
            self._next_id += 1
            self._loading[self._next_id] = name
            task = FamilyLoadTask(registry, name)
            task.request_id = self._next_id
            self.runner.start(task, self._loaded, self._failed)
        return False

    @Slot(int, object)
    def _loaded(self, request_id: int, name: object) -> None:
        self._on_loaded(self._loading.pop(request_id, str(name)))

    @Slot(int, str)
    def _failed(self, request_id: int, message: str) -> None:
        self._on_failed(self._loading.pop(request_id, ""), message)

    def shutdown(self, timeout_ms: int = 2000) -> bool:
        """Stop waiting for imports (a stuck family.py cannot be interrupted: its thread is
        left to end with the process)."""
        return self.runner.shutdown(timeout_ms)
