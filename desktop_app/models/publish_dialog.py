"""Publish a completed variant as the next version of a model (Analysis tab: Publish…).

The dialog asks for the model's name (an existing model's, to add a version, or a new one),
which weights (the best checkpoint or the last), an optional alias and notes; names and
aliases are checked as they are typed, with the engine's own rules. Publish runs in a task
(it verifies the weights, measures inference speed and writes the version's folder);
`published(name, version)` says it is done, and a refusal is shown in the dialog.
"""

from __future__ import annotations

import itertools
from typing import Any

from PySide6.QtCore import Signal, Slot
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLineEdit,
    QPlainTextEdit,
    QVBoxLayout,
    QWidget,
)

from desktop_app.kit.style import ERROR_STYLE, NOTE_STYLE
from desktop_app.kit.tasks import TaskRunner
from desktop_app.kit.widgets import described, progress_bar, text_label
from desktop_app.models.workers import PublishTask

CHECKPOINTS = (
    ("best", "Best checkpoint (the best test metric; the last weights if none was kept)"),
    ("final", "Last weights (where training ended)"),
)


def default_model_name(variant: str, family: str, dataset: str | None) -> str:
    """A name to start from: the family and dataset ("mlp-wine"), else the variant's."""
    from engine.registry.records import RegistryError, check_model_name

    for candidate in (f"{family}-{dataset}" if dataset else "", family, variant):
        if not candidate:
            continue
        try:
            return check_model_name(candidate.replace("_", "-"))
        except RegistryError:
            continue
    return "model"


class PublishDialog(QDialog):
    """Name, weights, alias and notes for publishing `variant`; Publish runs the task."""

    published = Signal(str, int)  # model name, version number

    def __init__(
        self,
        workspace: Any,
        runner: TaskRunner,
        variant: str,
        *,
        models: list[str],
        suggested: str,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("publishDialog")
        self.setWindowTitle(f"Publish {variant}")
        self.workspace = workspace
        self.runner = runner
        self.variant = variant
        self._ids = itertools.count(1)
        self._request = 0
        self.version: Any = None  # the published ModelVersion, once done
        self._build(models, suggested)
        self._validate()

    def _build(self, models: list[str], suggested: str) -> None:
        self.name_combo = described(
            QComboBox(),
            "Model name",
            "An existing model (the variant becomes its next version) or a new name: letters, "
            "digits, '.', '_' and '-'",
            object_name="publishName",
        )
        self.name_combo.setEditable(True)
        self.name_combo.addItems(models)
        self.name_combo.setCurrentText(suggested)
        self.name_combo.setMinimumContentsLength(28)
        self.checkpoint_combo = described(
            QComboBox(),
            "Weights",
            "Which of the variant's weights become the version",
            object_name="publishCheckpoint",
        )
        for key, text in CHECKPOINTS:
            self.checkpoint_combo.addItem(text, key)
        self.alias_edit = described(
            QLineEdit(),
            "Alias",
            "Optional: another name for this version (e.g. production); it moves here if the "
            "model's other version had it",
            object_name="publishAlias",
        )
        self.alias_edit.setPlaceholderText("optional, e.g. production")
        self.notes_edit = described(
            QPlainTextEdit(),
            "Notes",
            "Optional: what this version is for, how it was chosen",
            object_name="publishNotes",
        )
        self.notes_edit.setFixedHeight(self.fontMetrics().lineSpacing() * 4 + 12)
        self.target_label = text_label(
            "publishTarget",
            "What happens",
            "The version the variant will become",
            wrap=True,
        )
        self.target_label.setStyleSheet(NOTE_STYLE)
        self.error = text_label(
            "publishError", "Publish problem", "Why the variant cannot be published so", wrap=True
        )
        self.error.setStyleSheet(ERROR_STYLE)
        self.error.setVisible(False)
        self.progress = progress_bar(
            "publishProgress", "Publishing", "Verifying the weights and timing inference"
        )
        self.progress.setRange(0, 0)  # busy: publishing reports no steps
        self.progress.setVisible(False)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self.publish_button = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.publish_button.setText("&Publish")
        self.publish_button.setObjectName("publishButton")
        self.buttons.accepted.connect(self.publish)
        self.buttons.rejected.connect(self.reject)

        form = QFormLayout()
        form.addRow("Variant:", text_label("publishVariant", "Variant", "", self.variant))
        form.addRow("&Model:", self.name_combo)
        form.addRow("&Weights:", self.checkpoint_combo)
        form.addRow("A&lias:", self.alias_edit)
        form.addRow("&Notes:", self.notes_edit)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.target_label)
        layout.addWidget(self.error)
        layout.addWidget(self.progress)
        layout.addWidget(self.buttons)
        self._models = set(models)
        self.name_combo.editTextChanged.connect(self._validate)
        self.alias_edit.textChanged.connect(self._validate)

    # ---- checking ----------------------------------------------------------------------------
    def problem(self) -> str | None:
        """Why the name or alias cannot be used (the engine's rule), or None."""
        from engine.registry.records import RegistryError, check_alias, check_model_name

        try:
            check_model_name(self.model_name())
            if self.alias():
                check_alias(self.alias())
        except RegistryError as exc:
            return str(exc)
        return None

    @Slot()
    def _validate(self) -> None:
        problem = self.problem()
        self.error.setText(problem or "")
        self.error.setVisible(problem is not None)
        self.publish_button.setEnabled(problem is None and not self.busy)
        name = self.model_name()
        if problem is not None:
            self.target_label.setText("")
        elif name in self._models:
            self.target_label.setText(f"{self.variant} becomes the next version of {name}.")
        else:
            self.target_label.setText(f"{self.variant} becomes version 1 of a new model, {name}.")

    def model_name(self) -> str:
        return self.name_combo.currentText().strip()

    def alias(self) -> str:
        return self.alias_edit.text().strip()

    @property
    def busy(self) -> bool:
        return self._request != 0

    # ---- publishing --------------------------------------------------------------------------
    @Slot()
    def publish(self) -> None:
        if self.busy or self.problem() is not None:
            return
        self._request = next(self._ids)
        task = PublishTask(
            self._request,
            self.workspace,
            self.variant,
            self.model_name(),
            notes=self.notes_edit.toPlainText().strip(),
            alias=self.alias() or None,
            checkpoint=str(self.checkpoint_combo.currentData()),
        )
        self._set_busy(True)
        self.runner.start(task, self._on_published, self._on_failed)

    def _set_busy(self, busy: bool) -> None:
        self.progress.setVisible(busy)
        for widget in (self.name_combo, self.checkpoint_combo, self.alias_edit, self.notes_edit):
            widget.setEnabled(not busy)
        self.publish_button.setEnabled(not busy and self.problem() is None)
        if busy:
            self.error.setVisible(False)
            self.target_label.setText(f"Publishing {self.variant}…")

    @Slot(int, object)
    def _on_published(self, request: int, version: Any) -> None:
        if request != self._request:
            return
        self._request = 0
        self.version = version
        self._set_busy(False)
        self.published.emit(version.name, int(version.version))
        self.accept()

    @Slot(int, str)
    def _on_failed(self, request: int, message: str) -> None:
        if request != self._request:
            return
        self._request = 0
        self._set_busy(False)
        self._validate()
        self.error.setText(message)
        self.error.setVisible(True)

    def reject(self) -> None:
        """Cancel closes the dialog unless the version is being written (it would be
        published anyway; the dialog waits so the user sees the outcome)."""
        if not self.busy:
            super().reject()
