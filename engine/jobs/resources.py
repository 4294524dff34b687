"""What a job used: CPU time, peak resident memory, peak GPU memory.

CPU time is `time.process_time()`'s growth over the job: the whole process's, every thread
(a window running one job at a time is what it measures well). Peak RSS is sampled (the
watcher calls `sample` every 0.5 s), with the process's lifetime peak (`ru_maxrss`) as a
floor when that peak was reached during the job. Peak GPU memory is torch's own count, read
only when torch is already imported and CUDA initialised: never importing torch for it.
"""

from __future__ import annotations

import sys
import threading
import time
from typing import Any

import psutil

try:
    import resource
except ImportError:  # Windows
    resource = None  # type: ignore[assignment]


class ResourceMeter:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._cpu_start = time.process_time()
        self._maxrss_start = _maxrss()
        try:
            self._process: psutil.Process | None = psutil.Process()
        except psutil.Error:
            self._process = None
        self.peak_rss = 0
        self._gpu_reset = _reset_gpu_peak()
        self.sample()

    def sample(self) -> None:
        """Read the resident set size now; keep the highest seen."""
        if self._process is None:
            return
        try:
            rss = self._process.memory_info().rss
        except psutil.Error:
            return
        with self._lock:
            self.peak_rss = max(self.peak_rss, int(rss))

    def result(self) -> dict[str, Any]:
        """{cpu_time_s, peak_rss_bytes, peak_gpu_bytes} as the store records them."""
        self.sample()
        peak = self.peak_rss
        maxrss = _maxrss()
        if maxrss is not None and self._maxrss_start is not None and maxrss > self._maxrss_start:
            peak = max(peak, maxrss)  # the process's peak rose during the job: this job's
        return {
            "cpu_time_s": round(time.process_time() - self._cpu_start, 3),
            "peak_rss_bytes": peak or None,
            "peak_gpu_bytes": _gpu_peak(),
        }


def _maxrss() -> int | None:
    """The process's peak RSS so far in bytes (kilobytes on Linux, bytes on macOS)."""
    if resource is None:
        return None
    value = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(value if sys.platform == "darwin" else value * 1024)


def _cuda() -> Any:
    """torch.cuda when torch is imported and CUDA is initialised in this process, else None."""
    torch = sys.modules.get("torch")
    cuda = getattr(torch, "cuda", None)
    try:
        return cuda if cuda is not None and cuda.is_initialized() else None
    except Exception:  # a torch half imported, or without CUDA support
        return None


def _reset_gpu_peak() -> bool:
    cuda = _cuda()
    if cuda is None:
        return False
    try:
        cuda.reset_peak_memory_stats()
    except Exception:
        return False
    return True


def _gpu_peak() -> int | None:
    cuda = _cuda()
    if cuda is None:
        return None
    try:
        peak = int(cuda.max_memory_allocated())
    except Exception:
        return None
    return peak or None
