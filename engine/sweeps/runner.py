"""Running a sweep: each combination an ordinary variant, one after another or N at once.

Sequential (parallel=1, the default) runs in this process and passes `callbacks` to each
run's trainer. parallel=N > 1 uses a pool of N worker *processes* (spawn): torch's thread
count and deterministic flags are process-global, so runs sharing a process could change
each other's settings mid-run (and their bits). Each worker trains with
`max(1, default_threads() // N)` threads unless the config fixes `threads`; per-run
callbacks are not available there, only `on_progress`. `executor="ray"` runs the same worker
function as Ray tasks instead, N at once (executors.py): the same trials, the same weights.

A combination whose variant already exists completed is reused, not retrained, so sweeps
compose; one that was interrupted resumes from its last full checkpoint. A stopped
(cancel_event) or killed sweep resumes with `run_sweep` (or `trainwright sweep resume ID`):
finished combinations are skipped, the interrupted one resumes, the rest run.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, wait
from typing import Any

from engine.errors import TrainwrightError, VariantError
from engine.metadata import VariantMetadata, now
from engine.sweeps import executors, search, store
from engine.sweeps.endpoint import LlmSettings, load_llm_settings
from engine.sweeps.errors import SweepError
from engine.sweeps.llm.client import LlmError, check_reachable
from engine.sweeps.plan import SweepSpec, combination_config, plan_sweep
from engine.sweeps.schema import sweep_schema
from engine.sweeps.store import NA, SweepRecord, SweepRow
from engine.training.callbacks import Callback, Callbacks, CancelEvent
from engine.training.checkpoints import latest_valid_full
from engine.training.lock import VariantLock, is_locked
from engine.variants import Variant
from engine.workspace import Workspace

ProgressFn = Callable[[int, int], None]
SEARCH_OPTIONS = ("search", "trials", "objective", "prune", "seed", "target", "llm")


def create_sweep(
    workspace: Workspace,
    family: str,
    grid: Mapping[str, str | list[Any]],
    domain: Mapping[str, Any] | None = None,
    training: Mapping[str, Any] | None = None,
    *,
    parallel: int = 1,
    **search: Any,
) -> SweepRecord:
    """Validate and store a new sweep (nothing trained yet); its `id` is what to run.
    `search` takes plan_sweep's search, trials, objective, prune, seed, target and llm; an
    LLM search without `llm` asks the endpoint set in the home's preferences, and one that
    cannot be reached is refused before anything is stored."""
    if search.get("search") == "llm" and search.get("llm") is None:
        search["llm"] = load_llm_settings(workspace.home)
    plan = plan_sweep(workspace, family, grid, domain, training, parallel=parallel, **search)
    if plan.spec.llm is not None:
        check_reachable(plan.spec.llm)
    return store.create(workspace.home, plan)


def load_sweep(workspace: Workspace, sweep_id: str) -> SweepRecord:
    """A stored sweep; SweepError naming its sweep.json if it contradicts itself."""
    record = store.load(workspace.home, sweep_id)
    _check_names(workspace, record, store.sweep_path(workspace.home, sweep_id))
    return record


def list_sweeps(workspace: Workspace) -> list[store.SweepSummary]:
    return store.list_sweeps(workspace.home)


def run_sweep(
    workspace: Workspace,
    sweep: str | SweepRecord,
    *,
    on_progress: ProgressFn | None = None,
    on_row: Callable[[SweepRow], None] | None = None,
    callbacks: Callbacks = None,
    cancel_event: CancelEvent = None,
    parallel: int | None = None,
    executor: str = "local",
    ray_address: str | None = None,
    llm: LlmSettings | None = None,
) -> SweepRecord:
    """Run (or resume) a stored sweep until every combination has a row or it is stopped.

    After each combination: its row is stored (sweep.json rewritten atomically), then
    `on_row(row)` and `on_progress(done, total)` are called, `done` counting every finished
    combination. Setting `cancel_event` stops the running combination at its next step
    (it resumes from there later) and starts no other; the record comes back "cancelled".

    `executor` is where trials run, not what they compute (so not part of the sweep): "local"
    (this process, or `parallel` worker processes) or "ray" (`parallel` Ray tasks at once on
    the cluster at `ray_address`, else RAY_ADDRESS, else a new local one; see executors.py).
    A Ray cluster that cannot see the home is refused before the sweep starts.

    `llm` replaces an LLM search's recorded endpoint from here on (a server that moved); the
    trials already proposed are kept.
    """
    sweep_id = sweep if isinstance(sweep, str) else sweep.id
    home = workspace.home
    if parallel is not None and parallel < 1:
        raise SweepError(f"parallel runs must be at least 1, not {parallel}")
    executors.check_executor(executor, ray_address)
    lock = VariantLock(store.lock_path(home, sweep_id))
    # An unknown id, or a sweep.json that contradicts itself: SweepError before the lock file.
    _check_names(workspace, store.load(home, sweep_id), store.sweep_path(home, sweep_id))
    try:
        lock.acquire()
    except VariantError:
        raise SweepError(f"sweep {sweep_id} is running in another process") from None
    try:
        record = store.load(home, sweep_id)
        if llm is not None and record.spec.search == "llm":
            record.spec = record.spec.model_copy(update={"llm": llm.require()})
            check_reachable(llm)
        cancel = cancel_event or threading.Event()
        # Started by an earlier run of this sweep (killed or stopped) and not recorded: their
        # variants count as trained by this sweep, not reused, even if they completed.
        interrupted = set(record.in_progress) | {
            r.index for r in record.rows if r.result == "cancelled"
        }
        todo = [i for i in range(record.total) if i not in record.finished()]
        workers = parallel or record.spec.parallel
        if record.spec.search == "llm" and workers != 1:
            raise SweepError(
                "an LLM search proposes each trial from the results before it, so it runs "
                f"one trial at a time: --parallel 1, not {workers}"
            )
        kind = _LlmTrials if record.spec.search == "llm" else _StudyTrials
        trials = (
            kind(workspace, record, interrupted, on_progress, on_row)
            if record.spec.searched
            else None
        )
        # Before the sweep is marked running: a Ray cluster that cannot be used is refused here.
        pool = _executor(executor, workspace, record, todo, workers, ray_address)
        record.status, record.finished_at = "running", None
        store.save(home, record)
        with pool if pool is not None else contextlib.nullcontext(), _stops_on(home, record):
            if trials is not None:
                trials.run(workers, callbacks, cancel, pool)
            elif pool is not None:
                pending = list(todo)
                _run_pool(
                    workspace,
                    record,
                    lambda: pending.pop(0) if pending else None,
                    interrupted,
                    pool,
                    workers,
                    cancel,
                    lambda row: _record_row(workspace, record, row, on_progress, on_row),
                )
            else:
                _run_here(
                    workspace, record, todo, interrupted, callbacks, cancel, on_progress, on_row
                )
        done = len(record.finished()) == record.total or (
            target_reached(record) and not record.in_progress
        )
        record.status = "completed" if done else "cancelled"
        record.in_progress = []
        record.finished_at = now() if done else None
        store.save(home, record)
        return record
    finally:
        lock.release()


@contextlib.contextmanager
def _stops_on(home: Any, record: SweepRecord) -> Iterator[None]:
    """An error that ends the run early (an LLM endpoint that stays unusable) leaves the
    sweep stopped and resumable, not "running", and its message says how to go on."""
    try:
        yield
    except LlmError as exc:
        record.status, record.in_progress, record.finished_at = "cancelled", [], None
        store.save(home, record)
        raise LlmError(
            f"{exc}; sweep {record.id} is stopped: resume it with "
            f"`trainwright sweep resume {record.id}`"
        ) from None


def sweep(
    workspace: Workspace,
    family: str,
    grid: Mapping[str, str | list[Any]],
    domain: Mapping[str, Any] | None = None,
    training: Mapping[str, Any] | None = None,
    *,
    parallel: int = 1,
    **kwargs: Any,
) -> SweepRecord:
    """Create and run a sweep in one call: `kwargs` are create_sweep's search options
    (search, trials, objective, prune, seed) and run_sweep's (on_progress, cancel_event,
    executor...)."""
    options = {k: kwargs.pop(k) for k in SEARCH_OPTIONS if k in kwargs}
    record = create_sweep(workspace, family, grid, domain, training, parallel=parallel, **options)
    return run_sweep(workspace, record, **kwargs)


def _check_names(workspace: Workspace, record: SweepRecord, path: Any) -> None:
    """Every swept name of a stored sweep is one its family can sweep (naming the file)."""
    schema = sweep_schema(workspace.registry.spec(record.spec.family))
    for combo in [record.spec.grid, record.spec.ranges, *record.combinations]:
        unknown = sorted(set(combo) - set(schema))
        if unknown:
            raise SweepError(
                f"{path}: {record.spec.family} cannot sweep {', '.join(map(repr, unknown))}"
            )


# ---- the two ways of running -----------------------------------------------------------------
def _record_row(
    workspace: Workspace,
    record: SweepRecord,
    row: SweepRow,
    on_progress: ProgressFn | None,
    on_row: Callable[[SweepRow], None] | None,
) -> None:
    record.put(row)
    record.in_progress = [i for i in record.in_progress if i != row.index]
    store.save(workspace.home, record)
    if on_row is not None:
        on_row(row)
    if row.result != "cancelled" and on_progress is not None:
        on_progress(len(record.finished()), record.total)


def _run_here(
    workspace: Workspace,
    record: SweepRecord,
    todo: list[int],
    interrupted: set[int],
    callbacks: list[Callback] | None,
    cancel: threading.Event,
    on_progress: ProgressFn | None,
    on_row: Callable[[SweepRow], None] | None,
) -> None:
    for index in todo:
        if cancel.is_set():
            return
        record.in_progress = [index]
        store.save(workspace.home, record)
        row = run_combination(
            workspace,
            record.spec,
            index,
            record.combinations[index],
            callbacks=callbacks,
            cancel_event=cancel,
            interrupted=index in interrupted,
        )
        _record_row(workspace, record, row, on_progress, on_row)
        if row.result == "cancelled":
            return


def _executor(
    kind: str,
    workspace: Workspace,
    record: SweepRecord,
    todo: list[int],
    workers: int,
    address: str | None,
) -> executors.Executor | None:
    """Where this run's trials go: None to run them here one at a time (callbacks reach the
    trainer), local processes when more than one runs at once, or Ray whatever `workers`."""
    if not todo:
        return None
    if kind == "ray":
        return executors.RayExecutor(workspace.home, record.id, address)
    if workers == 1 or (not record.spec.searched and len(todo) == 1):
        return None
    return executors.LocalExecutor(workers if record.spec.searched else min(workers, len(todo)))


def _run_pool(
    workspace: Workspace,
    record: SweepRecord,
    next_index: Callable[[], int | None],
    interrupted: set[int],
    pool: executors.Executor,
    workers: int,
    cancel: threading.Event,
    on_row: Callable[[SweepRow], None],
) -> None:
    """Keep `workers` trials running in `pool` until `next_index` has none left (or the
    sweep is stopped): each started trial is marked in progress, each ended one handed to
    `on_row` (which records it). A search's trials get the sweep's id, to report to its
    study (pruning); a grid's get None."""
    from engine.training.trainer import default_threads

    threads = max(1, default_threads() // workers)
    spec = record.spec
    spec_json = spec.model_dump(mode="json")
    sweep_id = record.id if spec.searched else None
    running: dict[Future[dict[str, Any]], int] = {}
    while True:
        while len(running) < workers and not cancel.is_set():
            index = next_index()
            if index is None:
                break
            combo = record.combinations[index]
            args = (str(workspace.home), spec_json, index, combo, index in interrupted)
            trial = pool.submit(_worker, (*args, threads, sweep_id), _cpus(spec, combo, threads))
            running[trial] = index
            record.in_progress = sorted([*record.in_progress, index])
            store.save(workspace.home, record)
        if not running:
            return
        done, _ = wait(list(running), timeout=0.2, return_when=FIRST_COMPLETED)
        if cancel.is_set():
            pool.stop()
        for future in done:
            index = running.pop(future)
            try:
                row = SweepRow.model_validate(future.result())
            except Exception as exc:  # the worker process died, or Ray lost the task
                combo = record.combinations[index]
                row = _failed(index, None, combo, f"{type(exc).__name__}: {exc}")
            on_row(row)


def _cpus(spec: SweepSpec, combo: Mapping[str, Any], threads: int) -> int:
    """The CPUs a trial keeps busy: its config's `threads` when fixed or swept, else the
    share the runner gives it (a Ray task asks for as many)."""
    fixed = combo.get("threads", spec.training.get("threads"))
    return fixed if isinstance(fixed, int) and fixed > 0 else threads


def _worker(
    home: str,
    spec_json: dict[str, Any],
    index: int,
    combo: dict[str, Any],
    interrupted: bool,
    threads: int,
    sweep_id: str | None = None,
) -> dict[str, Any]:
    """One combination in a worker process, local or a Ray task's (a search's trial when
    `sweep_id` is given); it stops when its executor's stop signal is set."""
    workspace = Workspace(home)
    spec = SweepSpec.model_validate(spec_json)
    stop = executors.stop_signal()
    if sweep_id is not None:
        row = run_trial(
            workspace,
            sweep_id,
            spec,
            index,
            combo,
            cancel_event=stop,
            interrupted=interrupted,
            threads=threads,
        )
    else:
        row = run_combination(
            workspace,
            spec,
            index,
            combo,
            cancel_event=stop,
            interrupted=interrupted,
            threads=threads,
        )
    return row.model_dump(mode="json")


# ---- a search's trials -------------------------------------------------------------------------
class _Trials:
    """Runs a search: draws trials up to the budget (or until one reaches the target), one
    at a time here or `workers` at once in an executor's processes or tasks, and records
    each outcome. Subclasses say where trials come from: Optuna's study (random, TPE) or an
    LLM (proposals)."""

    def __init__(
        self,
        workspace: Workspace,
        record: SweepRecord,
        interrupted: set[int],
        on_progress: ProgressFn | None,
        on_row: Callable[[SweepRow], None] | None,
    ) -> None:
        self.workspace, self.record, self.interrupted = workspace, record, interrupted
        self.on_progress, self.on_row = on_progress, on_row
        self.home = workspace.home

    def run(
        self,
        workers: int,
        callbacks: Callbacks,
        cancel: threading.Event,
        pool: executors.Executor | None = None,
    ) -> None:
        pending = self._recover()

        def next_index() -> int | None:
            if pending:
                return pending.pop(0)
            if target_reached(self.record) or len(self.record.combinations) >= self.record.total:
                return None
            return self._next(cancel)

        if pool is not None:
            _run_pool(
                self.workspace,
                self.record,
                next_index,
                self.interrupted,
                pool,
                workers,
                cancel,
                self._record,
            )
            return
        while not cancel.is_set():
            index = next_index()
            if index is None:
                return
            self.record.in_progress = [index]
            store.save(self.home, self.record)
            row = run_trial(
                self.workspace,
                self.record.id,
                self.record.spec,
                index,
                self.record.combinations[index],
                callbacks=callbacks,
                cancel_event=cancel,
                interrupted=index in self.interrupted,
            )
            self._record(row)
            if row.result == "cancelled":
                return

    def _recover(self) -> list[int]:
        """Indices of trials drawn before and not finished, to run first."""
        record = self.record
        return [i for i in range(len(record.combinations)) if i not in record.finished()]

    def _next(self, cancel: threading.Event) -> int | None:  # pragma: no cover - abstract
        raise NotImplementedError

    def _append(self, combo: dict[str, Any]) -> int:
        self.record.combinations.append(combo)
        store.save(self.home, self.record)
        return len(self.record.combinations) - 1

    def _record(self, row: SweepRow) -> None:
        _record_row(self.workspace, self.record, row, self.on_progress, self.on_row)


class _StudyTrials(_Trials):
    """A random or TPE search: Optuna's study draws each trial and hears each outcome
    (search.py)."""

    def __init__(self, workspace: Workspace, record: SweepRecord, *args: Any) -> None:
        super().__init__(workspace, record, *args)
        self.study = search.open_study(self.home, record.id, record.spec)

    def _recover(self) -> list[int]:
        """Trials of an earlier run of this search left unfinished: recorded (their
        combinations) or not (asked just before a kill), and rows recorded but never told."""
        record = self.record
        for number, params in sorted(search.unfinished_trials(self.study).items()):
            if number == len(record.combinations):
                record.combinations.append(search.combination_of(record.spec, params))
            elif number in record.finished():
                search.tell(self.study, number, next(r for r in record.rows if r.index == number))
        store.save(self.home, record)
        return super()._recover()

    def _next(self, cancel: threading.Event) -> int | None:
        number, combo = search.ask(self.study, self.record.spec)
        if number != len(self.record.combinations):  # pragma: no cover - the journal was edited
            raise SweepError(
                f"sweep {self.record.id}: the study's trial {number} does not follow its "
                f"{len(self.record.combinations)} recorded combinations"
            )
        return self._append(combo)

    def _record(self, row: SweepRow) -> None:
        super()._record(row)
        search.tell(self.study, row.index, row)


class _LlmTrials(_Trials):
    """An LLM search: each trial is the endpoint's proposal given the results so far
    (engine.sweeps.llm). An answer unusable twice is a failed row and the next trial is
    asked for; stopping while the LLM is asked leaves no trial behind."""

    proposer: Any = None

    def _next(self, cancel: threading.Event) -> int | None:
        from engine.sweeps.llm.client import LlmStopped
        from engine.sweeps.llm.proposal import InvalidProposal
        from engine.sweeps.llm.proposer import LlmProposer

        if self.proposer is None:  # one per run: the dataset is described once
            self.proposer = LlmProposer(self.home, self.record, self.workspace.registry, cancel)
        proposer = self.proposer
        record = self.record
        while len(record.combinations) < record.total and not cancel.is_set():
            trial = len(record.combinations)
            try:
                proposal = proposer.propose(trial)
            except LlmStopped:
                return None
            except InvalidProposal as exc:
                self._append({})
                self._record(_failed(trial, None, {}, str(exc)))
                continue
            return self._append(dict(proposal.parameters))
        return None


def target_reached(record: SweepRecord) -> bool:
    """Whether a search's completed trial met its target (then no new trial is drawn)."""
    spec = record.spec
    return spec.target is not None and any(
        r.result == "completed" and spec.reached(r.objective) for r in record.rows
    )


def run_trial(
    workspace: Workspace,
    sweep_id: str,
    spec: SweepSpec,
    index: int,
    combo: Mapping[str, Any],
    *,
    callbacks: Callbacks = None,
    cancel_event: Any = None,
    interrupted: bool = False,
    threads: int | None = None,
) -> SweepRow:
    """One trial of a search: its combination trained with the pruning reporter (when the
    search prunes); a run the pruner stopped is a "pruned" row with the epoch it reached."""
    reporter = None
    if spec.prune != "none":
        reporter = search.PruningReporter(workspace.home, sweep_id, spec, index)
        callbacks = [*(callbacks or []), reporter]
        cancel_event = search.EitherEvent(cancel_event, reporter.pruned)
    row = run_combination(
        workspace,
        spec,
        index,
        combo,
        callbacks=callbacks,
        cancel_event=cancel_event,
        interrupted=interrupted,
        threads=threads,
    )
    if reporter is not None and reporter.pruned.is_set() and row.result == "cancelled":
        return row.model_copy(
            update={"result": "pruned", "error": None, "stopped_epoch": reporter.epoch}
        )
    return row


# ---- one combination -------------------------------------------------------------------------
def run_combination(
    workspace: Workspace,
    spec: SweepSpec,
    index: int,
    combo: Mapping[str, Any],
    *,
    callbacks: Callbacks = None,
    cancel_event: Any = None,
    interrupted: bool = False,
    threads: int | None = None,
) -> SweepRow:
    """Train (or reuse, or resume) one combination's variant; never raises for its failure."""
    schema = sweep_schema(workspace.registry.spec(spec.family))
    try:
        domain, training = combination_config(schema, spec, combo)
        # A fixed value that does not apply in this combination takes its default here.
        variant = workspace.create_variant(spec.family, domain, training, explicit=())
    except TrainwrightError as exc:
        return _failed(index, None, dict(combo), str(exc))
    parameters = _parameters(schema, spec, combo, variant)
    try:
        meta = _metadata(variant)
        if meta is not None and meta.status == "completed":
            row = _row(index, variant, parameters, meta, "completed", None, reused=not interrupted)
            return _with_objective(spec, row, meta)
        if is_locked(variant.lock_path):
            raise VariantError(f"{variant.name} is being trained by another run")
        resumable = meta is not None and _has_full_checkpoint(variant)
        if variant.config.training.threads or resumable:
            threads = None  # the config's setting, or the one the run started with
        trainer = workspace.trainer(variant, callbacks, cancel_event, threads=threads)
        # A directory without a valid full checkpoint (killed early) is started over.
        run = trainer.resume if resumable else lambda: trainer.train(overwrite=variant.dir.exists())
        session = run()
    except TrainwrightError as exc:
        return _failed(index, variant.name, parameters, str(exc))
    meta = _metadata(variant)
    if meta is None:  # pragma: no cover - the trainer always writes it
        return _failed(index, variant.name, parameters, session.error_message or "no metadata")
    row = _row(
        index, variant, parameters, meta, session.status, session.error_message, reused=False
    )
    return _with_objective(spec, row, meta)


def _with_objective(spec: SweepSpec, row: SweepRow, meta: VariantMetadata) -> SweepRow:
    """A search's completed row with its objective value (None when the metric is missing)."""
    if not spec.searched or row.result != "completed":
        return row
    return row.model_copy(update={"objective": search.objective_value(spec, meta.final_metrics)})


def _metadata(variant: Variant) -> VariantMetadata | None:
    try:
        return VariantMetadata.load(variant.metadata_path)
    except (OSError, ValueError):
        return None


def _has_full_checkpoint(variant: Variant) -> bool:
    try:
        latest_valid_full(variant.checkpoints_dir)
    except TrainwrightError:
        return False
    return True


def _parameters(
    schema: Any, spec: SweepSpec, combo: Mapping[str, Any], variant: Variant
) -> dict[str, Any]:
    """Each swept parameter's value as the variant's config records it (a linear baseline's
    hidden dim is the fixed 128 whatever was listed)."""
    config = variant.config
    out = {}
    for name in spec.swept_names():
        param = schema[name]
        section = config.domain if param.section == "domain" else config.training.model_dump()
        out[name] = (
            param.from_config(section[param.target]) if param.target in section else combo.get(name)
        )
    return out


def _row(
    index: int,
    variant: Variant,
    parameters: dict[str, Any],
    meta: VariantMetadata,
    result: str,
    error: str | None,
    *,
    reused: bool,
) -> SweepRow:
    if result != "completed":
        row = _failed(index, variant.name, parameters, error or "")
        return row.model_copy(
            update={"result": result, "error": error, "duration_s": meta.elapsed_s}
        )
    metrics = meta.final_metrics
    name, score = _headline(metrics)
    return SweepRow(
        index=index,
        variant=variant.name,
        parameters=parameters,
        result="completed",
        metric_name=name,
        metric_score=score,
        train_loss=_value(metrics.get("train_loss")),
        test_loss=_value(metrics.get("test_loss")),
        duration_s=meta.elapsed_s,
        weights_sha256=meta.weights_sha256,
        reused=reused,
    )


def _failed(index: int, variant: str | None, parameters: dict[str, Any], error: str) -> SweepRow:
    return SweepRow(
        index=index,
        variant=variant,
        parameters=parameters,
        result="failed",
        metric_name=NA,
        metric_score=NA,
        train_loss=NA,
        test_loss=NA,
        error=error,
    )


def _headline(metrics: Mapping[str, Any]) -> tuple[str, float | str]:
    for key, name in (("test_accuracy", "accuracy"), ("test_r2", "r2"), ("test_loss", "test_loss")):
        if metrics.get(key) is not None:
            return name, float(metrics[key])
    return "test_loss", NA


def _value(value: Any) -> float | str:
    return NA if value is None else float(value)


__all__ = [
    "create_sweep",
    "list_sweeps",
    "load_sweep",
    "run_combination",
    "run_sweep",
    "run_trial",
    "sweep",
]
