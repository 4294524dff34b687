"""The distillation dialog's background work, each a kit Task on its own QThread.

`DistillCheckTask` validates the teacher as the engine will; `DistillTask` trains the student
(as a job of the data home's job store, like every run) and then compares it with its teacher. Runs in this process take turns
(engine.training.turns): the student waits for a run in progress to finish before its
training starts, and the comparison holds the turn (it sets torch's thread count).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from desktop_app.kit.tasks import EpochReporter, RequestTask
from engine.errors import TrainwrightError
from engine.training.turns import holding_turn, wait_for_turn

log = logging.getLogger("trainwright.desktop")

COMPARING, WAITING = -1, -2  # DistillTask progress codes: timing both models; waiting


@dataclass
class DistillRequest:
    """What the dialog asks the engine to distill: the teacher, the student's settings."""

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
    """A trained student and how it compares with its teacher."""

    result: dict[str, Any]  # the engine's {status: 'ok', metrics, modelId, ...}
    comparison: Any  # DistillComparison


class DistillCheckTask(RequestTask):
    """Validates a distillation request as the engine will (teacher trained, a classifier,
    same data, matching outputs) without training: result None, or `failed` with the
    engine's message."""

    kind = "distill-check"
    request: DistillRequest

    def compute(self) -> None:
        from engine.distill import distill_config
        from engine.strategies import StrategyOrchestrator

        r = self.request
        config = distill_config(
            self.workspace, r.teacher, r.student_family, r.domain, r.training,
            temperature=r.temperature, alpha=r.alpha, overwrite=r.overwrite,
        )  # fmt: skip
        StrategyOrchestrator(self.workspace).select(config)


class DistillTask(RequestTask):
    """Trains the student, then compares it with its teacher: result DistillOutcome.

    An engine failure (`{status: 'error'}`) is raised as a TrainwrightError, so it arrives
    through `failed` with the engine's message. Progress is (epoch, epochs), <= 20 Hz.
    """

    kind = "distill"
    request: DistillRequest

    def compute(self) -> DistillOutcome:
        from engine.distill import compare_distillation
        from engine.jobs.runner import run_now
        from engine.strategies.registry import result_from_session

        r, ws = self.request, self.workspace
        wait_for_turn(self.cancel_event, self._report_waiting, self._report_running)
        if self.cancel_event.is_set():
            raise TrainwrightError("stopped before the student's training started")
        # A job of the store, like every run: its history, log and resources are recorded
        # (a request the engine refuses is raised, as before).
        done = run_now(
            ws, self.job_request(), [EpochReporter(self.report_progress)], self.cancel_event,
            warn=log.warning,
        )  # fmt: skip
        strategy, session = done.result
        result = result_from_session(ws, strategy.name, session)
        if result["status"] != "ok":
            raise TrainwrightError(result.get("error") or "distillation failed")
        self.report_progress(COMPARING, COMPARING)  # the dialog shows a busy bar
        # compare_distillation sets torch's process-wide thread count: not during a run.
        with holding_turn(self.cancel_event):
            comparison = compare_distillation(
                ws, result["modelId"], ws.variant(r.teacher, r.teacher_family), threads=1
            )
        return DistillOutcome(dict(result), comparison)

    def job_request(self) -> Any:
        """The request as a job of the store records it (and a retry runs it again)."""
        from engine.jobs.records import JobRequest

        r = self.request
        options = {"temperature": r.temperature, "alpha": r.alpha}
        return JobRequest(
            kind="distill",
            teacher=r.teacher,
            family=r.student_family,
            domain=dict(r.domain),
            training=dict(r.training),
            overwrite=r.overwrite,
            options={k: v for k, v in options.items() if v is not None},
        )

    def _report_waiting(self) -> None:
        self.report_progress(WAITING, WAITING)

    def _report_running(self) -> None:
        self.report_progress(0, 0)
