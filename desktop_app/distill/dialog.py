"""Distill a trained classifier (the teacher) into a student variant, and compare the two.

Opened from the Analysis tab ("Distill…" on a completed variant). The dialog first checks the
teacher as the engine will (in a task): a regression teacher, or one that is not completed,
is refused with the engine's own message. Then the student's family, its parameters (the
parameter forms of the Training tab), the temperature T and alpha; Start trains it in a
task with progress and Cancel, and the result compares teacher and student: parameter
count, test accuracy and loss, and inference time per 1,000 examples (measured in the task
by `engine.distill.compare_distillation`). `distilled(name)` says a student was trained.
"""

from __future__ import annotations

import itertools
from typing import Any

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QDialog,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLayout,
    QScrollArea,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from desktop_app.distill.workers import (
    COMPARING,
    WAITING,
    DistillCheckTask,
    DistillOutcome,
    DistillRequest,
    DistillTask,
)
from desktop_app.kit.family_combo import FamilyCombo
from desktop_app.kit.family_forms import FamilyForms
from desktop_app.kit.param_form import ParamForm
from desktop_app.kit.style import ERROR_STYLE, OK_STYLE
from desktop_app.kit.tasks import TaskRunner
from desktop_app.kit.turns import WAITING_TEXT
from desktop_app.kit.widgets import (
    button,
    described,
    group,
    labelled,
    progress_bar,
    scrolling_column,
    text_label,
)
from engine.backends import TENSORFLOW
from engine.distill.api import INHERITED_TRAINING
from engine.strategies.base import TORCH_STUDENT

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
    """A figure of the comparison table, as its column shows it."""
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
        self.runner = TaskRunner(self)
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
        """The teacher, the student's forms, what the dialog is doing, the comparison."""
        self.teacher_label = text_label(
            "distillTeacherLabel",
            "Teacher",
            "The trained classifier whose softened outputs the student learns from",
            f"Teacher: <b>{self.teacher_name}</b> ({self.teacher_family})",
        )
        self.message_label = text_label(
            "distillMessageLabel",
            "Distillation status",
            "What the dialog is doing",
            "Checking the teacher…",
            wrap=True,
            select=True,
        )
        self.summary_label = text_label(
            "distillSummaryLabel",
            "Comparison summary",
            "The student relative to its teacher",
            wrap=True,
        )
        layout = QVBoxLayout(self)
        layout.addWidget(self.teacher_label)
        forms = self._build_forms()
        layout.addLayout(labelled("Student &family:", self.family_combo, stretch=1))
        layout.addWidget(forms, 1)
        layout.addWidget(self.message_label)
        layout.addWidget(self._build_comparison_table())
        layout.addWidget(self.summary_label)
        layout.addLayout(self._build_buttons())
        self.resize(760, 720)

    def _build_forms(self) -> QScrollArea:
        """The student's family, model and training, and the distillation's own parameters."""
        self.family_combo = FamilyCombo(
            "distillFamilyCombo", "Student family", "The model family of the student"
        )
        self.family_forms = FamilyForms(
            self.workspace.registry,
            self.family_combo,
            ("distillDomain", "distillTraining"),
            basic=BASIC_TRAINING,
            starting_values=self._starting_values,
            withheld={"backend": {TENSORFLOW: TORCH_STUDENT}},
            parent=self,
        )
        self.family_forms.familyChanged.connect(self._update_buttons)
        self.domain_form = self.family_forms.domain_form
        self.training_form = self.family_forms.training_form
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
            object_name="distillOverwriteCheck",
        )
        for form in (self.domain_form, self.training_form, self.strategy_form):
            form.changed.connect(self._update_buttons)
        strategy_group = QGroupBox("Distillation")
        strategy_layout = QVBoxLayout(strategy_group)
        strategy_layout.addWidget(self.strategy_form)
        strategy_layout.addWidget(self.overwrite_check)
        return scrolling_column(
            [
                group("Student model and data", self.domain_form),
                group("Student training", self.training_form),
                strategy_group,
            ]
        )

    def _build_comparison_table(self) -> QTableWidget:
        """Teacher and student side by side, hidden until a student is trained."""
        table = described(
            QTableWidget(0, len(COLUMNS)),
            "Teacher and student",
            "Parameter count, test accuracy and loss, and inference time of both models",
            object_name="distillComparisonTable",
        )
        table.setHorizontalHeaderLabels(list(COLUMNS))
        for column, tip in enumerate(COLUMN_TIPS):
            header = table.horizontalHeaderItem(column)
            if header is not None:
                header.setToolTip(tip)
        table.verticalHeader().setVisible(False)
        table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        table.horizontalHeader().setStretchLastSection(True)
        table.setMaximumHeight(110)
        table.setVisible(False)
        self.comparison_table = table
        return table

    def _build_buttons(self) -> QLayout:
        """The student's progress, Start, and Cancel (or Close)."""
        self.progress = progress_bar(
            "distillProgress", "Distillation progress", "Epochs of the student trained"
        )
        self.progress.setVisible(False)
        self.start_button = button(
            "distillStartButton",
            "Start",
            "Train the student. " + TURNS_TIP,
            accessible="Start distillation",
            enabled=False,
        )
        self.start_button.setDefault(True)
        self.cancel_button = button(
            "distillCancelButton",
            "Close",
            "Stop the distillation in progress (the student can be resumed later), or close",
            accessible="Cancel or close",
        )
        self.start_button.clicked.connect(self.start)
        self.cancel_button.clicked.connect(self.cancel_or_close)
        row = QHBoxLayout()
        row.addWidget(self.progress, 1)
        row.addWidget(self.start_button)
        row.addWidget(self.cancel_button)
        return row

    def _load_families(self) -> None:
        self.family_forms.load(select=self.teacher_family)

    def _starting_values(self, spec: Any) -> tuple[dict[str, Any], dict[str, Any]]:
        """The student starts from the teacher's own settings (shrink the model from there);
        a student of another family inherits only the training settings that carry over."""
        config = self.teacher.config
        # A tensorflow teacher's student trains with torch (TORCH_STUDENT).
        teacher_training = {**config.training.model_dump(), "backend": "torch"}
        if spec.name == self.teacher_family:
            return dict(config.domain), teacher_training
        return {}, {k: teacher_training[k] for k in INHERITED_TRAINING}

    # ---- the teacher check -------------------------------------------------------------------
    def _check_teacher(self) -> None:
        """Validate the teacher in a task, as the engine does before training a student."""
        self._check_request = next(self._ids)
        request = DistillRequest(self.teacher_name, self.teacher_family, self.teacher_family)
        task = DistillCheckTask(self.workspace, request, self._check_request)
        self.runner.start(task, self._on_checked, self._on_check_failed)

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
            student_family=self.family_combo.family(),
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
        """Start once the teacher passed the check and the forms are valid; nothing can be
        edited while the student trains."""
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
        """Train the student in a task; False if Start is not available."""
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
        task = DistillTask(self.workspace, request, self._run_request)
        self.runner.start(task, self._on_done, self._on_failed, self._on_progress)
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
        """The student's epochs, or the waits and the comparison around them (progress codes)."""
        if request_id != self._run_request or self._closing:
            return
        if done == COMPARING:  # training is over: the comparison runs
            self.progress.setRange(0, 0)
            self._say("Comparing teacher and student (timing 1,000 examples)…")
            return
        if done == WAITING:
            self.progress.setRange(0, 0)
            self._say(WAITING_TEXT)
            return
        if total == 0:  # the wait is over
            self._say(f"Training the student of {self.teacher_name}…")
            return
        self.progress.setRange(0, max(total, 1))
        self.progress.setValue(done)

    @Slot(int, object)
    def _on_done(self, request_id: int, outcome: DistillOutcome) -> None:
        if self._finished(request_id):
            self.outcome = outcome
            self._show_comparison(outcome)
            student = outcome.result["modelId"]
            self._say(f"Student {student} trained.", ok=True)
            self.distilled.emit(student)

    @Slot(int, str)
    def _on_failed(self, request_id: int, message: str) -> None:
        if self._finished(request_id):
            self.error = message
            self._say(f"Distillation failed: {message}", error=True)

    def _finished(self, request_id: int) -> bool:
        """The student's task has answered: idle again. False (nothing done) for an answer
        to an earlier run, or once the dialog is closing."""
        if request_id != self._run_request or self._closing:
            return False
        self._running = False
        self.progress.setVisible(False)
        self.cancel_button.setEnabled(True)
        self._update_buttons()
        return True

    def _show_comparison(self, outcome: DistillOutcome) -> None:
        """Parameter counts, test accuracy and loss, and timing of both models."""
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
        """Cancel the tasks and wait for their threads; True if all ended in time."""
        self._closing = True
        self._running = False
        return self.runner.shutdown(timeout_ms)

    def done(self, result: int) -> None:
        self.shutdown()
        super().done(result)
