"""Run a job's request by its kind, through the engine's own entry points, and say how it
ended as a job: train, resume and replay through the Workspace, a sweep through
`run_sweep`, a distillation through the strategy orchestrator.

Requests the engine refuses (a variant that exists, a missing teacher, a sweep running
elsewhere) raise TrainwrightError as they always did; a run that fails does not raise.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from engine.jobs.rebuild import attempts_from_metadata
from engine.jobs.records import JobRequest
from engine.metadata import VariantMetadata
from engine.variants import metadata_path, variant_dir

if TYPE_CHECKING:
    from pathlib import Path

    from engine.training.callbacks import Callback
    from engine.variants import Variant
    from engine.workspace import Workspace

# A replay's outcome -> its job's status (diverged: the run did not reproduce, a failure).
_REPLAY_STATUS = {
    "identical": "completed",
    "diverged": "failed",
    "cancelled": "cancelled",
    "timed_out": "timed_out",
}


@dataclass
class Outcome:
    """How a job ended: its final status and facts, and what the engine returned
    (`result`: a TrainingSession, ReplayResult, SweepRecord, or (strategy, session))."""

    status: str
    result: Any = None
    variant: str | None = None
    family: str | None = None
    sweep_id: str | None = None
    error: str | None = None
    attempts: int = 1
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Hooks:
    """What a caller hears besides the training callbacks: the variant as soon as it is
    known (so the job names it while it runs), and a sweep's rows."""

    on_variant: Callable[[str, str], None] | None = None
    on_sweep_row: Callable[[Any], None] | None = None
    # (done, total) after each combination, as run_sweep's on_progress: a window waits its
    # turn there before the next combination starts.
    on_sweep_progress: Callable[[int, int], None] | None = None


def perform(
    workspace: Workspace,
    request: JobRequest,
    callbacks: list[Callback],
    cancel_event: threading.Event,
    hooks: Hooks | None = None,
) -> Outcome:
    hooks = hooks or Hooks()
    run = {
        "train": _train,
        "resume": _resume,
        "replay": _replay,
        "sweep": _sweep,
        "distill": _distill,
    }[request.kind]
    return run(workspace, request, callbacks, cancel_event, hooks)


def _train(ws: Workspace, request: JobRequest, cbs: Any, cancel: Any, hooks: Hooks) -> Outcome:
    assert request.family is not None
    variant = ws.create_variant(request.family, request.domain, request.training)
    _announce(hooks, variant)
    session = ws.train(variant, cbs, cancel, overwrite=request.overwrite)
    return _from_session(ws.home, session)


def _resume(ws: Workspace, request: JobRequest, cbs: Any, cancel: Any, hooks: Hooks) -> Outcome:
    assert request.variant is not None
    variant = ws.variant(request.variant, request.family)
    _announce(hooks, variant)
    return _from_session(ws.home, ws.resume(variant, cbs, cancel))


def _replay(ws: Workspace, request: JobRequest, cbs: Any, cancel: Any, hooks: Hooks) -> Outcome:
    assert request.variant is not None
    variant = ws.variant(request.variant, request.family)
    _announce(hooks, variant)
    result = ws.replay(variant, cbs, cancel)
    status = _REPLAY_STATUS.get(result.status, "failed")
    return Outcome(
        status=status,
        result=result,
        variant=variant.name,
        family=variant.family,
        error=None if status == "completed" else result.message,
    )


def _endpoint(options: Any) -> Any:
    """An LLM search's new endpoint from a resume's options (None: the recorded one)."""
    if options is None:
        return None
    from engine.sweeps.endpoint import LlmSettings

    return LlmSettings.model_validate(options)


def _sweep(ws: Workspace, request: JobRequest, cbs: Any, cancel: Any, hooks: Hooks) -> Outcome:
    """A sweep through run_sweep; its request's options may name an executor ("ray"), a
    Ray address (how it runs, not what: they are not part of the sweep) and an LLM search's
    new endpoint."""
    from engine.sweeps import run_sweep

    assert request.sweep_id is not None
    record = run_sweep(
        ws,
        request.sweep_id,
        on_row=hooks.on_sweep_row,
        on_progress=hooks.on_sweep_progress,
        callbacks=cbs,
        cancel_event=cancel,
        parallel=request.parallel,
        executor=request.options.get("executor", "local"),
        ray_address=request.options.get("ray_address"),
        llm=_endpoint(request.options.get("llm")),
    )
    counts = record.counts()
    status, error = "completed", None
    if record.status != "completed":
        status = "cancelled"
    elif counts["failed"]:
        status, error = "failed", f"{counts['failed']} of {record.total} combinations failed"
    return Outcome(
        status=status,
        result=record,
        sweep_id=record.id,
        family=record.spec.family,
        error=error,
    )


def _distill(ws: Workspace, request: JobRequest, cbs: Any, cancel: Any, hooks: Hooks) -> Outcome:
    from engine.distill.api import distill_config
    from engine.strategies import StrategyOrchestrator

    assert request.teacher is not None and request.family is not None
    config = distill_config(
        ws,
        request.teacher,
        request.family,
        request.domain,
        request.training,
        temperature=request.options.get("temperature"),
        alpha=request.options.get("alpha"),
        overwrite=request.overwrite,
    )
    strategy, session = StrategyOrchestrator(ws).execute(config, cbs, cancel)
    outcome = _from_session(ws.home, session)
    outcome.result = (strategy, session)
    return outcome


def _announce(hooks: Hooks, variant: Variant) -> None:
    if hooks.on_variant is not None:
        hooks.on_variant(variant.name, variant.family)


def _from_session(home: Path, session: Any) -> Outcome:
    """A training session's end as a job's: its status, error and the trainer's attempts
    (the session's count, or metadata.json's for a trainer that does not count them)."""
    attempts = getattr(session, "attempts", None)
    if not isinstance(attempts, int):
        try:
            directory = variant_dir(home, session.family, session.variant)
            attempts = attempts_from_metadata(VariantMetadata.load(metadata_path(directory)))
        except (OSError, ValueError):
            attempts = 1
    return Outcome(
        status=session.status,
        result=session,
        variant=session.variant,
        family=session.family,
        error=session.error_message if session.status != "completed" else None,
        attempts=attempts,
    )
