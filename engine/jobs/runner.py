"""Running jobs: one (`run_job`) or the queue (`run_queue`), recording each in the store.

A job runs on the calling thread through engine.jobs.dispatch, with a JobRecorder among its
callbacks and capturing the "engine" loggers of this thread, while a Watcher thread writes
its log, samples its memory and passes on a cancel asked for in the store. It ends with the
run's own status (completed, failed, cancelled, timed_out) and what it used.

A store problem never stops a run: what cannot be recorded is dropped, and said once in
`JobOutcome.warnings`.
"""

from __future__ import annotations

import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from engine.errors import TrainwrightError
from engine.jobs.dispatch import Hooks, Outcome, perform
from engine.jobs.errors import JobError
from engine.jobs.recorder import JobRecorder, capture_engine_logs, describe_error
from engine.jobs.records import Job, JobRequest
from engine.jobs.resources import ResourceMeter
from engine.jobs.store import JobStore, room_for_history
from engine.jobs.watcher import Watcher

if TYPE_CHECKING:
    from engine.training.callbacks import Callback
    from engine.workspace import Workspace


@dataclass
class JobOutcome:
    """A job as it ended, and what the engine returned for it (see dispatch.Outcome)."""

    job: Job
    outcome: Outcome
    warnings: list[str] = field(default_factory=list)

    @property
    def result(self) -> Any:
        return self.outcome.result


class LinkedEvent(threading.Event):
    """A job's cancel event inside a queue's: set when it is set itself (its own cancel) or
    when the queue's is (stop everything). `is_set` is all the engine asks of it."""

    def __init__(self, parent: threading.Event | None) -> None:
        super().__init__()
        self.parent = parent

    def is_set(self) -> bool:
        return super().is_set() or (self.parent is not None and self.parent.is_set())


def run_job(
    workspace: Workspace,
    job: Job | int,
    callbacks: list[Callback] | None = None,
    cancel_event: threading.Event | None = None,
    *,
    store: JobStore | None = None,
) -> Job:
    """Run a queued job (or one submitted running in this process) to its end; the job as
    it ended. Never raises for a run that fails or a request the engine refuses: both end
    the job failed, with the error."""
    return execute_job(workspace, job, callbacks, cancel_event, store=store).job


def execute_job(
    workspace: Workspace,
    job: Job | int,
    callbacks: list[Callback] | None = None,
    cancel_event: threading.Event | None = None,
    *,
    store: JobStore | None = None,
    on_sweep_row: Callable[[Any], None] | None = None,
    raise_errors: bool = False,
) -> JobOutcome:
    """`run_job`, returning the engine's result too. With `raise_errors` (the CLI), a
    refused request or an unexpected exception is recorded, then raised as before."""
    job_id = job if isinstance(job, int) else job.id
    store = store if store is not None else JobStore(workspace.home)
    job = store.start(job_id)  # JobError for a job that is no longer queued
    return _execute(workspace, job, store, callbacks, cancel_event, on_sweep_row, raise_errors)


def run_unrecorded(
    workspace: Workspace,
    request: JobRequest,
    callbacks: list[Callback] | None = None,
    cancel_event: threading.Event | None = None,
    *,
    on_sweep_row: Callable[[Any], None] | None = None,
    on_sweep_progress: Callable[[int, int], None] | None = None,
) -> Outcome:
    """Run a request with no store (one that cannot be opened): as a job would, unrecorded."""
    hooks = Hooks(on_sweep_row=on_sweep_row, on_sweep_progress=on_sweep_progress)
    return perform(
        workspace, request, list(callbacks or []), cancel_event or threading.Event(), hooks
    )


def run_now(
    workspace: Workspace,
    request: JobRequest,
    callbacks: list[Callback] | None = None,
    cancel_event: threading.Event | None = None,
    *,
    on_sweep_row: Callable[[Any], None] | None = None,
    on_sweep_progress: Callable[[int, int], None] | None = None,
    warn: Callable[[str], None] | None = None,
) -> Outcome:
    """Run `request` now in this process as a job (submitted running, then executed), as the
    CLI's train, resume, replay, sweep and distill do; what the engine refuses is raised as
    before. When the store cannot be opened or written (or the disk is nearly full: the run
    gets the last bytes, not its history), the run goes on unrecorded and, once it has run,
    `warn` hears why (a refused request ran nothing: its one-line error is all that is
    said). `warn` also hears a rebuild's warning, at once."""
    say = warn or (lambda message: None)

    def unrecorded(problem: BaseException | str) -> Outcome:
        outcome = run_unrecorded(
            workspace,
            request,
            callbacks,
            cancel_event,
            on_sweep_row=on_sweep_row,
            on_sweep_progress=on_sweep_progress,
        )
        say(f"{_short(problem)}; this run is not recorded in the job history")
        return outcome

    lacking = room_for_history(workspace.home)
    if lacking is not None:
        return unrecorded(lacking)
    try:
        store = JobStore(workspace.home)
    except Exception as exc:  # a read-only home, a locked or unusable file: run anyway
        return unrecorded(exc)
    try:
        for warning in store.warnings:
            say(warning)
        try:
            job = store.submit(request, queued=False)
        except Exception as exc:
            return unrecorded(exc)
        done = _execute(
            workspace, job, store, callbacks, cancel_event, on_sweep_row, True, on_sweep_progress
        )
    finally:
        store.close()
    for warning in done.warnings:
        say(warning)
    return done.outcome


def _short(exc: BaseException | str) -> str:
    text = " ".join(str(exc).split())
    if isinstance(exc, str):
        return text
    return text if isinstance(exc, TrainwrightError) else f"job store: {type(exc).__name__}: {text}"


def _execute(
    workspace: Workspace,
    job: Job,
    store: JobStore,
    callbacks: list[Callback] | None,
    cancel_event: threading.Event | None,
    on_sweep_row: Callable[[Any], None] | None,
    raise_errors: bool,
    on_sweep_progress: Callable[[int, int], None] | None = None,
) -> JobOutcome:
    cancel = cancel_event if cancel_event is not None else threading.Event()
    warnings: list[str] = []
    total = _sweep_total(workspace, job) if job.request.kind == "sweep" else 0
    recorder = JobRecorder(sink=lambda records: store.log_many(job.id, records))
    meter = ResourceMeter()
    watcher = Watcher(store, job.id, recorder, meter, cancel).start()

    def on_variant(name: str, family: str) -> None:
        _safely(warnings, store.update, job.id, variant=name, family=family)

    def on_row(row: Any) -> None:
        recorder.on_sweep_row(row, total)
        if on_sweep_row is not None:
            on_sweep_row(row)

    raised: BaseException | None = None
    try:
        with capture_engine_logs(recorder):
            try:
                outcome = perform(
                    workspace,
                    job.request,
                    [*(callbacks or []), recorder],
                    cancel,
                    Hooks(
                        on_variant=on_variant,
                        on_sweep_row=on_row,
                        on_sweep_progress=on_sweep_progress,
                    ),
                )
            except TrainwrightError as exc:  # refused: the engine's one-line message
                recorder.record("ERROR", f"refused: {describe_error(exc)}")
                outcome, raised = Outcome(status="failed", error=str(exc)), exc
            except Exception as exc:  # a bug in a family or in the engine: recorded in full
                recorder.record("ERROR", traceback.format_exc().rstrip())
                outcome, raised = Outcome(status="failed", error=describe_error(exc)), exc
            except BaseException as exc:  # KeyboardInterrupt, SystemExit: stopped, not finished
                outcome, raised = Outcome(status="interrupted", error=describe_error(exc)), exc
    finally:
        watcher.stop()
    for problem in (recorder.sink_error, watcher.store_error):
        if problem:
            warnings.append(problem)
    facts = {
        "variant": outcome.variant,
        "family": outcome.family,
        "sweep_id": outcome.sweep_id,
        "attempts": outcome.attempts,
        **meter.result(),
    }
    facts = {k: v for k, v in facts.items() if v is not None}
    finished = _safely(warnings, store.finish, job.id, outcome.status, outcome.error, **facts)
    if finished is None:  # not recorded: the job as it would have been
        finished = job.model_copy(update={"status": outcome.status, "error": outcome.error})
    if raised is not None and (raise_errors or not isinstance(raised, Exception)):
        raise raised
    return JobOutcome(job=finished, outcome=outcome, warnings=warnings)


def _sweep_total(workspace: Workspace, job: Job) -> int:
    """How many combinations the job's sweep has (for "[3/6]" in its log), 0 if unknown."""
    from engine.sweeps import load_sweep

    try:
        return load_sweep(workspace, job.request.sweep_id or "").total
    except TrainwrightError:
        return 0


def run_queue(
    workspace: Workspace,
    *,
    store: JobStore | None = None,
    callbacks: list[Callback] | None = None,
    cancel_event: threading.Event | None = None,
    on_start: Callable[[Job], None] | None = None,
    on_finish: Callable[[Job], None] | None = None,
) -> list[Job]:
    """Work through the queue in this process until it is empty or `cancel_event` is set:
    claim the first unpaused queued job, run it, and on. Setting `cancel_event` stops the
    running job at its next step (resumable) and leaves the rest queued; a `jobs cancel`
    of the running job stops that job only. The jobs run, as they ended."""
    store = store if store is not None else JobStore(workspace.home)
    stop = cancel_event if cancel_event is not None else threading.Event()
    done: list[Job] = []
    while not stop.is_set():
        job = store.claim_next()
        if job is None:
            break
        if on_start is not None:
            on_start(job)
        try:
            finished = run_job(workspace, job, callbacks, LinkedEvent(stop), store=store)
        except JobError:  # taken back meanwhile (cancelled or removed elsewhere)
            continue
        done.append(finished)
        if on_finish is not None:
            on_finish(finished)
    return done


def _safely(warnings: list[str], method: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Call a store method; a store problem is noted in `warnings` (once), never raised."""
    try:
        return method(*args, **kwargs)
    except Exception as exc:
        note = f"job history not recorded: {type(exc).__name__}: {exc}"
        if note not in warnings:
            warnings.append(note)
        return None
