"""Runs in one process take turns: the process-wide run lock, as a public API.

The determinism switch and torch's thread count are process-wide, so two runs in one process
(a training and a replay in the desktop app, a sweep's combination, a distillation's
comparison) must not overlap. The trainer takes a turn for each run; a caller that wants to
say "waiting…" first, or to hold the process for work of its own, uses the same functions.
Importing this module does not import torch.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator

from engine.errors import TrainwrightError

_RUN_LOCK = threading.Lock()
WAIT_SLICE_S = 0.05  # a wait for another run checks the cancel event this often


def take_turn(cancel_event: threading.Event) -> bool:
    """Wait for the process's turn and take it; False if `cancel_event` is set first.
    The caller must `end_turn()` after a True."""
    while not _RUN_LOCK.acquire(timeout=WAIT_SLICE_S):
        if cancel_event.is_set():
            return False
    return True


def end_turn() -> None:
    _RUN_LOCK.release()


def wait_for_turn(
    cancel_event: threading.Event, on_wait: Callable[[], None], on_done: Callable[[], None]
) -> None:
    """Return at once if no run in this process holds the turn; else call `on_wait()`, wait
    until it is free (or `cancel_event` is set), then call `on_done()`. The turn is only
    tested, never kept: the run that follows takes it as usual."""
    if cancel_event.is_set():
        return
    if _RUN_LOCK.acquire(blocking=False):
        _RUN_LOCK.release()
        return
    on_wait()
    try:
        while not cancel_event.is_set():
            if _RUN_LOCK.acquire(timeout=WAIT_SLICE_S):
                _RUN_LOCK.release()
                return
    finally:
        on_done()


@contextlib.contextmanager
def holding_turn(cancel_event: threading.Event) -> Iterator[None]:
    """Hold the process's turn for work that changes process-wide torch settings (a
    comparison of models); raises TrainwrightError if cancelled while waiting."""
    if not take_turn(cancel_event):
        raise TrainwrightError("stopped while waiting for the run in progress")
    try:
        yield
    finally:
        end_turn()
