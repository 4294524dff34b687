"""Random and TPE searches (Optuna): the study beside sweep.json, its trials as sweep rows.

The study lives in `<home>/sweeps/<id>/study.journal`, Optuna's JournalStorage on a file
(safe for several processes, unlike SQLite there). Trial N is the sweep's combination N: the
runner asks for a trial, records its parameters as the next combination, trains it as an
ordinary variant, and tells the study the objective (or that it was pruned or failed).

Reproducible: before each trial the sampler is made afresh, seeded with the sweep's seed plus
the number of trials so far, so a search stopped or killed and resumed draws the same trials
as one never stopped (a sampler re-created with the same seed on resume would repeat the
first trials). A trial asked but never told (killed mid-run) is trained again from its
variant's checkpoint and told then.

Pruning: `PruningReporter`, a trainer callback, reports the objective's metric at each
evaluated epoch; when the pruner says so it sets the run's stop event, the trainer stops at
the next epoch boundary and keeps a resumable checkpoint (variant status cancelled), and the
row is "pruned" with the epoch it reached. Optuna is imported only when a search runs.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from engine.sweeps import store
from engine.sweeps.errors import SweepError
from engine.sweeps.plan import Range, SweepSpec
from engine.training.callbacks import Callback

STUDY_FILE = "study.journal"
STUDY_NAME = "sweep"
MISSING = (
    "random and TPE searches need Optuna (`pip install optuna`); it is not part of this install"
)
PRIMITIVE = (str, int, float, bool, type(None))


def study_path(home: Path, sweep_id: str) -> Path:
    return store.sweep_dir(home, sweep_id) / STUDY_FILE


def _optuna() -> Any:
    try:
        import optuna
    except ModuleNotFoundError:
        raise SweepError(MISSING) from None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna


def open_study(home: Path, sweep_id: str, spec: SweepSpec) -> Any:
    """The sweep's study (created on first use), with its pruner; the sampler is set per
    trial by `ask`."""
    optuna = _optuna()
    from optuna.storages.journal import JournalFileBackend, JournalStorage

    storage = JournalStorage(JournalFileBackend(str(study_path(home, sweep_id))))
    _metric, direction = objective_of(spec)
    return optuna.create_study(
        storage=storage,
        study_name=STUDY_NAME,
        direction="maximize" if direction == "max" else "minimize",
        pruner=_pruner(optuna, spec),
        load_if_exists=True,
    )


def objective_of(spec: SweepSpec) -> tuple[str, str]:
    """(metric, "max" | "min") of a search."""
    metric, _, direction = (spec.objective or "test_loss:min").partition(":")
    return metric, direction or "min"


def _pruner(optuna: Any, spec: SweepSpec) -> Any:
    if spec.prune == "median":
        # Two finished trials before any is pruned, and none before its second evaluation.
        return optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=2)
    if spec.prune == "hyperband":
        epochs = spec.training.get("epochs")
        top = (
            int(epochs)
            if isinstance(epochs, int) and "epochs" not in spec.swept_names()
            else "auto"
        )
        return optuna.pruners.HyperbandPruner(min_resource=1, max_resource=top)
    return optuna.pruners.NopPruner()


def _sampler(optuna: Any, spec: SweepSpec, drawn: int) -> Any:
    seed = spec.seed + drawn
    if spec.search == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    # Few startup trials: a search of 12 gets past random draws quickly.
    return optuna.samplers.TPESampler(seed=seed, n_startup_trials=min(5, spec.trials or 5))


def ask(study: Any, spec: SweepSpec) -> tuple[int, dict[str, Any]]:
    """The next trial's number and its combination (every list and range of the spec)."""
    optuna = _optuna()
    study.sampler = _sampler(optuna, spec, len(study.trials))
    trial = study.ask()
    return trial.number, suggest(trial, spec)


def suggest(trial: Any, spec: SweepSpec) -> dict[str, Any]:
    """A trial's value for each swept name, in the spec's order."""
    combo: dict[str, Any] = {}
    for name, values in spec.grid.items():
        if all(isinstance(v, PRIMITIVE) for v in values):
            combo[name] = trial.suggest_categorical(name, values)
        else:  # Optuna takes plain values only: a list value is chosen by its position
            combo[name] = values[trial.suggest_categorical(name, list(range(len(values))))]
    for name, bounds in spec.ranges.items():
        combo[name] = _suggest_range(trial, name, bounds)
    return combo


def combination_of(spec: SweepSpec, params: Mapping[str, Any]) -> dict[str, Any]:
    """The combination of a trial's parameters as Optuna stored them (a list value by its
    position), in the spec's order; names the trial lacks are left out."""
    combo: dict[str, Any] = {}
    for name, values in spec.grid.items():
        if name in params:
            plain = all(isinstance(v, PRIMITIVE) for v in values)
            combo[name] = params[name] if plain else values[int(params[name])]
    for name in spec.ranges:
        if name in params:
            combo[name] = params[name]
    return combo


def _suggest_range(trial: Any, name: str, bounds: Range) -> int | float:
    if bounds.integer:
        return trial.suggest_int(name, int(bounds.low), int(bounds.high), log=bounds.log)
    return trial.suggest_float(name, bounds.low, bounds.high, log=bounds.log)


def unfinished_trials(study: Any) -> dict[int, dict[str, Any]]:
    """Trials asked but never told (their process died): number -> parameters."""
    optuna = _optuna()
    running = optuna.trial.TrialState.RUNNING
    return {
        t.number: dict(t.params) for t in study.get_trials(deepcopy=False) if t.state == running
    }


def tell(study: Any, number: int, row: store.SweepRow) -> None:
    """Tell the study how trial `number` ended (its objective, pruned or failed)."""
    optuna = _optuna()
    states = optuna.trial.TrialState
    if row.result == "completed" and row.objective is not None:
        study.tell(number, row.objective)
    elif row.result == "pruned":
        study.tell(number, state=states.PRUNED)
    elif row.result in ("completed", "failed"):
        study.tell(number, state=states.FAIL)
    # cancelled or timed out: left running, the trial resumes with the sweep


def objective_value(spec: SweepSpec, metrics: Mapping[str, Any]) -> float | None:
    metric, _ = objective_of(spec)
    value = metrics.get(metric)
    return None if value is None else float(value)


def param_importances(home: Path, sweep_id: str, spec: SweepSpec) -> dict[str, float]:
    """How much each searched parameter mattered to the objective (shares summing to 1),
    by Optuna's PED-ANOVA evaluator (fANOVA would need scikit-learn); SweepError while
    fewer than two trials have completed."""
    optuna = _optuna()
    study = open_study(home, sweep_id, spec)
    complete = optuna.trial.TrialState.COMPLETE
    if sum(1 for t in study.get_trials(deepcopy=False) if t.state == complete) < 2:
        raise SweepError("parameter importance needs at least two completed trials")
    evaluator = optuna.importance.PedAnovaImportanceEvaluator()
    importances = optuna.importance.get_param_importances(study, evaluator=evaluator)
    return {name: float(value) for name, value in importances.items()}


class EitherEvent:
    """Set when either event is: the sweep's stop (Ctrl-C, Stop) or a trial's prune. The
    trainer only asks `is_set()`."""

    def __init__(self, first: Any, second: threading.Event) -> None:
        self.first, self.second = first, second

    def is_set(self) -> bool:
        return self.second.is_set() or (self.first is not None and self.first.is_set())

    def set(self) -> None:
        self.second.set()


class PruningReporter(Callback):
    """Reports the objective's metric of each evaluated epoch to trial `number` (the study
    re-opened from its journal, so this works in a worker process too) and sets `pruned`
    when the pruner stops the trial."""

    def __init__(self, home: Path, sweep_id: str, spec: SweepSpec, number: int) -> None:
        self.study = open_study(home, sweep_id, spec)
        self.metric, _ = objective_of(spec)
        self.number = number
        self.pruned = threading.Event()
        self.epoch = 0  # the last epoch trained
        self._trial: Any = None

    def on_epoch_end(self, metrics: Any) -> None:
        self.epoch = int(metrics.epoch)
        value = getattr(metrics, self.metric, None)
        if value is None or self.pruned.is_set():
            return
        trial = self._trial_object()
        trial.report(float(value), self.epoch)
        if trial.should_prune():
            self.pruned.set()

    def _trial_object(self) -> Any:
        if self._trial is None:
            optuna = _optuna()
            trial_id = self.study._storage.get_trial_id_from_study_id_trial_number(
                self.study._study_id, self.number
            )
            self._trial = optuna.Trial(self.study, trial_id)
        return self._trial


__all__ = [
    "EitherEvent",
    "PruningReporter",
    "ask",
    "combination_of",
    "open_study",
    "param_importances",
    "study_path",
    "tell",
    "unfinished_trials",
]
