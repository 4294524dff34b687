"""The Classification page of the Analysis tab: what a classifier gets wrong.

The confusion matrix of each evaluated checkpoint (the trainer records them in metadata.json),
chosen with a slider, with each class's accuracy beside it (`ConfusionView`), and the test
examples the model gets wrong at the best, the last or the chosen checkpoint
(`MisclassifiedView`): image thumbnails, or for a table the rows as text. Reading metadata.json
and running the model both happen in kit Tasks on the tab's runner, never on the GUI thread;
answers to requests since replaced are dropped, and results are cached per variant until its
metadata.json changes. A variant without a confusion matrix gets a sentence saying why.
"""

from __future__ import annotations

import html
import itertools
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, QTimer, Slot
from PySide6.QtWidgets import QSplitter, QStackedWidget, QVBoxLayout, QWidget

from desktop_app.analysis.confusion_view import ConfusionView
from desktop_app.analysis.misclassified_view import MisclassifiedView
from desktop_app.analysis.workers import ConfusionTask, MisclassifiedTask
from desktop_app.kit.curves import file_key, remember
from desktop_app.kit.tasks import TaskRunner
from desktop_app.kit.widgets import text_label
from engine import variants
from engine.analysis import CONFUSION
from engine.analysis.classification import ConfusionSeries

NO_VARIANT_TEXT = "Select a variant to see what its classifier gets wrong."
MISCLASSIFIED_LIMIT = 64
CACHE_SIZE = 16
FOLLOW_DELAY_MS = 250  # "Checkpoint chosen above": ask once the slider rests


class ClassificationPage(QWidget):
    """Shows the confusion matrices and misclassified examples of one variant
    (`show_variant`), or a sentence saying why there are none."""

    def __init__(self, workspace: Any, runner: TaskRunner, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("classificationPage")
        self.setAccessibleName("Classification")
        self.workspace = workspace
        self.runner = runner
        self.summary: Any = None  # the VariantSummary shown (or awaited)
        self.metadata: Any = None  # its VariantMetadata
        self.series: ConfusionSeries | None = None
        self._ids = itertools.count(1)
        self._series_request = 0
        self._series_pending = False  # the current variant's metadata is being read
        self._series_key: Any = None  # (path, metadata.json's file key) shown or awaited
        self._series_cache: dict[str, tuple[Any, Any, Any]] = {}  # path -> (key, meta, series)
        self._misclassified_request = 0
        self._misclassified_key: str | None = None  # shown or awaited
        self._misclassified_cache: dict[str, Any] = {}  # cache key -> MisclassifiedReport
        self._misclassified_keys: dict[int, str] = {}  # request id -> its cache key
        self._sized = False
        self._follow = QTimer(self)
        self._follow.setSingleShot(True)
        self._follow.setInterval(FOLLOW_DELAY_MS)
        self._follow.timeout.connect(self._request_misclassified)
        self._build()
        self.confusion.pointChanged.connect(self._on_point_changed)
        self.misclassified.sourceChanged.connect(self._request_misclassified)
        self.show_empty(NO_VARIANT_TEXT)

    def _build(self) -> None:
        self.status = text_label(
            "classificationStatusLabel",
            "Classification status",
            "The variant shown, its classes, its evaluated checkpoints and its best one",
            wrap=True,
            select=True,
        )
        self.empty_label = text_label(
            "classificationEmptyLabel",
            "No confusion matrix",
            "Why there is nothing to show for this variant",
            wrap=True,
            select=True,
        )
        self.empty_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.confusion = ConfusionView()
        self.misclassified = MisclassifiedView()
        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.setObjectName("classificationSplitter")
        self.splitter.addWidget(self.confusion)
        self.splitter.addWidget(self.misclassified)
        self.splitter.setStretchFactor(0, 3)
        self.splitter.setStretchFactor(1, 2)
        self.splitter.setChildrenCollapsible(False)
        self.stack = QStackedWidget()
        self.stack.addWidget(self.empty_label)
        self.stack.addWidget(self.splitter)
        layout = QVBoxLayout(self)
        layout.addWidget(self.status)
        layout.addWidget(self.stack, 1)

    def _size_once(self) -> None:
        """The first time there is something to show: the plots take 62% of the width, the
        examples the rest (a column of thumbnails as tall as the page)."""
        width = self.stack.width()
        if not self._sized and width > 300:
            self._sized = True
            self.splitter.setSizes([int(width * 0.62), width - int(width * 0.62)])

    # ---- the variant -----------------------------------------------------------------------
    def show_variant(self, summary: Any) -> None:
        """Show `summary`'s classification (a VariantSummary; None: nothing selected), reading
        its metadata.json in a task unless the cached one is still current."""
        if summary is None:
            self.runner.cancel("confusion")
            self.runner.cancel("misclassified")
            self.summary = None
            self._series_key = None
            self._series_request = next(self._ids)
            self._series_pending = False
            self.show_empty(NO_VARIANT_TEXT)
            return
        path = summary.path
        key = (path, file_key(variants.metadata_path(Path(path))))
        if key == self._series_key and self.summary is not None and self.summary.path == path:
            return  # shown, or on its way
        self.summary = summary
        self._series_key = key
        cached = self._series_cache.get(path)
        if cached is not None and cached[0] == key:
            self._show_series(cached[1], cached[2])
            return
        self.runner.cancel("confusion")
        self._series_request = next(self._ids)
        self.status.setText(f"Reading the confusion matrices of {html.escape(summary.variant)}…")
        self._series_pending = True
        task = ConfusionTask(self._series_request, path)
        self.runner.start(task, self._on_series_ready, self._on_series_failed)

    def forget(self, path: str) -> None:
        """Drop what is cached for a variant (it was deleted)."""
        self._series_cache.pop(path, None)
        for key in [k for k in self._misclassified_cache if k.startswith(f"{path}\0")]:
            self._misclassified_cache.pop(key, None)
        if self.summary is not None and self.summary.path == path:
            self._series_key = None

    @Slot(int, object)
    def _on_series_ready(self, request_id: int, result: Any) -> None:
        if request_id != self._series_request or self.summary is None:
            return
        self._series_pending = False
        meta, series = result
        entry = (self._series_key, meta, series)
        remember(self._series_cache, self.summary.path, entry, CACHE_SIZE)
        self._show_series(meta, series)

    @Slot(int, str)
    def _on_series_failed(self, request_id: int, message: str) -> None:
        if request_id != self._series_request or self.summary is None:
            return
        self._series_pending = False
        self.metadata = None
        name = self.summary.variant
        self.show_empty(f"The confusion matrices of {name} cannot be read: {message}")

    def show_empty(self, sentence: str) -> None:
        """The empty state: `sentence` in the middle of the page, nothing else."""
        self.series = None
        self._misclassified_key = None
        self._misclassified_request = next(self._ids)
        self._follow.stop()
        self.status.setText("")
        self.status.setVisible(False)
        self.empty_label.setText(sentence)
        self.stack.setCurrentWidget(self.empty_label)
        self.confusion.show_series(None)
        self.misclassified.clear()

    def _show_series(self, meta: Any, series: ConfusionSeries) -> None:
        self.metadata = meta
        if meta.classification is None or not series.points:
            self.show_empty(self._why_empty(self.summary, meta))
            return
        self.series = series
        self.status.setVisible(True)
        self.status.setText(status_text(self.summary.variant, meta, series))
        self.stack.setCurrentWidget(self.splitter)
        self._size_once()
        has_best = meta.best is not None
        self.misclassified.set_source("best" if has_best else "final", has_best=has_best)
        self._misclassified_key = None
        self.confusion.show_series(series)
        self._request_misclassified()

    def _why_empty(self, summary: Any, meta: Any) -> str:
        """The sentence of the empty state: why this variant has no confusion matrix."""
        name = summary.variant
        try:
            analyses = list(self.workspace.registry.spec(summary.family).analyses or [])
        except Exception:  # an unknown family (its folder was removed)
            analyses = []
        if CONFUSION not in analyses:
            return (
                f"{name}: the {summary.family} family does not record confusion matrices, so "
                "there is nothing to show here."
            )
        metrics = meta.final_metrics
        if metrics.get("test_r2") is not None or (metrics and metrics.get("test_accuracy") is None):
            return f"{name} is a regression model: there are no classes to confuse."
        if _version(meta.versions.get("engine", "")) < (0, 3, 0):
            return (
                f"{name} was trained before confusion matrices were recorded (Trainwright "
                f"{meta.versions.get('engine')}); retrain it to see them."
            )
        if meta.status in ("created", "training"):
            return (
                f"{name} has not been evaluated yet: its confusion matrix appears after its "
                "first evaluation (Refresh to see it)."
            )
        return f"{name} has no confusion matrix: none of its evaluations recorded one."

    # ---- misclassified examples ------------------------------------------------------------
    @Slot(int)
    def _on_point_changed(self, _: int) -> None:
        if self.misclassified.source() == "chosen":
            self._follow.start()

    def checkpoint_choice(self) -> tuple[str, str]:
        """(the checkpoint to ask the engine for, how to say it while it runs)."""
        source = self.misclassified.source()
        meta = self.metadata
        if source == "best" and meta is not None and meta.best is not None:
            return "best", f"the best checkpoint (epoch {meta.best.epoch})"
        if source == "chosen":
            point = self.confusion.current_point()
            if point is not None and point.file:
                return point.file, f"epoch {point.epoch}"
        return "final", "the last checkpoint"

    @Slot()
    def _request_misclassified(self) -> None:
        """Find the misclassified examples of the checkpoint chosen (cached, or in a task)."""
        summary = self.summary
        if summary is None or self.series is None:
            return
        checkpoint, said = self.checkpoint_choice()
        key = f"{summary.path}\0{checkpoint}\0{self._series_key}"
        if key == self._misclassified_key:
            return
        self._misclassified_key = key
        cached = self._misclassified_cache.get(key)
        if cached is not None:
            self.misclassified.show_report(cached)
            return
        self.runner.cancel("misclassified")
        self._misclassified_request = next(self._ids)
        self._misclassified_keys[self._misclassified_request] = key
        self.misclassified.clear(f"Running {said} on the test examples…")
        task = MisclassifiedTask(
            self._misclassified_request,
            self.workspace,
            summary.path,
            checkpoint,
            MISCLASSIFIED_LIMIT,
        )
        self.runner.start(task, self._on_misclassified_ready, self._on_misclassified_failed)

    @Slot(int, object)
    def _on_misclassified_ready(self, request_id: int, report: Any) -> None:
        key = self._misclassified_keys.pop(request_id, None)
        if key is None or report.cancelled:
            return
        remember(self._misclassified_cache, key, report, CACHE_SIZE)
        if request_id == self._misclassified_request:
            self.misclassified.show_report(report)

    @Slot(int, str)
    def _on_misclassified_failed(self, request_id: int, message: str) -> None:
        self._misclassified_keys.pop(request_id, None)
        if request_id != self._misclassified_request:
            return
        self._misclassified_key = None  # asking again may work (a checkpoint restored)
        self.misclassified.clear(f"Could not find the misclassified examples: {message}")

    @property
    def loading(self) -> bool:
        """True while what the page is to show has not arrived (metadata or examples)."""
        waiting = self._misclassified_request in self._misclassified_keys
        return self._series_pending or waiting

    @property
    def report(self) -> Any:
        """The MisclassifiedReport shown (None: none yet)."""
        return self.misclassified.report


def status_text(name: str, meta: Any, series: ConfusionSeries) -> str:
    """The line over the page: the variant, its classes and checkpoints, its best result."""
    count = len(series.points)
    classes = len(series.class_names)
    text = (
        f"<b>{html.escape(name)}</b>: {classes} classes, {count} evaluated checkpoint"
        f"{'s' if count != 1 else ''} with a confusion matrix."
    )
    best = meta.best
    if best is not None:
        value = f"{best.value:.1%}" if best.metric == "test_accuracy" else f"{best.value:.4f}"
        metric = html.escape(best.metric.replace("_", " "))
        text += f" Best: {metric} {value} at epoch {best.epoch}."
    if meta.stop_reason:
        text += f" {html.escape(meta.stop_reason[:1].upper() + meta.stop_reason[1:])}."
    return text


def _version(text: str) -> tuple[int, ...]:
    """ "0.2.1" -> (0, 2, 1); anything unreadable counts as recent."""
    try:
        return tuple(int(part) for part in text.split(".")[:3])
    except ValueError:
        return (999,)
