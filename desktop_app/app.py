"""QApplication set-up, logging to `<home>/logs/trainwright.log`, and the exception hook.

Every unexpected exception (in a slot, a virtual method, or any Python thread) is written to
the log with its traceback and shown in a dialog; none is lost.
"""

from __future__ import annotations

import contextlib
import gc
import importlib.resources
import logging
import logging.handlers
import os
import sys
import threading
import time
import traceback
from pathlib import Path
from types import TracebackType
from typing import Any

import shiboken6
from PySide6.QtCore import QEvent, QObject, Qt, QTimer, Signal, Slot
from PySide6.QtGui import QGuiApplication, QIcon
from PySide6.QtWidgets import QApplication, QMessageBox

ORGANIZATION = "Trainwright"
APPLICATION = "Trainwright"
LOG_FILE = "trainwright.log"

log = logging.getLogger("trainwright")


def log_path(home: Path) -> Path:
    return Path(home) / "logs" / LOG_FILE


def setup_logging(home: Path) -> Path:
    """Log `trainwright.*` to `<home>/logs/trainwright.log` (rotated at 1 MB)."""
    path = log_path(home)
    path.parent.mkdir(parents=True, exist_ok=True)
    teardown_logging()
    handler = logging.handlers.RotatingFileHandler(
        path, maxBytes=1_000_000, backupCount=3, encoding="utf-8"
    )
    handler._trainwright = True  # type: ignore[attr-defined]
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    return path


def teardown_logging() -> None:
    for handler in list(log.handlers):
        if getattr(handler, "_trainwright", False):
            log.removeHandler(handler)
            handler.close()


def create_application(argv: list[str] | None = None) -> QApplication:
    app = QApplication.instance()
    if app is None:
        QApplication.setOrganizationName(ORGANIZATION)
        QApplication.setApplicationName(APPLICATION)
        QApplication.setApplicationDisplayName(APPLICATION)
        app = QApplication(list(argv) if argv else [sys.argv[0] if sys.argv else "trainwright"])
    assert isinstance(app, QApplication)
    from engine import __version__

    app.setApplicationVersion(__version__)
    app.setWindowIcon(application_icon())
    QGuiApplication.setDesktopFileName("trainwright")  # Wayland: the icon of the menu entry
    return app


def application_icon() -> QIcon:
    """The app's own icon, in every size shipped under resources/icons."""
    icon = QIcon()
    folder = importlib.resources.files("resources") / "icons"
    for size in (16, 32, 48, 64, 128, 256, 512):
        png = folder / f"trainwright-{size}.png"
        if png.is_file():
            icon.addFile(str(png))
    return icon


class ExceptionReporter(QObject):
    """sys.excepthook and threading.excepthook: log, then show a dialog on the GUI thread."""

    report = Signal(str, str)  # summary, traceback

    def __init__(self, log_file: Path) -> None:
        super().__init__()
        self.log_file = log_file
        self._dialog: QMessageBox | None = None
        self._missed = 0
        self.count = 0
        self.report.connect(self._show, Qt.ConnectionType.QueuedConnection)

    def install(self) -> None:
        self._previous = (sys.excepthook, threading.excepthook)
        sys.excepthook = self.excepthook
        threading.excepthook = self.threading_excepthook

    def uninstall(self) -> None:
        sys.excepthook, threading.excepthook = self._previous
        teardown_logging()

    def excepthook(
        self,
        exc_type: type[BaseException],
        exc: BaseException,
        tb: TracebackType | None,
    ) -> None:
        if issubclass(exc_type, KeyboardInterrupt):
            app = QApplication.instance()
            if app is not None:
                app.quit()
            return
        self._handle(exc_type, exc, tb, "")

    def threading_excepthook(self, args: Any) -> None:
        if args.exc_type is SystemExit:
            return
        name = getattr(args.thread, "name", "a thread")
        self._handle(args.exc_type, args.exc_value, args.exc_traceback, f" in {name}")

    def _handle(
        self,
        exc_type: type[BaseException],
        exc: BaseException | None,
        tb: TracebackType | None,
        where: str,
    ) -> None:
        self.count += 1
        details = "".join(traceback.format_exception(exc_type, exc, tb))
        summary = f"{exc_type.__name__}{where}: {exc}"
        with contextlib.suppress(Exception):
            log.error("unexpected exception%s:\n%s", where, details)
        sys.stderr.write(details)
        if QApplication.instance() is not None:
            self.report.emit(summary, details)  # queued: shown on the GUI thread

    @Slot(str, str)
    def _show(self, summary: str, details: str) -> None:
        try:
            self._show_dialog(summary, details)
        except Exception:  # an error while reporting one must not report itself, forever
            traceback.print_exc()

    def _show_dialog(self, summary: str, details: str) -> None:
        dialog = self._dialog
        if dialog is not None and shiboken6.isValid(dialog) and dialog.isVisible():
            self._missed += 1
            dialog.setInformativeText(f"{self._missed} more error(s) since; see {self.log_file}.")
            return
        self._missed = 0
        box = QMessageBox(QMessageBox.Icon.Critical, "Unexpected error", summary)
        box.setObjectName("exceptionDialog")
        box.setInformativeText(f"The details were written to {self.log_file}.")
        box.setDetailedText(details)
        box.setWindowModality(Qt.WindowModality.ApplicationModal)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.show()
        self._dialog = box


_reporter: ExceptionReporter | None = None


def install_exception_hook(home: Path) -> ExceptionReporter:
    """Log to `<home>/logs/trainwright.log` and route every uncaught exception to a dialog."""
    global _reporter
    path = setup_logging(home)
    if _reporter is not None:
        _reporter.uninstall()
    _reporter = ExceptionReporter(path)
    _reporter.install()
    return _reporter


def seconds_since_process_start() -> float:
    """How long ago this process started (10 ms resolution on Linux)."""
    try:  # Linux: start time in clock ticks since boot, against the boot-time clock
        with open("/proc/self/stat", encoding="ascii") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
        ticks = int(fields[19])
        return time.clock_gettime(time.CLOCK_BOOTTIME) - ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, AttributeError):
        import psutil  # its create_time rests on a boot time rounded to the second

        return time.time() - psutil.Process().create_time()


GUI_SWITCH_INTERVAL_S = 0.001


def run(
    home: str | None = None, *, qt_args: list[str] | None = None, startup_benchmark: bool = False
) -> int:
    """Open the main window on `home` (resolved like the CLI's) and run the event loop."""
    from desktop_app.kit.preferences import Preferences, startup_home

    app = create_application([sys.argv[0] if sys.argv else "trainwright", *(qt_args or [])])
    # The training loop runs in a QThread of this process: with the GIL handed over every 1 ms
    # instead of every 5, the GUI thread waits less for it. bench/B2 (modulo p=23, a loaded
    # 2-core machine): timer lateness p99 81-123 ms -> 44-46 ms, max 139-236 -> 60-62 ms, the
    # runs no slower; nothing measurable on an idle machine.
    sys.setswitchinterval(GUI_SWITCH_INTERVAL_S)
    from engine.errors import TrainwrightError
    from engine.workspace import Workspace

    try:
        resolved, explicit = startup_home(home)
        workspace = Workspace(resolved)
    except (OSError, TrainwrightError) as exc:  # a home that cannot be one: say so, and stop
        QMessageBox.critical(None, "Trainwright", f"Cannot use the data home: {exc}")
        return 2
    reporter = install_exception_hook(workspace.home)
    preferences, problem = Preferences.load(workspace.home)
    if problem:
        log.warning(problem)

    from desktop_app.kit.gui_gc import GuiThreadGarbageCollector
    from desktop_app.kit.warmup import EngineWarmup
    from desktop_app.main_window import MainWindow

    GuiThreadGarbageCollector.acquire()  # until the window is gone, below
    window = MainWindow(workspace, preferences=preferences, home_explicit=explicit)
    window.firstPainted.connect(_StartupTimer(window, startup_benchmark).report)
    window.show()
    log.info("Trainwright started on %s", workspace.home)
    code = app.exec()
    window.controller.shutdown()
    # Let a torch import still running in the warm-up thread finish, then drop the window
    # here: Python's cyclic GC must never collect Qt widgets on that thread.
    EngineWarmup.instance().join()
    window.deleteLater()
    app.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    del window
    GuiThreadGarbageCollector.release()  # collects, here on the GUI thread
    gc.collect()
    log.info("Trainwright closed")
    reporter.uninstall()
    return code


class _StartupTimer(QObject):
    def __init__(self, window: Any, benchmark: bool) -> None:
        super().__init__(window)
        self.window = window
        self.benchmark = benchmark

    @Slot()
    def report(self) -> None:
        painted = self.window.first_paint_time or time.monotonic()
        seconds = seconds_since_process_start() - (time.monotonic() - painted)
        cpu = sum(os.times()[:2])
        log.info("first paint %.2f s after process start (%.2f s CPU)", seconds, cpu)
        if self.benchmark:
            print(f"first paint: {seconds:.2f} s after process start ({cpu:.2f} s CPU)", flush=True)
            QTimer.singleShot(0, self.window, self.window.close)
