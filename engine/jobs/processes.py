"""Is the process that runs a job still that process? A pid alone can be reused after a
crash, so a job records its process's start time too and both must match."""

from __future__ import annotations

import os

import psutil

# psutil derives a start time from the boot time and clock ticks: equal within this for one
# process, and a reused pid starts later than the run it replaced by far more.
START_TOLERANCE_S = 1.0


def started_at(pid: int) -> float | None:
    """When process `pid` started (seconds since the epoch), or None if there is none."""
    try:
        process = psutil.Process(pid)
        if process.status() == psutil.STATUS_ZOMBIE:  # dead, not yet reaped by its parent
            return None
        return process.create_time()
    except (psutil.Error, OSError):
        return None


def this_process() -> tuple[int, float | None]:
    """(pid, start time) of this process, as a job records them."""
    pid = os.getpid()
    return pid, started_at(pid)


def is_running(pid: int, started: float | None) -> bool:
    """True while process `pid` is alive and, when `started` is known, is the process that
    started then (not a later one that was given the same pid)."""
    now_started = started_at(pid)
    if now_started is None:
        return False
    return started is None or abs(now_started - started) <= START_TOLERANCE_S
