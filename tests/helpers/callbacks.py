"""Callbacks tests use to act on a run at a given point."""

from __future__ import annotations

import threading

from engine.training.callbacks import Callback


class StopAfter(Callback):
    """Sets `event` (a run's cancel event) when epoch `epoch` ends: a Stop at a known point."""

    def __init__(self, event: threading.Event, epoch: int) -> None:
        self.event, self.epoch = event, epoch

    def on_epoch_end(self, metrics):
        if metrics.epoch == self.epoch:
            self.event.set()
