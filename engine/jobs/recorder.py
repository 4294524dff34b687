"""A job's log: the engine's events (a training Callback) and the Python logging records of
the "engine" logger tree, buffered and written in batches.

The callback overrides only the rare hooks (start, epoch end, checkpoint, warning,
exception, end), never the per-step ones, so the loop pays nothing per step; an epoch end
costs a comparison of clocks. Records wait in memory until `flush` (the watcher calls it
every 0.5 s, and once at the end), so a fast run does not do one SQLite transaction per
event.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from engine.errors import TrainwrightError
from engine.jobs.records import now
from engine.training.callbacks import Callback
from engine.training.session import headline

Sink = Callable[[list[tuple[str, str, str]]], None]
PROGRESS_EVERY_S = 10.0  # at most one "epoch 40/300 …" line this often
ENGINE_LOGGER = "engine"


class JobRecorder(Callback):
    """Collects (time, level, message) records; `flush` hands them to `sink` (the store).

    A sink that fails (a store that cannot be written) never stops the run: the records
    are dropped and `sink_error` says why, once."""

    def __init__(self, sink: Sink | None = None) -> None:
        self.sink = sink
        self.sink_error: str | None = None
        self._pending: list[tuple[str, str, str]] = []
        self._lock = threading.Lock()
        self._total = 0
        self._last_progress = 0.0
        self._last_metrics: dict[str, Any] = {}

    # ---- records -----------------------------------------------------------------------------
    def record(self, level: str, message: str) -> None:
        with self._lock:
            self._pending.append((now(), level, message))

    def flush(self) -> None:
        with self._lock:
            batch, self._pending = self._pending, []
        if not batch or self.sink is None:
            return
        try:
            self.sink(batch)
        except Exception as exc:  # a store problem must never stop a run
            if self.sink_error is None:
                self.sink_error = f"job log not recorded: {type(exc).__name__}: {exc}"

    # ---- the engine's events -----------------------------------------------------------------
    def on_train_start(self, info: dict[str, Any]) -> None:
        self._total = int(info.get("total_epochs") or 0)
        self._last_progress = time.monotonic()
        verb = "resuming" if info.get("resumed") else "training"
        self.record("INFO", f"{verb} {info.get('variant')} from epoch {info.get('start_epoch', 0)}")

    def on_epoch_end(self, metrics: Any) -> None:
        clock = time.monotonic()
        if clock - self._last_progress < PROGRESS_EVERY_S:
            return
        self._last_progress = clock
        values = metrics.model_dump(exclude_none=True)
        self.record("INFO", f"epoch {metrics.epoch}/{self._total}: {headline(values)}")

    def on_checkpoint(self, entry: dict[str, Any]) -> None:
        where = f"epoch {entry.get('epoch')}, step {entry.get('step')}"
        if entry.get("kind") == "full":
            self.record("INFO", f"saved a resumable checkpoint at {where}")
        elif entry.get("kind") == "best":
            self.record("DEBUG", f"saved the best weights so far (those of {where})")
        else:
            self.record("DEBUG", f"saved weights at {where}")

    def on_warning(self, message: str) -> None:
        self.record("WARNING", message)

    def on_exception(self, error: BaseException) -> None:
        self.record("ERROR", describe_error(error))

    def on_train_end(self, session: Any) -> None:
        line = f"{session.status}: {session.variant} — {headline(session.final_metrics)}"
        if session.error_message:
            line += f" ({session.error_message})"
        self.record("ERROR" if session.status == "failed" else "INFO", line)

    # ---- a sweep's rows ----------------------------------------------------------------------
    def on_sweep_row(self, row: Any, total: int) -> None:
        line = f"[{row.index + 1}/{total}] {row.result} {row.variant or '-'}"
        if row.result == "completed" and not isinstance(row.metric_score, str):
            line += f": {row.metric_name} {row.metric_score:.4g}" + (
                " (reused)" if row.reused else ""
            )
        elif row.error:
            line += f": {row.error}"
        self.record("WARNING" if row.result == "failed" else "INFO", line)


class _EngineLogRouter(logging.Handler):
    """The one handler on the "engine" logger while jobs run in this process: a record goes
    to the recorder of the job running on the thread that logged it, so jobs on other
    threads never see each other's records. While it is attached, WARNING and above still
    reach stderr as before when nobody else handles them (logging's last resort)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.recorders: dict[int, JobRecorder] = {}
        self.lowered = False

    def handle(self, record: logging.LogRecord) -> bool:  # type: ignore[override]
        recorder = self.recorders.get(record.thread or 0)
        if recorder is not None:
            try:
                message = record.getMessage()
                if record.exc_info:
                    message += "\n" + logging.Formatter().formatException(record.exc_info)
            except Exception:  # a malformed record: its raw text
                message = str(record.msg)
            recorder.record(record.levelname, message)
        # What logging does when no handler is found: our handler must not silence that.
        last = logging.lastResort
        alone = last is not None and not _handled_elsewhere(record.name, self)
        if alone and record.levelno >= last.level:
            last.handle(record)
        return True

    def emit(self, record: logging.LogRecord) -> None:  # handle() does the work
        pass


_ROUTER = _EngineLogRouter()
_ROUTER_LOCK = threading.Lock()


@contextlib.contextmanager
def capture_engine_logs(recorder: JobRecorder) -> Iterator[None]:
    """While inside, records of the "engine" logger tree logged on this thread go to
    `recorder`. The logger's level is lowered to INFO while any job captures (when nobody
    set one), and put back after."""
    logger = logging.getLogger(ENGINE_LOGGER)
    thread = threading.get_ident()
    with _ROUTER_LOCK:
        if not _ROUTER.recorders:
            logger.addHandler(_ROUTER)
            if logger.level == logging.NOTSET and logger.getEffectiveLevel() > logging.INFO:
                logger.setLevel(logging.INFO)
                _ROUTER.lowered = True
        _ROUTER.recorders[thread] = recorder
    try:
        yield
    finally:
        with _ROUTER_LOCK:
            _ROUTER.recorders.pop(thread, None)
            if not _ROUTER.recorders:
                logger.removeHandler(_ROUTER)
                if _ROUTER.lowered:
                    logger.setLevel(logging.NOTSET)
                    _ROUTER.lowered = False


def _handled_elsewhere(name: str, ours: logging.Handler) -> bool:
    """Whether a handler other than `ours` sits on logger `name` or an ancestor it
    propagates to (logging's own test before it falls back to its last resort)."""
    logger: logging.Logger | None = logging.getLogger(name)
    while logger is not None:
        if any(h is not ours for h in logger.handlers):
            return True
        if not logger.propagate:
            return False
        logger = logger.parent
    return False


def describe_error(error: BaseException) -> str:
    """One line: the message of one of our errors, else the exception's type and message."""
    text = " ".join(str(error).split())
    if isinstance(error, TrainwrightError) or type(error).__name__ == "TrainingFailure":
        return text or type(error).__name__
    return f"{type(error).__name__}: {text}" if text else type(error).__name__
