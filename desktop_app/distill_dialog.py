"""Distill a trained classifier (the teacher) into a student variant, and compare the two.

Opened from the Analysis tab ("Distill…" on a completed variant). The dialog first checks the
teacher as the engine will (in a worker): a regression teacher, or one that is not completed,
is refused with the engine's own message. Then the student's family, its parameters (the
parameter forms of the Training tab), the temperature T and alpha; Start trains it in a
worker with progress and Cancel, and the result compares teacher and student: parameter
count, test accuracy and loss, and inference time per 1,000 examples (measured in the worker
by `engine.distill.compare_distillation`). `distilled(name)` says a student was trained.
"""

from __future__ import annotations

import itertools
from typing import Any

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QDialog,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from desktop_app.analysis_workers import WorkerRunner
from desktop_app.param_form import ParamForm
from desktop_app.sweep_workers import (
    COMPARING,
    WAITING,
    DistillCheckWorker,
    DistillOutcome,
    DistillRequest,
    DistillWorker,
)
from desktop_app.widgets import described
from engine.distill.api import INHERITED_TRAINING

ERROR_STYLE = "color: #b3261e;"
OK_STYLE = "color: #1b5e20;"
BASIC_TRAINING = {"epochs", "lr", "optimizer", "weight_decay", "batch_size"}
STRATEGY_PARAMETERS = ("temperature", "alpha")
COLUMNS = ("Role", "Variant", "Parameters", "Accuracy", "Loss", "ms / 1,000 examples")
COLUMN_TIPS = (
    "Teacher or student",
    "The variant's name",
    "Number of weights",
    "Test accuracy, recomputed from the final weights",
    "Test loss, recomputed from the final weights",
    "Median wall time of a forward pass over 1,000 test examples on this machine (1 thread)",
)
TURNS_TIP = "Runs in this app take turns: it waits for a run in progress to finish."


def _number(value: float | None, kind: str) -> str:
    if value is None:
        return "n/a"
    if kind == "accuracy":
        return f"{value:.1%}"
    if kind == "int":
        return f"{int(value):,}"
    if kind == "ms":
        return f"{value:.3g}"
    return f"{value:.4g}"


class DistillDialog(QDialog):
    """Trains a distilled student of `teacher` and shows how the two compare."""

    distilled = Signal(str)  # the student's variant name

    def __init__(
        self,
        workspace: Any,
        teacher: str,
        parent: QWidget | None = None,
        *,
        teacher_family: str | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("distillDialog")
        self.setWindowTitle(f"Distill {teacher}")
        self.setAccessibleName("Distill")
        self.workspace = workspace
        self.runner = WorkerRunner(self)
        self._ids = itertools.count(1)
        self._check_request = 0
        self._run_request = 0
        self._running = False
        self._closing = False
        self.teacher_ok = False
        self.refusal: str | None = None  # why this teacher cannot be distilled
        self.outcome: DistillOutcome | None = None
        self.error: str | None = None
        self.teacher_name = teacher
        self.teacher = workspace.variant(teacher, teacher_family)
        self.teacher_family = self.teacher.family
        self._build()
        self._load_families()
        self._check_teacher()

    # ---- construction ----------------------------------------------------------------------
    def _build(self) -> None:
        self.teacher_label = described(
            QLabel(f"Teacher: <b>{self.teacher_name}</b> ({self.teacher_family})"),
            "Teacher",
            "The trained classifier whose softened outputs the student learns from",
        )
        self.teacher_label.setObjectName("distillTeacherLabel")
        self.family_combo = described(
            QComboBox(), "Student family", "The model family of the student"
        )
        self.family_combo.setObjectName("distillFamilyCombo")
        family_row = QHBoxLayout()
        family_label = QLabel("Student &family:")
        family_label.setBuddy(self.family_combo)
        family_row.addWidget(family_label)
        family_row.addWidget(self.family_combo, 1)

        self.domain_form = ParamForm("distillDomain")
        self.training_form = ParamForm(
            "distillTraining", basic=BASIC_TRAINING, advanced_title="More training parameters"
        )
        self.strategy_form = ParamForm("distillStrategy")
        from engine.strategies.distill import DistillStrategy

        specs = [p for p in DistillStrategy.parameters if p.name in STRATEGY_PARAMETERS]
        self.strategy_form.set_specs(specs)
        self.strategy_form.field_widget("temperature").setObjectName("distillTemperature")
        self.strategy_form.field_widget("alpha").setObjectName("distillAlpha")
        self.overwrite_check = described(
            QCheckBox("Retrain the student if it exists"),
            "Overwrite student",
            "A student with exactly these settings may exist already; retrain it from scratch",
        )
        self.overwrite_check.setObjectName("distillOverwriteCheck")

        domain_group = QGroupBox("Student model and data")
        QVBoxLayout(domain_group).addWidget(self.domain_form)
        training_group = QGroupBox("Student training")
        QVBoxLayout(training_group).addWidget(self.training_form)
        strategy_group = QGroupBox("Distillation")
        strategy_layout = QVBoxLayout(strategy_group)
        strategy_layout.addWidget(self.strategy_form)
        strategy_layout.addWidget(self.overwrite_check)
        forms = QWidget()
        forms_layout = QVBoxLayout(forms)
        forms_layout.setContentsMargins(0, 0, 0, 0)
        forms_layout.addWidget(domain_group)
        forms_layout.addWidget(training_group)
        forms_layout.addWidget(strategy_group)
        forms_layout.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(forms)

        self.message_label = described(
            QLabel("Checking the teacher…"), "Distillation status", "What the dialog is doing"
        )
        self.message_label.setObjectName("distillMessageLabel")
        self.message_label.setWordWrap(True)
        self.message_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.progress = described(
            QProgressBar(), "Distillation progress", "Epochs of the student trained"
        )
        self.progress.setObjectName("distillProgress")
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.progress.setVisible(False)

        self.comparison_table = described(
            QTableWidget(0, len(COLUMNS)),
            "Teacher and student",
            "Parameter count, test accuracy and loss, and inference time of both models",
        )
        self.comparison_table.setObjectName("distillComparisonTable")
        self.comparison_table.setHorizontalHeaderLabels(list(COLUMNS))
        for column, tip in enumerate(COLUMN_TIPS):
            header = self.comparison_table.horizontalHeaderItem(column)
            if header is not None:
                header.setToolTip(tip)
        self.comparison_table.verticalHeader().setVisible(False)
        self.comparison_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.comparison_table.horizontalHeader().setSectionResizeMode(
            QHeaderView.ResizeMode.ResizeToContents
        )
        self.comparison_table.horizontalHeader().setStretchLastSection(True)
        self.comparison_table.setMaximumHeight(110)
        self.comparison_table.setVisible(False)
        self.summary_label = described(
            QLabel(""), "Comparison summary", "The student relative to its teacher"
        )
        self.summary_label.setObjectName("distillSummaryLabel")
        self.summary_label.setWordWrap(True)

        self.start_button = described(
            QPushButton("Start"), "Start distillation", "Train the student. " + TURNS_TIP
        )
        self.start_button.setObjectName("distillStartButton")
        self.start_button.setEnabled(False)
        self.start_button.setDefault(True)
        self.cancel_button = described(
            QPushButton("Close"),
            "Cancel or close",
            "Stop the distillation in progress (the student can be resumed later), or close",
        )
        self.cancel_button.setObjectName("distillCancelButton")
        buttons = QHBoxLayout()
        buttons.addWidget(self.progress, 1)
        buttons.addWidget(self.start_button)
        buttons.addWidget(self.cancel_button)

        layout = QVBoxLayout(self)
        layout.addWidget(self.teacher_label)
        layout.addLayout(family_row)
        layout.addWidget(scroll, 1)
        layout.addWidget(self.message_label)
        layout.addWidget(self.comparison_table)
        layout.addWidget(self.summary_label)
        layout.addLayout(buttons)
        self.resize(760, 720)

        self.family_combo.currentIndexChanged.connect(self._on_family_changed)
        for form in (self.domain_form, self.training_form, self.strategy_form):
            form.changed.connect(self._update_buttons)
        self.start_button.clicked.connect(self.start)
        self.cancel_button.clicked.connect(self.cancel_or_close)

    def _load_families(self) -> None:
        registry = self.workspace.registry
        blocked = self.family_combo.blockSignals(True)
        for spec in registry.specs():
            self.family_combo.addItem(spec.display_name, spec.name)
        index = self.family_combo.findData(self.teacher_family)
        self.family_combo.setCurrentIndex(max(index, 0))
        self.family_combo.blockSignals(blocked)
        self._on_family_changed(self.family_combo.currentIndex())

    @Slot(int)
    def _on_family_changed(self, index: int) -> None:
        name = self.family_combo.itemData(index)
        if name is None:
            return
        spec = self.workspace.registry.spec(name)
        config = self.teacher.config
        teacher_training = config.training.model_dump()
        if name == self.teacher_family:
            # The teacher's own settings to start from: shrink the model from there.
            domain, training = dict(config.domain), teacher_training
        else:
            domain = {}
            training = {k: teacher_training[k] for k in INHERITED_TRAINING}
        self.domain_form.set_specs(list(spec.domain_parameters), domain)
        training_specs = spec.training_parameters()
        names = {p.name for p in training_specs}
        self.training_form.set_specs(
            training_specs, {k: v for k, v in training.items() if k in names}
        )
        self._update_buttons()

    # ---- the teacher check -------------------------------------------------------------------
    def _check_teacher(self) -> None:
        """Validate the teacher in a worker, as the engine does before training a student."""
        self._check_request = next(self._ids)
        request = DistillRequest(self.teacher_name, self.teacher_family, self.teacher_family)
        worker = DistillCheckWorker(self._check_request, self.workspace, request)
        self.runner.start(worker, self._on_checked, self._on_check_failed)

    @Slot(int, object)
    def _on_checked(self, request_id: int, _: object) -> None:
        if request_id != self._check_request or self._closing:
            return
        self.teacher_ok = True
        if not self._running and self.outcome is None:
            self._say(f"Ready: choose the student's settings and press Start. {TURNS_TIP}")
        self._update_buttons()

    @Slot(int, str)
    def _on_check_failed(self, request_id: int, message: str) -> None:
        if request_id != self._check_request or self._closing:
            return
        self.refuse(message)

    def refuse(self, message: str) -> None:
        """This teacher cannot be distilled: say why (the engine's words), disable Start."""
        self.refusal = message
        self.teacher_ok = False
        self._say(f"Cannot distill this teacher: {message}", error=True)
        self._update_buttons()

    # ---- running -----------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self._running

    def request(self) -> DistillRequest:
        """What Start trains, from the forms."""
        strategy = self.strategy_form.values()
        return DistillRequest(
            teacher=self.teacher_name,
            teacher_family=self.teacher_family,
            student_family=self.family_combo.currentData(),
            domain=self.domain_form.values(),
            training=self.training_form.values(),
            temperature=strategy.get("temperature"),
            alpha=strategy.get("alpha"),
            overwrite=self.overwrite_check.isChecked(),
        )

    def _forms_valid(self) -> bool:
        return all(f.is_valid() for f in (self.domain_form, self.training_form, self.strategy_form))

    @Slot()
    def _update_buttons(self) -> None:
        ready = self.teacher_ok and self.refusal is None and self._forms_valid()
        self.start_button.setEnabled(ready and not self._running and not self._closing)
        self.cancel_button.setText("Cancel" if self._running else "Close")
        for widget in (
            self.family_combo,
            self.domain_form,
            self.training_form,
            self.strategy_form,
            self.overwrite_check,
        ):
            widget.setEnabled(not self._running)

    @Slot()
    def start(self) -> bool:
        """Train the student in a worker; False if Start is not available."""
        if not self.start_button.isEnabled():
            return False
        request = self.request()
        self._running = True
        self.outcome, self.error = None, None
        self._run_request = next(self._ids)
        self.comparison_table.setVisible(False)
        self.summary_label.setText("")
        self.progress.setRange(0, max(1, int(request.training.get("epochs") or 1)))
        self.progress.setValue(0)
        self.progress.setFormat("epoch %v / %m")
        self.progress.setVisible(True)
        self._say(f"Training the student of {self.teacher_name}…")
        worker = DistillWorker(self._run_request, self.workspace, request)
        self.runner.start(worker, self._on_done, self._on_failed, self._on_progress)
        self._update_buttons()
        return True

    @Slot()
    def cancel_or_close(self) -> None:
        """Cancel the distillation in progress, or close the dialog when idle."""
        if self._running:
            self.runner.cancel("distill")
            self._say("Stopping the student's training…")
            self.cancel_button.setEnabled(False)
            return
        self.reject()

    @Slot(int, int, int)
    def _on_progress(self, request_id: int, done: int, total: int) -> None:
        if request_id != self._run_request or self._closing:
            return
        if done == COMPARING:  # training is over: the comparison runs
            self.progress.setRange(0, 0)
            self._say("Comparing teacher and student (timing 1,000 examples)…")
            return
        if done == WAITING:
            self.progress.setRange(0, 0)
            self._say("Waiting for the current run to finish (runs in this app take turns)…")
            return
        if total == 0:  # the wait is over
            self._say(f"Training the student of {self.teacher_name}…")
            return
        self.progress.setRange(0, max(total, 1))
        self.progress.setValue(done)

    @Slot(int, object)
    def _on_done(self, request_id: int, outcome: DistillOutcome) -> None:
        if request_id != self._run_request or self._closing:
            return
        self._finish()
        self.outcome = outcome
        self._show_comparison(outcome)
        student = outcome.result["modelId"]
        self._say(f"Student {student} trained.", ok=True)
        self.distilled.emit(student)

    @Slot(int, str)
    def _on_failed(self, request_id: int, message: str) -> None:
        if request_id != self._run_request or self._closing:
            return
        self._finish()
        self.error = message
        self._say(f"Distillation failed: {message}", error=True)

    def _finish(self) -> None:
        self._running = False
        self.progress.setVisible(False)
        self.cancel_button.setEnabled(True)
        self._update_buttons()

    def _show_comparison(self, outcome: DistillOutcome) -> None:
        c = outcome.comparison
        table = self.comparison_table
        table.setRowCount(0)
        for role, stats in (("Teacher", c.teacher), ("Student", c.student)):
            row = table.rowCount()
            table.insertRow(row)
            cells = (
                role,
                stats.variant,
                _number(stats.parameter_count, "int"),
                _number(stats.test_accuracy, "accuracy"),
                _number(stats.test_loss, "loss"),
                _number(stats.inference_ms_per_1000, "ms"),
            )
            for column, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if column >= 2:
                    item.setTextAlignment(
                        Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
                    )
                item.setToolTip(f"{COLUMNS[column]}: {text}")
                table.setItem(row, column, item)
        table.setVisible(True)
        self.summary_label.setText(
            f"The student has {c.parameter_ratio:.0%} of the teacher's parameters and runs "
            f"{c.speedup:.2g}× as fast."
        )

    def comparison_rows(self) -> list[list[str]]:
        """The comparison table's text, row by row (teacher, then student)."""
        table = self.comparison_table
        return [
            [table.item(r, c).text() for c in range(table.columnCount())]
            for r in range(table.rowCount())
        ]

    def _say(self, text: str, *, error: bool = False, ok: bool = False) -> None:
        self.message_label.setText(text)
        self.message_label.setStyleSheet(ERROR_STYLE if error else OK_STYLE if ok else "")

    # ---- closing -----------------------------------------------------------------------------
    def shutdown(self, timeout_ms: int = 60_000) -> bool:
        """Cancel the workers and wait for their threads; True if all ended in time."""
        self._closing = True
        self._running = False
        return self.runner.shutdown(timeout_ms)

    def done(self, result: int) -> None:
        self.shutdown()
        super().done(result)
