"""Workers for sweeps and distillation, each run on its own QThread.

`SweepWorker` creates (or reopens) a sweep and runs it with `engine.sweeps.run_sweep`; the
SweepPanel owns its thread. The others are `analysis_workers.Worker`s started by a
`WorkerRunner`: the estimate's per-epoch time, the distillation check, and the distillation
itself with its teacher/student comparison. None touches a widget; every one catches every
exception and reports it as a signal; all stop early once their cancel event is set.

Runs in this process take turns through the engine's process-wide lock (see
engine/training/trainer.py): a sweep or a distillation started while the Training tab trains
waits for that run to finish. Before each combination (and before the student's training)
the worker checks that lock itself and, if another run holds it, says it is waiting and waits
for it there, where a Stop still ends the wait.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from PySide6.QtCore import QObject, Signal, Slot

from desktop_app.analysis_workers import Worker
from engine.errors import TrainwrightError
from engine.training.callbacks import Callback

log = logging.getLogger("trainwright.desktop")

PROGRESS_INTERVAL_S = 0.05  # per-epoch progress at most 20 times a second
WAIT_SLICE_S = 0.1  # a wait for another run checks the cancel event this often
COMPARING, WAITING = -1, -2  # DistillWorker progress codes: timing both models; waiting


def process_lock() -> Any:
    """The engine's process-wide run lock (engine.training.trainer.RUN_LOCK), or
    None if this engine has none. Imports the trainer (torch): call it on a worker thread."""
    from engine.training import trainer

    return getattr(trainer, "RUN_LOCK", None)


def wait_for_turn(
    cancel_event: threading.Event, on_wait: Callable[[], None], on_done: Callable[[], None]
) -> None:
    """Return at once if no other run in this process holds the run lock; else call
    `on_wait()`, wait until it is free (or `cancel_event` is set), then call `on_done()`.

    The lock is only tested, never kept: the run that follows takes it as usual.
    """
    lock = process_lock()
    if lock is None or cancel_event.is_set():
        return
    if lock.acquire(blocking=False):
        lock.release()
        return
    on_wait()
    try:
        while not cancel_event.is_set():
            if lock.acquire(timeout=WAIT_SLICE_S):
                lock.release()
                return
    finally:
        on_done()


@contextlib.contextmanager
def process_settings(cancel_event: threading.Event) -> Iterator[None]:
    """Hold the engine's process-wide lock, waiting for a run in progress to finish: what
    compare_distillation needs, as it changes torch's thread count for the process. Raises
    TrainwrightError if `cancel_event` is set while it waits."""
    lock = process_lock()
    if lock is None:
        yield
        return
    while not lock.acquire(timeout=WAIT_SLICE_S):
        if cancel_event.is_set():
            raise TrainwrightError("stopped before the comparison")
    try:
        yield
    finally:
        lock.release()


class Throttle:
    """True at most once per `interval` seconds (and always for a final value)."""

    def __init__(self, interval: float = PROGRESS_INTERVAL_S) -> None:
        self.interval = interval
        self._last = -float("inf")

    def ready(self, final: bool = False) -> bool:
        now = time.monotonic()
        if final or now - self._last >= self.interval:
            self._last = now
            return True
        return False


def _message(exc: BaseException) -> str:
    if isinstance(exc, TrainwrightError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


# ---- sweeps ----------------------------------------------------------------------------------
@dataclass
class SweepRequest:
    """A new sweep (family, lists and fixed values) or, with `sweep_id`, a stored one to run."""

    family: str = ""
    grid: dict[str, str] = field(default_factory=dict)
    domain: dict[str, Any] = field(default_factory=dict)
    training: dict[str, Any] = field(default_factory=dict)
    sweep_id: str | None = None

    def describe(self) -> str:
        if self.sweep_id:
            return f"sweep {self.sweep_id}"
        lists = ", ".join(f"{k}={v}" for k, v in self.grid.items())
        return f"{self.family} sweep ({lists})"


class _SweepCallback(Callback):
    """Engine hooks on the sweep's thread: report the combination and its epochs, throttled."""

    def __init__(self, worker: SweepWorker) -> None:
        self.worker = worker
        self.total = 0
        self.throttle = Throttle()

    def on_train_start(self, info: dict[str, Any]) -> None:
        self.total = int(info.get("total_epochs") or 0)
        self.throttle = Throttle()
        self.worker.combinationStarted.emit(str(info.get("variant", "")))
        self.worker.epochProgress.emit(int(info.get("start_epoch") or 0), self.total)

    def on_epoch_end(self, metrics: Any) -> None:
        epoch = int(metrics.epoch)
        if self.throttle.ready(final=epoch >= self.total):
            self.worker.epochProgress.emit(epoch, self.total)


class SweepWorker(QObject):
    """Creates the sweep (or loads it) and runs it; emits, never touches a widget."""

    created = Signal(object)  # SweepRecord as stored before this run (rows so far)
    waitingStarted = Signal()  # another run in this process trains: this sweep waits
    waitingEnded = Signal()
    combinationStarted = Signal(str)  # the variant now training
    epochProgress = Signal(int, int)  # epoch done, epochs of the combination (<= 20 Hz)
    rowReady = Signal(object)  # SweepRow, one per combination finished
    progress = Signal(int, int)  # combinations finished, total
    succeeded = Signal(object)  # the SweepRecord at the end (completed or cancelled)
    failed = Signal(str)  # the sweep could not be created or run
    finished = Signal()  # always last

    def __init__(
        self, workspace: Any, request: SweepRequest, cancel_event: threading.Event
    ) -> None:
        super().__init__()
        self.workspace = workspace
        self.request = request
        self.cancel_event = cancel_event

    @Slot()
    def run(self) -> None:
        try:
            self._run()
        except BaseException as exc:  # every failure becomes a signal
            if not isinstance(exc, TrainwrightError):
                log.error("%s raised:\n%s", self.request.describe(), traceback.format_exc())
            self.failed.emit(_message(exc))
        finally:
            self.finished.emit()

    def _run(self) -> None:
        from engine.sweeps import create_sweep, load_sweep, run_sweep

        ws, request = self.workspace, self.request
        if request.sweep_id:
            record = load_sweep(ws, request.sweep_id)
        else:
            record = create_sweep(
                ws, request.family, request.grid, request.domain, request.training
            )
        self.created.emit(record.model_copy(deep=True))
        if self.cancel_event.is_set():
            self.succeeded.emit(record)
            return
        self._wait_for_turn()
        record = run_sweep(
            ws,
            record.id,
            on_progress=self._on_progress,
            on_row=self._on_row,
            callbacks=[_SweepCallback(self)],
            cancel_event=self.cancel_event,
        )
        self.succeeded.emit(record)

    def _on_row(self, row: Any) -> None:
        self.rowReady.emit(row.model_copy(deep=True))

    def _on_progress(self, done: int, total: int) -> None:
        self.progress.emit(done, total)
        if done < total:
            self._wait_for_turn()  # before the next combination starts

    def _wait_for_turn(self) -> None:
        wait_for_turn(self.cancel_event, self.waitingStarted.emit, self.waitingEnded.emit)


class EpochTimeWorker(Worker):
    """The family's typical seconds per epoch from earlier runs: result EpochTime or None."""

    kind = "epoch-time"

    def __init__(self, request_id: int, home: Any, family: str) -> None:
        super().__init__(request_id)
        self.home = home
        self.family = family

    def compute(self) -> Any:
        from engine.sweeps.estimate import family_epoch_time

        return family_epoch_time(self.home, self.family)


@dataclass
class TrainingDefaults:
    """The training schema for a family's domain values, or the engine's objection to them."""

    family: str
    specs: list[Any] | None  # ParameterSpecs with the defaults these domain values imply
    field: str | None = None  # the parameter the engine objected to
    message: str | None = None


class DefaultsWorker(Worker):
    """Validates the domain values and gets the training defaults they imply (an MLP's
    dataset has its own learning rate, epochs...): result TrainingDefaults. Loads the
    family's implementation (torch), hence a worker."""

    kind = "defaults"

    def __init__(
        self, request_id: int, workspace: Any, family: str, domain: dict[str, Any]
    ) -> None:
        super().__init__(request_id)
        self.workspace = workspace
        self.family = family
        self.domain = dict(domain)

    def compute(self) -> TrainingDefaults:
        from engine.errors import ParameterError
        from engine.params import validate_values

        registry = self.workspace.registry
        try:
            spec = registry.spec(self.family)
            values = validate_values(spec.domain_parameters, self.domain, kind="domain")
            values = registry.family(self.family).validate_domain(values)
            return TrainingDefaults(self.family, registry.training_parameters(self.family, values))
        except ParameterError as exc:
            return TrainingDefaults(self.family, None, exc.field, exc.message)


# ---- distillation ----------------------------------------------------------------------------
@dataclass
class DistillRequest:
    teacher: str
    teacher_family: str
    student_family: str
    domain: dict[str, Any] = field(default_factory=dict)
    training: dict[str, Any] = field(default_factory=dict)
    temperature: float | None = None
    alpha: float | None = None
    overwrite: bool = False


@dataclass
class DistillOutcome:
    result: dict[str, Any]  # the engine's {status: 'ok', metrics, modelId, ...}
    comparison: Any  # DistillComparison


class DistillCheckWorker(Worker):
    """Validates a distillation request as the engine will (teacher trained, a classifier,
    same data, matching outputs) without training: result None, or `failed` with the
    engine's message."""

    kind = "distill-check"

    def __init__(self, request_id: int, workspace: Any, request: DistillRequest) -> None:
        super().__init__(request_id)
        self.workspace = workspace
        self.request = request

    def compute(self) -> None:
        from engine.distill import distill_config
        from engine.strategies import StrategyOrchestrator

        r = self.request
        config = distill_config(
            self.workspace, r.teacher, r.student_family, r.domain, r.training,
            temperature=r.temperature, alpha=r.alpha, overwrite=r.overwrite,
        )  # fmt: skip
        StrategyOrchestrator(self.workspace).select(config)


class _DistillProgress(Callback):
    def __init__(self, worker: DistillWorker) -> None:
        self.worker = worker
        self.total = 0
        self.throttle = Throttle()

    def on_train_start(self, info: dict[str, Any]) -> None:
        self.total = int(info.get("total_epochs") or 0)
        self.worker.report_progress(int(info.get("start_epoch") or 0), self.total)

    def on_epoch_end(self, metrics: Any) -> None:
        epoch = int(metrics.epoch)
        if self.throttle.ready(final=epoch >= self.total):
            self.worker.report_progress(epoch, self.total)


class DistillWorker(Worker):
    """Trains the student, then compares it with its teacher: result DistillOutcome.

    An engine failure (`{status: 'error'}`) is raised as a TrainwrightError, so it arrives
    through `failed` with the engine's message. Progress is (epoch, epochs), <= 20 Hz.
    """

    kind = "distill"

    def __init__(self, request_id: int, workspace: Any, request: DistillRequest) -> None:
        super().__init__(request_id)
        self.workspace = workspace
        self.request = request

    def compute(self) -> DistillOutcome:
        from engine.distill import compare_distillation, distill

        r, ws = self.request, self.workspace
        wait_for_turn(self.cancel_event, self._report_waiting, self._report_running)
        if self.cancel_event.is_set():
            raise TrainwrightError("stopped before the student's training started")
        result = distill(
            ws, r.teacher, r.student_family, r.domain, r.training,
            temperature=r.temperature, alpha=r.alpha, overwrite=r.overwrite,
            callbacks=[_DistillProgress(self)], cancel_event=self.cancel_event,
        )  # fmt: skip
        if result["status"] != "ok":
            raise TrainwrightError(result.get("error") or "distillation failed")
        self.report_progress(COMPARING, COMPARING)  # the dialog shows a busy bar
        # compare_distillation sets torch's process-wide thread count: not during a run.
        with process_settings(self.cancel_event):
            comparison = compare_distillation(
                ws, result["modelId"], ws.variant(r.teacher, r.teacher_family), threads=1
            )
        return DistillOutcome(dict(result), comparison)

    def _report_waiting(self) -> None:
        self.report_progress(WAITING, WAITING)

    def _report_running(self) -> None:
        self.report_progress(0, 0)
