"""A desktop notification when a long run ends: the user has probably looked away.

Through the system tray (QSystemTrayIcon.showMessage) where the desktop has one, else as a
status-bar message. Runs shorter than NOTIFY_AFTER_S end while the user still watches, so
they are not announced.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QApplication, QSystemTrayIcon

from desktop_app.kit.formatting import format_duration
from desktop_app.kit.job_status import status_word

NOTIFY_AFTER_S = 60.0  # runs at least this long are announced when they end
MESSAGE_MS = 10_000

TITLES = {
    "completed": "Run completed",
    "identical": "Replay identical",
    "diverged": "Replay diverged",
    "failed": "Run failed",
    "cancelled": "Run stopped",
    "timed_out": "Run timed out",
}


def headline_metric(metrics: dict[str, Any]) -> str:
    """The one number worth a notification: test accuracy or R² (train when no test), else
    the test loss; "" when none is known."""
    for key, label, spec in (
        ("test_accuracy", "test acc", ".2f"),
        ("test_r2", "test R²", ".2f"),
        ("train_accuracy", "train acc", ".2f"),
        ("train_r2", "train R²", ".2f"),
        ("test_loss", "test loss", ".4g"),
    ):
        value = metrics.get(key)
        if isinstance(value, int | float) and math.isfinite(value):
            return f"{label} {value:{spec}}"
    return ""


def notification_text(outcome: Any) -> tuple[str, str]:
    """(title, text): "Run completed", "mlp_… — test acc 0.97 after 3 min 12 s"."""
    status = str(outcome.status)
    title = TITLES.get(status, f"Run {status_word(status)}")
    parts = [outcome.name]
    metric = headline_metric(outcome.metrics or {})
    after = f"after {format_duration(outcome.duration_s)}"
    if status == "failed":
        message = (outcome.message or "").splitlines()[0] if outcome.message else ""
        tail = f"{message} ({after})" if message else after
    else:
        tail = f"{metric} {after}" if metric else after
    return title, f"{' — '.join(parts)} — {tail}"


class RunNotifier(QObject):
    """Announces the end of runs that took at least NOTIFY_AFTER_S: in the tray where there
    is one, else through `status(message, timeout_ms)` (the window's status bar)."""

    def __init__(self, status: Callable[[str, int], None], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.status = status
        self.tray: QSystemTrayIcon | None = None
        self.shown: list[tuple[str, str]] = []  # (title, text) of every announcement made

    def run_ended(self, outcome: Any) -> bool:
        """Announce `outcome` if the run was long enough; True if it was announced."""
        if outcome.duration_s < NOTIFY_AFTER_S:
            return False
        title, text = notification_text(outcome)
        self.notify(title, text, failed=outcome.status == "failed")
        return True

    def notify(self, title: str, text: str, *, failed: bool = False) -> None:
        self.shown.append((title, text))
        if QSystemTrayIcon.isSystemTrayAvailable():
            tray = self._tray()
            icon = (
                QSystemTrayIcon.MessageIcon.Warning
                if failed
                else QSystemTrayIcon.MessageIcon.Information
            )
            tray.showMessage(title, text, icon, MESSAGE_MS)
        else:
            self.status(f"{title}: {text}", MESSAGE_MS)

    def _tray(self) -> QSystemTrayIcon:
        """The tray icon, made on first use (an icon is needed to show a message)."""
        if self.tray is None:
            app = QApplication.instance()
            icon = app.windowIcon() if isinstance(app, QApplication) else QIcon()
            self.tray = QSystemTrayIcon(icon, self)
            self.tray.setToolTip("Trainwright")
            self.tray.show()
        return self.tray

    def close(self) -> None:
        """Take the tray icon away (the window closes)."""
        if self.tray is not None:
            self.tray.hide()
            self.tray.deleteLater()
            self.tray = None
