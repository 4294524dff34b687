"""`trainwright --self-test`: proves an installed (or frozen) Trainwright works, offline.

It opens the main window offscreen, trains a tiny modular-addition variant (p = 11, 20 epochs)
into a temporary data home, replays it, and checks the replay's weights hash matches. It also
checks that the bundled resources (families, datasets, icons) can be read, and that none of it
imported tensorflow or keras (the packaged app leaves them out). Exit status 0 and
one line on stdout when all is well; otherwise 1 and one line, the reason, on stderr.

Self-contained: nothing is imported at module level beyond the standard library, so importing
this module is free, and the user's real data home is never touched.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

FAMILY = "modulo_addition_1layer"
PARAMS = {"prime": 11}
TRAINING = {"epochs": 20}
# Optional extras the packaged app leaves out (packaging/trainwright.spec's excludes): the
# window and a torch run never import them (the tensorflow backend does, in its own process).
NOT_IMPORTED = ("tensorflow", "keras")
WATCHDOG_SECONDS = 600  # a hung self-test must still end, with a reason
PREFIX = "trainwright self-test"


class SelfTestError(Exception):
    """A check failed; the message is the one-line reason."""


def run_self_test() -> int:
    """Run every check; 0 if all pass, else 1 with a one-line reason on stderr."""
    started = time.monotonic()
    watchdog = _Watchdog(WATCHDOG_SECONDS)
    try:
        with _temporary_home() as home, _collect_uncaught() as uncaught:
            summary = _run(home, uncaught)
    except SelfTestError as exc:
        return _fail(str(exc))
    except BaseException as exc:  # anything unexpected is a failure, with its type
        return _fail(f"{type(exc).__name__}: {exc}")
    finally:
        watchdog.cancel()
    print(f"{PREFIX}: ok ({summary}; {time.monotonic() - started:.1f} s)", flush=True)
    return 0


# ---- the checks ----------------------------------------------------------------------------
def _run(home: Path, uncaught: list[str]) -> str:
    from engine import __version__

    _check_resources()
    app = _application()
    from engine.workspace import Workspace

    workspace = Workspace(home)
    missing = {FAMILY, "mlp"} - set(workspace.registry.names())
    if missing:
        raise SelfTestError(f"built-in families missing: {', '.join(sorted(missing))}")

    window = _open_window(workspace, app)
    _process_events(app, 0.5)
    _raise_uncaught(uncaught, "opening the main window")

    variant = workspace.create_variant(FAMILY, PARAMS, TRAINING)
    session = workspace.train(variant)
    if session.status != "completed":
        reason = getattr(session, "error_message", None) or "no reason given"
        raise SelfTestError(f"training {variant.name} ended {session.status}: {reason}")
    if not session.weights_sha256:
        raise SelfTestError(f"training {variant.name} recorded no weights hash")
    _process_events(app, 0.2)

    result = workspace.replay(variant)
    if not result.identical:
        raise SelfTestError(f"replay of {variant.name} is {result.status}: {result.message}")
    if result.weights_sha256 != session.weights_sha256:
        raise SelfTestError(
            f"replay weights {result.weights_sha256} != trained weights {session.weights_sha256}"
        )

    images = _check_image_import(home)
    _wait_for_warmup(app)
    _close_window(window, app)
    _raise_uncaught(uncaught, "the self-test")
    _check_not_imported()
    return (
        f"Trainwright {__version__}, {variant.name}: trained {TRAINING['epochs']} epochs, "
        f"replay identical, weights sha256 {session.weights_sha256[:12]}…; "
        f"{images} images imported and decoded"
    )


def _check_not_imported() -> None:
    """Nothing so far (the window, its warm-up, a torch run) imported an optional extra that
    the packaged app leaves out: there, that import would fail."""
    imported = [name for name in NOT_IMPORTED if name in sys.modules]
    if imported:
        raise SelfTestError(
            f"{', '.join(imported)} imported by the window or a torch run (left out of the "
            "packaged app; only the tensorflow backend's own process may import them)"
        )


# Every image format an import accepts, so a bundle missing a Pillow plugin fails here.
IMAGE_FORMATS = {"PNG": ".png", "JPEG": ".jpg", "BMP": ".bmp", "GIF": ".gif", "WEBP": ".webp"}


def _check_image_import(home: Path) -> int:
    """Import a small folder of class folders, one image per format and class, into the
    temporary home's library and decode it: Pillow and its format plugins are bundled."""
    from PIL import Image

    from engine.datasets import get_dataset
    from engine.datasets.library import DatasetLibrary

    source = home / "self-test-source"  # the data home is a temporary folder of its own
    for k, name in enumerate(("dark", "light")):
        (source / name).mkdir(parents=True)
        for fmt, suffix in IMAGE_FORMATS.items():
            Image.new("RGB", (12, 10), (40 + 170 * k, 60, 90)).save(
                source / name / f"a{suffix}", fmt
            )
    try:
        manifest = DatasetLibrary(home).import_path(source, "self-test images")
    except ValueError as exc:  # DatasetImportError: the reason, naming the file
        raise SelfTestError(f"image import failed: {exc}") from exc
    expected = len(IMAGE_FORMATS) * 2
    if manifest.image_count() != expected or manifest.skipped:
        skipped = "; ".join(f"{s.path}: {s.reason}" for s in manifest.skipped)
        raise SelfTestError(f"image import kept {manifest.image_count()} of {expected} ({skipped})")
    images = get_dataset(manifest.id, home=home).load_images(8, 3)  # type: ignore[attr-defined]
    if tuple(images.x.shape) != (expected, 3, 8, 8):
        raise SelfTestError(f"decoded images have shape {tuple(images.x.shape)}")
    return expected


def _check_resources() -> None:
    """The bundled data read through importlib.resources, as the engine and app read it."""
    from importlib.resources import files

    try:
        root = files("resources")
        checks = {
            "families/modulo_addition_1layer/family.json": 100,
            "families/mlp/family.json": 100,
            "datasets/iris.csv": 1000,
            "datasets/digits.csv": 100_000,
            "icons/trainwright.svg": 100,
            "icons/trainwright-256.png": 100,
        }
        for relative, minimum in checks.items():
            item = root.joinpath(*relative.split("/"))
            if not item.is_file() or len(item.read_bytes()) < minimum:
                raise SelfTestError(f"bundled resource missing or empty: resources/{relative}")
    except (ModuleNotFoundError, OSError) as exc:
        raise SelfTestError(f"bundled resources unreadable: {exc}") from exc


def _application() -> Any:
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance()
    if app is None:
        os.environ["QT_QPA_PLATFORM"] = "offscreen"  # never show a window on the user's screen
        QApplication.setOrganizationName("Trainwright")
        QApplication.setApplicationName("Trainwright")
        app = QApplication([sys.argv[0] if sys.argv else "trainwright"])
    _quiet_offscreen_warnings()
    return app


def _quiet_offscreen_warnings() -> None:
    """The offscreen platform warns about window features it lacks; that is not a failure."""
    from PySide6.QtCore import qInstallMessageHandler

    def handler(mode: Any, context: Any, message: str) -> None:
        if "does not support propagateSizeHints" in message:
            return
        print(message, file=sys.stderr)

    qInstallMessageHandler(handler)


def _open_window(workspace: Any, app: Any) -> Any:
    try:
        from desktop_app.main_window import MainWindow
    except Exception as exc:
        raise SelfTestError(f"cannot import the main window: {type(exc).__name__}: {exc}") from exc
    window = MainWindow(workspace, home_explicit=True)
    window.show()
    deadline = time.monotonic() + 10
    while not window.isVisible() and time.monotonic() < deadline:
        app.processEvents()
        time.sleep(0.01)
    if not window.isVisible():
        raise SelfTestError("the main window did not show")
    return window


def _wait_for_warmup(app: Any) -> None:
    """The window loads torch and the families in the background; it must have succeeded."""
    from desktop_app.kit.warmup import EngineWarmup

    warmup = EngineWarmup.instance()
    if not warmup.started:
        return
    deadline = time.monotonic() + 120
    while not warmup.done and time.monotonic() < deadline:
        app.processEvents()
        time.sleep(0.02)
    error = warmup.error
    if error:
        raise SelfTestError(f"the window could not load the engine: {error}")


def _close_window(window: Any, app: Any) -> None:
    window.close()
    _process_events(app, 0.2)
    if window.isVisible():
        raise SelfTestError("the main window did not close")
    window.deleteLater()
    _process_events(app, 0.1)


def _process_events(app: Any, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while True:
        app.processEvents()
        if time.monotonic() >= deadline:
            return
        time.sleep(0.01)


# ---- plumbing ------------------------------------------------------------------------------
@contextlib.contextmanager
def _temporary_home() -> Iterator[Path]:
    """A throwaway data home, also in TRAINWRIGHT_HOME for anything that resolves its own."""
    from engine.home import HOME_ENV

    previous = os.environ.get(HOME_ENV)
    with tempfile.TemporaryDirectory(prefix="trainwright-self-test-") as tmp:
        home = Path(tmp) / "home"
        home.mkdir()
        os.environ[HOME_ENV] = str(home)
        try:
            yield home
        finally:
            if previous is None:
                os.environ.pop(HOME_ENV, None)
            else:
                os.environ[HOME_ENV] = previous


@contextlib.contextmanager
def _collect_uncaught() -> Iterator[list[str]]:
    """Exceptions raised in Qt slots or threads during the test: they fail it."""
    seen: list[str] = []

    def hook(exc_type: type[BaseException], exc: BaseException, tb: Any) -> None:
        seen.append(f"{exc_type.__name__}: {exc}")

    def thread_hook(args: Any) -> None:
        if args.exc_type is not SystemExit:
            seen.append(f"{args.exc_type.__name__} in a thread: {args.exc_value}")

    previous = sys.excepthook, threading.excepthook
    sys.excepthook, threading.excepthook = hook, thread_hook
    try:
        yield seen
    finally:
        sys.excepthook, threading.excepthook = previous


def _raise_uncaught(seen: list[str], during: str) -> None:
    if seen:
        raise SelfTestError(f"uncaught exception during {during}: {seen[0]}")


class _Watchdog:
    """Ends the process with a reason if the self-test hangs."""

    def __init__(self, seconds: float, exit: Callable[[int], Any] = os._exit) -> None:
        self._timer = threading.Timer(seconds, self._expire, args=(seconds, exit))
        self._timer.daemon = True
        self._timer.start()

    @staticmethod
    def _expire(seconds: float, exit: Callable[[int], Any]) -> None:
        _fail(f"timed out after {seconds:.0f} s")
        exit(1)

    def cancel(self) -> None:
        self._timer.cancel()


def _fail(reason: str) -> int:
    line = " ".join(str(reason).split())  # exactly one line
    stream = sys.stderr or sys.__stderr__
    if stream is not None:
        print(f"{PREFIX}: FAILED: {line}", file=stream, flush=True)
    return 1


if __name__ == "__main__":
    sys.exit(run_self_test())
