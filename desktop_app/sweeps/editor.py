"""The left side of the Sweeps tab: what to sweep, how many runs that makes, and how long.

A family, the domain and training forms in list mode (each sweepable field has a list toggle;
the engine's validator's message shows under it), the live combination count and estimated
duration. Whenever the family or the domain values change, the engine resolves them at once
(`Workspace.resolve`, synchronous and torch-free): its errors show under the fields, and the
training defaults they imply (a dataset's own learning rate, say) fill the fields the user has
not typed in. Earlier runs are timed for the estimate in a task, once the editor first shows.

A search (random, Bayesian, or LLM proposals) with no list filled searches the family's
default space (family.json `search_space`), less the parameters the forms fix. LLM proposals
are offered once the data home has an endpoint (Preferences, LLM endpoint); they run one trial
at a time and without pruning.
"""

from __future__ import annotations

import itertools
import logging
import math
from typing import Any

from PySide6.QtCore import Signal, Slot
from PySide6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QLabel,
    QLayout,
    QLineEdit,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from desktop_app.kit.family_combo import FamilyCombo
from desktop_app.kit.family_forms import BASIC_TRAINING, FamilyForms
from desktop_app.kit.family_loader import FamilyLoader
from desktop_app.kit.formatting import format_value
from desktop_app.kit.param_form import LIST_TEXT
from desktop_app.kit.preferences import Preferences
from desktop_app.kit.style import ERROR_STYLE
from desktop_app.kit.tasks import TaskRunner
from desktop_app.kit.widgets import described, group, labelled, scrolling_column, text_label
from desktop_app.sweeps.workers import EpochTimeTask, SweepRequest
from engine.sweeps import MAX_COMBINATIONS, count_combinations
from engine.sweeps.endpoint import LlmSettings, load_llm_settings
from engine.sweeps.errors import SweepError
from engine.sweeps.estimate import EpochTime, estimate_seconds, format_duration
from engine.sweeps.plan import DEFAULT_TRIALS, combinations, default_space, ignored_parameters
from engine.training.config import EXECUTION_PARAMETERS

log = logging.getLogger("trainwright.desktop")

BASIC_SWEEP = BASIC_TRAINING - {"warmup_steps"}
GRID_HINT = f"Press {LIST_TEXT} beside a parameter to give it a list of values, e.g. 10, 50, 100."
SEARCH_HINT = (
    f"Press {LIST_TEXT} beside a parameter to search it: a list (adam, sgd) or a range "
    "(8..256; 1e-4..1e-1:log on a log scale). With none, the family's default space is "
    "searched."
)
SEARCH_CHOICES = (
    ("grid", "Grid: every combination"),
    ("random", "Random"),
    ("tpe", "Bayesian (TPE)"),
    ("llm", "LLM proposals"),
)
SEARCH_NAMES = {
    "random": "a random search",
    "tpe": "a Bayesian (TPE) search",
    "llm": "an LLM search",
}
NO_ENDPOINT = (
    "LLM proposals need an LLM endpoint: set one in File → Preferences… (LLM endpoint); "
    "until then nothing is sent anywhere"
)
LLM_NO_PRUNING = "An LLM search trains each proposal in full: no pruning"
PRUNE_TIP = (
    "Stop unpromising trials early, at an evaluated epoch (median: worse than the "
    "median of earlier trials at that epoch; hyperband: successive halving)"
)
TARGET_TIP = (
    "Stop the search once a trial's objective reaches this value (at least it for an "
    "accuracy or R², at most it for a loss or MAE); empty: run every trial"
)
OBJECTIVE_CHOICES = (
    (None, "Automatic: accuracy, or loss for a regression"),
    ("test_accuracy:max", "Highest test accuracy"),
    ("test_r2:max", "Highest test R²"),
    ("test_loss:min", "Lowest test loss"),
    ("test_mae:min", "Lowest test MAE"),
)
PRUNE_CHOICES = (("none", "None"), ("median", "Median"), ("hyperband", "Hyperband"))


def optuna_missing() -> str | None:
    """Why searches cannot run here (the packaged app leaves Optuna out), or None."""
    from importlib.util import find_spec

    if find_spec("optuna") is None:
        return "Random and Bayesian searches need Optuna, which is not part of this install"
    return None


class SweepEditor(QWidget):
    """The family, its forms in list mode, the count and the estimate; `changed` whenever
    what Start would do (or whether it can) may have changed."""

    changed = Signal()

    def __init__(self, workspace: Any, runner: TaskRunner, preferences: Preferences) -> None:
        super().__init__()
        self.setObjectName("sweepEditor")
        self.workspace = workspace
        self.family_loader = FamilyLoader(self._on_family_loaded, self._on_family_load_failed, self)
        self.runner = runner
        self._ids = itertools.count(1)
        self._family_spec: Any = None
        self._epoch_times: dict[str, EpochTime | None] = {}
        self._epoch_request = 0
        self._resolve_error: str | None = None  # an engine error no field shows
        self._llm_problem: str | None = NO_ENDPOINT  # why LLM proposals are off (None: on)
        self._llm_endpoint = ""  # the endpoint they ask, for the count label
        self._closing = False
        self._shown = False  # earlier runs are timed once the editor is first shown
        self.family_combo = FamilyCombo(
            "sweepFamilyCombo",
            "Sweep family",
            "The model family to sweep; its parameters appear below",
        )
        self.family_forms = FamilyForms(
            workspace.registry,
            self.family_combo,
            ("sweepDomain", "sweepTraining"),
            basic=BASIC_SWEEP,
            lists=True,
            preferences=preferences,
            parent=self,
        )
        self.family_forms.familyChanged.connect(self._on_family_changed)
        self.hint = QLabel(GRID_HINT)
        self.hint.setWordWrap(True)
        self.hint.setObjectName("sweepHint")
        self.domain_form = self.family_forms.domain_form
        self.training_form = self.family_forms.training_form
        self._layout = QVBoxLayout(self)
        self._layout.addLayout(labelled("&Family:", self.family_combo, stretch=1))
        self._layout.addWidget(self._build_search())
        self._layout.addWidget(self._build_forms(), 1)
        # The live count of combinations and the estimate of how long they take.
        self.count_label = text_label(
            "sweepCountLabel",
            "Combinations",
            "How many runs the lists make (every combination)",
            wrap=True,
        )
        self.estimate_label = text_label(
            "sweepEstimateLabel",
            "Estimated duration",
            "Estimated from the time per epoch of earlier runs of this family; a rough guide",
            wrap=True,
        )
        self._layout.addWidget(self.count_label)
        self._layout.addWidget(self.estimate_label)
        self.set_llm_settings(preferences.llm)

    def add_footer(self, item: QWidget | QLayout) -> None:
        """Put the panel's controls (Start, Stop, progress, status) under the editor."""
        if isinstance(item, QLayout):
            self._layout.addLayout(item)
        else:
            self._layout.addWidget(item)

    def _build_search(self) -> QWidget:
        """Grid, random or Bayesian (TPE) search; a search's trials, objective, pruning and
        seed (off for a grid)."""
        self.search_combo = described(
            QComboBox(),
            "Search",
            "Grid: every combination of the lists. Random or Bayesian (TPE, Optuna): a number "
            "of trials drawn from lists and ranges such as 1e-4..1e-1:log. LLM proposals: the "
            "LLM endpoint set in Preferences proposes each trial from the results so far",
            object_name="sweepSearchKind",
        )
        for key, text in SEARCH_CHOICES:
            self.search_combo.addItem(text, key)
        missing = optuna_missing()
        if missing is not None:
            for key in ("random", "tpe"):
                item = self.search_combo.model().item(self.search_combo.findData(key))
                item.setEnabled(False)
                item.setToolTip(missing)
        self.trials_spin = described(
            QSpinBox(), "Trials", "How many trials the search draws", object_name="sweepTrials"
        )
        self.trials_spin.setRange(1, MAX_COMBINATIONS)
        self.trials_spin.setValue(DEFAULT_TRIALS)
        self.objective_combo = described(
            QComboBox(),
            "Objective",
            "What the search optimises, on the test split",
            object_name="sweepObjective",
        )
        for key, text in OBJECTIVE_CHOICES:
            self.objective_combo.addItem(text, key)
        self.prune_combo = described(QComboBox(), "Pruning", PRUNE_TIP, object_name="sweepPrune")
        for key, text in PRUNE_CHOICES:
            self.prune_combo.addItem(text, key)
        self.seed_spin = described(
            QSpinBox(),
            "Search seed",
            "The sampler's seed: the same seed draws the same trials",
            object_name="sweepSeed",
        )
        self.seed_spin.setRange(0, 2**31 - 1)
        self.target_edit = described(QLineEdit(), "Stop at", TARGET_TIP, object_name="sweepTarget")
        self.target_edit.setPlaceholderText("none: run every trial")
        self.target_edit.setClearButtonEnabled(True)
        form = self._search_form = QFormLayout()
        form.addRow("Se&arch:", self.search_combo)
        form.addRow("T&rials:", self.trials_spin)
        form.addRow("&Objective:", self.objective_combo)
        form.addRow("S&top at:", self.target_edit)
        form.addRow("&Pruning:", self.prune_combo)
        form.addRow("S&eed:", self.seed_spin)
        box = QWidget()
        box.setObjectName("sweepSearchBox")
        box.setLayout(form)
        form.setContentsMargins(0, 0, 0, 0)
        self.search_combo.currentIndexChanged.connect(self._on_search_changed)
        for spin in (self.trials_spin, self.seed_spin):
            spin.valueChanged.connect(self.update_count)
        for combo in (self.objective_combo, self.prune_combo):
            combo.currentIndexChanged.connect(self.update_count)
        self.target_edit.textChanged.connect(self.update_count)
        self._update_search_fields()
        return box

    def search_kind(self) -> str:
        return str(self.search_combo.currentData())

    @property
    def searching(self) -> bool:
        return self.search_kind() != "grid"

    @Slot(int)
    def _on_search_changed(self, _: int) -> None:
        self._update_search_fields()
        for form in (self.domain_form, self.training_form):
            form.set_ranges(self.searching)
        self.update_count()

    def _update_search_fields(self) -> None:
        fields = (
            self.trials_spin,
            self.objective_combo,
            self.target_edit,
            self.prune_combo,
            self.seed_spin,
        )
        for widget in fields:
            widget.setEnabled(self.searching)
            self._search_form.setRowVisible(widget, self.searching)  # a grid has no use for them
        llm = self.search_kind() == "llm"
        if llm:  # each proposal is trained in full: the LLM learns from whole results
            self.prune_combo.setCurrentIndex(self.prune_combo.findData("none"))
        self.prune_combo.setEnabled(self.searching and not llm)
        self.prune_combo.setToolTip(LLM_NO_PRUNING if llm else PRUNE_TIP)
        self.hint.setText(SEARCH_HINT if self.searching else GRID_HINT)

    # ---- LLM proposals: offered once the home has an endpoint --------------------------------
    def set_llm_settings(self, settings: LlmSettings, problem: str | None = None) -> None:
        """Offer LLM proposals when `settings` name an endpoint (else say where to set one);
        `problem`: why the home's settings could not be read."""
        if problem is not None:
            self._llm_problem = f"LLM proposals are off: {problem}"
        elif not settings.configured:
            self._llm_problem = NO_ENDPOINT
        else:
            self._llm_problem = None
        self._llm_endpoint = (
            f"{settings.model} at {settings.base_url}" if settings.configured else ""
        )
        item = self.search_combo.model().item(self.search_combo.findData("llm"))
        item.setEnabled(self._llm_problem is None)
        item.setToolTip(self._llm_problem or f"Proposals from {self._llm_endpoint}")
        self.update_count()

    def recheck_llm(self) -> None:
        """Read the home's endpoint again (`trainwright llm set` may have changed it); a
        small file, read as Preferences are."""
        try:
            settings = load_llm_settings(self.workspace.home)
        except SweepError as exc:
            self.set_llm_settings(LlmSettings(), str(exc))
            return
        self.set_llm_settings(settings)

    def target(self) -> float | None:
        """The objective to stop at (None: none); ValueError when it is not a number."""
        text = self.target_edit.text().strip()
        if not text:
            return None
        try:
            value = float(text)
        except ValueError:
            raise ValueError(f"Stop at: {text!r} is not a number") from None
        if not math.isfinite(value):
            raise ValueError(f"Stop at: {text!r} is not a finite number")
        return value

    def _build_forms(self) -> QWidget:
        """The hint and the two list-mode forms, scrolling."""
        self.domain_form.changed.connect(self._on_domain_changed)
        self.training_form.changed.connect(self.update_count)
        hint = self.hint
        return scrolling_column(
            [
                hint,
                group("Model and data", self.domain_form),
                group("Training", self.training_form),
            ],
            "sweepFormsScroll",
        )

    # ---- families and forms ------------------------------------------------------------------
    def load_families(self) -> None:
        self.family_forms.load()
        if not self.family_combo.count():
            self.update_count()

    @property
    def family(self) -> str | None:
        return self.family_forms.family()

    @Slot(object)
    def _on_family_changed(self, spec: Any) -> None:
        """New forms: time the family's earlier runs, and resolve its values."""
        self._family_spec = spec
        if self._shown:
            self._request_epoch_time(spec.name)
        self._on_domain_changed()

    # ---- defaults and errors that depend on the domain values --------------------------------
    @Slot()
    def _on_domain_changed(self) -> None:
        self._resolve()
        self.update_count()

    def _resolve(self) -> None:
        """Ask the engine about the domain values: an error per field, and the training
        defaults they imply (with where each comes from) for the fields left alone."""
        family = self.family
        if family is None or self._closing:
            return
        if not self.family_loader.ready(self.workspace.registry, family):
            return  # a user's family.py, importing in the background: asked again when done
        self._resolve_error = None
        self.domain_form.clear_external_errors()
        preferences = self.family_forms.preferences
        try:
            resolution = self.workspace.resolve(
                family,
                self.domain_form.values(),
                preferences=preferences.training_defaults() if preferences is not None else None,
                # A shown field may apply in only some combinations (depth, with the
                # architecture swept): creating the sweep checks that it applies in one.
                explicit=(),
            )
        except Exception as exc:
            # Not a verdict on the values (the family failed to load, say): creating the
            # sweep reports the problem, if there is one.
            log.warning("could not resolve the sweep's parameters: %s", exc)
            return
        hints = {name: default.hint() for name, default in resolution.defaults.items()}
        self.training_form.update_defaults(resolution.training_specs, hints)
        for field, message in resolution.errors.items():
            if not self.domain_form.has_field(field):
                self._resolve_error = self._resolve_error or f"{field}: {message}"
            elif field not in self.domain_form.errors():  # its own parse error says it first
                self.domain_form.set_external_error(field, message)

    def _on_family_loaded(self, name: str) -> None:
        if name == self.family:
            self._on_domain_changed()

    def _on_family_load_failed(self, name: str, message: str) -> None:
        log.warning("family %s failed to load: %s", name, message)  # creating a sweep says why

    def showEvent(self, event: Any) -> None:
        """Each time the editor shows, check the home's LLM endpoint; the first time, time
        earlier runs (in a task), which a window should not do before its first paint."""
        super().showEvent(event)
        if self._closing:
            return
        self.recheck_llm()
        if self._shown:
            return
        self._shown = True
        family = self.family
        if family is not None:
            self._request_epoch_time(family)

    # ---- the live count and estimate ---------------------------------------------------------
    def sweep_grid(self) -> dict[str, str]:
        """The lists as typed, by parameter name (domain, then training)."""
        return {**self.domain_form.grid_texts(), **self.training_form.grid_texts()}

    def _parsed(self) -> tuple[dict[str, list[Any]], dict[str, Any], dict[str, Any]] | None:
        """(parsed grid, domain values, training values) when the forms are valid."""
        if not (self.domain_form.is_valid() and self.training_form.is_valid()):
            return None
        grid = {**self.domain_form.grid(), **self.training_form.grid()}
        return grid, self.domain_form.values(), self.training_form.values()

    def combination_count(self) -> int | None:
        """How many runs the lists make, or a search's trials (None while a list or value is
        invalid)."""
        parsed = self._parsed()
        if parsed is None or self._family_spec is None:
            return None
        grid, domain, _ = parsed
        if self.searching:
            return self.trials_spin.value() if self._search_space() else 0
        if not grid:
            return 0
        return count_combinations(self._family_spec, grid, domain)

    def _searched_names(self) -> list[str]:
        """Every swept field (lists and ranges) of both forms."""
        return list(self.sweep_grid())

    def _search_space(self) -> dict[str, str]:
        """What a search explores: the lists and ranges typed, else the family's default
        space less the parameters the forms fix (a fixed value is not searched)."""
        typed = self.sweep_grid()
        if typed or self._family_spec is None:
            return typed
        space = default_space(
            self._family_spec, self.domain_form.fixed_values(), self.training_form.fixed_values()
        )
        return {
            name: format_value(value) if isinstance(value, list) else str(value)
            for name, value in space.items()
        }

    def _fixed_names(self) -> set[str]:
        return {*self.domain_form.fixed_values(), *self.training_form.fixed_values()}

    def startable(self) -> bool:
        """True when the forms make a valid sweep the engine has no objection to."""
        if self._closing or self._resolve_error or self._search_problem() is not None:
            return False
        count = self.combination_count()
        return count is not None and 0 < count <= MAX_COMBINATIONS

    @Slot()
    def update_count(self) -> None:
        """The count label (or what stops counting) and the estimate, for the forms now."""
        count = self._show_count()
        too_many = count is not None and count > MAX_COMBINATIONS
        self.count_label.setStyleSheet(
            ERROR_STYLE if too_many or self._resolve_error is not None else ""
        )
        self.changed.emit()

    def _show_count(self) -> int | None:
        """The count (and estimate) the forms make, or what stops counting; returns the count."""
        spec, parsed = self._family_spec, self._parsed()
        problem = self._count_problem(parsed)
        if problem is not None:
            self.count_label.setText(problem)
            self.estimate_label.setText("")
            return None
        assert parsed is not None
        grid, domain, training = parsed
        if self.searching:
            return self._show_trials(training)
        count = count_combinations(spec, grid, domain)
        text = f"{count} combination{'s' if count != 1 else ''}"
        if count > MAX_COMBINATIONS:
            text += f" — at most {MAX_COMBINATIONS} are allowed; shorten some lists"
        ignored = ignored_parameters(spec, grid, domain)
        if ignored:
            text += f" ({', '.join(ignored)} not swept: no hidden layers in linear baseline)"
        self.count_label.setText(text)
        self._update_estimate(grid, domain, training, count)
        return count

    def _show_trials(self, training: dict[str, Any]) -> int:
        """A search's count (its trials), what it searches, and the longest it may take
        (pruning or a target shortens it; an LLM's answers add to it)."""
        trials = self.trials_spin.value()
        kind = SEARCH_NAMES.get(self.search_kind(), "a search")
        names = list(self._search_space())
        if self._searched_names():
            space = ", ".join(names)
        else:
            space = f"the family's default space: {', '.join(names)}"
            fixed = sorted(self._fixed_names() & set(self._family_spec.search_space))
            if fixed:
                space += f" ({', '.join(fixed)} fixed)"
        text = f"{trials} trial{'s' if trials != 1 else ''} of {kind} over {space}"
        if self.search_kind() == "llm":
            text += f"; proposed by {self._llm_endpoint}, one trial at a time"
        self.count_label.setText(text)
        timing = self._epoch_times.get(self._family_spec.name)
        if timing is None:
            self.estimate_label.setText("")
            return trials
        epochs = training.get("epochs") or next(
            (p.default for p in self._family_spec.training_parameters() if p.name == "epochs"), 1
        )
        seconds = trials * int(epochs) * timing.seconds
        shorter = []
        if self.prune_combo.currentData() != "none":
            shorter.append("less with pruning")
        if self.target_edit.text().strip():
            shorter.append("less once a trial reaches the target")
        if self.search_kind() == "llm":
            shorter.append("plus the LLM's answers")
        self.estimate_label.setText(
            "; ".join(
                [
                    f"Estimated duration: at most {format_duration(seconds)} "
                    f"({timing.seconds:.3g} s per epoch)",
                    *shorter,
                ]
            )
        )
        return trials

    def _count_problem(self, parsed: Any) -> str | None:
        """Why there is no count to show, or None."""
        if self._family_spec is None:
            return "No family to sweep."
        if self._resolve_error is not None:
            return self._resolve_error
        if parsed is None:
            problems = {**self.domain_form.errors(), **self.training_form.errors()}
            noun = "value" if len(problems) == 1 else "values"
            return f"Fix the {noun} marked in red to count the combinations."
        search = self._search_problem()
        if search is not None:
            return search
        if not self.searching and not parsed[0]:
            return f"No lists yet: press {LIST_TEXT} beside a parameter to sweep it."
        return None

    def _search_problem(self) -> str | None:
        """Why the search chosen cannot start (its endpoint, target or space), or None."""
        if not self.searching:
            return None
        if self.search_kind() == "llm" and self._llm_problem is not None:
            return self._llm_problem
        try:
            self.target()
        except ValueError as exc:
            return str(exc)
        if self._search_space():
            return None
        spec = self._family_spec
        if spec is not None and spec.search_space:
            return (
                "Nothing to search: the forms fix every parameter of the family's default "
                f"space; press {LIST_TEXT} beside a parameter to search it."
            )
        return f"Nothing to search yet: press {LIST_TEXT} beside a parameter."

    def _update_estimate(
        self, grid: dict[str, list[Any]], domain: dict[str, Any], training: dict[str, Any], n: int
    ) -> None:
        """How long the sweep may take, from the time per epoch of earlier runs."""
        spec = self._family_spec
        if n > MAX_COMBINATIONS:
            self.estimate_label.setText("")
            return
        if spec.name not in self._epoch_times:
            self.estimate_label.setText("Estimated duration: timing earlier runs…")
            return
        timing = self._epoch_times[spec.name]
        if timing is None:
            self.estimate_label.setText(
                f"Estimated duration: unknown (no completed run of {spec.name} to time yet)"
            )
            return
        epochs = training.get("epochs")
        if epochs is None:
            epochs = next((p.default for p in spec.training_parameters() if p.name == "epochs"), 1)
        seconds = estimate_seconds(combinations(spec, grid, domain), int(epochs), timing.seconds)
        runs = f"{timing.runs} earlier run{'s' if timing.runs != 1 else ''}"
        self.estimate_label.setText(
            f"Estimated duration: {format_duration(seconds)} "
            f"({timing.seconds:.3g} s per epoch, from {runs})"
        )

    def retime(self, family: str) -> None:
        """A sweep of `family` has run: time its runs again for the estimate."""
        self._epoch_times.pop(family, None)
        if family == self.family:
            self._request_epoch_time(family)
        self.update_count()

    def _request_epoch_time(self, family: str) -> None:
        if self._closing:
            return
        self.runner.cancel("epoch-time")
        self._epoch_request = next(self._ids)
        task = EpochTimeTask(self._epoch_request, self.workspace.home, family)
        self.runner.start(task, self._on_epoch_time, self._on_epoch_time_failed)

    @Slot(int, object)
    def _on_epoch_time(self, request_id: int, timing: EpochTime | None) -> None:
        if request_id != self._epoch_request or self._closing:
            return
        family = self.family
        if family is not None:
            self._epoch_times[family] = timing
        self.update_count()

    @Slot(int, str)
    def _on_epoch_time_failed(self, request_id: int, message: str) -> None:
        if request_id != self._epoch_request or self._closing:
            return
        log.warning("could not time earlier runs: %s", message)
        family = self.family
        if family is not None:
            self._epoch_times[family] = None
        self.update_count()

    # ---- the request -------------------------------------------------------------------------
    def sweep_request(self) -> SweepRequest:
        """The sweep the forms describe (check `startable()` first)."""
        assert self.family is not None
        training = self.training_form.fixed_values()
        values = self.training_form.values()
        # Execution settings go as shown (their defaults may come from the preferences).
        training.update({k: v for k, v in values.items() if k in EXECUTION_PARAMETERS})
        search: dict[str, Any] = {}
        if self.searching:
            search = {
                "search": self.search_kind(),
                "trials": self.trials_spin.value(),
                "objective": self.objective_combo.currentData(),
                "prune": self.prune_combo.currentData(),
                "seed": self.seed_spin.value(),
            }
            target = self.target()
            if target is not None:
                search["target"] = target
        return SweepRequest(
            family=self.family,
            grid=self._search_space() if self.searching else self.sweep_grid(),
            domain=self.domain_form.fixed_values(),
            training=training,
            search=search,
        )

    def close_editor(self) -> None:
        """The panel is closing: ask the engine nothing more."""
        self._closing = True
        self.family_loader.shutdown()
