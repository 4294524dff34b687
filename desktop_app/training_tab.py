"""The Training tab: family and parameter forms, the live variant, run controls, plots, table."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QModelIndex, QSettings, Qt, QTimer, Signal, Slot
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QFileDialog,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QSplitter,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from desktop_app.chronicle_model import ChronicleModel
from desktop_app.param_form import ParamForm
from desktop_app.preferences import Preferences
from desktop_app.run_queue import RunQueuePanel, RunRequest
from desktop_app.workers import EngineWarmup, RunController, RunOutcome
from engine.discovery import summarise
from engine.errors import ParameterError
from engine.training.chronicle import read_chronicle
from engine.variants import RunConfig, variant_dir

if TYPE_CHECKING:
    from desktop_app.plots import TrainingPlots

RESOLVE_DELAY_MS = 120
HISTORY_PREVIEW_BYTES = 40 * 2**20  # larger chronicles are not loaded on the GUI thread
ERROR_STYLE = "color: #b3261e;"

# Training parameters shown up front; the rest sit under "More training parameters".
BASIC_TRAINING = {
    "epochs",
    "lr",
    "optimizer",
    "weight_decay",
    "batch_size",
    "scheduler",
    "warmup_steps",
    "training_fraction",
    "data_seed",
}

STATE_TEXT = {
    "loading": ("loading the engine…", "Torch is loading; the variant name follows."),
    "checking": ("checking…", ""),
    "invalid": ("invalid parameters", "Fix the parameters marked in red."),
    "new": ("new", "Not trained yet: Start trains it."),
    "completed": ("already trained", "Completed: Replay it, or Start to retrain it from scratch."),
    "failed": ("failed", "Resume it from its last checkpoint, or Start to retrain it."),
    "cancelled": ("cancelled", "Stopped: Resume it, or Start to retrain it."),
    "interrupted": ("interrupted", "Ended without a clean stop: Resume it, or retrain it."),
    "created": ("created, never trained", "Start trains it."),
    "broken": ("broken", "Its files are damaged: Start retrains it."),
    "training": ("training", "Training now."),
    "replaying": ("replaying", "Being replayed now."),
    "queued": ("queued", "Waiting in the queue."),
    "busy_elsewhere": ("training elsewhere", "Another process is training this variant."),
}


def _duration(seconds: float) -> str:
    seconds = max(0, round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


class TrainingTab(QWidget):
    """Configure, start, watch and stop runs. Every run goes through the RunController."""

    runFinished = Signal(object)  # RunOutcome
    statusMessage = Signal(str, int)  # a transient message for the status bar, timeout in ms

    def __init__(
        self,
        workspace: Any,
        controller: RunController,
        preferences: Preferences | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("trainingTab")
        self.workspace = workspace
        self.controller = controller
        self.preferences = preferences or Preferences()
        # Asks a yes/no question; tests replace it.
        self.confirm: Callable[[str, str], bool] = self._ask
        self._config: RunConfig | None = None
        self._resolve_error: str | None = None
        self._run_error: str | None = None
        self._notice_error: str | None = None
        self._state = "loading"
        self._summary_problem: str | None = None
        self._displayed: tuple[str, str] | None = None  # (family, variant) in plots/table
        self._run: RunRequest | None = None
        self._run_started_at = 0.0
        self._run_start_epoch = 0
        self._run_total = 0
        self._epochs_done = 0
        self._suspend_invalidate = False
        warmup = EngineWarmup.instance()
        self._devices: list[str] | None = warmup.devices
        self._engine_ready = warmup.devices is not None

        self._build()
        self._resolve_timer = QTimer(self)
        self._resolve_timer.setSingleShot(True)
        self._resolve_timer.setInterval(RESOLVE_DELAY_MS)
        self._resolve_timer.timeout.connect(self._resolve)
        self._progress_timer = QTimer(self)
        self._progress_timer.setInterval(1000)
        self._progress_timer.timeout.connect(self._update_progress)

        controller.runStarted.connect(self._on_run_started)
        controller.rowsReady.connect(self._on_rows)
        controller.runWarning.connect(self._on_run_warning)
        controller.runEnded.connect(self._on_run_ended)
        controller.busyChanged.connect(self._on_busy_changed)
        controller.queue.rowsInserted.connect(self._on_queue_changed)
        controller.queue.rowsRemoved.connect(self._on_queue_changed)
        controller.queue.modelReset.connect(self._on_queue_changed)
        warmup.ready.connect(self._on_engine_ready)
        warmup.failed.connect(self._on_engine_failed)
        if warmup.error:
            self._show_error(f"The engine failed to load: {warmup.error}")
        elif self._engine_ready:
            self.status_label.setText("Ready.")

        self._populate_families()

    # ---- construction ----------------------------------------------------------------------
    def _build(self) -> None:
        self.family_combo = QComboBox()
        self.family_combo.setObjectName("familyCombo")
        self.family_combo.setAccessibleName("Model family")
        self.family_combo.setToolTip("The model family to train; its parameters appear below.")
        self.family_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.family_combo.currentIndexChanged.connect(self._on_family_changed)
        self.description_label = QLabel()
        self.description_label.setObjectName("familyDescription")
        self.description_label.setWordWrap(True)
        self.description_label.setAccessibleName("Family description")
        self.description_label.setSizePolicy(
            QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred
        )
        family_label = QLabel("&Family")
        family_label.setBuddy(self.family_combo)

        self.domain_form = ParamForm("domain")
        self.domain_form.changed.connect(self._on_form_changed)
        self.training_form = ParamForm(
            "training", basic=BASIC_TRAINING, advanced_title="More training parameters"
        )
        self.training_form.changed.connect(self._on_form_changed)
        domain_box = QGroupBox("Model")
        domain_box.setObjectName("domainGroup")
        QVBoxLayout(domain_box).addWidget(self.domain_form)
        training_box = QGroupBox("Training")
        training_box.setObjectName("trainingGroup")
        QVBoxLayout(training_box).addWidget(self.training_form)
        forms = QWidget()
        forms_layout = QVBoxLayout(forms)
        forms_layout.setContentsMargins(0, 0, 4, 0)
        forms_layout.addWidget(domain_box)
        forms_layout.addWidget(training_box)
        forms_layout.addStretch(1)
        scroll = QScrollArea()
        scroll.setObjectName("formsScroll")
        scroll.setWidget(forms)
        scroll.setWidgetResizable(True)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setMinimumWidth(300)

        self.queue_panel = RunQueuePanel(self.controller.queue)
        queue_box = QGroupBox("Queue")
        queue_box.setObjectName("queueGroup")
        queue_box.setToolTip("Runs wait here while another one trains")
        QVBoxLayout(queue_box).addWidget(self.queue_panel)

        self.left_splitter = QSplitter(Qt.Orientation.Vertical)
        self.left_splitter.setObjectName("leftSplitter")
        self.left_splitter.addWidget(scroll)
        self.left_splitter.addWidget(queue_box)
        self.left_splitter.setStretchFactor(0, 5)
        self.left_splitter.setStretchFactor(1, 1)
        self.left_splitter.setChildrenCollapsible(False)
        self.left_splitter.setSizes([640, 130])

        # Variant, controls, status.
        self.variant_label = QLabel("—")
        self.variant_label.setObjectName("variantLabel")
        self.variant_label.setAccessibleName("Variant name")
        self.variant_label.setToolTip("The variant these parameters train (its folder name)")
        self.variant_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        font = self.variant_label.font()
        font.setBold(True)
        self.variant_label.setFont(font)
        self.state_label = QLabel()
        self.state_label.setObjectName("variantStateLabel")
        self.state_label.setAccessibleName("Variant state")

        self.start_button = self._button(
            "startButton", "Start", "Start training these parameters (Ctrl+Return)"
        )
        self.stop_button = self._button(
            "stopButton", "Stop", "Stop the run; it stays resumable (Esc)"
        )
        self.resume_button = self._button(
            "resumeButton", "Resume", "Continue this variant from its last checkpoint"
        )
        self.replay_button = self._button(
            "replayButton", "Replay", "Train this variant again and check it is bit-identical"
        )
        self.start_button.clicked.connect(self.start)
        self.stop_button.clicked.connect(self.stop)
        self.resume_button.clicked.connect(self.resume)
        self.replay_button.clicked.connect(self.replay)
        for keys in ("Ctrl+Return", "Ctrl+Enter"):
            shortcut = QShortcut(QKeySequence(keys), self)
            shortcut.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            shortcut.activated.connect(self._start_shortcut)
        stop_shortcut = QShortcut(QKeySequence(Qt.Key.Key_Escape), self)
        stop_shortcut.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        stop_shortcut.activated.connect(self._stop_shortcut)

        self.status_label = QLabel("Loading the engine…")
        self.status_label.setObjectName("statusLabel")
        self.status_label.setAccessibleName("Run status")
        self.status_label.setWordWrap(True)
        self.status_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.error_area = QLabel()
        self.error_area.setObjectName("errorArea")
        self.error_area.setAccessibleName("Error")
        self.error_area.setStyleSheet(ERROR_STYLE)
        self.error_area.setWordWrap(True)
        self.error_area.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.error_area.setVisible(False)
        self.progress_bar = QProgressBar()
        self.progress_bar.setObjectName("progressBar")
        self.progress_bar.setAccessibleName("Training progress")
        self.progress_bar.setToolTip("Epochs done, time elapsed and an estimate of the time left")
        self.progress_bar.setRange(0, 1)
        self.progress_bar.setValue(0)
        self.progress_bar.setFormat("no run")

        variant_row = QHBoxLayout()
        variant_row.addWidget(QLabel("Variant:"))
        variant_row.addWidget(self.variant_label, 1)
        variant_row.addWidget(self.state_label)
        buttons = QHBoxLayout()
        for button in (self.start_button, self.stop_button, self.resume_button, self.replay_button):
            buttons.addWidget(button)
        buttons.addWidget(self.progress_bar, 1)
        header = QVBoxLayout()
        header.addLayout(variant_row)
        header.addLayout(buttons)
        header.addWidget(self.status_label)
        header.addWidget(self.error_area)

        # Plots and chronicle.
        # The plots (pyqtgraph, slow to import) are made after the first paint: `plots`.
        self._plots: TrainingPlots | None = None
        self._results_sizes_restored = False
        self._plots_placeholder = QWidget()
        self._plots_placeholder.setObjectName("plotsPlaceholder")
        self.chronicle_model = ChronicleModel(self)
        self.table = QTableView()
        self.table.setObjectName("chronicleTable")
        self.table.setAccessibleName("Chronicle")
        self.table.setToolTip("Every logged step; select a row to mark its epoch in the plots")
        self.table.setModel(self.chronicle_model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setAlternatingRowColors(True)
        self.table.setWordWrap(False)
        vertical = self.table.verticalHeader()
        vertical.setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        vertical.setDefaultSectionSize(self.fontMetrics().height() + 6)
        self.table.horizontalHeader().setStretchLastSection(False)
        self.table.selectionModel().currentRowChanged.connect(self._on_table_row_changed)
        self.chronicle_model.columnsInserted.connect(self._on_columns_inserted)
        self.export_button = self._button(
            "exportCsvButton", "Export CSV…", "Save the chronicle as a CSV file"
        )
        self.export_button.clicked.connect(self.export_chronicle_dialog)
        self.rows_label = QLabel("0 rows")
        self.rows_label.setObjectName("chronicleRowsLabel")
        # A fixed size: the count changes with every batch of rows, and a label whose width
        # follows its digits made Qt lay out and repaint most of the window each time.
        self.rows_label.setFixedSize(
            self.rows_label.fontMetrics().horizontalAdvance("999,999,999 rows") + 8,
            self.rows_label.sizeHint().height(),
        )
        table_header = QHBoxLayout()
        table_header.addWidget(QLabel("Chronicle"))
        table_header.addWidget(self.rows_label)
        table_header.addStretch(1)
        table_header.addWidget(self.export_button)
        table_panel = QWidget()
        table_layout = QVBoxLayout(table_panel)
        table_layout.setContentsMargins(0, 0, 0, 0)
        table_layout.addLayout(table_header)
        table_layout.addWidget(self.table)

        self.results_splitter = QSplitter(Qt.Orientation.Vertical)
        self.results_splitter.setObjectName("resultsSplitter")
        self.results_splitter.addWidget(self._plots_placeholder)
        self.results_splitter.addWidget(table_panel)
        self.results_splitter.setStretchFactor(0, 3)
        self.results_splitter.setStretchFactor(1, 2)
        self.results_splitter.setChildrenCollapsible(False)

        right = QWidget()
        right_layout = QVBoxLayout(right)
        right_layout.setContentsMargins(4, 0, 0, 0)
        right_layout.addLayout(header)
        right_layout.addWidget(self.results_splitter, 1)

        self.main_splitter = QSplitter(Qt.Orientation.Horizontal)
        self.main_splitter.setObjectName("trainingSplitter")
        self.main_splitter.addWidget(self.left_splitter)
        self.main_splitter.addWidget(right)
        self.main_splitter.setStretchFactor(0, 0)
        self.main_splitter.setStretchFactor(1, 1)
        self.main_splitter.setChildrenCollapsible(False)
        self.main_splitter.setSizes([380, 900])

        top = QHBoxLayout()
        top.addWidget(family_label)
        top.addWidget(self.family_combo)
        top.addWidget(self.description_label, 1)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.main_splitter, 1)

    def _button(self, name: str, text: str, tip: str) -> QPushButton:
        button = QPushButton(text)
        button.setObjectName(name)
        button.setToolTip(tip)
        button.setAccessibleName(text.rstrip("…"))
        button.setAccessibleDescription(tip)
        button.setEnabled(False)
        return button

    def _populate_families(self) -> None:
        registry = self.workspace.registry
        blocked = self.family_combo.blockSignals(True)
        for spec in registry.specs():
            self.family_combo.addItem(spec.display_name, spec.name)
            index = self.family_combo.count() - 1
            tip = spec.description + (f"\n\n{spec.architecture}" if spec.architecture else "")
            self.family_combo.setItemData(index, tip, Qt.ItemDataRole.ToolTipRole)
        self.family_combo.blockSignals(blocked)
        problems = [f"{e.source}: {e.message}" for e in registry.errors]
        if problems:
            self._show_error("Some families were skipped:\n" + "\n".join(problems))
        if self.family_combo.count():
            self._on_family_changed(self.family_combo.currentIndex())

    # ---- family and forms ------------------------------------------------------------------
    def family(self) -> str | None:
        return self.family_combo.currentData()

    def select_family(self, name: str) -> bool:
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
        if not name:
            return
        spec = self.workspace.registry.spec(name)
        self.description_label.setText(spec.description)
        self.description_label.setToolTip(spec.architecture or spec.description)
        self.family_combo.setToolTip(spec.description)
        self._suspend_invalidate = True
        try:
            self.domain_form.set_specs(list(spec.domain_parameters))
            self.training_form.set_specs(self.preferences.apply_to(spec.training_parameters()))
        finally:
            self._suspend_invalidate = False
        self._invalidate()

    def apply_preferences(self, preferences: Preferences) -> None:
        self.preferences = preferences
        if self.training_form.names():
            self.training_form.update_defaults(
                self.preferences.apply_to(self.training_form.specs())
            )

    @Slot()
    def _on_form_changed(self) -> None:
        if not self._suspend_invalidate:
            self._invalidate()

    def _invalidate(self) -> None:
        self._config = None
        if self._engine_ready:
            self._set_state("checking")
        else:
            self._set_state("loading")
        self._resolve_timer.start()
        self._update_actions()

    @property
    def plots(self) -> TrainingPlots:
        """The live plots, created on first use (after the first paint, so pyqtgraph's import
        does not delay it)."""
        if self._plots is None:
            from desktop_app.plots import TrainingPlots

            plots = TrainingPlots()
            plots.epochClicked.connect(self._on_plot_epoch_clicked)
            sizes = self.results_splitter.sizes()
            self.results_splitter.replaceWidget(0, plots)
            self._plots_placeholder.deleteLater()
            self._plots = plots
            total = sum(sizes)
            if not self._results_sizes_restored and total > 0:
                self.results_splitter.setSizes([total * 3 // 5, total - total * 3 // 5])
            else:
                self.results_splitter.setSizes(sizes)
        return self._plots

    @Slot()
    def ensure_plots(self) -> None:
        _ = self.plots

    # ---- engine ----------------------------------------------------------------------------
    def start_engine_warmup(self) -> None:
        """Load torch in the background (after the first paint); resolving waits for it."""
        EngineWarmup.instance().start(self.workspace)
        QTimer.singleShot(0, self, self.ensure_plots)

    @Slot(object)
    def _on_engine_ready(self, devices: list[str]) -> None:
        self._devices = list(devices)
        if not self._engine_ready:
            self._engine_ready = True
            if not self.controller.busy:
                self.status_label.setText("Ready.")
            self._invalidate()

    @Slot(str)
    def _on_engine_failed(self, message: str) -> None:
        self._show_error(f"The engine failed to load: {message}")

    @property
    def engine_ready(self) -> bool:
        return self._engine_ready

    @property
    def config(self) -> RunConfig | None:
        return self._config

    @property
    def state(self) -> str:
        return self._state

    @Slot()
    def _resolve(self) -> None:
        """Validate everything with the engine and show the variant name and state."""
        if not self._engine_ready:
            self._set_state("loading")
            self._update_actions()
            return
        family = self.family()
        if family is None:
            return
        self.domain_form.clear_external_errors()
        self.training_form.clear_external_errors()
        self._resolve_error = None
        self._config = None
        if not (self.domain_form.is_valid() and self.training_form.is_valid()):
            self._set_state("invalid")
            self._update_actions()
            self._refresh_error_area()
            return
        registry = self.workspace.registry
        domain = self.domain_form.values()
        try:
            self._suspend_invalidate = True
            try:
                specs = registry.training_parameters(family, domain)
                self.training_form.update_defaults(self.preferences.apply_to(specs))
            finally:
                self._suspend_invalidate = False
            training = self.training_form.values()
            config = registry.resolve_config(family, domain, training)
            self._check_device(config)
        except ParameterError as exc:
            for form in (self.domain_form, self.training_form):
                if form.has_field(exc.field):
                    form.set_external_error(exc.field, exc.message)
                    break
            else:
                self._resolve_error = str(exc)
        except Exception as exc:
            self._resolve_error = f"{type(exc).__name__}: {exc}"
        else:
            self._config = config
        self._refresh_error_area()
        self._refresh_variant_state()

    def _check_device(self, config: RunConfig) -> None:
        device = config.training.device
        if self._devices is not None and device not in self._devices:
            allowed = ", ".join(self._devices)
            raise ParameterError("device", f"{device} is not available here; allowed: {allowed}")

    def _refresh_variant_state(self) -> None:
        config = self._config
        if config is None:
            if self._state not in ("loading",):
                self._set_state("invalid")
            self._update_actions()
            return
        name = config.variant
        self.variant_label.setText(name)
        self._summary_problem = None
        current = self.controller.current
        if current is not None and current.variant == name:
            state = "replaying" if current.mode == "replay" else "training"
        elif any(r.variant == name for r in self.controller.queue.requests()):
            state = "queued"
        else:
            state = self._disk_state(config)
        self._set_state(state)
        self._update_actions()
        if (
            not self.controller.busy
            and state not in ("new", "queued")
            and self._displayed != (config.family, name)
        ):
            self._show_history(config.family, name)

    def _disk_state(self, config: RunConfig) -> str:
        directory = variant_dir(self.workspace.home, config.family, config.variant)
        if not (directory / "config.json").is_file():
            return "new"
        summary = summarise(directory)
        self._summary_problem = summary.problem
        if summary.status == "training":  # locked: a live run somewhere else
            return "busy_elsewhere"
        return summary.status

    def _set_state(self, state: str) -> None:
        self._state = state
        text, tip = STATE_TEXT.get(state, (state, ""))
        if state in ("loading", "invalid"):
            self.variant_label.setText("—")
        self.state_label.setText(f"({text})")
        full_tip = tip + (f"\n{self._summary_problem}" if self._summary_problem else "")
        self.state_label.setToolTip(full_tip)
        self.state_label.setAccessibleDescription(full_tip)

    def _update_actions(self) -> None:
        busy = self.controller.busy
        config = self._config
        same = (
            busy
            and config is not None
            and self.controller.current is not None
            and self.controller.current.variant == config.variant
        )
        usable = config is not None and not same
        state = self._state
        self.start_button.setEnabled(
            usable and state not in ("training", "replaying", "busy_elsewhere", "queued")
        )
        existing = ("completed", "failed", "cancelled", "interrupted", "created", "broken")
        self.start_button.setText("Retrain…" if state in existing else "Start")
        self.start_button.setAccessibleName(self.start_button.text().rstrip("…"))
        self.stop_button.setEnabled(busy and not self.controller.stopping)
        self.resume_button.setEnabled(usable and state in ("cancelled", "failed", "interrupted"))
        self.replay_button.setEnabled(usable and state == "completed")
        self.export_button.setEnabled(self.chronicle_model.rowCount() > 0)

    # ---- actions ---------------------------------------------------------------------------
    @Slot()
    def start(self) -> None:
        config = self._config
        if config is None or not self.start_button.isEnabled():
            return
        mode = "train" if self._state == "new" else "retrain"
        if mode == "retrain" and not self.confirm(
            "Retrain variant",
            f"{config.variant} already exists ({STATE_TEXT.get(self._state, (self._state,))[0]}).\n\n"
            "Retrain it from scratch? Its checkpoints and chronicle are replaced.",
        ):
            return
        request = RunRequest(
            mode=mode,
            variant=config.variant,
            family=config.family,
            domain=dict(config.domain),
            training=config.training.model_dump(),
        )
        self.submit(request)

    @Slot()
    def stop(self) -> None:
        if self.controller.busy:
            self.controller.stop()
            self.status_label.setText("Stopping… (saving a resumable checkpoint)")
            self._update_actions()

    @Slot()
    def resume(self) -> None:
        config = self._config
        if config is not None and self.resume_button.isEnabled():
            self.submit(RunRequest(mode="resume", variant=config.variant, family=config.family))

    @Slot()
    def replay(self) -> None:
        config = self._config
        if config is not None and self.replay_button.isEnabled():
            self.submit(RunRequest(mode="replay", variant=config.variant, family=config.family))

    @Slot(str)
    def request_resume(self, variant: str) -> None:
        """Resume a variant by name (from the Analysis tab)."""
        self.submit(RunRequest(mode="resume", variant=variant))

    @Slot(str)
    def request_replay(self, variant: str) -> None:
        """Replay a variant by name (from the Analysis tab)."""
        self.submit(RunRequest(mode="replay", variant=variant))

    def submit(self, request: RunRequest) -> bool:
        """Start now, or (asking first) queue behind the run in progress. True if accepted."""
        if self.controller.busy:
            current = self.controller.current
            running = current.describe() if current else "A run"
            if not self.confirm(
                "Queue run",
                f"{running} is in progress.\n\nQueue “{request.describe()}” to start when it ends?",
            ):
                return False
            self.controller.queue.enqueue(request)
            self.status_label.setText(f"Queued: {request.describe()}")
            self._refresh_variant_state()
            return True
        self.controller.start(request)
        self._refresh_variant_state()
        return True

    @Slot()
    def _start_shortcut(self) -> None:
        if self.start_button.isEnabled():
            self.start_button.click()

    @Slot()
    def _stop_shortcut(self) -> None:
        if self.stop_button.isEnabled():
            self.stop_button.click()

    def _ask(self, title: str, text: str) -> bool:
        answer = QMessageBox.question(
            self,
            title,
            text,
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
            QMessageBox.StandardButton.No,
        )
        return answer == QMessageBox.StandardButton.Yes

    # ---- run events (from the controller, GUI thread) --------------------------------------
    @Slot(object, object)
    def _on_run_started(self, request: RunRequest, info: dict[str, Any]) -> None:
        self._run = request
        self._run_started_at = time.monotonic()
        self._run_start_epoch = int(info.get("start_epoch", 0))
        self._epochs_done = self._run_start_epoch
        self._run_total = int(info.get("total_epochs", 0))
        self._hide_run_error()
        if request.mode != "replay":
            self._displayed = (str(info.get("family")), str(info.get("variant")))
            history = info.get("history") or []
            self.chronicle_model.set_rows(history)
            self.plots.set_rows(history)
            self._update_rows_label()
        verb = {"replay": "Replaying", "resume": "Resuming"}.get(request.mode, "Training")
        self.status_label.setText(f"{verb} {info.get('variant', request.variant)}…")
        self._update_progress()
        self._progress_timer.start()
        self._refresh_variant_state()

    @Slot(object)
    def _on_rows(self, rows: list[dict[str, Any]]) -> None:
        if self._run is None:
            return
        if self._run.mode != "replay":
            follow = self._at_bottom()
            self.chronicle_model.append_rows(rows)
            self.plots.add_rows(rows)
            if follow:
                self.table.scrollToBottom()
            self._update_rows_label()
        for row in reversed(rows):
            if "train_loss" in row:
                self._epochs_done = int(row.get("epoch", self._epochs_done))
                break
        self._update_progress()
        if not self.controller.stopping:
            verb = "Replaying" if self._run.mode == "replay" else "Training"
            self.status_label.setText(
                f"{verb} {self._run.variant} — epoch {self._epochs_done} of {self._run_total}"
            )

    @Slot(str)
    def _on_run_warning(self, message: str) -> None:
        self.statusMessage.emit(f"Warning: {message}", 15_000)

    @Slot(object)
    def _on_run_ended(self, outcome: RunOutcome) -> None:
        self._progress_timer.stop()
        self._update_progress()
        request = outcome.request
        name = request.variant
        if outcome.failed:
            self.status_label.setText(f"Failed: {name}")
            self._show_run_error(f"{request.describe()} failed: {outcome.message}")
        elif outcome.replay is not None:
            identical = bool(outcome.replay.get("identical"))
            self.status_label.setText(f"Replay of {name}: {outcome.message}")
            if not identical:
                self._show_run_error(f"Replay of {name}: {outcome.message}")
        elif outcome.status == "cancelled":
            self.status_label.setText(f"Stopped {name}: {outcome.message}")
        else:
            self.status_label.setText(f"Completed {name}: {outcome.message}")
        self._run = None
        self._refresh_variant_state()
        self.runFinished.emit(outcome)

    @Slot(bool)
    def _on_busy_changed(self, busy: bool) -> None:
        self._update_actions()

    @Slot()
    def _on_queue_changed(self, *args: object) -> None:
        if self._config is not None:
            self._refresh_variant_state()

    # ---- progress --------------------------------------------------------------------------
    @Slot()
    def _update_progress(self) -> None:
        total = max(1, self._run_total)
        done = min(self._epochs_done, total)
        self.progress_bar.setRange(0, total)
        self.progress_bar.setValue(done)
        elapsed = time.monotonic() - self._run_started_at if self._run_started_at else 0.0
        text = f"{done} / {self._run_total} epochs · {_duration(elapsed)} elapsed"
        this_run = done - self._run_start_epoch
        if self._run is not None and this_run > 0 and done < total:
            remaining = elapsed / this_run * (total - done)
            text += f" · ~{_duration(remaining)} left"
        self.progress_bar.setFormat(text)

    # ---- history, table and plot links -----------------------------------------------------
    def _show_history(self, family: str, name: str) -> None:
        """Show an existing variant's chronicle (read on the GUI thread: small files only)."""
        path = variant_dir(self.workspace.home, family, name) / "chronicle.jsonl"
        try:
            size = path.stat().st_size if path.exists() else 0
            if size > HISTORY_PREVIEW_BYTES:
                self._displayed = (family, name)
                self.chronicle_model.clear()
                self.plots.clear()
                self.status_label.setText(
                    f"{name}: its chronicle ({size / 2**20:.0f} MB) is too large to preview "
                    "here; the Analysis tab shows its curves."
                )
                self._update_rows_label()
                return
            rows = list(read_chronicle(path))
        except OSError as exc:
            self._show_error(f"Could not read {path}: {exc}")
            return
        self._displayed = (family, name)
        self.chronicle_model.set_rows(rows)
        self.plots.set_rows(rows)
        self._update_rows_label()
        self._update_actions()

    def _at_bottom(self) -> bool:
        bar = self.table.verticalScrollBar()
        return bar.value() >= bar.maximum() - 1

    def _update_rows_label(self) -> None:
        rows = self.chronicle_model.rowCount()
        self.rows_label.setText(f"{rows:,} row{'s' if rows != 1 else ''}")
        self.export_button.setEnabled(rows > 0)

    @Slot(QModelIndex, int, int)
    def _on_columns_inserted(self, parent: QModelIndex, first: int, last: int) -> None:
        """Size new columns for their header and any formatted number (no content scan)."""
        metrics = self.table.fontMetrics()
        header = self.table.horizontalHeader()
        number = metrics.horizontalAdvance("-1.23456e-05") + 14
        integer = metrics.horizontalAdvance("9999999") + 14
        for column in range(first, last + 1):
            key = self.chronicle_model.columns[column]
            title = str(self.chronicle_model.headerData(column, Qt.Orientation.Horizontal))
            sample = integer if key in ("epoch", "step") else number
            width = max(sample, metrics.horizontalAdvance(title) + 18)
            if key == "warning":
                width = max(width, 320)
            header.resizeSection(column, width)

    @Slot(int)
    def _on_plot_epoch_clicked(self, epoch: int) -> None:
        row = self.chronicle_model.epoch_end_row_near(epoch)
        if row is None:
            return
        self.table.selectRow(row)
        self.table.scrollTo(
            self.chronicle_model.index(row, 0), QAbstractItemView.ScrollHint.PositionAtCenter
        )

    @Slot(QModelIndex, QModelIndex)
    def _on_table_row_changed(self, current: QModelIndex, previous: QModelIndex) -> None:
        epoch = self.chronicle_model.epoch_of_row(current.row()) if current.isValid() else None
        self.plots.mark_epoch(epoch)

    @Slot()
    def export_chronicle_dialog(self) -> None:
        name = self._displayed[1] if self._displayed else "chronicle"
        path, _ = QFileDialog.getSaveFileName(
            self, "Export chronicle", str(Path.home() / f"{name}.csv"), "CSV files (*.csv)"
        )
        if path:
            self.export_csv(path)

    def export_csv(self, path: str | Path) -> int:
        try:
            count = self.chronicle_model.export_csv(path)
        except OSError as exc:
            self._show_error(f"Could not export to {path}: {exc}")
            return 0
        self.status_label.setText(f"Exported {count:,} rows to {path}")
        return count

    # ---- errors ----------------------------------------------------------------------------
    # Three sources share the inline error area: notices (skipped families, the engine
    # failing to load, an export), the parameters as a whole, and the last run.
    def _show_error(self, message: str) -> None:
        self._notice_error = message
        self._refresh_error_area()

    def _show_run_error(self, message: str) -> None:
        self._run_error = message
        self._refresh_error_area()

    def _hide_run_error(self) -> None:
        self._run_error = None
        self._refresh_error_area()

    def _refresh_error_area(self) -> None:
        parts = [m for m in (self._resolve_error, self._run_error, self._notice_error) if m]
        if parts:
            self.error_area.setText("\n".join(parts))
            self.error_area.setVisible(True)
        else:
            self.error_area.clear()
            self.error_area.setVisible(False)

    @property
    def error_text(self) -> str:
        return self.error_area.text() if self.error_area.isVisible() else ""

    # ---- persistence -----------------------------------------------------------------------
    def save_state(self, settings: QSettings) -> None:
        settings.setValue("training/mainSplitter", self.main_splitter.saveState())
        settings.setValue("training/leftSplitter", self.left_splitter.saveState())
        settings.setValue("training/resultsSplitter", self.results_splitter.saveState())
        if self.family():
            settings.setValue("training/family", self.family())

    def restore_state(self, settings: QSettings) -> None:
        for key, splitter in (
            ("training/mainSplitter", self.main_splitter),
            ("training/leftSplitter", self.left_splitter),
            ("training/resultsSplitter", self.results_splitter),
        ):
            state = settings.value(key)
            restored = state is not None and splitter.restoreState(state)
            if restored and splitter is self.results_splitter:
                self._results_sizes_restored = True
        family = settings.value("training/family")
        if isinstance(family, str):
            self.select_family(family)
