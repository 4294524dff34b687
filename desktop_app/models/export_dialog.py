"""Export one model version to a file (Models tab: Export…).

The format (ONNX, safetensors, a torch.export program, or a bundle ZIP for another machine),
the file it goes to (a name in the home folder to start with; Browse… to choose), and Export,
which runs in a task: an ONNX export or bundle is checked against torch first, so it takes a
few seconds. The result line says where it went, its size and the check's largest
difference; a refusal (a file that exists, a check that failed) says why.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

from PySide6.QtCore import Slot
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from desktop_app.kit.formatting import format_bytes
from desktop_app.kit.style import ERROR_STYLE, OK_STYLE
from desktop_app.kit.tasks import TaskRunner
from desktop_app.kit.widgets import button, described, progress_bar, text_label
from desktop_app.models.workers import ExportTask, onnx_missing

# format, what the combo says, file suffix, file-dialog filter
FORMAT_CHOICES = (
    (
        "bundle",
        "Bundle ZIP — to import on another machine (ONNX, weights, preprocessing, model card)",
        ".zip",
        "ZIP archives (*.zip)",
    ),
    ("onnx", "ONNX — for ONNX Runtime and other tools (one file)", ".onnx", "ONNX (*.onnx)"),
    (
        "safetensors",
        "safetensors — the weights, with the config and preprocessing as metadata",
        ".safetensors",
        "safetensors (*.safetensors)",
    ),
    (
        "torch-export",
        "torch.export program — for PyTorch (torch.export.load)",
        ".pt2",
        "torch.export (*.pt2)",
    ),
)


ONNX_FORMATS = ("bundle", "onnx")  # made with torch.onnx and checked with ONNX Runtime


def default_out(ref_name: str, version: int, fmt: str, folder: Path | None = None) -> Path:
    """Where an export goes unless the user says otherwise: NAME-vN.<suffix> in `folder`
    (default: the user's home folder)."""
    suffix = next(s for f, _, s, _ in FORMAT_CHOICES if f == fmt)
    return (folder or Path.home()) / f"{ref_name}-v{version}{suffix}"


class ExportDialog(QDialog):
    """Format and file for exporting version `version` of model `name`; Export runs the task
    (its thread is the tab's runner's, so closing the dialog never stops a write halfway)."""

    def __init__(
        self,
        workspace: Any,
        runner: TaskRunner,
        name: str,
        version: int,
        *,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("exportDialog")
        self.setWindowTitle(f"Export {name} v{version}")
        self.workspace = workspace
        self.runner = runner
        self.name, self.version = name, version
        self._ids = itertools.count(1)
        self._request = 0
        self._path_edited = False
        self._replace_confirmed: Path | None = None  # the file dialog asked about this one
        self.result_value: Any = None  # the ExportResult of the last export
        # Replaceable in tests: ask for a file (None: cancelled); ask to replace one.
        self.choose_file = self._choose_file
        self.confirm_replace = self._confirm_replace
        self._build()
        self._on_format(0)

    def _build(self) -> None:
        self.format_combo = described(
            QComboBox(), "Format", "What to export the version as", object_name="exportFormat"
        )
        missing = onnx_missing("onnx", "onnxscript", "onnxruntime")
        for fmt, text, _suffix, _filter in FORMAT_CHOICES:
            self.format_combo.addItem(text, fmt)
            if missing is not None and fmt in ONNX_FORMATS:
                item = self.format_combo.model().item(self.format_combo.count() - 1)
                item.setEnabled(False)
                item.setToolTip(missing)
        if missing is not None:  # the first format it can write
            self.format_combo.setCurrentIndex(self.format_combo.findData("safetensors"))
        self.path_edit = described(
            QLineEdit(), "File", "The file the export is written to", object_name="exportPath"
        )
        self.path_edit.setMinimumWidth(420)
        self.browse_button = button("exportBrowse", "&Browse…", "Choose the file to write")
        path_row = QHBoxLayout()
        path_row.addWidget(self.path_edit, 1)
        path_row.addWidget(self.browse_button)
        self.progress = progress_bar(
            "exportProgress", "Exporting", "Writing the export and checking it against torch"
        )
        self.progress.setRange(0, 0)
        self.progress.setVisible(False)
        self.result_label = text_label(
            "exportResult", "Export result", "Where the export went, or why it failed", wrap=True
        )
        self.result_label.setVisible(False)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        self.export_button: QPushButton = self.buttons.addButton(
            "&Export", QDialogButtonBox.ButtonRole.ActionRole
        )
        self.export_button.setObjectName("exportButton")
        self.export_button.setDefault(True)
        self.close_button = self.buttons.button(QDialogButtonBox.StandardButton.Close)
        form = QFormLayout()
        form.addRow("&Format:", self.format_combo)
        form.addRow("&To file:", path_row)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.progress)
        layout.addWidget(self.result_label)
        layout.addWidget(self.buttons)
        self.format_combo.currentIndexChanged.connect(self._on_format)
        self.path_edit.textEdited.connect(self._on_path_edited)
        self.browse_button.clicked.connect(self.browse)
        self.export_button.clicked.connect(self.export)
        self.buttons.rejected.connect(self.reject)

    # ---- choosing ----------------------------------------------------------------------------
    def fmt(self) -> str:
        return str(self.format_combo.currentData())

    def path(self) -> Path:
        return Path(self.path_edit.text().strip()).expanduser()

    @Slot(int)
    def _on_format(self, _: int) -> None:
        """A new format: the default file for it, or the user's file with its suffix."""
        if self._path_edited and self.path_edit.text().strip():
            current = self.path()
            suffix = default_out(self.name, self.version, self.fmt()).suffix
            self.path_edit.setText(str(current.with_suffix(suffix)))
        else:
            self.path_edit.setText(str(default_out(self.name, self.version, self.fmt())))

    @Slot(str)
    def _on_path_edited(self, _: str) -> None:
        self._path_edited = True

    @Slot()
    def browse(self) -> None:
        path = self.choose_file(self.path())
        if path:
            self.path_edit.setText(path)
            self._path_edited = True
            self._replace_confirmed = Path(path)

    def _choose_file(self, start: Path) -> str | None:
        pattern = next(p for f, _, _, p in FORMAT_CHOICES if f == self.fmt())
        path, _ = QFileDialog.getSaveFileName(self, "Export to", str(start), pattern)
        return path or None

    def _confirm_replace(self, path: Path) -> bool:
        from PySide6.QtWidgets import QMessageBox

        buttons = QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No
        answer = QMessageBox.question(self, "Replace file", f"{path} exists. Replace it?", buttons)
        return answer == QMessageBox.StandardButton.Yes

    # ---- exporting ---------------------------------------------------------------------------
    @property
    def busy(self) -> bool:
        return self._request != 0

    @Slot()
    def export(self) -> None:
        if self.busy:
            return
        out = self.path()
        if not self.path_edit.text().strip():
            self._show(False, "Give the file to write the export to.")
            return
        # A file dialog already asked about replacing; a typed path is asked about here.
        force = out.is_file() and (out == self._replace_confirmed or self.confirm_replace(out))
        if out.is_file() and not force:
            return
        self._request = next(self._ids)
        task = ExportTask(
            self._request, self.workspace, f"{self.name}:{self.version}", self.fmt(), out, force
        )
        self._set_busy(True)
        self.runner.start(task, self._on_exported, self._on_failed)

    def _set_busy(self, busy: bool) -> None:
        self.progress.setVisible(busy)
        for widget in (self.format_combo, self.path_edit, self.browse_button, self.export_button):
            widget.setEnabled(not busy)
        self.close_button.setEnabled(not busy)
        if busy:
            self.result_label.setVisible(False)

    @Slot(int, object)
    def _on_exported(self, request: int, result: Any) -> None:
        if request != self._request:
            return
        self._request = 0
        self._set_busy(False)
        self.result_value = result
        self._show(True, export_summary(result))

    @Slot(int, str)
    def _on_failed(self, request: int, message: str) -> None:
        if request != self._request:
            return
        self._request = 0
        self._set_busy(False)
        self._show(False, f"Not exported: {message}")

    def _show(self, good: bool, text: str) -> None:
        self.result_label.setStyleSheet(OK_STYLE if good else ERROR_STYLE)
        self.result_label.setText(text)
        self.result_label.setVisible(True)

    def reject(self) -> None:
        """Close waits for an export in progress (its file is written atomically, so it
        either appears whole or not at all; the user should see which)."""
        if not self.busy:
            super().reject()


def export_summary(result: Any) -> str:
    """What the dialog says of a finished export."""
    text = (
        f"Exported {result.name} v{result.version} as {result.format} to {result.path} "
        f"({format_bytes(result.size_bytes)})."
    )
    if result.max_abs_diff is not None:
        text += (
            f" ONNX Runtime gives torch's outputs: largest difference "
            f"{result.max_abs_diff:.2g} on the test inputs."
        )
    return text
