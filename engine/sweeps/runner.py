"""Running a sweep: each combination an ordinary variant, one after another or N at once.

Sequential (parallel=1, the default) runs in this process and passes `callbacks` to each
run's trainer. parallel=N > 1 uses a pool of N worker *processes* (spawn): torch's thread
count and deterministic flags are process-global, so runs sharing a process could change
each other's settings mid-run (and their bits). Each worker trains with
`max(1, default_threads() // N)` threads unless the config fixes `threads`; per-run
callbacks are not available there, only `on_progress`.

A combination whose variant already exists completed is reused, not retrained, so sweeps
compose; one that was interrupted resumes from its last full checkpoint. A stopped
(cancel_event) or killed sweep resumes with `run_sweep` (or `trainwright sweep resume ID`):
finished combinations are skipped, the interrupted one resumes, the rest run.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from typing import Any

from engine.errors import TrainwrightError, VariantError
from engine.metadata import VariantMetadata, now
from engine.sweeps import store
from engine.sweeps.errors import SweepError
from engine.sweeps.plan import SweepSpec, combination_config, plan_sweep
from engine.sweeps.schema import sweep_schema
from engine.sweeps.store import NA, SweepRecord, SweepRow
from engine.training.callbacks import Callback, Callbacks, CancelEvent
from engine.training.checkpoints import latest_valid_full
from engine.training.lock import VariantLock, is_locked
from engine.variants import Variant
from engine.workspace import Workspace

ProgressFn = Callable[[int, int], None]


def create_sweep(
    workspace: Workspace,
    family: str,
    grid: Mapping[str, str | list[Any]],
    domain: Mapping[str, Any] | None = None,
    training: Mapping[str, Any] | None = None,
    *,
    parallel: int = 1,
) -> SweepRecord:
    """Validate and store a new sweep (nothing trained yet); its `id` is what to run."""
    plan = plan_sweep(workspace, family, grid, domain, training, parallel=parallel)
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
) -> SweepRecord:
    """Run (or resume) a stored sweep until every combination has a row or it is stopped.

    After each combination: its row is stored (sweep.json rewritten atomically), then
    `on_row(row)` and `on_progress(done, total)` are called, `done` counting every finished
    combination. Setting `cancel_event` stops the running combination at its next step
    (it resumes from there later) and starts no other; the record comes back "cancelled".
    """
    sweep_id = sweep if isinstance(sweep, str) else sweep.id
    home = workspace.home
    if parallel is not None and parallel < 1:
        raise SweepError(f"parallel runs must be at least 1, not {parallel}")
    lock = VariantLock(store.lock_path(home, sweep_id))
    # An unknown id, or a sweep.json that contradicts itself: SweepError before the lock file.
    _check_names(workspace, store.load(home, sweep_id), store.sweep_path(home, sweep_id))
    try:
        lock.acquire()
    except VariantError:
        raise SweepError(f"sweep {sweep_id} is running in another process") from None
    try:
        record = store.load(home, sweep_id)
        cancel = cancel_event or threading.Event()
        # Started by an earlier run of this sweep (killed or stopped) and not recorded: their
        # variants count as trained by this sweep, not reused, even if they completed.
        interrupted = set(record.in_progress) | {
            r.index for r in record.rows if r.result == "cancelled"
        }
        todo = [i for i in range(record.total) if i not in record.finished()]
        record.status, record.finished_at = "running", None
        store.save(home, record)
        workers = parallel or record.spec.parallel
        if workers > 1 and len(todo) > 1:
            _run_pool(workspace, record, todo, interrupted, workers, cancel, on_progress, on_row)
        else:
            _run_here(workspace, record, todo, interrupted, callbacks, cancel, on_progress, on_row)
        done = len(record.finished()) == record.total
        record.status = "completed" if done else "cancelled"
        record.in_progress = []
        record.finished_at = now() if done else None
        store.save(home, record)
        return record
    finally:
        lock.release()


def sweep(
    workspace: Workspace,
    family: str,
    grid: Mapping[str, str | list[Any]],
    domain: Mapping[str, Any] | None = None,
    training: Mapping[str, Any] | None = None,
    *,
    parallel: int = 1,
    **run_kwargs: Any,
) -> SweepRecord:
    """Create and run a sweep in one call (see `create_sweep` and `run_sweep`)."""
    record = create_sweep(workspace, family, grid, domain, training, parallel=parallel)
    return run_sweep(workspace, record, **run_kwargs)


def _check_names(workspace: Workspace, record: SweepRecord, path: Any) -> None:
    """Every swept name of a stored sweep is one its family can sweep (naming the file)."""
    schema = sweep_schema(workspace.registry.spec(record.spec.family))
    for combo in [record.spec.grid, *record.combinations]:
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


def _run_pool(
    workspace: Workspace,
    record: SweepRecord,
    todo: list[int],
    interrupted: set[int],
    workers: int,
    cancel: threading.Event,
    on_progress: ProgressFn | None,
    on_row: Callable[[SweepRow], None] | None,
) -> None:
    import multiprocessing

    from engine.training.trainer import default_threads

    context = multiprocessing.get_context("spawn")
    stop = context.Event()
    threads = max(1, default_threads() // workers)
    spec_json = record.spec.model_dump(mode="json")
    pending = list(todo)
    running: dict[Future[dict[str, Any]], int] = {}
    with ProcessPoolExecutor(
        max_workers=min(workers, len(todo)),
        mp_context=context,
        initializer=_init_worker,
        initargs=(stop,),
    ) as pool:
        while pending or running:
            while pending and len(running) < workers and not cancel.is_set():
                index = pending.pop(0)
                args = (str(workspace.home), spec_json, index, record.combinations[index])
                future = pool.submit(_worker, *args, index in interrupted, threads)
                running[future] = index
                record.in_progress = sorted([*record.in_progress, index])
                store.save(workspace.home, record)
            if not running:
                break
            done, _ = wait(list(running), timeout=0.2, return_when=FIRST_COMPLETED)
            if cancel.is_set():
                stop.set()
                pending.clear()
            for future in done:
                index = running.pop(future)
                try:
                    row = SweepRow.model_validate(future.result())
                except Exception as exc:  # the worker process itself died
                    row = _failed(
                        index, None, record.combinations[index], f"{type(exc).__name__}: {exc}"
                    )
                _record_row(workspace, record, row, on_progress, on_row)


_WORKER_STOP: Any = None


def _init_worker(stop: Any) -> None:
    global _WORKER_STOP
    _WORKER_STOP = stop


def _worker(
    home: str,
    spec_json: dict[str, Any],
    index: int,
    combo: dict[str, Any],
    interrupted: bool,
    threads: int,
) -> dict[str, Any]:
    workspace = Workspace(home)
    spec = SweepSpec.model_validate(spec_json)
    row = run_combination(
        workspace,
        spec,
        index,
        combo,
        cancel_event=_WORKER_STOP,
        interrupted=interrupted,
        threads=threads,
    )
    return row.model_dump(mode="json")


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
            return _row(index, variant, parameters, meta, "completed", None, reused=not interrupted)
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
    return _row(
        index, variant, parameters, meta, session.status, session.error_message, reused=False
    )


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
    for name in spec.grid:
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
    "sweep",
]
