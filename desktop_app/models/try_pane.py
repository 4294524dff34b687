"""Try it: predictions of the selected model version on the user's own files.

Drop a CSV file, images or a folder of images on the pane (or Choose…): the version predicts
in a task, with torch or ONNX Runtime, and the pane shows each row's prediction and class
probabilities in a table, or each image as a thumbnail captioned with its predicted class and
probability. A refusal (a missing column, a row that does not parse, a file that is not an
image) is shown in the engine's words, naming the file, row and column. Save… writes the
predictions as CSV, as `trainwright predict --out` does.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

from PySide6.QtCore import QSize, Qt, Signal, Slot
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QFileDialog,
    QGroupBox,
    QHeaderView,
    QListWidget,
    QListWidgetItem,
    QStackedWidget,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from desktop_app.kit.style import ERROR_STYLE, NOTE_STYLE
from desktop_app.kit.tasks import TaskRunner
from desktop_app.kit.thumbnails import thumbnail, thumbnail_grid
from desktop_app.kit.widgets import button, described, labelled, local_paths, text_label
from desktop_app.models.version_model import VersionRow
from desktop_app.models.workers import THUMB_SIZE, PredictTask, Tried, onnx_missing

BACKENDS = (("torch", "PyTorch"), ("onnx", "ONNX Runtime"))
NO_VERSION = "Select a model version above to try it on your own data."
TABLE_HINT = "Drop a CSV file here (or Choose…): each row gets {name}'s prediction."
IMAGE_HINT = "Drop images or a folder of images here (or Choose…): each gets {name}'s prediction."
SHOWN_PROBABILITIES = 5  # a table shows the most likely classes' columns, at most this many


def is_image_model(row: VersionRow | None) -> bool:
    """Whether the version takes images (an image classifier, or an MLP on pixels)."""
    return row is not None and row.takes_images


class TryPane(QGroupBox):
    """The selected version (`set_version`), its inputs and predictions."""

    statusMessage = Signal(str)

    def __init__(self, workspace: Any, runner: TaskRunner, parent: QWidget | None = None) -> None:
        super().__init__("Try it", parent)
        described(
            self,
            "Try it",
            "Drop a CSV file or images on this pane to see the selected version's predictions",
            object_name="tryPane",
        )
        self.workspace = workspace
        self.runner = runner
        self.row: VersionRow | None = None
        self.tried: Tried | None = None
        self._ids = itertools.count(1)
        self._request = 0
        # Predictors kept between runs (a model or an ONNX session), by (ref, backend).
        self._predictors: dict[tuple[str, str], Any] = {}
        # Replaceable in tests: choose inputs; choose where to save.
        self.choose_inputs = self._choose_inputs
        self.choose_save_path = self._choose_save_path
        self._build()
        self.setAcceptDrops(True)
        self.set_version(None)

    def _build(self) -> None:
        self.backend_combo = described(
            QComboBox(),
            "Backend",
            "What runs the model: PyTorch (as in training) or ONNX Runtime (as an exported "
            "model runs elsewhere); both give the same predictions",
            object_name="tryBackend",
        )
        for key, text in BACKENDS:
            self.backend_combo.addItem(text, key)
        missing = onnx_missing("onnxruntime", "onnxscript")  # a local version is exported
        if missing is not None:
            item = self.backend_combo.model().item(self.backend_combo.findData("onnx"))
            item.setEnabled(False)
            item.setToolTip(missing)
        self.choose_button = button(
            "tryChoose", "&Choose…", "Choose a CSV file, images or a folder to predict on"
        )
        self.again_button = button(
            "tryAgain",
            "Predict &again",
            "Predict on the same files again (e.g. with the other backend)",
        )
        self.save_button = button(
            "trySave", "&Save…", "Save the predictions as a CSV file", enabled=False
        )
        top = labelled("&Backend:", self.backend_combo)
        for widget in (self.choose_button, self.again_button, self.save_button):
            top.addWidget(widget)
        top.addStretch(1)
        self.hint = text_label(
            "tryHint", "Try it hint", "What to drop here", wrap=True, select=True
        )
        self.hint.setStyleSheet(NOTE_STYLE)
        self.error = text_label(
            "tryError",
            "Prediction problem",
            "Why the files could not be predicted on",
            wrap=True,
            select=True,
        )
        self.error.setStyleSheet(ERROR_STYLE)
        self.error.setVisible(False)
        self.table = self._build_table()
        self.grid = self._build_grid()
        self.results = QStackedWidget()
        self.results.addWidget(self.table)
        self.results.addWidget(self.grid)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.hint)
        layout.addWidget(self.error)
        layout.addWidget(self.results, 1)
        self.choose_button.clicked.connect(self.choose)
        self.again_button.clicked.connect(self.predict_again)
        self.save_button.clicked.connect(self.save)

    def _build_table(self) -> QTableWidget:
        table = described(
            QTableWidget(0, 0),
            "Predictions",
            "Each input row's prediction, and the probability of the most likely classes",
            object_name="tryTable",
        )
        table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        table.setAlternatingRowColors(True)
        table.verticalHeader().setVisible(False)
        table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        return table

    def _build_grid(self) -> QListWidget:
        grid = thumbnail_grid(
            "tryGrid",
            "Predicted images",
            "Each image with its predicted class and the probability the model gives it",
            THUMB_SIZE,
        )
        line = grid.fontMetrics().height()
        grid.setGridSize(QSize(THUMB_SIZE + 56, THUMB_SIZE + 12 + 3 * line))
        return grid

    # ---- the version -------------------------------------------------------------------------
    def set_version(self, row: VersionRow | None) -> None:
        """Show `row`'s hint and forget the last predictions (they were another version's)."""
        changed = row is None or self.row is None or row.ref != self.row.ref
        self.row = row
        if changed:
            self._request = 0  # an answer for the version before is dropped
            self._clear()
        enabled = row is not None
        for widget in (self.backend_combo, self.choose_button):
            widget.setEnabled(enabled)
        self.again_button.setEnabled(enabled and self.tried is not None)
        self.setAcceptDrops(enabled)
        if row is None:
            self.hint.setText(NO_VERSION)
        else:
            hint = IMAGE_HINT if is_image_model(row) else TABLE_HINT
            self.hint.setText(hint.format(name=f"{row.name} v{row.version}"))

    def forget(self, ref_name: str | None = None) -> None:
        """Drop kept predictors (of model `ref_name`, or all): its versions changed."""
        self._predictors = {
            k: v
            for k, v in self._predictors.items()
            if ref_name is not None and not k[0].startswith(f"{ref_name}:")
        }

    def backend(self) -> str:
        return str(self.backend_combo.currentData())

    # ---- inputs ------------------------------------------------------------------------------
    @Slot()
    def choose(self) -> None:
        paths = self.choose_inputs()
        if paths:
            self.predict(paths)

    def _choose_inputs(self) -> list[str]:
        if is_image_model(self.row):
            paths, _ = QFileDialog.getOpenFileNames(
                self,
                "Images to predict on",
                str(Path.home()),
                "Images (*.png *.jpg *.jpeg *.bmp *.gif *.webp);;All files (*)",
            )
            return paths
        path, _ = QFileDialog.getOpenFileName(
            self, "A CSV file to predict on", str(Path.home()), "CSV files (*.csv);;All files (*)"
        )
        return [path] if path else []

    def dragEnterEvent(self, event: Any) -> None:
        if self.row is not None and local_paths(event.mimeData()):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dragMoveEvent(self, event: Any) -> None:
        if self.row is not None and local_paths(event.mimeData()):
            event.acceptProposedAction()

    def dropEvent(self, event: Any) -> None:
        paths = local_paths(event.mimeData())
        if self.row is not None and paths:
            event.acceptProposedAction()
            self.predict(paths)

    # ---- predicting --------------------------------------------------------------------------
    @property
    def busy(self) -> bool:
        return self._request != 0

    def predict(self, sources: list[str]) -> None:
        """Predict with the selected version on `sources` (in a task)."""
        if self.row is None:
            return
        self._request = next(self._ids)
        self._sources = list(sources)
        task = PredictTask(
            self._request, self.workspace, self.row.ref, self.backend(), sources, self._predictors
        )
        names = ", ".join(Path(s).name for s in sources[:3])
        more = f" and {len(sources) - 3} more" if len(sources) > 3 else ""
        self.hint.setText(f"Predicting on {names}{more} with {self.backend_combo.currentText()}…")
        self.error.setVisible(False)
        self.runner.start(task, self._on_predicted, self._on_failed)

    @Slot()
    def predict_again(self) -> None:
        if self.tried is not None:
            self.predict(list(self.tried.sources))

    @Slot(int, object)
    def _on_predicted(self, request: int, tried: Tried) -> None:
        if request != self._request:
            return
        self._request = 0
        self.tried = tried
        result = tried.result
        count = len(result)
        noun = "image" if result.identifier_name == "file" else "row"
        self.hint.setText(
            f"{result.model} v{result.version} with {self.backend_combo.currentText()}: "
            f"{count} {noun}{'s' if count != 1 else ''} predicted"
            + (" (hover a picture for every class's probability)" if tried.images else "")
        )
        if tried.images:
            self._fill_grid(tried)
        else:
            self._fill_table(result)
        self.save_button.setEnabled(True)
        self.again_button.setEnabled(True)

    @Slot(int, str)
    def _on_failed(self, request: int, message: str) -> None:
        if request != self._request:
            return
        self._request = 0
        self.set_version(self.row)
        self.error.setText(message)
        self.error.setVisible(True)

    def _clear(self) -> None:
        self.tried = None
        self.table.setRowCount(0)
        self.table.setColumnCount(0)
        self.grid.clear()
        self.error.setVisible(False)
        self.save_button.setEnabled(False)

    def _fill_table(self, result: Any) -> None:
        """Row, prediction and the probabilities of the classes most often likely."""
        self.grid.clear()
        classes = shown_classes(result)
        header = [result.identifier_name.capitalize(), "Prediction", *classes]
        self.table.setRowCount(0)
        self.table.setColumnCount(len(header))
        self.table.setHorizontalHeaderLabels(header)
        self.table.setRowCount(len(result.items))
        right = Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
        for r, item in enumerate(result.items):
            probabilities = item.probabilities or {}
            values = [str(item.identifier), prediction_text(item.prediction)]
            values += [f"{probabilities.get(c, 0.0):.3f}" for c in classes]
            for c, value in enumerate(values):
                cell = QTableWidgetItem(value)
                if c != 1 or not isinstance(item.prediction, str):
                    cell.setTextAlignment(right)
                self.table.setItem(r, c, cell)
        self.results.setCurrentWidget(self.table)

    def _fill_grid(self, tried: Tried) -> None:
        self.table.setRowCount(0)
        self.grid.clear()
        for item, image in zip(tried.result.items, tried.images, strict=True):
            probabilities = item.probabilities or {}
            chance = probabilities.get(str(item.prediction))
            caption = (
                f"{item.prediction}\n{chance:.2f}" if chance is not None else str(item.prediction)
            )
            entry = QListWidgetItem(QIcon(thumbnail(image, THUMB_SIZE)), caption)
            ranked = sorted(probabilities.items(), key=lambda kv: -kv[1])
            tip = f"{item.identifier}: predicted {item.prediction}"
            if ranked:
                tip += "\n" + "\n".join(f"{name}: {p:.3f}" for name, p in ranked[:10])
            entry.setToolTip(tip)
            entry.setData(Qt.ItemDataRole.AccessibleTextRole, tip)
            self.grid.addItem(entry)
        self.results.setCurrentWidget(self.grid)

    # ---- saving ------------------------------------------------------------------------------
    @Slot()
    def save(self) -> None:
        if self.tried is None:
            return
        path = self.choose_save_path()
        if not path:
            return
        from engine.atomic import atomic_write_text

        result = self.tried.result
        try:
            atomic_write_text(Path(path), result.csv_text())
        except OSError as exc:
            self.error.setText(f"Could not save the predictions to {path}: {exc}")
            self.error.setVisible(True)
            return
        self.statusMessage.emit(f"Saved {len(result)} predictions to {path}")

    def _choose_save_path(self) -> str | None:
        result = self.tried.result if self.tried is not None else None
        name = f"{result.model}-v{result.version}-predictions.csv" if result else "predictions.csv"
        path, _ = QFileDialog.getSaveFileName(
            self, "Save predictions", str(Path.home() / name), "CSV files (*.csv)"
        )
        return path or None


def prediction_text(value: Any) -> str:
    return f"{value:.6g}" if isinstance(value, float) else str(value)


def shown_classes(result: Any) -> list[str]:
    """The probability columns a table shows: every class of a small classifier, else the
    SHOWN_PROBABILITIES classes predicted most often (the saved CSV has them all)."""
    names = list(result.class_names or [])
    if len(names) <= SHOWN_PROBABILITIES:
        return names
    counts = {name: 0 for name in names}
    for item in result.items:
        if str(item.prediction) in counts:
            counts[str(item.prediction)] += 1
    return sorted(names, key=lambda n: -counts[n])[:SHOWN_PROBABILITIES]
