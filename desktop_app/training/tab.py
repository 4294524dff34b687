"""The Training tab: family and parameter forms, the live variant, run controls, plots, table."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QSettings, Qt, QTimer, Signal, Slot
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QLayout,
    QMessageBox,
    QPushButton,
    QSizePolicy,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from desktop_app.kit.family_combo import FamilyCombo
from desktop_app.kit.family_forms import FamilyForms
from desktop_app.kit.family_loader import FamilyLoader
from desktop_app.kit.job_status import STATUS_TEXT
from desktop_app.kit.preferences import Preferences
from desktop_app.kit.warmup import EngineWarmup
from desktop_app.kit.widgets import (
    button,
    error_label,
    group,
    labelled,
    scrolling_column,
    selectable,
    text_label,
)
from desktop_app.kit.x_axis import X_MODES
from desktop_app.training.controller import RunController, RunOutcome
from desktop_app.training.parameter_count import ParameterCountLabel
from desktop_app.training.results_view import ResultsView
from desktop_app.training.run_progress import RunProgress
from desktop_app.training.run_queue import RunQueuePanel, RunRequest
from engine import variants
from engine.datasets.types import DatasetError, TargetColumnError
from engine.discovery import summarise
from engine.errors import ParameterError, TrainwrightError
from engine.training.chronicle import is_epoch_end, read_chronicle
from engine.training.config import EXECUTION_PARAMETERS
from engine.variants import RunConfig, variant_dir

if TYPE_CHECKING:
    from desktop_app.training.plots import TrainingPlots

HISTORY_PREVIEW_BYTES = 40 * 2**20  # larger chronicles are not loaded on the GUI thread
# The family "Train on this" (Datasets tab) trains on a dataset of each kind.
DATASET_FAMILIES = {"tabular": "mlp", "images": "image_classifier"}
RESUMABLE_STATES = ("cancelled", "failed", "interrupted", "timed_out")


# The state label's text and tooltip for the variant the forms make: the states this tab
# gives it (the forms, the run in progress, the queue), then those read from its folder.
STATE_TEXT = {
    "invalid": ("invalid parameters", "Fix the parameters marked in red."),
    "loading": ("loading the family…", "Its family.py is being imported; the name follows."),
    "training": ("training", "Training now."),
    "replaying": ("replaying", "Being replayed now."),
    "queued": ("queued", "Waiting in the queue."),
    "new": ("new", "Not trained yet: Start trains it."),
    "completed": ("already trained", "Completed: Replay it, or Start to retrain it from scratch."),
    "failed": ("failed", "Resume it from its last checkpoint, or Start to retrain it."),
    "cancelled": ("cancelled", "Stopped: Resume it, or Start to retrain it."),
    "interrupted": (
        STATUS_TEXT["interrupted"][0],
        "Ended without a clean stop: Resume it, or retrain it.",
    ),
    "timed_out": (
        STATUS_TEXT["timed_out"][0],
        "Stopped at its time limit: Resume it, or retrain it.",
    ),
    "created": ("created, never trained", "Start trains it."),
    "broken": ("broken", "Its files are damaged: Start retrains it."),
    "busy_elsewhere": ("training elsewhere", "Another process is training this variant."),
}


class TrainingTab(QWidget):
    """Configure, start, watch and stop runs. Every run goes through the RunController."""

    runFinished = Signal(object)  # RunOutcome
    statusMessage = Signal(str, int)  # a transient message for the status bar, timeout in ms

    def __init__(
        self, workspace: Any, controller: RunController, preferences: Preferences | None = None
    ) -> None:
        super().__init__()
        self.setObjectName("trainingTab")
        self.workspace = workspace
        self.controller = controller
        # Asks a yes/no question; tests replace it.
        self.confirm: Callable[[str, str], bool] = self._ask
        self.config: RunConfig | None = None  # what the forms resolve to (None: invalid)
        self._resolve_error: str | None = None
        self._run_error: str | None = None
        self._notice_error: str | None = None
        self.state = "invalid"  # the variant's: a key of STATE_TEXT
        self._summary_problem: str | None = None
        self._displayed: tuple[str, str] | None = None  # (family, variant) in plots/table
        self._run: RunRequest | None = None
        self._suspend_invalidate = False
        # The plots' x axis restored from the settings, until the plots exist to take it.
        self._pending_x_mode: str | None = None
        warmup = EngineWarmup.instance()
        self._devices: list[str] | None = warmup.devices
        self.engine_ready = warmup.devices is not None  # torch loaded, the devices known

        self.preferences = preferences or Preferences()
        self.family_loader = FamilyLoader(self._on_family_loaded, self._on_family_load_failed, self)
        self._build(self.preferences)

        controller.runStarted.connect(self._on_run_started)
        controller.rowsReady.connect(self._on_rows)
        controller.runWarning.connect(self._on_run_warning)
        controller.runEnded.connect(self._on_run_ended)
        controller.busyChanged.connect(self._on_busy_changed)
        controller.queue.model.modelReset.connect(self._on_queue_changed)
        warmup.ready.connect(self._on_engine_ready)
        warmup.failed.connect(self._on_engine_failed)
        if warmup.error:
            self._show_error(f"The engine failed to load: {warmup.error}")
        elif self.engine_ready:
            self.status_label.setText("Ready.")

        self._populate_families()

    # ---- construction ----------------------------------------------------------------------
    def _build(self, preferences: Preferences) -> None:
        """The family row over the forms and queue (left) and the run and its results (right)."""
        self.family_combo = FamilyCombo(
            "familyCombo",
            "Model family",
            "The model family to train; its parameters appear below.",
        )
        self.family_forms = FamilyForms(
            self.workspace.registry,
            self.family_combo,
            ("domain", "training"),
            preferences=preferences,
            parent=self,
        )
        self.family_forms.familyChanged.connect(self._on_family_changed)
        self.domain_form = self.family_forms.domain_form
        self.training_form = self.family_forms.training_form
        for form in (self.domain_form, self.training_form):
            form.changed.connect(self._on_form_changed)
        self.main_splitter = QSplitter(Qt.Orientation.Horizontal)
        self.main_splitter.setObjectName("trainingSplitter")
        self.main_splitter.addWidget(self._build_left())
        self.main_splitter.addWidget(self._build_right())
        self.main_splitter.setStretchFactor(0, 0)
        self.main_splitter.setStretchFactor(1, 1)
        self.main_splitter.setChildrenCollapsible(False)
        self.main_splitter.setSizes([380, 900])
        layout = QVBoxLayout(self)
        layout.addLayout(self._build_family_row())
        layout.addWidget(self.main_splitter, 1)

    def _build_family_row(self) -> QLayout:
        """The family chooser and the chosen family's description, above everything."""
        self.description_label = QLabel()
        self.description_label.setObjectName("familyDescription")
        self.description_label.setWordWrap(True)
        self.description_label.setAccessibleName("Family description")
        self.description_label.setSizePolicy(
            QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred
        )
        row = labelled("&Family", self.family_combo)
        row.addWidget(self.description_label, 1)
        return row

    def _build_left(self) -> QSplitter:
        """The parameter forms over the queue of runs."""
        # The model's parameter count under its form (counted in the background, on the
        # family loader's runner, which the window shuts down on close).
        self.parameter_count = ParameterCountLabel(
            self.family_loader.runner, self.workspace.registry
        )
        model = QWidget()
        model_layout = QVBoxLayout(model)
        model_layout.setContentsMargins(0, 0, 0, 0)
        model_layout.addWidget(self.domain_form)
        model_layout.addWidget(self.parameter_count)
        scroll = scrolling_column(
            [
                group("Model", model, "domainGroup"),
                group("Training", self.training_form, "trainingGroup"),
            ],
            "formsScroll",
            right_margin=4,
        )
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setMinimumWidth(300)
        self.queue_panel = RunQueuePanel(self.controller.queue, busy=self._busy)
        queue_box = group("Queue", self.queue_panel, "queueGroup")
        queue_box.setToolTip(
            "Runs wait here while another one trains; they stay queued when Trainwright closes"
        )
        self.left_splitter = QSplitter(Qt.Orientation.Vertical)
        self.left_splitter.setObjectName("leftSplitter")
        self.left_splitter.addWidget(scroll)
        self.left_splitter.addWidget(queue_box)
        self.left_splitter.setStretchFactor(0, 5)
        self.left_splitter.setStretchFactor(1, 1)
        self.left_splitter.setChildrenCollapsible(False)
        self.left_splitter.setSizes([580, 190])
        return self.left_splitter

    def _build_right(self) -> QWidget:
        """The variant and run controls over the plots and the chronicle."""
        right = QWidget()
        layout = QVBoxLayout(right)
        layout.setContentsMargins(4, 0, 0, 0)
        layout.addLayout(self._build_variant_row())
        layout.addLayout(self._build_controls())
        layout.addWidget(self.status_label)
        layout.addWidget(self.error_area)
        layout.addWidget(self._build_results(), 1)
        return right

    def _build_variant_row(self) -> QLayout:
        """The variant name these parameters make, and its state."""
        self.variant_label = text_label(
            "variantLabel",
            "Variant name",
            "The variant these parameters train (its folder name)",
            "—",
            select=True,
        )
        font = self.variant_label.font()
        font.setBold(True)
        self.variant_label.setFont(font)
        self.state_label = QLabel()
        self.state_label.setObjectName("variantStateLabel")
        self.state_label.setAccessibleName("Variant state")
        row = QHBoxLayout()
        row.addWidget(QLabel("Variant:"))
        row.addWidget(self.variant_label, 1)
        row.addWidget(self.state_label)
        return row

    def _build_controls(self) -> QLayout:
        """Start, Stop, Resume, Replay (and their shortcuts), the progress, status, errors."""
        self.start_button = self._button(
            "startButton", "Start", "Start training these parameters (Ctrl+Return)", self.start
        )
        self.stop_button = self._button(
            "stopButton", "Stop", "Stop the run; it stays resumable (Esc)", self.stop
        )
        self.resume_button = self._button(
            "resumeButton", "Resume", "Continue this variant from its last checkpoint", self.resume
        )
        self.replay_button = self._button(
            "replayButton",
            "Replay",
            "Train this variant again and check it is bit-identical",
            self.replay,
        )
        for keys in ("Ctrl+Return", "Ctrl+Enter"):
            self._shortcut(QKeySequence(keys), self._start_shortcut)
        self._shortcut(QKeySequence(Qt.Key.Key_Escape), self._stop_shortcut)
        self.status_label = selectable(QLabel("Loading the engine…"))
        self.status_label.setObjectName("statusLabel")
        self.status_label.setAccessibleName("Run status")
        self.error_area = selectable(error_label("errorArea", "Error"))
        self.progress_bar = RunProgress()
        row = QHBoxLayout()
        for widget in (self.start_button, self.stop_button, self.resume_button, self.replay_button):
            row.addWidget(widget)
        row.addWidget(self.progress_bar, 1)
        return row

    def _build_results(self) -> ResultsView:
        """The plots over the chronicle."""
        self.results = ResultsView()
        self.results_splitter = self.results
        chronicle = self.results.chronicle
        chronicle.export_button.clicked.connect(self.export_chronicle_dialog)
        self.chronicle_model, self.table = chronicle.model, chronicle.table
        return self.results

    def _button(self, name: str, text: str, tip: str, slot: Callable[[], None]) -> QPushButton:
        widget = button(name, text, tip)
        widget.setEnabled(False)
        widget.clicked.connect(slot)
        return widget

    def _shortcut(self, keys: QKeySequence, slot: Callable[[], None]) -> None:
        """A key for this tab (and its children) only."""
        shortcut = QShortcut(keys, self)
        shortcut.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        shortcut.activated.connect(slot)

    def _populate_families(self) -> None:
        self.family_forms.load()
        problems = [f"{e.source}: {e.message}" for e in self.workspace.registry.errors]
        if problems:
            self._show_error("Some families were skipped:\n" + "\n".join(problems))

    # ---- family and forms ------------------------------------------------------------------
    def family(self) -> str | None:
        return self.family_forms.family()

    def select_family(self, name: str) -> bool:
        return self.family_forms.select_family(name)

    def use_dataset(self, dataset: str, kind: str, target: str | None = None) -> str | None:
        """Train on `dataset` (from the Datasets tab, which knows its `kind`): the family for
        that kind (an MLP for a table, the image classifier for images; a table for a kind
        without one, whose form then says what is wrong), the dataset, its target column (None:
        the dataset's own) and the task type it infers. The family chosen, or None if it is
        not available."""
        family = DATASET_FAMILIES.get(kind, DATASET_FAMILIES["tabular"])
        if not self.select_family(family):
            return None
        form = self.domain_form
        if form.has_field("dataset"):
            form.set_value("dataset", dataset)
        if form.has_field("target"):
            form.set_value("target", target or "")
        if form.has_field("task_type"):
            form.set_value("task_type", "auto")
        return family

    def train_from_variant(self, name: str) -> bool:
        """Fill the forms with a variant's settings (a search's best trial) and twice its
        epochs, for a longer run the user starts; False (and a message) when it cannot be
        read or its family is not available."""
        try:
            config = self.workspace.variant(name).config
        except (TrainwrightError, OSError, ValueError) as exc:
            self._show_error(f"Cannot read the settings of {name}: {exc}")
            return False
        if not self.select_family(config.family):
            self._show_error(f"The family {config.family} of {name} is not available")
            return False
        for key, value in config.domain.items():
            if self.domain_form.has_field(key):
                self.domain_form.set_value(key, value)
        training = config.training.model_dump()
        for key, value in training.items():
            if key not in EXECUTION_PARAMETERS and self.training_form.has_field(key):
                self.training_form.set_value(key, value)
        epochs = int(training.get("epochs") or 1) * 2
        if self.training_form.has_field("epochs"):
            self.training_form.set_value("epochs", epochs)
        self.statusMessage.emit(
            f"The settings of {name}, with {epochs} epochs: press Start to train it longer", 15_000
        )
        return True

    @Slot(object)
    def _on_family_changed(self, spec: Any) -> None:
        """The forms show a new family: describe it and resolve its variant."""
        self.description_label.setText(spec.description)
        self.description_label.setToolTip(spec.architecture or spec.description)
        self._invalidate()

    def apply_preferences(self, preferences: Preferences) -> None:
        """New preferences: threads/device fields the user has not typed in follow them."""
        self.preferences = preferences
        self.family_forms.apply_preferences(preferences)
        self._invalidate()

    @Slot()
    def _on_form_changed(self) -> None:
        if not self._suspend_invalidate:
            self._invalidate()

    def _invalidate(self) -> None:
        """Something changed: resolve again, now (the engine answers at once, without torch)."""
        self._resolve()

    @property
    def plots(self) -> TrainingPlots:
        """The live plots, created on first use (after the first paint, so pyqtgraph's import
        does not delay it); they take the x axis restored from the settings."""
        plots = self.results.plots
        if self._pending_x_mode is not None:
            mode, self._pending_x_mode = self._pending_x_mode, None
            plots.set_x_mode(mode)
        return plots

    @Slot()
    def ensure_plots(self) -> None:
        _ = self.plots

    def x_mode(self) -> str:
        """What the plots' x axis counts (desktop_app.kit.x_axis's X_MODES), or will count
        once they are made."""
        if self.results.plots_made:
            return self.plots.x_mode()
        return self._pending_x_mode or "epoch"

    # ---- engine ----------------------------------------------------------------------------
    def start_engine_warmup(self) -> None:
        """Load torch in the background (after the first paint); resolving waits for it."""
        EngineWarmup.instance().start(self.workspace)
        QTimer.singleShot(0, self, self.ensure_plots)

    @Slot(object)
    def _on_engine_ready(self, devices: list[str]) -> None:
        self._devices = list(devices)
        if not self.engine_ready:
            self.engine_ready = True
            if not self.controller.busy:
                self.status_label.setText("Ready.")
            self._invalidate()

    @Slot(str)
    def _on_engine_failed(self, message: str) -> None:
        self._show_error(f"The engine failed to load: {message}")

    @Slot()
    def _resolve(self) -> None:
        """Ask the engine about the forms: effective defaults (the fields left alone follow
        them), an error per field, and the variant's name and state."""
        family = self.family()
        if family is None:
            return
        if not self.family_loader.ready(self.workspace.registry, family):
            self.config = None  # a user's family.py, importing in the background
            self._set_state("loading")
            self._update_actions()
            self._clear_results()
            self.parameter_count.show_invalid("the family is still loading")
            return
        self.domain_form.clear_external_errors()
        self.training_form.clear_external_errors()
        self._resolve_error = None
        self.config = None
        try:
            resolution = self.workspace.resolve(
                family,
                self.domain_form.values(),
                self.training_form.edited_values(),
                preferences=self.preferences.training_defaults(),
            )
            self._show_defaults(resolution)
            self._show_field_errors(resolution.errors)
            if resolution.config is not None and self._forms_valid():
                self._check_device(resolution.config)
                self.config = resolution.config
        except ParameterError as exc:
            self._show_field_errors({exc.field: exc.message})
        except TrainwrightError as exc:  # written for users: by its field, as it is
            self._show_field_errors({self._error_field(exc): str(exc)})
        except Exception as exc:
            self._resolve_error = f"{type(exc).__name__}: {exc}"
        self._refresh_error_area()
        self._refresh_variant_state()
        self.parameter_count.show_config(
            self.config, self._invalid_reason(), ready=self.engine_ready
        )

    def _invalid_reason(self) -> str:
        """Why the forms make no config, in one line (for the parameter count's tooltip)."""
        for form in self._forms():
            for name, message in form.errors().items():
                return f"{name}: {message}"
        return self._resolve_error or "the parameters are invalid"

    def _on_family_loaded(self, name: str) -> None:
        if name == self.family():
            self._invalidate()

    def _on_family_load_failed(self, name: str, message: str) -> None:
        if name == self.family():
            self._set_state("invalid")
            self._update_actions()
            self._show_error(message)

    def _show_defaults(self, resolution: Any) -> None:
        """The effective defaults in the training form, with where each comes from."""
        hints = {name: default.hint() for name, default in resolution.defaults.items()}
        self._suspend_invalidate = True
        try:
            self.training_form.update_defaults(resolution.training_specs, hints)
        finally:
            self._suspend_invalidate = False

    def _show_field_errors(self, errors: dict[str, str]) -> None:
        """Each engine error under its field; one no form has goes to the error area."""
        for field, message in errors.items():
            form = next((f for f in self._forms() if f.has_field(field)), None)
            if form is None:
                self._resolve_error = f"{field}: {message}" if field else message
            elif field not in form.errors():  # a field's own parse error says it first
                form.set_external_error(field, message)

    def _error_field(self, exc: TrainwrightError) -> str:
        """The field an engine error is about: a target column's, a dataset's, else the
        error's own field (none: it goes to the error area)."""
        candidates = [getattr(exc, "field", None)]
        if isinstance(exc, TargetColumnError):
            candidates.append("target")
        if isinstance(exc, DatasetError):
            candidates.append("dataset")
        for name in candidates:
            if name and any(form.has_field(name) for form in self._forms()):
                return name
        return ""

    def _forms(self) -> tuple[Any, Any]:
        return (self.domain_form, self.training_form)

    def _forms_valid(self) -> bool:
        return all(form.is_valid() for form in self._forms())

    def _check_device(self, config: RunConfig) -> None:
        device = config.training.device
        if self._devices is not None and device not in self._devices:
            allowed = ", ".join(self._devices)
            raise ParameterError("device", f"{device} is not available here; allowed: {allowed}")

    def _refresh_variant_state(self) -> None:
        """The state of the variant the forms make: running, queued, or as stored."""
        config = self.config
        if config is None:
            self._set_state("invalid")
            self._update_actions()
            self._clear_results()
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
        if self.controller.busy or self._displayed == (config.family, name):
            return  # a run's rows stay in view while it runs (the chronicle names its variant)
        if state in ("new", "queued"):
            self._clear_results()  # nothing stored: never another variant's rows
        else:
            self._show_history(config.family, name)

    def _disk_state(self, config: RunConfig) -> str:
        directory = variant_dir(self.workspace.home, config.family, config.variant)
        if not variants.config_path(directory).is_file():
            return "new"
        summary = summarise(directory)
        self._summary_problem = summary.problem
        if summary.status == "training":  # locked: a live run somewhere else
            return "busy_elsewhere"
        return summary.status

    def _set_state(self, state: str) -> None:
        self.state = state
        text, tip = STATE_TEXT.get(state, (state, ""))
        if state in ("invalid", "loading"):
            self.variant_label.setText("—")
        self.state_label.setText(f"({text})")
        full_tip = tip + (f"\n{self._summary_problem}" if self._summary_problem else "")
        self.state_label.setToolTip(full_tip)
        self.state_label.setAccessibleDescription(full_tip)

    def _update_actions(self) -> None:
        """Start, Stop, Resume and Replay as the variant's state and the run allow."""
        busy = self.controller.busy
        config = self.config
        same = (
            busy
            and config is not None
            and self.controller.current is not None
            and self.controller.current.variant == config.variant
        )
        usable = config is not None and not same
        state = self.state
        self.start_button.setEnabled(
            usable and state not in ("training", "replaying", "busy_elsewhere", "queued")
        )
        existing = (
            "completed", "failed", "cancelled", "interrupted", "timed_out", "created", "broken"
        )  # fmt: skip
        self.start_button.setText("Retrain…" if state in existing else "Start")
        self.start_button.setAccessibleName(self.start_button.text().rstrip("…"))
        self.stop_button.setEnabled(busy and not self.controller.active.stopping)
        self.resume_button.setEnabled(usable and state in RESUMABLE_STATES)
        self.replay_button.setEnabled(usable and state == "completed")

    # ---- actions ---------------------------------------------------------------------------
    @Slot()
    def start(self) -> None:
        """Train the variant (retraining an existing one asks first)."""
        config = self.config
        if config is None or not self.start_button.isEnabled():
            return
        mode = "train" if self.state == "new" else "retrain"
        if mode == "retrain" and not self.confirm(
            "Retrain variant",
            f"{config.variant} already exists ({STATE_TEXT.get(self.state, (self.state,))[0]}).\n\n"
            "Retrain it from scratch? Its checkpoints and chronicle are replaced.",
        ):
            return
        self.submit(RunRequest(mode, config.variant, config.family, config=config))

    @Slot()
    def stop(self) -> None:
        if self.controller.busy:
            self.controller.stop()
            self.status_label.setText("Stopping… (saving a resumable checkpoint)")
            self._update_actions()

    @Slot()
    def resume(self) -> None:
        config = self.config
        if config is not None and self.resume_button.isEnabled():
            self.submit(RunRequest(mode="resume", variant=config.variant, family=config.family))

    @Slot()
    def replay(self) -> None:
        config = self.config
        if config is not None and self.replay_button.isEnabled():
            self.submit(RunRequest(mode="replay", variant=config.variant, family=config.family))

    @Slot(str)
    def request_resume(self, variant: str) -> None:
        """Resume a variant by name (from the Analysis tab)."""
        self.submit(RunRequest(mode="resume", variant=variant))

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
            self.controller.enqueue(request)
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
        self._hide_run_error()
        if request.mode != "replay":
            self._displayed = (str(info.get("family")), str(info.get("variant")))
            self.ensure_plots()  # made here, they take the x axis restored
            self.results.show_rows(info.get("history") or [])
            self.results.chronicle.set_shown(self._displayed[1])
        verb = {"replay": "Replaying", "resume": "Resuming"}.get(request.mode, "Training")
        self.status_label.setText(f"{verb} {info.get('variant', request.variant)}…")
        progress = self.progress_bar
        progress.start(
            int(info.get("start_epoch", 0)),
            int(info.get("total_epochs", 0)),
            float(info.get("elapsed_s") or 0.0),
        )
        self._refresh_variant_state()

    @Slot(object)
    def _on_rows(self, rows: list[dict[str, Any]]) -> None:
        """A batch of the run's rows: to the table and plots, and the epoch reached."""
        if self._run is None:
            return
        if self._run.mode != "replay":
            self.results.add_rows(rows)
        progress = self.progress_bar
        last = next((row for row in reversed(rows) if is_epoch_end(row)), None)
        if last is not None:
            progress.advance(int(last.get("epoch", progress.epochs_done)))
        else:
            progress.refresh()
        if not self.controller.active.stopping:
            verb = "Replaying" if self._run.mode == "replay" else "Training"
            self.status_label.setText(
                f"{verb} {self._run.variant} — epoch {progress.epochs_done} of {progress.total}"
            )

    @Slot(str)
    def _on_run_warning(self, message: str) -> None:
        self.statusMessage.emit(f"Warning: {message}", 15_000)

    @Slot(object)
    def _on_run_ended(self, outcome: RunOutcome) -> None:
        """Say how the run ended; a failure or a replay that differs also shows as an error."""
        reason = (
            (outcome.session or {}).get("stop_reason") if outcome.status == "completed" else None
        )
        self.progress_bar.stop(early="target reached" if reason else "")
        request = outcome.request
        name = outcome.name
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
        elif outcome.status == "timed_out":
            self.status_label.setText(f"Timed out {name}: {outcome.message}")
        else:
            self.status_label.setText(f"Completed {name}: {outcome.message}")
        self._run = None
        self._refresh_variant_state()
        self.runFinished.emit(outcome)

    @Slot(bool)
    def _on_busy_changed(self, busy: bool) -> None:
        self._update_actions()
        self.queue_panel.refresh_state()

    def _busy(self) -> bool:
        return self.controller.busy

    @Slot()
    def _on_queue_changed(self, *args: object) -> None:
        if self.config is not None:
            self._refresh_variant_state()

    # ---- history, table and plot links -----------------------------------------------------
    def _clear_results(self) -> None:
        """Empty the plots and the table (the forms name no stored variant), unless a run is
        showing there: its rows stay while it runs."""
        if self.controller.busy or self._displayed is None:
            return
        self._displayed = None
        self.results.chronicle.clear()
        if self.results.plots_made:
            self.results.plots.clear()
        self.results.chronicle.set_shown("")

    def _show_history(self, family: str, name: str) -> None:
        """Show an existing variant's chronicle (read on the GUI thread: small files only)."""
        path = variants.chronicle_path(variant_dir(self.workspace.home, family, name))
        try:
            size = path.stat().st_size if path.exists() else 0
            if size > HISTORY_PREVIEW_BYTES:
                self._displayed = (family, name)
                self.results.clear()
                self.results.chronicle.set_shown(name)
                self.status_label.setText(
                    f"{name}: its chronicle ({size / 2**20:.0f} MB) is too large to preview "
                    "here; the Analysis tab shows its curves."
                )
                return
            rows = list(read_chronicle(path))
        except OSError as exc:
            self._show_error(f"Could not read {path}: {exc}")
            return
        self._displayed = (family, name)
        self.ensure_plots()  # made here, they take the x axis restored
        self.results.show_rows(rows)
        self.results.chronicle.set_shown(name)
        self._update_actions()

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
        settings.setValue("training/xAxis", self.x_mode())

    def restore_state(self, settings: QSettings) -> None:
        """Splitter sizes, the family last used and the plots' x axis, from the window
        settings."""
        for key, splitter in (
            ("training/mainSplitter", self.main_splitter),
            ("training/leftSplitter", self.left_splitter),
        ):
            state = settings.value(key)
            if state is not None:
                splitter.restoreState(state)
        self.results.restore_sizes(settings.value("training/resultsSplitter"))
        family = settings.value("training/family")
        if isinstance(family, str):
            self.select_family(family)
        mode = settings.value("training/xAxis")
        self._pending_x_mode = mode if mode in X_MODES else "epoch"  # unknown: epochs
        if self.results.plots_made:
            self.ensure_plots()
