"""Loading torch and the built-in families in the background, after the first paint.

Registry discovery and resolving parameters need no torch, so the window and forms come up at
once; training needs torch and the families' models, which the warm-up loads meanwhile. The
devices it reports are engine.devices' (the one place that asks torch which there are).
"""

from __future__ import annotations

import atexit
import importlib
import logging
import threading
import traceback
from typing import Any

from PySide6.QtCore import QObject, Signal, Slot

from desktop_app.kit.tasks import Task, TaskRunner, error_message
from engine.devices import available_devices

log = logging.getLogger("trainwright.desktop")


def _exiting() -> bool:
    """The interpreter is shutting down under the task: nobody is waiting for torch."""
    return not threading.main_thread().is_alive()


class WarmupTask(Task):
    """Imports torch and the families' modules; `loaded` carries the devices as soon as they
    are known, then torch._dynamo is imported too; the result is the devices again."""

    loaded = Signal(object)  # list of available devices

    kind = "warmup"

    def __init__(self, modules: list[str]) -> None:
        super().__init__()
        self.modules = modules

    def compute(self) -> list[str]:
        import torch  # the slow part; the families below import it too

        for module in self.modules:
            importlib.import_module(module)
        devices = available_devices()
        if not _exiting():
            self.loaded.emit(devices)
        # Every torch optimizer's constructor imports torch._dynamo on first use (seconds):
        # do it now, in the background, so the first Start does not wait for it.
        try:
            import torch._dynamo  # noqa: F401
        except Exception:
            if not _exiting():
                log.warning("could not pre-import torch._dynamo:\n%s", traceback.format_exc())
        return devices

    def failure_message(self, exc: BaseException) -> str:
        if not _exiting():
            log.error("engine warm-up failed:\n%s", traceback.format_exc())
        return error_message(exc)


class EngineWarmup(QObject):
    """Runs the WarmupTask once per process (`EngineWarmup.instance()`), never deleted: its
    thread may report after a window that asked for it is gone. Interpreter exit waits for a
    half-done import (atexit) instead of tearing Qt down under it."""

    ready = Signal(object)  # list of available devices
    failed = Signal(str)

    _instance: EngineWarmup | None = None

    def __init__(self) -> None:
        super().__init__()
        self.runner = TaskRunner(self)
        self._started = False
        self.devices: list[str] | None = None
        self.error: str | None = None

    @classmethod
    def instance(cls) -> EngineWarmup:
        if cls._instance is None:
            cls._instance = cls()
        return cls._instance

    @property
    def started(self) -> bool:
        return self._started

    @property
    def done(self) -> bool:
        """Torch and the families are loaded (or failed to)."""
        return self.devices is not None or self.error is not None

    @property
    def finished(self) -> bool:
        """The warm-up thread (torch, the families, torch._dynamo) has run to its end."""
        return self._started and self.runner.running() == 0

    def start(self, workspace: Any) -> None:
        """Load the families' modules (and torch) once, in the background."""
        if self._started:
            return
        self._started = True
        modules = [
            spec.implementation.partition(":")[0]
            for spec in workspace.registry.specs()
            if spec.implementation
        ]
        task = WarmupTask(modules)
        task.loaded.connect(self._on_loaded)
        self.runner.start(task, self._on_result, self._on_failed)
        atexit.register(self.join)

    def join(self, timeout: float | None = None) -> None:
        """Wait for the warm-up thread (forever with None)."""
        self.runner.join(None if timeout is None else int(timeout * 1000))

    @Slot(object)
    def _on_loaded(self, devices: list[str]) -> None:
        self.devices = list(devices)
        self.ready.emit(self.devices)

    @Slot(int, object)
    def _on_result(self, request_id: int, devices: list[str]) -> None:
        if self.devices is None:  # `loaded` is skipped only while the process exits
            self.devices = list(devices)

    @Slot(int, str)
    def _on_failed(self, request_id: int, message: str) -> None:
        self.error = message
        self.failed.emit(message)
