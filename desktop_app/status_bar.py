"""The status bar: process CPU and memory, and GPU memory while CUDA is in use; every second."""

from __future__ import annotations

import sys

import psutil
from PySide6.QtCore import QTimer, Slot
from PySide6.QtWidgets import QLabel, QStatusBar, QWidget

UPDATE_INTERVAL_MS = 1000


def _megabytes(n: float) -> str:
    return f"{n / 2**20:,.0f} MB" if n < 10 * 2**30 else f"{n / 2**30:,.1f} GB"


class ResourceStatusBar(QStatusBar):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("statusBar")
        self._process = psutil.Process()
        self._process.cpu_percent(None)  # the first call only starts the measurement
        self.cpu_label = self._label("cpuLabel", "CPU", "CPU use of Trainwright; 100 % = one core")
        self.memory_label = self._label("memoryLabel", "Memory", "Memory (RSS) of Trainwright")
        self.gpu_label = self._label("gpuLabel", "GPU memory", "CUDA memory allocated / reserved")
        self.gpu_label.setVisible(False)
        self._timer = QTimer(self)
        self._timer.setInterval(UPDATE_INTERVAL_MS)
        self._timer.timeout.connect(self.update_usage)
        self._timer.start()
        self.update_usage()

    def _label(self, name: str, accessible: str, tip: str) -> QLabel:
        label = QLabel(self)
        label.setObjectName(name)
        label.setAccessibleName(accessible)
        label.setToolTip(tip)
        self.addPermanentWidget(label)
        return label

    @Slot()
    def update_usage(self) -> None:
        try:
            cpu = self._process.cpu_percent(None)
            rss = self._process.memory_info().rss
        except psutil.Error:
            return
        self.cpu_label.setText(f"CPU {cpu:.0f} %")
        self.memory_label.setText(f"Memory {_megabytes(rss)}")
        gpu = gpu_memory()
        self.gpu_label.setVisible(gpu is not None)
        if gpu is not None:
            allocated, reserved = gpu
            self.gpu_label.setText(f"GPU {_megabytes(allocated)} / {_megabytes(reserved)}")


def gpu_memory() -> tuple[int, int] | None:
    """(allocated, reserved) bytes on the current CUDA device once CUDA is in use, else None.

    Never imports torch or initialises CUDA itself.
    """
    torch = sys.modules.get("torch")
    if torch is None:
        return None
    try:
        if not torch.cuda.is_initialized():
            return None
        return int(torch.cuda.memory_allocated()), int(torch.cuda.memory_reserved())
    except Exception:
        return None
