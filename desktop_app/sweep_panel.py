"""The Sweeps tab: lists for some parameters, every combination trained, the runs compared.

Left, the sweep editor: a family, the domain and training forms (each sweepable field has a
list toggle; the engine's validator's message shows under it), the live combination count
and estimated duration, Start/Stop and the overall progress `i / total`. Right, past sweeps
(select one to load its runs, Resume to finish it) and the runs table: one row per
combination, sortable and filterable, the best highlighted, CSV export; selecting runs
overlays their curves.

The sweep runs in a SweepWorker on a QThread kept on the panel. Runs in one process take
turns (the engine's process-wide lock): a sweep started while the Training tab trains waits
for that run to finish, and says so. `shutdown()` stops the sweep and waits for the threads.
"""

from __future__ import annotations

import itertools
import logging
import threading
from pathlib import Path
from typing import Any

from PySide6.QtCore import QItemSelection, Qt, QThread, QTimer, Signal, Slot
from PySide6.QtWidgets import (
    QAbstractItemView,
    QApplication,
    QComboBox,
    QFileDialog,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSplitter,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from desktop_app.analysis_workers import CurvesWorker, WorkerRunner
from desktop_app.preferences import Preferences
from desktop_app.runs_model import RESULTS, RunsFilterProxy, RunsTableModel
from desktop_app.sweep_editor import LIST_TEXT, SweepForm
from desktop_app.sweep_workers import (
    DefaultsWorker,
    EpochTimeWorker,
    SweepRequest,
    SweepWorker,
    TrainingDefaults,
)
from desktop_app.widgets import described
from desktop_app.workers import worker_thread
from engine.sweeps import MAX_COMBINATIONS, SweepRecord, SweepRow, count_combinations
from engine.sweeps.estimate import EpochTime, estimate_seconds, format_duration
from engine.sweeps.plan import combinations, ignored_parameters
from engine.training.config import EXECUTION_PARAMETERS
from engine.variants import variant_dir

log = logging.getLogger("trainwright.desktop")

BASIC_TRAINING = {
    "epochs",
    "lr",
    "optimizer",
    "weight_decay",
    "batch_size",
    "scheduler",
    "training_fraction",
    "data_seed",
}
DEFAULTS_DELAY_MS = 120  # domain edits settle this long before the engine is asked
ERROR_STYLE = "color: #b3261e;"
ID_ROLE = Qt.ItemDataRole.UserRole + 1
STATUS_ROLE = Qt.ItemDataRole.UserRole + 2
RESUMABLE = frozenset({"pending", "cancelled", "interrupted"})
WAITING_TEXT = "Waiting for the current run to finish (runs in this app take turns)…"
TURNS_TIP = (
    "Runs in this app take turns: a sweep started while the Training tab trains (or a "
    "replay runs) waits for that run to finish."
)


class SweepPanel(QWidget):
    """The sweep editor, its run, past sweeps and the runs table, self-contained."""

    runFinished = Signal()  # a sweep run has ended (completed, stopped or failed)
    statusMessage = Signal(str)

    def __init__(
        self,
        workspace: Any,
        parent: QWidget | None = None,
        *,
        preferences: Preferences | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("sweepPanel")
        self.setAccessibleName("Sweeps")
        self.workspace = workspace
        self.preferences = preferences or Preferences.load(workspace.home)[0]
        self.runner = WorkerRunner(self)  # the estimate's timing and the curves
        self._ids = itertools.count(1)
        self._family_spec: Any = None
        self._epoch_times: dict[str, EpochTime | None] = {}
        self._epoch_request = 0
        self._defaults_request = 0
        self._defaults_pending = False
        self._defaults_for: tuple[str, dict[str, Any]] | None = None
        self._resolve_error: str | None = None
        self._curves_request = 0
        self._curve_cache: dict[str, tuple[Any, dict[str, Any]]] = {}
        self._wanted_curves: list[str] = []
        self._pending_keys: dict[str, Any] = {}
        self._ignored: list[str] = []
        self.curve_items: dict[str, list[Any]] = {}
        self.loss_plot: Any = None
        self.metric_plot: Any = None
        # The sweep in progress.
        self._thread: QThread | None = None
        self._worker: SweepWorker | None = None
        self._cancel: threading.Event | None = None
        self._request: SweepRequest | None = None
        self._running_id: str | None = None
        self._waiting = False
        self._running_text = ""
        self._outcome: SweepRecord | None = None
        self._error: str | None = None
        self._closing = False
        self._shown = False  # the engine is asked nothing before the panel is first shown
        self.last_record: SweepRecord | None = None  # the last sweep run's final record
        self.last_error: str | None = None  # why the last sweep run failed, if it did
        self._defaults_timer = QTimer(self)
        self._defaults_timer.setSingleShot(True)
        self._defaults_timer.setInterval(DEFAULTS_DELAY_MS)
        self._defaults_timer.timeout.connect(self._request_defaults)

        self._build()
        app = QApplication.instance()
        if app is not None:
            app.aboutToQuit.connect(self.shutdown)
        self._load_families()
        self.refresh_sweeps()

    # ---- construction ----------------------------------------------------------------------
    def _build(self) -> None:
        self.family_combo = described(
            QComboBox(), "Sweep family", "The model family to sweep; its parameters appear below"
        )
        self.family_combo.setObjectName("sweepFamilyCombo")
        self.family_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        family_label = QLabel("&Family:")
        family_label.setBuddy(self.family_combo)
        family_row = QHBoxLayout()
        family_row.addWidget(family_label)
        family_row.addWidget(self.family_combo, 1)

        self.domain_form = SweepForm("sweepDomain")
        self.training_form = SweepForm(
            "sweepTraining", basic=BASIC_TRAINING, advanced_title="More training parameters"
        )
        hint = QLabel(
            f"Press {LIST_TEXT} beside a parameter to give it a list of values, e.g. 10, 50, 100."
        )
        hint.setWordWrap(True)
        hint.setObjectName("sweepHint")
        domain_group = QGroupBox("Model and data")
        QVBoxLayout(domain_group).addWidget(self.domain_form)
        training_group = QGroupBox("Training")
        QVBoxLayout(training_group).addWidget(self.training_form)
        forms = QWidget()
        forms_layout = QVBoxLayout(forms)
        forms_layout.setContentsMargins(0, 0, 0, 0)
        forms_layout.addWidget(hint)
        forms_layout.addWidget(domain_group)
        forms_layout.addWidget(training_group)
        forms_layout.addStretch(1)
        scroll = QScrollArea()
        scroll.setObjectName("sweepFormsScroll")
        scroll.setWidgetResizable(True)
        scroll.setWidget(forms)

        self.count_label = described(
            QLabel(""), "Combinations", "How many runs the lists make (every combination)"
        )
        self.count_label.setObjectName("sweepCountLabel")
        self.count_label.setWordWrap(True)
        self.estimate_label = described(
            QLabel(""),
            "Estimated duration",
            "Estimated from the time per epoch of earlier runs of this family; a rough guide",
        )
        self.estimate_label.setObjectName("sweepEstimateLabel")
        self.estimate_label.setWordWrap(True)
        self.start_button = described(
            QPushButton("Start sweep"),
            "Start sweep",
            "Train every combination, one after another. " + TURNS_TIP,
        )
        self.start_button.setObjectName("startSweepButton")
        self.start_button.setEnabled(False)
        self.stop_button = described(
            QPushButton("Stop sweep"),
            "Stop sweep",
            "Stop after the current step; the sweep can be resumed later",
        )
        self.stop_button.setObjectName("stopSweepButton")
        self.stop_button.setEnabled(False)
        self.progress = described(
            QProgressBar(), "Sweep progress", "Combinations finished of the sweep's total"
        )
        self.progress.setObjectName("sweepProgress")
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.progress.setFormat("0 / 0")
        self.status_label = described(
            QLabel("No sweep running."), "Sweep status", "What the sweep is doing. " + TURNS_TIP
        )
        self.status_label.setObjectName("sweepStatusLabel")
        self.status_label.setWordWrap(True)
        self.status_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        buttons = QHBoxLayout()
        buttons.addWidget(self.start_button)
        buttons.addWidget(self.stop_button)
        buttons.addWidget(self.progress, 1)

        editor = QWidget()
        editor.setObjectName("sweepEditor")
        editor_layout = QVBoxLayout(editor)
        editor_layout.addLayout(family_row)
        editor_layout.addWidget(scroll, 1)
        editor_layout.addWidget(self.count_label)
        editor_layout.addWidget(self.estimate_label)
        editor_layout.addLayout(buttons)
        editor_layout.addWidget(self.status_label)

        # Past sweeps.
        self.past_list = described(
            QListWidget(),
            "Past sweeps",
            "Sweeps stored in this data home; select one to show its runs",
        )
        self.past_list.setObjectName("pastSweepsList")
        self.past_list.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.resume_button = described(
            QPushButton("Resume"),
            "Resume sweep",
            "Run the combinations of the selected sweep that have not finished. " + TURNS_TIP,
        )
        self.resume_button.setObjectName("resumeSweepButton")
        self.resume_button.setEnabled(False)
        self.refresh_button = described(
            QPushButton("Refresh"), "Refresh sweeps", "Read the stored sweeps again"
        )
        self.refresh_button.setObjectName("refreshSweepsButton")
        past_buttons = QHBoxLayout()
        past_buttons.addWidget(self.resume_button)
        past_buttons.addWidget(self.refresh_button)
        past_buttons.addStretch(1)
        past_group = QGroupBox("Past sweeps")
        past_layout = QVBoxLayout(past_group)
        past_layout.addWidget(self.past_list, 1)
        past_layout.addLayout(past_buttons)

        # Runs.
        self.model = RunsTableModel(self)
        self.proxy = RunsFilterProxy(self)
        self.proxy.setSourceModel(self.model)
        self.filter_edit = described(
            QLineEdit(), "Filter runs", "Show only the runs with a cell containing this text"
        )
        self.filter_edit.setObjectName("runsFilterEdit")
        self.filter_edit.setPlaceholderText("Filter runs…")
        self.filter_edit.setClearButtonEnabled(True)
        self.result_filter = described(
            QComboBox(), "Result filter", "Show only the runs with one result"
        )
        self.result_filter.setObjectName("runsResultFilter")
        self.result_filter.addItem("All results", None)
        for result in RESULTS:
            self.result_filter.addItem(result, result)
        self.export_button = described(
            QPushButton("Export CSV…"), "Export runs as CSV", "Save the runs shown as a CSV file"
        )
        self.export_button.setObjectName("exportRunsButton")
        self.export_button.setEnabled(False)
        filters = QHBoxLayout()
        filters.addWidget(self.filter_edit, 1)
        filters.addWidget(self.result_filter)
        filters.addWidget(self.export_button)
        self.table = described(
            QTableView(),
            "Runs",
            "One row per combination; the best is highlighted. Select rows to compare their "
            "curves; hover a failed row for its error",
        )
        self.table.setObjectName("runsTable")
        self.table.setModel(self.proxy)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(-1, Qt.SortOrder.AscendingOrder)  # the sweep's order
        self.table.setAlternatingRowColors(True)
        self.table.setWordWrap(False)
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.runs_label = QLabel("Select a past sweep, or start one, to see its runs.")
        self.runs_label.setObjectName("runsLabel")
        self.runs_label.setWordWrap(True)
        runs_group = QGroupBox("Runs")
        runs_layout = QVBoxLayout(runs_group)
        runs_layout.addWidget(self.runs_label)
        runs_layout.addLayout(filters)
        runs_layout.addWidget(self.table, 1)

        self.curves_page = QWidget()
        self.curves_page.setObjectName("sweepCurvesPage")
        self.curves_page.setMinimumHeight(180)
        self._curves_layout = QHBoxLayout(self.curves_page)
        self._curves_layout.setContentsMargins(0, 0, 0, 0)
        self.curves_hint = QLabel("Select runs to overlay their loss and accuracy curves.")
        self.curves_hint.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self._curves_layout.addWidget(self.curves_hint)

        top = QSplitter(Qt.Orientation.Horizontal)
        top.addWidget(past_group)
        top.addWidget(runs_group)
        top.setStretchFactor(0, 1)
        top.setStretchFactor(1, 3)
        right = QSplitter(Qt.Orientation.Vertical)
        right.addWidget(top)
        right.addWidget(self.curves_page)
        right.setStretchFactor(0, 3)
        right.setStretchFactor(1, 2)
        right.setSizes([500, 340])
        main = QSplitter(Qt.Orientation.Horizontal)
        main.addWidget(editor)
        main.addWidget(right)
        main.setStretchFactor(0, 1)
        main.setStretchFactor(1, 2)
        main.setSizes([440, 960])
        self.splitters = (main, right, top)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(main)

        self.family_combo.currentIndexChanged.connect(self._on_family_changed)
        self.domain_form.changed.connect(self._on_domain_changed)
        self.training_form.changed.connect(self._update_editor)
        self.start_button.clicked.connect(self.start_sweep)
        self.stop_button.clicked.connect(self.stop_sweep)
        self.past_list.itemSelectionChanged.connect(self._on_past_selection)
        self.resume_button.clicked.connect(self.resume_selected)
        self.refresh_button.clicked.connect(self._on_refresh_clicked)
        self.filter_edit.textChanged.connect(self._on_filter_text)
        self.result_filter.currentIndexChanged.connect(self._on_result_filter)
        self.export_button.clicked.connect(self.export_clicked)
        self.table.selectionModel().selectionChanged.connect(self._on_runs_selection)

    # ---- families and forms ------------------------------------------------------------------
    def _load_families(self) -> None:
        registry = self.workspace.registry
        blocked = self.family_combo.blockSignals(True)
        for spec in registry.specs():
            self.family_combo.addItem(spec.display_name, spec.name)
            index = self.family_combo.count() - 1
            tip = spec.description or spec.display_name
            self.family_combo.setItemData(index, tip, Qt.ItemDataRole.ToolTipRole)
        self.family_combo.blockSignals(blocked)
        if self.family_combo.count():
            self._on_family_changed(self.family_combo.currentIndex())
        else:
            self._update_editor()

    @property
    def family(self) -> str | None:
        return self.family_combo.currentData()

    def select_family(self, name: str) -> bool:
        """Choose the family to sweep (rebuilds the forms); False if it is not listed."""
        index = self.family_combo.findData(name)
        if index < 0:
            return False
        if index == self.family_combo.currentIndex():
            return True
        self.family_combo.setCurrentIndex(index)
        return True

    @Slot(int)
    def _on_family_changed(self, index: int) -> None:
        name = self.family_combo.itemData(index)
        if name is None:
            return
        spec = self.workspace.registry.spec(name)
        self._family_spec = spec
        self.family_combo.setToolTip(spec.description or spec.display_name)
        for form in (self.domain_form, self.training_form):
            form.blockSignals(True)
        try:
            self.domain_form.set_specs(list(spec.domain_parameters), spec)
            self.training_form.set_specs(
                self.preferences.apply_to(spec.training_parameters()), spec
            )
        finally:
            for form in (self.domain_form, self.training_form):
                form.blockSignals(False)
        self._defaults_for = None
        if self._shown:
            self._request_epoch_time(name)
        self._on_domain_changed()

    # ---- defaults that depend on the domain values -------------------------------------------
    def apply_preferences(self, preferences: Preferences) -> None:
        """New preferences: threads/device fields still at their old default follow them."""
        self.preferences = preferences
        self.training_form.update_defaults(self.preferences.apply_to(self.training_form.specs()))

    @Slot()
    def _on_domain_changed(self) -> None:
        family = self.family
        if family is not None and (family, self.domain_form.values()) != self._defaults_for:
            self._defaults_pending = True
            if self._shown:
                self._defaults_timer.start()
        self._update_editor()

    def showEvent(self, event: Any) -> None:
        """The first time the panel shows, time earlier runs and check the values: both load
        parts of the engine (torch), which a window should not do before its first paint."""
        super().showEvent(event)
        if self._shown or self._closing:
            return
        self._shown = True
        family = self.family
        if family is not None:
            self._request_epoch_time(family)
        if self._defaults_pending:
            self._defaults_timer.start()

    @Slot()
    def _request_defaults(self) -> None:
        """Ask the engine (in a worker: it loads the family) to check the domain values and
        for the training defaults they imply; Start waits for the answer."""
        family = self.family
        if family is None or self._closing:
            return
        domain = self.domain_form.values()
        self._defaults_for = (family, domain)
        self.runner.cancel("defaults")
        self._defaults_request = next(self._ids)
        self._defaults_pending = True
        worker = DefaultsWorker(self._defaults_request, self.workspace, family, domain)
        self.runner.start(worker, self._on_defaults, self._on_defaults_failed)
        self._update_buttons()

    @Slot(int, object)
    def _on_defaults(self, request_id: int, result: TrainingDefaults) -> None:
        if request_id != self._defaults_request or self._closing or result.family != self.family:
            return
        self._defaults_pending = False
        self._resolve_error = None
        if result.specs is not None:
            self.domain_form.clear_external_errors()
            self.training_form.update_defaults(self.preferences.apply_to(result.specs))
        elif result.field and self.domain_form.has_field(result.field):
            self.domain_form.set_external_error(result.field, result.message or "invalid")
        else:
            self._resolve_error = f"{result.field}: {result.message}"
        self._update_editor()

    @Slot(int, str)
    def _on_defaults_failed(self, request_id: int, message: str) -> None:
        if request_id != self._defaults_request or self._closing:
            return
        # Not a verdict on the values (the family failed to load, say): creating the sweep
        # reports the problem, if there is one.
        log.warning("could not resolve the training defaults: %s", message)
        self._defaults_pending = False
        self._update_editor()

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
        """How many runs the lists make (None while a list or value is invalid)."""
        parsed = self._parsed()
        if parsed is None or self._family_spec is None:
            return None
        grid, domain, _ = parsed
        if not grid:
            return 0
        return count_combinations(self._family_spec, grid, domain)

    @Slot()
    def _update_editor(self) -> None:
        spec = self._family_spec
        parsed = self._parsed()
        count: int | None = None
        if spec is None:
            self.count_label.setText("No family to sweep.")
            self.estimate_label.setText("")
        elif self._resolve_error is not None:
            self.count_label.setText(self._resolve_error)
            self.estimate_label.setText("")
        elif parsed is None:
            problems = {**self.domain_form.errors(), **self.training_form.errors()}
            noun = "value" if len(problems) == 1 else "values"
            self.count_label.setText(f"Fix the {noun} marked in red to count the combinations.")
            self.estimate_label.setText("")
        elif not parsed[0]:
            self.count_label.setText(
                f"No lists yet: press {LIST_TEXT} beside a parameter to sweep it."
            )
            self.estimate_label.setText("")
            count = 0
        else:
            grid, domain, training = parsed
            count = count_combinations(spec, grid, domain)
            text = f"{count} combination{'s' if count != 1 else ''}"
            if count > MAX_COMBINATIONS:
                text += f" — at most {MAX_COMBINATIONS} are allowed; shorten some lists"
            ignored = ignored_parameters(spec, grid, domain)
            if ignored:
                text += f" ({', '.join(ignored)} not swept: no hidden layers in linear baseline)"
            self.count_label.setText(text)
            self._update_estimate(grid, domain, training, count)
        too_many = count is not None and count > MAX_COMBINATIONS
        self.count_label.setStyleSheet(
            ERROR_STYLE if too_many or self._resolve_error is not None else ""
        )
        self._update_buttons()

    def _update_estimate(
        self, grid: dict[str, list[Any]], domain: dict[str, Any], training: dict[str, Any], n: int
    ) -> None:
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

    def _request_epoch_time(self, family: str) -> None:
        if self._closing:
            return
        self.runner.cancel("epoch-time")
        self._epoch_request = next(self._ids)
        worker = EpochTimeWorker(self._epoch_request, self.workspace.home, family)
        self.runner.start(worker, self._on_epoch_time, self._on_epoch_time_failed)

    @Slot(int, object)
    def _on_epoch_time(self, request_id: int, timing: EpochTime | None) -> None:
        if request_id != self._epoch_request or self._closing:
            return
        family = self.family
        if family is not None:
            self._epoch_times[family] = timing
        self._update_editor()

    @Slot(int, str)
    def _on_epoch_time_failed(self, request_id: int, message: str) -> None:
        if request_id != self._epoch_request or self._closing:
            return
        log.warning("could not time earlier runs: %s", message)
        family = self.family
        if family is not None:
            self._epoch_times[family] = None
        self._update_editor()

    def _update_buttons(self) -> None:
        self.start_button.setEnabled(self.can_start())
        self.stop_button.setEnabled(
            self.busy and self._cancel is not None and not self._cancel.is_set()
        )
        summary = self._selected_summary()
        self.resume_button.setEnabled(
            not self.busy and summary is not None and summary[1] in RESUMABLE
        )
        self.export_button.setEnabled(self.model.rowCount() > 0)

    # ---- running -----------------------------------------------------------------------------
    def can_start(self) -> bool:
        """True when the forms make a valid sweep, the engine has checked the values, and no
        sweep is running."""
        if self.busy or self._closing or self._defaults_pending or self._resolve_error:
            return False
        count = self.combination_count()
        return count is not None and 0 < count <= MAX_COMBINATIONS

    @property
    def checking(self) -> bool:
        """True while the engine checks the domain values (Start waits for it)."""
        return self._defaults_pending

    @property
    def busy(self) -> bool:
        """True while a sweep runs (until its thread has ended)."""
        return self._thread is not None

    @property
    def thread(self) -> QThread | None:
        return self._thread

    @property
    def running_sweep(self) -> str | None:
        return self._running_id

    @property
    def waiting(self) -> bool:
        """True while the sweep waits for another run in this process to finish."""
        return self._waiting

    @Slot()
    def start_sweep(self) -> bool:
        """Create a sweep from the forms and run it in a worker; False if it cannot start."""
        if not self.can_start() or self.family is None:
            return False
        count = self.combination_count()
        training = self.training_form.fixed_values()
        values = self.training_form.values()
        # Execution settings go as shown (their defaults may come from the preferences).
        training.update({k: v for k, v in values.items() if k in EXECUTION_PARAMETERS})
        request = SweepRequest(
            family=self.family,
            grid=self.sweep_grid(),
            domain=self.domain_form.fixed_values(),
            training=training,
        )
        self._start(request, f"Creating the sweep of {count} combinations…")
        return True

    @Slot()
    def resume_selected(self) -> bool:
        """Run the unfinished combinations of the selected past sweep; False if it cannot."""
        summary = self._selected_summary()
        if self.busy or self._closing or summary is None or summary[1] not in RESUMABLE:
            return False
        self._start(SweepRequest(sweep_id=summary[0]), f"Resuming sweep {summary[0]}…")
        return True

    @Slot()
    def stop_sweep(self) -> None:
        """Stop the sweep after the current step; it can be resumed later."""
        if self._cancel is None or self._cancel.is_set():
            return
        self._cancel.set()
        self._set_status("Stopping the sweep after the current step…")
        self._update_buttons()

    def _start(self, request: SweepRequest, text: str) -> None:
        cancel = threading.Event()
        worker = SweepWorker(self.workspace, request, cancel)
        thread = worker_thread(self, worker, "trainwright-sweep", self._on_thread_finished)
        worker.created.connect(self._on_created)
        worker.waitingStarted.connect(self._on_waiting_started)
        worker.waitingEnded.connect(self._on_waiting_ended)
        worker.combinationStarted.connect(self._on_combination_started)
        worker.epochProgress.connect(self._on_epoch_progress)
        worker.rowReady.connect(self._on_row)
        worker.progress.connect(self._on_progress)
        worker.succeeded.connect(self._on_succeeded)
        worker.failed.connect(self._on_failed)
        self._thread, self._worker, self._cancel, self._request = thread, worker, cancel, request
        self._outcome = self._error = None
        self._running_id = request.sweep_id
        self._waiting = False
        self._set_status(text)
        self._update_buttons()
        log.info("starting %s", request.describe())
        thread.start()

    # ---- worker signals (queued onto the GUI thread) -----------------------------------------
    @Slot(object)
    def _on_created(self, record: SweepRecord) -> None:
        if self._closing:
            return
        self._running_id = record.id
        done = len(record.finished())
        self.progress.setRange(0, max(record.total, 1))
        self.progress.setValue(done)
        self.progress.setFormat(f"%v / {record.total}")
        self.refresh_sweeps(select=record.id)
        if self.model.sweep_id != record.id:
            self._show_record(record)
        self.model.mark_next_running()
        self._set_status(f"Sweep {record.id}: {done} of {record.total} combinations done")

    @Slot(str)
    def _on_combination_started(self, variant: str) -> None:
        if self._closing:
            return
        self._waiting = False
        self._running_text = f"Training {variant}"
        self._set_status(self._running_text + "…")

    @Slot(int, int)
    def _on_epoch_progress(self, epoch: int, total: int) -> None:
        if self._closing or not self._running_text:
            return
        self._set_status(f"{self._running_text}: epoch {epoch} of {total}")

    @Slot(object)
    def _on_row(self, row: SweepRow) -> None:
        if self._closing:
            return
        self._running_text = ""
        if self.model.sweep_id == self._running_id:
            self.model.update_row(row)
            if self._cancel is not None and not self._cancel.is_set():
                self.model.mark_next_running()
            self._update_runs_label()
            self.table.resizeColumnsToContents()
            self._update_buttons()
        if row.result == "failed":
            self.statusMessage.emit(f"Combination {row.index + 1} failed: {row.error}")

    @Slot(int, int)
    def _on_progress(self, done: int, total: int) -> None:
        if self._closing:
            return
        self.progress.setRange(0, max(total, 1))
        self.progress.setValue(done)
        self.progress.setFormat(f"%v / {total}")
        for i in range(self.past_list.count()):
            item = self.past_list.item(i)
            if item.data(ID_ROLE) == self._running_id:
                first = item.text().split("\n", 1)[0]
                family = self.model.family if self.model.sweep_id == self._running_id else ""
                item.setText(f"{first}\n{family or '…'} · running · {done} / {total}")
                break

    @Slot(object)
    def _on_succeeded(self, record: SweepRecord) -> None:
        self._outcome = record

    @Slot(str)
    def _on_failed(self, message: str) -> None:
        self._error = message

    @Slot()
    def _on_thread_finished(self) -> None:
        thread = self._thread
        if thread is None:
            return
        thread.wait()  # `finished` comes just before the thread really ends
        record, error, request = self._outcome, self._error, self._request
        self._thread = self._worker = self._cancel = self._request = None
        self._waiting = False
        self._running_text = ""
        running_id, self._running_id = self._running_id, None
        self.last_record, self.last_error = record, error
        if self._closing:
            return
        if self.model.sweep_id == running_id:
            self.model.set_running(None)
        if error is not None:
            text = f"Sweep failed: {error}"
        elif record is not None:
            counts = record.counts()
            if record.status == "completed":
                text = (
                    f"Sweep {record.id} completed: {counts['completed']} completed, "
                    f"{counts['failed']} failed of {record.total}"
                )
            else:
                done = counts["completed"] + counts["failed"]
                text = (
                    f"Sweep {record.id} stopped after {done} of {record.total} combinations; "
                    "select it and press Resume to finish it"
                )
        else:
            text = "The sweep ended without reporting a result"
        self._set_status(text, error=error is not None)
        self.statusMessage.emit(text)
        if request is not None:
            log.info("ended %s: %s", request.describe(), text)
        self.refresh_sweeps(select=running_id)
        family = record.spec.family if record is not None else self.family
        if family is not None:
            self._epoch_times.pop(family, None)
            if family == self.family:
                self._request_epoch_time(family)
        self._update_editor()
        self.runFinished.emit()

    @Slot()
    def _on_waiting_started(self) -> None:
        """Another run in this process trains (the Training tab's): the sweep waits its turn."""
        if self._closing:
            return
        self._waiting = True
        self._set_status(WAITING_TEXT)

    @Slot()
    def _on_waiting_ended(self) -> None:
        if self._closing:
            return
        self._waiting = False
        if self.status_label.text() == WAITING_TEXT:
            self._set_status("Starting the next combination…")

    def _set_status(self, text: str, *, error: bool = False) -> None:
        self.status_label.setText(text)
        self.status_label.setStyleSheet(ERROR_STYLE if error else "")

    # ---- past sweeps -------------------------------------------------------------------------
    def refresh_sweeps(self, select: str | None = None) -> None:
        """List the stored sweeps again (newest first), keeping (or making) the selection."""
        if self._closing:
            return
        from engine.sweeps import list_sweeps

        try:
            found = list_sweeps(self.workspace)
        except Exception as exc:  # a bad home must not take the panel down
            self.statusMessage.emit(f"Could not list sweeps: {exc}")
            found = []
        chosen = select or (self._selected_summary() or (None, None))[0]
        blocked = self.past_list.blockSignals(True)
        try:
            self.past_list.clear()
            for summary in reversed(found):
                status = "running" if summary.id == self._running_id else summary.status
                done = summary.completed + summary.failed
                text = f"{summary.id}\n{summary.family} · {status} · {done} / {summary.total}"
                if summary.failed:
                    text += f" · {summary.failed} failed"
                item = QListWidgetItem(text)
                item.setData(ID_ROLE, summary.id)
                item.setData(STATUS_ROLE, status)
                tip = [
                    f"Sweep {summary.id} of {summary.family}: {status}",
                    f"{summary.completed} completed, {summary.failed} failed of {summary.total}",
                    f"created {summary.created_at}",
                ]
                if summary.problem:
                    tip.append(summary.problem)
                if status in RESUMABLE:
                    tip.append("Select it and press Resume to finish it")
                item.setToolTip("\n".join(tip))
                self.past_list.addItem(item)
                if summary.id == chosen:
                    item.setSelected(True)
                    self.past_list.setCurrentItem(item)
        finally:
            self.past_list.blockSignals(blocked)
        self._update_buttons()

    @Slot()
    def _on_refresh_clicked(self) -> None:
        self.refresh_sweeps()

    def past_sweep_ids(self) -> list[str]:
        return [self.past_list.item(i).data(ID_ROLE) for i in range(self.past_list.count())]

    def _selected_summary(self) -> tuple[str, str] | None:
        items = self.past_list.selectedItems()
        if not items:
            return None
        return items[0].data(ID_ROLE), items[0].data(STATUS_ROLE)

    def select_sweep(self, sweep_id: str) -> bool:
        """Select a past sweep in the list (which loads its runs); False if it is not listed."""
        for i in range(self.past_list.count()):
            item = self.past_list.item(i)
            if item.data(ID_ROLE) == sweep_id:
                self.past_list.setCurrentItem(item)
                item.setSelected(True)
                return True
        return False

    @Slot()
    def _on_past_selection(self) -> None:
        summary = self._selected_summary()
        if summary is not None:
            self.open_sweep(summary[0])
        self._update_buttons()

    def open_sweep(self, sweep_id: str) -> bool:
        """Load a stored sweep's runs into the table; False (and a message) if unreadable."""
        from engine.sweeps import load_sweep

        try:
            record = load_sweep(self.workspace, sweep_id)
        except Exception as exc:
            self.runs_label.setText(f"Cannot open sweep {sweep_id}: {exc}")
            self.statusMessage.emit(f"Cannot open sweep {sweep_id}: {exc}")
            return False
        self._show_record(record)
        if sweep_id == self._running_id:
            self.model.mark_next_running()
        return True

    def _show_record(self, record: SweepRecord) -> None:
        self.model.set_record(record)
        self._ignored = list(record.ignored)
        self._update_runs_label()
        self.table.resizeColumnsToContents()
        self._on_runs_selection()
        self._update_buttons()

    def _update_runs_label(self) -> None:
        entries = self.model.entries()
        if self.model.sweep_id is None:
            self.runs_label.setText("Select a past sweep, or start one, to see its runs.")
            return
        completed = sum(1 for e in entries if e.result == "completed")
        failed = sum(1 for e in entries if e.result == "failed")
        text = (
            f"Sweep {self.model.sweep_id} ({self.model.family}): {completed} completed, "
            f"{failed} failed of {len(entries)}"
        )
        if self._ignored:
            text += f"; not swept in linear baseline mode: {', '.join(self._ignored)}"
        self.runs_label.setText(text)

    # ---- the runs table ----------------------------------------------------------------------
    @Slot(str)
    def _on_filter_text(self, text: str) -> None:
        self.proxy.set_text(text)

    @Slot(int)
    def _on_result_filter(self, _: int) -> None:
        self.proxy.set_result(self.result_filter.currentData())

    def best_proxy_row(self) -> int | None:
        """The view row of the best run, or None (none completed, or filtered out)."""
        best = self.model.best_row()
        if best is None:
            return None
        index = self.proxy.mapFromSource(self.model.index(best, 0))
        return index.row() if index.isValid() else None

    @Slot()
    def export_clicked(self) -> None:
        """Ask for a file name and write the runs shown as CSV."""
        default = f"{self.model.sweep_id or 'sweep'}.csv"
        path, _ = QFileDialog.getSaveFileName(
            self, "Export runs as CSV", str(Path.home() / default), "CSV files (*.csv)"
        )
        if path:
            self.export_csv(path)

    def export_csv(self, path: str | Path) -> int:
        """Write the runs shown (filtered, in view order) to `path`; returns how many."""
        try:
            count = self.model.write_csv(path, self.proxy.source_rows())
        except OSError as exc:
            self.statusMessage.emit(f"Could not write {path}: {exc}")
            return 0
        self.statusMessage.emit(f"Wrote {count} runs to {path}")
        return count

    def selected_variants(self) -> list[str]:
        """Variant names of the selected runs that have a variant, in view order."""
        rows = sorted(i.row() for i in self.table.selectionModel().selectedRows())
        names = []
        for row in rows:
            entry = self.proxy.entry(row)
            if entry is not None and entry.variant:
                names.append(entry.variant)
        return names

    def select_runs(self, source_rows: list[int]) -> None:
        """Select these runs (source rows) in the table, which overlays their curves."""
        selection = QItemSelection()
        for row in source_rows:
            index = self.proxy.mapFromSource(self.model.index(row, 0))
            if index.isValid():
                selection.select(index, index)
        flags = self.table.selectionModel().SelectionFlag
        self.table.selectionModel().select(selection, flags.ClearAndSelect | flags.Rows)

    @Slot()
    def _on_runs_selection(self, *_: Any) -> None:
        if self._closing:
            return
        family = self.model.family
        names = self.selected_variants()
        if family is None:
            names = []
        home = self.workspace.home
        wanted = [str(variant_dir(home, family, name)) for name in names] if family else []
        self._wanted_curves = wanted
        if not wanted:
            if self.loss_plot is not None:
                self._draw_curves()
            return
        self.runner.cancel("curves")
        keys = {p: _file_key(Path(p) / "chronicle.jsonl") for p in wanted}
        missing = [p for p, k in keys.items() if self._curve_cache.get(p, (None,))[0] != k]
        self._curves_request = next(self._ids)
        if not missing:
            self._draw_curves()
            return
        self._pending_keys = {p: keys[p] for p in missing}
        worker = CurvesWorker(self._curves_request, missing)
        self.runner.start(worker, self._on_curves_ready, self._on_curves_failed)

    @Slot(int, object)
    def _on_curves_ready(self, request_id: int, curves: dict[str, dict[str, Any]]) -> None:
        if self._closing or request_id != self._curves_request:
            return
        for path, data in curves.items():
            self._curve_cache[path] = (self._pending_keys.get(path), data)
        while len(self._curve_cache) > 64:
            self._curve_cache.pop(next(iter(self._curve_cache)))
        self._draw_curves()

    @Slot(int, str)
    def _on_curves_failed(self, request_id: int, message: str) -> None:
        if not self._closing and request_id == self._curves_request:
            self.statusMessage.emit(f"Could not read curves: {message}")

    def _ensure_plots(self) -> None:
        if self.loss_plot is not None:
            return
        import pyqtgraph as pg

        def plot(name: str, title: str, tip: str, left: str) -> Any:
            widget = described(pg.PlotWidget(), title, tip)
            widget.setObjectName(name)
            widget.setBackground(None)
            item = widget.getPlotItem()
            item.setTitle(title)
            item.setLabel("left", left)
            item.setLabel("bottom", "epoch")
            item.showGrid(x=True, y=True, alpha=0.25)
            item.addLegend(offset=(-10, 10))
            item.setDownsampling(auto=True, mode="peak")
            item.setClipToView(True)
            return widget

        self.loss_plot = plot(
            "sweepLossPlot",
            "Loss",
            "Train (solid) and test (dashed) loss of the selected runs, log scale",
            "loss",
        )
        self.loss_plot.getPlotItem().setLogMode(x=False, y=True)
        self.metric_plot = plot(
            "sweepMetricPlot",
            "Accuracy / R²",
            "Train (solid) and test (dashed) accuracy, or R² for regression, of the selected runs",
            "accuracy / R²",
        )
        self.metric_plot.setXLink(self.loss_plot)
        self._curves_layout.removeWidget(self.curves_hint)
        self.curves_hint.hide()
        self._curves_layout.addWidget(self.loss_plot)
        self._curves_layout.addWidget(self.metric_plot)

    def _draw_curves(self) -> None:
        import numpy as np
        import pyqtgraph as pg

        self._ensure_plots()
        loss, metric = self.loss_plot.getPlotItem(), self.metric_plot.getPlotItem()
        loss.clear()
        metric.clear()
        self.curve_items = {}
        wanted = [p for p in self._wanted_curves if p in self._curve_cache]
        hues = max(len(wanted), 6)
        labels: set[str] = set()
        solid, dashed = Qt.PenStyle.SolidLine, Qt.PenStyle.DashLine
        for i, path in enumerate(wanted):
            curves = self._curve_cache[path][1]
            name = Path(path).name
            color = pg.intColor(i, hues=hues)
            epochs = np.asarray(curves["epoch"], dtype=np.float64)
            items: list[Any] = []
            legend: str | None = name
            for field, style in (("train_loss", solid), ("test_loss", dashed)):
                x, y = _finite(epochs, curves[field], positive=True)
                if len(x):
                    pen = pg.mkPen(color, width=1.5, style=style)
                    items.append(loss.plot(x, y, pen=pen, name=legend))
                    legend = None
            accuracy = np.isfinite(np.asarray(curves["train_accuracy"], dtype=np.float64)).any()
            kind = "accuracy" if accuracy else "r2"
            legend = name
            for split, style in (("train", solid), ("test", dashed)):
                x, y = _finite(epochs, curves[f"{split}_{kind}"])
                if len(x):
                    labels.add("accuracy" if kind == "accuracy" else "R²")
                    pen = pg.mkPen(color, width=1.5, style=style)
                    items.append(metric.plot(x, y, pen=pen, name=legend))
                    legend = None
            self.curve_items[path] = items
        metric.setLabel("left", " / ".join(sorted(labels)) or "accuracy / R²")

    # ---- closing -----------------------------------------------------------------------------
    @Slot()
    def shutdown(self, timeout_ms: int = 60_000) -> bool:
        """Stop the sweep (it stays resumable) and wait for every thread; True if all ended."""
        if self._closing and self._thread is None:
            return self.runner.running() == 0
        self._closing = True
        if self._cancel is not None:
            self._cancel.set()
        ended = True
        thread = self._thread
        if thread is not None:
            ended = thread.wait(timeout_ms)
            if ended:
                self._on_thread_finished()
        ended = self.runner.shutdown() and ended
        if not ended:
            log.warning("some sweep threads did not stop in time")
        return ended


def _file_key(path: Path) -> tuple[int, int] | None:
    try:
        stat = path.stat()
    except OSError:
        return None
    return stat.st_mtime_ns, stat.st_size


def _finite(x: Any, y: Any, positive: bool = False) -> tuple[Any, Any]:
    import numpy as np

    y = np.asarray(y, dtype=np.float64)
    mask = np.isfinite(y) & (y > 0 if positive else True)
    return x[mask], y[mask]


__all__ = ["SweepPanel"]
