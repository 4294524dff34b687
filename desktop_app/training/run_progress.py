"""The run's progress bar: epochs done, time elapsed, and an estimate of the time left.

The text fits the bar's width: in a narrow window it drops its words, then the estimate, and
keeps "done / total" (the full text stays in the tooltip).
"""

from __future__ import annotations

import time

from PySide6.QtCore import QTimer, Slot
from PySide6.QtGui import QFontMetrics, QResizeEvent
from PySide6.QtWidgets import QProgressBar, QStyle, QStyleOptionProgressBar, QWidget

from desktop_app.kit.formatting import format_duration
from desktop_app.kit.widgets import described

TIP = "Epochs done, time elapsed and an estimate of the time left"
SEPARATOR = " · "
TEXT_MARGIN_PX = 8  # kept free beside the text, so it never touches the bar's ends


def progress_texts(
    done: int, total: int, elapsed: str, remaining: str | None, early: str
) -> list[str]:
    """The bar's text from the fullest to the shortest: without the word "epochs", then
    without "elapsed" and "left", then without the estimate and the reason a run ended early,
    then "done / total" alone. The first that fits is shown."""
    counted = f"{done} / {total}"
    full = [f"{counted} epochs", f"{elapsed} elapsed"]
    bare = [counted, elapsed]
    if remaining is not None:
        full.append(f"~{remaining} left")
        bare.append(f"~{remaining}")
    if early:
        full.append(early)
        bare.append(early)
    return [
        SEPARATOR.join(full),
        SEPARATOR.join([counted, *full[1:]]),
        SEPARATOR.join(bare),
        SEPARATOR.join([counted, elapsed]),
        counted,
    ]


class RunProgress(QProgressBar):
    """Follows one run from `start` to `stop`, and ticks every second meanwhile so the time
    elapsed moves even between epochs. The time elapsed is the variant's: a resumed run counts
    on from the time its earlier runs took. The estimate counts this run's epochs and time
    only (a resumed run starts part-way), and goes when the run ends, however it ends."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        described(self, "Training progress", TIP, object_name="progressBar")
        self.setRange(0, 1)
        self.setValue(0)
        self.setFormat("no run")
        self._texts: list[str] = []  # the text's forms, fullest first (none: no run yet)
        self._timer = QTimer(self)
        self._timer.setInterval(1000)
        self._timer.timeout.connect(self.refresh)
        self._running = False
        self._started_at = 0.0
        self._before = 0.0  # seconds the variant trained before this run (resumed)
        self._start_epoch = 0
        self.total = 0
        self.epochs_done = 0
        self._early = ""

    def start(self, start_epoch: int, total: int, elapsed_before: float = 0.0) -> None:
        """A run starts at `start_epoch` of `total` epochs, after `elapsed_before` seconds of
        training in earlier runs (a resume)."""
        self._running = True
        self._early = ""
        self._started_at = time.monotonic()
        self._before = max(0.0, float(elapsed_before))
        self._start_epoch = self.epochs_done = start_epoch
        self.total = total
        self.refresh()
        self._timer.start()

    def advance(self, epoch: int) -> None:
        """The run has finished `epoch`."""
        self.epochs_done = epoch
        self.refresh()

    def stop(self, *, early: str = "") -> None:
        """The run has ended: the bar keeps its last figures, without an estimate of a time
        left that no longer comes; `early` (a run that reached its target before its last
        epoch) fills the bar and says why it ended there."""
        self._timer.stop()
        self._running = False
        self._early = early
        self.refresh()

    @property
    def running(self) -> bool:
        return self._running

    @property
    def elapsed_before(self) -> float:
        """Seconds the variant trained before this run (the clock counts on from them)."""
        return self._before

    @Slot()
    def refresh(self) -> None:
        total = max(1, self.total)
        done = min(self.epochs_done, total)
        self.setRange(0, total)
        self.setValue(total if self._early else done)
        elapsed = time.monotonic() - self._started_at if self._started_at else 0.0
        shown = format_duration(self._before + elapsed, clock=True)
        this_run = done - self._start_epoch
        remaining = None
        if self._running and this_run > 0 and done < total:
            remaining = format_duration(elapsed / this_run * (total - done), clock=True)
        self._texts = progress_texts(done, self.total, shown, remaining, self._early)
        self.setToolTip(f"{self._texts[0]}\n{TIP}")
        self._fit_text()

    def text_width(self) -> int:
        """The pixels the bar's text may take: its label's room, less a margin."""
        option = QStyleOptionProgressBar()
        self.initStyleOption(option)
        label = self.style().subElementRect(QStyle.SubElement.SE_ProgressBarLabel, option, self)
        room = label.width() if label.isValid() and label.width() > 0 else self.width()
        return min(room, self.contentsRect().width()) - TEXT_MARGIN_PX

    def _fit_text(self) -> None:
        """Show the fullest form of the text that fits the bar's width (the shortest when
        none does)."""
        if not self._texts:
            return
        metrics = QFontMetrics(self.font())
        width = self.text_width()
        fitting = (text for text in self._texts if metrics.horizontalAdvance(text) <= width)
        self.setFormat(next(fitting, self._texts[-1]))

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._fit_text()
