"""The Sweeps tab's background work, each a kit Task on its own QThread.

`SweepWorker` creates (or reopens) a sweep and runs it with `engine.sweeps.run_sweep`;
`EpochTimeTask` times earlier runs for the estimate. Neither touches a widget; each reports
its failure as a signal and stops early once its cancel event is set.

Runs in this process take turns (engine.training.turns): before each combination the sweep
checks whose turn it is and, if another run holds it, says it is waiting and waits for it there.
"""

from __future__ import annotations

import logging
import traceback
from dataclasses import dataclass, field
from typing import Any

from PySide6.QtCore import Signal

from desktop_app.kit.tasks import EpochReporter, RequestTask, Task, error_message
from engine.errors import TrainwrightError
from engine.training.turns import wait_for_turn

log = logging.getLogger("trainwright.desktop")


@dataclass
class SweepRequest:
    """A new sweep (family, lists and fixed values) or, with `sweep_id`, a stored one to run."""

    family: str = ""
    grid: dict[str, str] = field(default_factory=dict)
    domain: dict[str, Any] = field(default_factory=dict)
    training: dict[str, Any] = field(default_factory=dict)
    sweep_id: str | None = None
    # A random, TPE or LLM search (engine.sweeps.plan_sweep's options: search, trials,
    # objective, prune, seed, target); {} for a grid.
    search: dict[str, Any] = field(default_factory=dict)

    def describe(self) -> str:
        if self.sweep_id:
            return f"sweep {self.sweep_id}"
        lists = ", ".join(f"{k}={v}" for k, v in self.grid.items())
        kind = self.search.get("search", "grid")
        return f"{self.family} {'sweep' if kind == 'grid' else kind + ' search'} ({lists})"


class _SweepCallback(EpochReporter):
    """Engine hooks on the sweep's thread: report the combination and its epochs, throttled."""

    def __init__(self, worker: SweepWorker) -> None:
        super().__init__(worker.epochProgress.emit)
        self.worker = worker

    def on_train_start(self, info: dict[str, Any]) -> None:
        self.worker.combinationStarted.emit(str(info.get("variant", "")))
        super().on_train_start(info)


class SweepWorker(RequestTask):
    """Creates the sweep (or loads it) and runs it: result the SweepRecord at the end
    (completed or cancelled); `failed` if it could not be created or run."""

    created = Signal(object)  # SweepRecord as stored before this run (rows so far)
    waitingStarted = Signal()  # another run in this process trains: this sweep waits
    waitingEnded = Signal()
    combinationStarted = Signal(str)  # the variant now training
    epochProgress = Signal(int, int)  # epoch done, epochs of the combination (<= 20 Hz)
    rowReady = Signal(object)  # SweepRow, one per combination finished
    sweepProgress = Signal(int, int)  # combinations finished, total

    kind = "sweep"
    request: SweepRequest

    def compute(self) -> Any:
        from engine.jobs import run_now
        from engine.jobs.records import JobRequest
        from engine.sweeps import create_sweep, load_sweep

        ws, request = self.workspace, self.request
        if request.sweep_id:
            record = load_sweep(ws, request.sweep_id)
        else:
            record = create_sweep(
                ws, request.family, request.grid, request.domain, request.training, **request.search
            )
        self.created.emit(record.model_copy(deep=True))
        if self.cancel_event.is_set():
            return record
        self._wait_for_turn()
        # As a job: the Jobs tab and `trainwright jobs` list it, with its log.
        job = JobRequest(kind="sweep", sweep_id=record.id, family=record.spec.family)
        outcome = run_now(
            ws,
            job,
            [_SweepCallback(self)],
            self.cancel_event,
            on_sweep_row=self._on_row,
            on_sweep_progress=self._on_progress,
            warn=lambda message: log.warning("%s", message),
        )
        return outcome.result

    def failure_message(self, exc: BaseException) -> str:
        if not isinstance(exc, TrainwrightError):
            log.error("%s raised:\n%s", self.request.describe(), traceback.format_exc())
        return error_message(exc)

    def _on_row(self, row: Any) -> None:
        self.rowReady.emit(row.model_copy(deep=True))

    def _on_progress(self, done: int, total: int) -> None:
        self.sweepProgress.emit(done, total)
        if done < total:
            self._wait_for_turn()  # before the next combination starts

    def _wait_for_turn(self) -> None:
        wait_for_turn(self.cancel_event, self.waitingStarted.emit, self.waitingEnded.emit)


class EpochTimeTask(Task):
    """The family's typical seconds per epoch from earlier runs: result EpochTime or None."""

    kind = "epoch-time"

    def __init__(self, request_id: int, home: Any, family: str) -> None:
        super().__init__(request_id)
        self.home = home
        self.family = family

    def compute(self) -> Any:
        from engine.sweeps.estimate import family_epoch_time

        return family_epoch_time(self.home, self.family)
