"""Python's cyclic garbage collector, run on the GUI thread only while a window is open."""

from __future__ import annotations

import gc

from PySide6.QtCore import QObject, QTimer, Slot

from desktop_app.kit.warmup import EngineWarmup


class GuiThreadGarbageCollector(QObject):
    """While installed, Python's cyclic garbage collector runs on the GUI thread only.

    Automatic collection runs in whichever thread happens to allocate: the training thread or
    the torch import. Cyclic garbage often holds Qt wrappers, and destroying those off the GUI
    thread can deadlock (the GIL against Qt's locks) or crash. So automatic collection is off
    while a main window is open, and a GUI-thread timer collects by the same thresholds
    (the approach of pyqtgraph's GarbageCollector).
    """

    INTERVAL_MS = 250
    _instance: GuiThreadGarbageCollector | None = None
    _users = 0

    def __init__(self) -> None:
        super().__init__()
        self.thresholds = gc.get_threshold()
        self.frozen = False
        self._timer = QTimer(self)
        self._timer.setInterval(self.INTERVAL_MS)
        self._timer.timeout.connect(self.check)

    @classmethod
    def acquire(cls) -> None:
        if cls._instance is None:
            cls._instance = cls()
        cls._users += 1
        if cls._users == 1:
            gc.disable()
            cls._instance._timer.start()

    @classmethod
    def release(cls) -> None:
        if cls._users == 0 or cls._instance is None:
            return
        cls._users -= 1
        if cls._users == 0:
            cls._instance._timer.stop()
            if cls._instance.frozen:
                cls._instance.frozen = False
                gc.unfreeze()
            gc.enable()
            gc.collect()  # here, on the GUI thread

    @Slot()
    def check(self) -> None:
        if not self.frozen and _warmup_finished():
            # Torch and the families are loaded for good. Without this, every full collection
            # walks their ~350,000 objects again (~140 ms on bench B2's 2-core machine), here on
            # the GUI thread, about every half minute while a run allocates: a visible freeze.
            # So, once: collect, then gc.freeze() what survives (the cyclic collector leaves it
            # alone; reference counting still frees it). Unfrozen when the last window closes.
            gc.collect()
            gc.freeze()
            self.frozen = True
            return
        count0, count1, count2 = gc.get_count()
        if count0 > self.thresholds[0]:
            gc.collect(0)
            if count1 > self.thresholds[1]:
                gc.collect(1)
                if count2 > self.thresholds[2]:
                    gc.collect(2)


def _warmup_finished() -> bool:
    """The engine warm-up thread (torch, the families, torch._dynamo) has run to its end."""
    warmup = EngineWarmup._instance
    return warmup is not None and warmup.finished
