"""The Analysis tab: browse trained variants, overlay their curves, replay, resume, analyse.

Everything slow (reading chronicles, loading checkpoints, replaying) runs in a worker on its
own QThread (see analysis_workers.py); the GUI thread only draws what comes back. Each request
has an id, and answers to requests that have since been replaced are dropped.
"""

from __future__ import annotations

import contextlib
import itertools
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import (
    QItemSelection,
    QItemSelectionModel,
    QModelIndex,
    QPoint,
    Qt,
    QUrl,
    Signal,
    Slot,
)
from PySide6.QtGui import QAction, QDesktopServices, QKeySequence
from PySide6.QtWidgets import (
    QAbstractItemView,
    QApplication,
    QComboBox,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMenu,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QSlider,
    QSplitter,
    QTableView,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from desktop_app.analysis_workers import AnalysisWorker, CurvesWorker, ReplayWorker, WorkerRunner
from desktop_app.variant_details import VariantDetails
from desktop_app.variant_model import (
    MODIFIED,
    STATUSES,
    VariantFilterProxy,
    VariantTableModel,
)
from desktop_app.widgets import described
from engine.analysis import FOURIER, GROKKING, PARAMETER_NORM, available_analyses
from engine.discovery import VariantSummary

if TYPE_CHECKING:
    from desktop_app.distill_dialog import DistillDialog

RESUMABLE = frozenset({"interrupted", "cancelled", "failed"})
CURVE_CACHE_SIZE = 64  # variants whose curves stay in memory
ANALYSIS_CACHE_SIZE = 16
TRAIN_STYLE = Qt.PenStyle.SolidLine
TEST_STYLE = Qt.PenStyle.DashLine


def _file_key(path: Path) -> tuple[int, int] | None:
    """What tells a cached result is stale: the file's mtime and size (None: no file)."""
    try:
        stat = path.stat()
    except OSError:
        return None
    return stat.st_mtime_ns, stat.st_size


def _remember(cache: dict[str, Any], path: str, value: Any, limit: int) -> None:
    """Store `value` as the newest entry, dropping the oldest beyond `limit`."""
    cache.pop(path, None)
    cache[path] = value
    while len(cache) > limit:
        cache.pop(next(iter(cache)))


def _finite(x: np.ndarray, y: np.ndarray, positive: bool = False) -> tuple[np.ndarray, np.ndarray]:
    mask = np.isfinite(y) & (y > 0 if positive else True)
    return x[mask], y[mask]


class AnalysisTab(QWidget):
    """Variant browser, curve overlays, replay/resume/delete, and the family's analyses."""

    resumeRequested = Signal(str)  # the variant's name
    statusMessage = Signal(str)

    def __init__(self, workspace: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("analysisTab")
        self.setAccessibleName("Analysis")
        self.workspace = workspace
        # Replaceable in tests: ask before deleting; open a folder in the file manager.
        self.confirm: Callable[[str, str], bool] = self._ask
        self.open_url: Callable[[QUrl], Any] = QDesktopServices.openUrl

        self.runner = WorkerRunner(self)
        self._ids = itertools.count(1)
        self._curves_request = 0
        self._analysis_request = 0
        self._replay_request = 0
        self._replay_path: str | None = None
        self._closing = False
        self._refreshing = False
        self._curve_cache: dict[str, tuple[Any, dict[str, np.ndarray]]] = {}
        self._analysis_cache: dict[str, tuple[Any, Any]] = {}
        self._pending_keys: dict[int, dict[str, Any]] = {}  # request id -> {path: file key}
        self._analysis_path: str | None = None  # the variant the analyses page shows (or awaits)
        self.analysis: Any = None  # the CheckpointAnalysis shown
        self.replay_result: Any = None  # the last ReplayResult
        self._wanted_curves: list[str] = []
        self.curve_items: dict[str, list[pg.PlotDataItem]] = {}
        self.fourier_curve: pg.PlotDataItem | None = None
        self.distill_dialog: DistillDialog | None = None

        self._build()
        app = QApplication.instance()
        if app is not None:
            app.aboutToQuit.connect(self.shutdown)
        self.refresh()

    # ---- construction ----------------------------------------------------------------------
    def _build(self) -> None:
        self.model = VariantTableModel(self)
        self.proxy = VariantFilterProxy(self)
        self.proxy.setSourceModel(self.model)

        self.family_filter = described(
            QComboBox(), "Family filter", "Show only the variants of one family"
        )
        self.family_filter.setObjectName("familyFilter")
        self.family_filter.addItem("All families", None)
        self.status_filter = described(
            QComboBox(), "Status filter", "Show only the variants with one status"
        )
        self.status_filter.setObjectName("statusFilter")
        self.status_filter.addItem("All statuses", None)
        for status in STATUSES:
            self.status_filter.addItem(status, status)
        self.refresh_button = described(
            QPushButton("Refresh"), "Refresh", "Look for variants on disk again"
        )
        self.refresh_button.setObjectName("analysisRefreshButton")
        filters = QHBoxLayout()
        family_label = QLabel("&Family:")
        family_label.setBuddy(self.family_filter)
        status_label = QLabel("&Status:")
        status_label.setBuddy(self.status_filter)
        filters.addWidget(family_label)
        filters.addWidget(self.family_filter)
        filters.addWidget(status_label)
        filters.addWidget(self.status_filter)
        filters.addStretch(1)
        filters.addWidget(self.refresh_button)

        self.table = described(
            QTableView(),
            "Variants",
            "Trained variants; select one or more to compare their curves (right-click for actions)",
        )
        self.table.setObjectName("variantTable")
        self.table.setModel(self.proxy)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(MODIFIED, Qt.SortOrder.DescendingOrder)
        self.table.setAlternatingRowColors(True)
        self.table.setWordWrap(False)
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)

        self.resume_action = QAction("&Resume", self)
        self.resume_action.setToolTip(
            "Continue an interrupted, cancelled or failed run from its last checkpoint"
        )
        self.replay_action = QAction("Re&play", self)
        self.replay_action.setToolTip(
            "Train the variant again from scratch and check it is bit-identical"
        )
        self.delete_action = QAction("&Delete…", self)
        self.delete_action.setToolTip("Delete the selected variants' directories (asks first)")
        self.delete_action.setShortcut(QKeySequence(QKeySequence.StandardKey.Delete))
        self.delete_action.setShortcutContext(Qt.ShortcutContext.WidgetShortcut)
        self.table.addAction(self.delete_action)
        self.open_action = QAction("&Open folder", self)
        self.open_action.setToolTip("Open the variant's directory in the file manager")
        self.distill_action = QAction("D&istill…", self)
        self.distill_action.setObjectName("distillAction")
        self.distill_action.setToolTip(
            "Train a smaller student on this classifier's softened outputs (distillation)"
        )

        self.resume_button = self._button("Resume", "analysisResumeButton", self.resume_action)
        self.replay_button = self._button("Replay", "replayButton", self.replay_action)
        self.cancel_replay_button = described(
            QPushButton("Cancel replay"), "Cancel replay", "Stop the replay that is running"
        )
        self.cancel_replay_button.setObjectName("cancelReplayButton")
        self.cancel_replay_button.setEnabled(False)
        self.delete_button = self._button("Delete…", "deleteButton", self.delete_action)
        self.open_folder_button = self._button("Open folder", "openFolderButton", self.open_action)
        self.distill_button = self._button("Distill…", "distillButton", self.distill_action)
        self.replay_progress = described(QProgressBar(), "Replay progress", "Epochs replayed")
        self.replay_progress.setObjectName("replayProgress")
        self.replay_progress.setMaximumWidth(160)
        self.replay_progress.setVisible(False)
        self.replay_label = described(QLabel(""), "Replay result", "The outcome of the last replay")
        self.replay_label.setObjectName("replayResultLabel")
        self.replay_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        actions = QHBoxLayout()
        for widget in (
            self.resume_button,
            self.replay_button,
            self.cancel_replay_button,
            self.distill_button,
            self.delete_button,
            self.open_folder_button,
            self.replay_progress,
        ):
            actions.addWidget(widget)
        actions.addWidget(self.replay_label, 1)

        top = QWidget()
        top_layout = QVBoxLayout(top)
        top_layout.setContentsMargins(0, 0, 0, 0)
        top_layout.addLayout(filters)
        top_layout.addWidget(self.table, 1)
        top_layout.addLayout(actions)

        self.tabs = described(QTabWidget(), "Variant views", "Curves, analyses and details")
        self.tabs.setObjectName("analysisTabs")
        self.tabs.addTab(self._build_curves_page(), "Curves")
        self.analyses_page = self._build_analyses_page()
        self.tabs.addTab(self.analyses_page, "Analyses")
        self.details = VariantDetails()
        self.details.setToolTip(
            "config.json, metadata.json and the checkpoints of the current variant"
        )
        self.tabs.addTab(self.details, "Details")

        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(top)
        splitter.addWidget(self.tabs)
        splitter.setStretchFactor(0, 2)
        splitter.setStretchFactor(1, 3)
        layout = QVBoxLayout(self)
        layout.addWidget(splitter)

        self.family_filter.currentIndexChanged.connect(self._on_family_filter)
        self.status_filter.currentIndexChanged.connect(self._on_status_filter)
        self.refresh_button.clicked.connect(self.refresh)
        self.table.selectionModel().selectionChanged.connect(self._on_selection_changed)
        self.table.customContextMenuRequested.connect(self._show_context_menu)
        self.resume_action.triggered.connect(self.request_resume)
        self.replay_action.triggered.connect(self.replay)
        self.delete_action.triggered.connect(self.delete_selected)
        self.open_action.triggered.connect(self.open_folder)
        self.distill_action.triggered.connect(self.open_distill_dialog)
        self.cancel_replay_button.clicked.connect(self.cancel_replay)
        self.tabs.currentChanged.connect(self._on_page_changed)
        self.checkpoint_slider.valueChanged.connect(self._on_slider_changed)

    def _button(self, text: str, name: str, action: QAction) -> QPushButton:
        button = described(QPushButton(text), text.rstrip("…"), action.toolTip())
        button.setObjectName(name)
        button.clicked.connect(action.trigger)
        return button

    def _plot(
        self, name: str, title: str, tip: str, left: str, bottom: str = "epoch"
    ) -> pg.PlotWidget:
        plot = described(pg.PlotWidget(), title, tip)
        plot.setObjectName(name)
        plot.setBackground(None)
        item = plot.getPlotItem()
        item.setTitle(title)
        item.setLabel("left", left)
        item.setLabel("bottom", bottom)
        item.showGrid(x=True, y=True, alpha=0.25)
        return plot

    def _build_curves_page(self) -> QWidget:
        self.loss_plot = self._plot(
            "lossPlot", "Loss", "Train (solid) and test (dashed) loss per epoch, log scale", "loss"
        )
        self.loss_plot.getPlotItem().setLogMode(x=False, y=True)
        self.metric_plot = self._plot(
            "metricPlot",
            "Accuracy / R²",
            "Train (solid) and test (dashed) accuracy, or R² for regression, per epoch",
            "accuracy / R²",
        )
        for plot in (self.loss_plot, self.metric_plot):
            item = plot.getPlotItem()
            item.addLegend(offset=(-10, 10))
            item.setDownsampling(auto=True, mode="peak")
            item.setClipToView(True)
        self.metric_plot.setXLink(self.loss_plot)
        page = QSplitter(Qt.Orientation.Horizontal)
        page.addWidget(self.loss_plot)
        page.addWidget(self.metric_plot)
        return page

    def _build_analyses_page(self) -> QWidget:
        page = QWidget()
        page.setObjectName("analysesPage")
        self.analysis_status = described(
            QLabel("Select a variant to analyse its checkpoints."),
            "Analysis status",
            "What the checkpoint analysis is doing, and any checkpoint it had to skip",
        )
        self.analysis_status.setObjectName("analysisStatusLabel")
        self.analysis_status.setWordWrap(True)
        self.grokking_label = described(
            QLabel(""),
            "Grokking readout",
            "First epoch with train accuracy ≥ 99% and first epoch with test accuracy ≥ 99%",
        )
        self.grokking_label.setObjectName("grokkingLabel")
        self.norm_plot = self._plot(
            "normPlot",
            "Parameter norm",
            "Sum of squared weights at each weights checkpoint",
            "Σ w²",
        )
        self.norm_marker = pg.InfiniteLine(angle=90, movable=False, pen=pg.mkPen("r", width=1))

        self.fourier_group = QGroupBox("Embedding Fourier components")
        self.fourier_group.setObjectName("fourierGroup")
        described(
            self.fourier_group,
            "Embedding Fourier components",
            "Norm of the embedding along each Fourier frequency at the chosen checkpoint",
        )
        self.checkpoint_slider = described(
            QSlider(Qt.Orientation.Horizontal),
            "Checkpoint",
            "Choose the checkpoint whose embedding is shown",
        )
        self.checkpoint_slider.setObjectName("checkpointSlider")
        self.checkpoint_slider.setRange(0, 0)
        self.checkpoint_slider.setEnabled(False)
        self.checkpoint_slider.setTickPosition(QSlider.TickPosition.TicksBelow)
        self.checkpoint_label = described(
            QLabel("no checkpoint"), "Chosen checkpoint", "The epoch shown"
        )
        self.checkpoint_label.setObjectName("checkpointLabel")
        self.fourier_plot = self._plot(
            "fourierPlot",
            "Embedding norm per frequency",
            "sqrt(cos² + sin²) of the embedding's Fourier components for each frequency k; "
            "the dashed line is the key-frequency threshold",
            "norm",
            "frequency k",
        )
        self.key_label = described(
            QLabel(""),
            "Key frequencies",
            "Frequencies whose norm exceeds a quarter of the largest",
        )
        self.key_label.setObjectName("keyFrequenciesLabel")
        self.key_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        slider_row = QHBoxLayout()
        slider_row.addWidget(QLabel("Checkpoint:"))
        slider_row.addWidget(self.checkpoint_slider, 1)
        slider_row.addWidget(self.checkpoint_label)
        group_layout = QVBoxLayout(self.fourier_group)
        group_layout.addLayout(slider_row)
        group_layout.addWidget(self.fourier_plot, 1)
        group_layout.addWidget(self.key_label)

        plots = QSplitter(Qt.Orientation.Horizontal)
        plots.addWidget(self.norm_plot)
        plots.addWidget(self.fourier_group)
        layout = QVBoxLayout(page)
        layout.addWidget(self.analysis_status)
        layout.addWidget(self.grokking_label)
        layout.addWidget(plots, 1)
        self.fourier_group.setVisible(False)
        self.grokking_label.setVisible(False)
        return page

    # ---- public ----------------------------------------------------------------------------
    @Slot()
    def refresh(self) -> None:
        """Discover the variants on disk again, keeping the filters and the selection."""
        if self._closing:
            return
        try:
            summaries = self.workspace.discover_variants()
        except Exception as exc:  # a bad home must not take the tab down
            self.statusMessage.emit(f"Could not list variants: {exc}")
            summaries = []
        selected = [s.path for s in self.selected_variants()]
        current = self.current_variant()
        self._refreshing = True
        try:
            self.model.set_variants(summaries)
            self._update_family_filter()
            self._select_paths(selected, current.path if current else None)
        finally:
            self._refreshing = False
        self.table.resizeColumnsToContents()
        self._on_selection_changed()

    def selected_variants(self) -> list[VariantSummary]:
        """The selected rows' summaries, in view order."""
        rows = sorted(i.row() for i in self.table.selectionModel().selectedRows())
        return [self.proxy.summary(r) for r in rows]

    def current_variant(self) -> VariantSummary | None:
        """The variant the details and analyses show: the current row if selected, else the first."""
        selection = self.table.selectionModel()
        current = self.table.currentIndex()
        if current.isValid() and selection.isRowSelected(current.row(), QModelIndex()):
            return self.proxy.summary(current.row())
        selected = self.selected_variants()
        return selected[0] if selected else None

    def select_variants(self, names: list[str]) -> None:
        """Select the visible rows of these variants (by name); the first becomes current."""
        paths = [s.path for s in self.model.summaries() if s.variant in names]
        order = {name: i for i, name in enumerate(names)}
        paths.sort(key=lambda p: order.get(Path(p).name, 0))
        self._select_paths(paths, paths[0] if paths else None)

    def show_analyses(self) -> None:
        """Bring the Analyses page to the front (which starts the analysis of the current variant)."""
        self.tabs.setCurrentWidget(self.analyses_page)

    def busy(self) -> bool:
        """True while any worker of this tab is running."""
        return self.runner.running() > 0

    @Slot()
    def shutdown(self) -> None:
        """Cancel every worker and wait for its thread; call before the window closes."""
        self._closing = True
        if self.distill_dialog is not None:
            self.distill_dialog.shutdown()
        if not self.runner.shutdown():
            self.statusMessage.emit("Some analysis threads did not stop in time")

    # ---- selection -------------------------------------------------------------------------
    def _select_paths(self, paths: list[str], current: str | None) -> None:
        selection = QItemSelection()
        current_index = QModelIndex()
        for path in paths:
            row = self.model.row_of(path)
            if row < 0:
                continue
            index = self.proxy.mapFromSource(self.model.index(row, 0))
            if not index.isValid():
                continue
            selection.select(index, index)
            if path == current or not current_index.isValid():
                current_index = index
        model = self.table.selectionModel()
        flags = QItemSelectionModel.SelectionFlag
        if current_index.isValid():
            model.setCurrentIndex(current_index, flags.NoUpdate)
        model.select(selection, flags.ClearAndSelect | flags.Rows)

    @Slot()
    def _on_selection_changed(self, *_: Any) -> None:
        if self._refreshing or self._closing:
            return
        selected = self.selected_variants()
        current = self.current_variant()
        self._update_actions(selected, current)
        self.details.show_variant(current)
        self._request_curves(selected)
        self._maybe_analyse()

    def _update_actions(
        self, selected: list[VariantSummary], current: VariantSummary | None
    ) -> None:
        one = current if len(selected) == 1 else None
        replaying = self._replay_path is not None
        self.resume_action.setEnabled(one is not None and one.status in RESUMABLE)
        self.replay_action.setEnabled(
            one is not None and one.status == "completed" and not replaying
        )
        self.delete_action.setEnabled(bool(selected))
        self.open_action.setEnabled(current is not None)
        self.distill_action.setEnabled(one is not None and one.status == "completed")
        for action, button in (
            (self.resume_action, self.resume_button),
            (self.replay_action, self.replay_button),
            (self.delete_action, self.delete_button),
            (self.open_action, self.open_folder_button),
            (self.distill_action, self.distill_button),
        ):
            button.setEnabled(action.isEnabled())
        self.cancel_replay_button.setEnabled(replaying)

    def _update_family_filter(self) -> None:
        chosen = self.family_filter.currentData()
        names = set(self.model.families())
        with contextlib.suppress(Exception):
            names |= set(self.workspace.registry.names())
        self.family_filter.blockSignals(True)
        self.family_filter.clear()
        self.family_filter.addItem("All families", None)
        for name in sorted(names):
            self.family_filter.addItem(name, name)
        index = self.family_filter.findData(chosen) if chosen else 0
        self.family_filter.setCurrentIndex(max(index, 0))
        self.family_filter.blockSignals(False)
        self.proxy.set_family(self.family_filter.currentData())

    @Slot(int)
    def _on_family_filter(self, _: int) -> None:
        self.proxy.set_family(self.family_filter.currentData())
        self._on_selection_changed()

    @Slot(int)
    def _on_status_filter(self, _: int) -> None:
        self.proxy.set_status(self.status_filter.currentData())
        self._on_selection_changed()

    @Slot(QPoint)
    def _show_context_menu(self, pos: QPoint) -> None:
        if self.table.indexAt(pos).isValid():
            self.context_menu().popup(self.table.viewport().mapToGlobal(pos))

    def context_menu(self) -> QMenu:
        """The actions on the selected variants, as a menu."""
        menu = QMenu(self)
        menu.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        menu.setAccessibleName("Variant actions")
        menu.setToolTipsVisible(True)
        for action in (
            self.resume_action,
            self.replay_action,
            self.distill_action,
            self.open_action,
        ):
            menu.addAction(action)
        menu.addSeparator()
        menu.addAction(self.delete_action)
        return menu

    # ---- curves ----------------------------------------------------------------------------
    def _request_curves(self, summaries: list[VariantSummary]) -> None:
        wanted = [s.path for s in summaries]
        self._wanted_curves = wanted
        self.runner.cancel("curves")
        keys = {p: _file_key(Path(p) / "chronicle.jsonl") for p in wanted}
        missing = {p: k for p, k in keys.items() if self._curve_cache.get(p, (None,))[0] != k}
        self._curves_request = next(self._ids)
        if not missing:
            self._draw_curves()
            return
        self._pending_keys[self._curves_request] = missing
        worker = CurvesWorker(self._curves_request, list(missing))
        self.runner.start(worker, self._on_curves_ready, self._on_curves_failed)

    @Slot(int, object)
    def _on_curves_ready(self, request_id: int, curves: dict[str, dict[str, np.ndarray]]) -> None:
        keys = self._pending_keys.pop(request_id, {})
        if self._closing:
            return
        for path, data in curves.items():
            _remember(self._curve_cache, path, (keys.get(path), data), CURVE_CACHE_SIZE)
        if request_id == self._curves_request:
            self._draw_curves()

    def _draw_curves(self) -> None:
        loss, metric = self.loss_plot.getPlotItem(), self.metric_plot.getPlotItem()
        loss.clear()
        metric.clear()
        self.curve_items = {}
        wanted = [p for p in self._wanted_curves if p in self._curve_cache]
        hues = max(len(wanted), 6)
        labels: set[str] = set()
        for i, path in enumerate(wanted):
            curves = self._curve_cache[path][1]
            name = Path(path).name
            color = pg.intColor(i, hues=hues)
            epochs = curves["epoch"].astype(np.float64)
            items: list[pg.PlotDataItem] = []
            for field, style, legend in (
                ("train_loss", TRAIN_STYLE, name),
                ("test_loss", TEST_STYLE, None),
            ):
                x, y = _finite(epochs, curves[field], positive=True)
                if len(x):
                    items.append(
                        loss.plot(x, y, pen=pg.mkPen(color, width=1.5, style=style), name=legend)
                    )
                    legend = None
            kind = "accuracy" if np.isfinite(curves["train_accuracy"]).any() else "r2"
            labels.add("accuracy" if kind == "accuracy" else "R²")
            for split, style in (("train", TRAIN_STYLE), ("test", TEST_STYLE)):
                x, y = _finite(epochs, curves[f"{split}_{kind}"])
                if len(x):
                    items.append(
                        metric.plot(
                            x,
                            y,
                            pen=pg.mkPen(color, width=1.5, style=style),
                            name=name if split == "train" else None,
                        )
                    )
            self.curve_items[path] = items
        metric.setLabel("left", " / ".join(sorted(labels)) or "accuracy / R²")

    # ---- analyses --------------------------------------------------------------------------
    @Slot(int)
    def _on_page_changed(self, _: int) -> None:
        self._maybe_analyse()

    def _analyses_for(self, summary: VariantSummary) -> list[str]:
        try:
            spec = self.workspace.registry.spec(summary.family)
        except Exception:
            spec = None
        return available_analyses(spec)

    def _maybe_analyse(self) -> None:
        """Analyse the current variant if the Analyses page is showing and it is not shown yet."""
        if self.tabs.currentWidget() is not self.analyses_page or self._closing:
            return
        current = self.current_variant()
        if current is None:
            self.runner.cancel("analysis")
            self._analysis_request = next(self._ids)
            self._analysis_path = None
            self._show_analysis(None, "Select a variant to analyse its checkpoints.")
            return
        key = _file_key(Path(current.path) / "metadata.json")
        cached = self._analysis_cache.get(current.path)
        if cached is not None and cached[0] == key:
            self._analysis_path = current.path
            if self.analysis is not cached[1]:
                self._show_analysis(cached[1])
            return
        if self._analysis_path == current.path and self.runner.busy("analysis", current.path):
            return  # already on its way
        self.runner.cancel("analysis")
        self._analysis_request = next(self._ids)
        self._analysis_path = current.path
        self._pending_keys[self._analysis_request] = {current.path: key}
        self._show_analysis(None, f"Analysing the checkpoints of {current.variant}…")
        worker = AnalysisWorker(self._analysis_request, current.path, self._analyses_for(current))
        self.runner.start(
            worker, self._on_analysis_ready, self._on_analysis_failed, self._on_analysis_progress
        )

    @Slot(int, int, int)
    def _on_analysis_progress(self, request_id: int, done: int, total: int) -> None:
        if request_id == self._analysis_request and not self._closing:
            self.analysis_status.setText(f"Analysing checkpoints… {done} of {total}")

    @Slot(int, object)
    def _on_analysis_ready(self, request_id: int, result: Any) -> None:
        key = self._pending_keys.pop(request_id, {}).get(result.path)
        if self._closing or result.cancelled:
            return
        _remember(self._analysis_cache, result.path, (key, result), ANALYSIS_CACHE_SIZE)
        if request_id == self._analysis_request:
            self._show_analysis(result)

    @Slot(int, str)
    def _on_analysis_failed(self, request_id: int, message: str) -> None:
        self._pending_keys.pop(request_id, None)
        if request_id == self._analysis_request and not self._closing:
            self._show_analysis(None, f"Analysis failed: {message}")
            self.statusMessage.emit(f"Analysis failed: {message}")

    def _show_analysis(self, result: Any, message: str = "") -> None:
        self.analysis = result
        norm = self.norm_plot.getPlotItem()
        norm.clear()
        self.fourier_plot.getPlotItem().clear()
        self.fourier_curve = None
        if result is None:
            self.analysis_status.setText(message)
            self.fourier_group.setVisible(False)
            self.grokking_label.setVisible(False)
            self.checkpoint_slider.setRange(0, 0)
            self.checkpoint_slider.setEnabled(False)
            return
        count = len(result.epochs)
        status = f"{result.variant}: {count} checkpoint{'s' if count != 1 else ''} analysed."
        if not count:
            status = f"{result.variant}: no weights checkpoint to analyse."
        if result.problems:
            status += " Problems: " + "; ".join(result.problems)
        self.analysis_status.setText(status)
        if PARAMETER_NORM in result.analyses and result.parameter_norms:
            norm.plot(
                np.asarray(result.epochs, dtype=np.float64),
                np.asarray(result.parameter_norms),
                pen=pg.mkPen("c", width=1.5),
                symbol="o",
                symbolSize=5,
            )
            norm.addItem(self.norm_marker)
        grokking = GROKKING in result.analyses and result.grokking is not None
        self.grokking_label.setVisible(grokking)
        if grokking:
            g = result.grokking

            def when(epoch: int | None) -> str:
                return f"epoch {epoch}" if epoch is not None else "not reached"

            pct = f"{g.threshold:.0%}"
            self.grokking_label.setText(
                f"Grokking readout — train accuracy ≥ {pct}: {when(g.train_epoch)} · "
                f"test accuracy ≥ {pct}: {when(g.test_epoch)}"
            )
        fourier = FOURIER in result.analyses
        self.fourier_group.setVisible(fourier)
        self.checkpoint_slider.blockSignals(True)
        self.checkpoint_slider.setRange(0, max(count - 1, 0))
        self.checkpoint_slider.setValue(max(count - 1, 0))
        self.checkpoint_slider.setEnabled(count > 1)
        self.checkpoint_slider.blockSignals(False)
        self._on_slider_changed(self.checkpoint_slider.value())

    @Slot(int)
    def _on_slider_changed(self, index: int) -> None:
        result = self.analysis
        if result is None or not result.epochs or index >= len(result.epochs):
            self.checkpoint_label.setText("no checkpoint")
            return
        epoch = result.epochs[index]
        self.checkpoint_label.setText(f"epoch {epoch} ({index + 1} of {len(result.epochs)})")
        self.norm_marker.setValue(epoch)
        plot = self.fourier_plot.getPlotItem()
        plot.clear()
        self.fourier_curve = None
        if not result.has_fourier:
            self.key_label.setText(
                "No Fourier analysis: " + ("; ".join(result.problems) or "no data")
            )
            return
        norms = np.asarray(result.frequency_norms[index], dtype=np.float64)
        edges = np.arange(len(norms) + 1, dtype=np.float64) + 0.5
        self.fourier_curve = plot.plot(
            edges,
            norms,
            stepMode="center",
            fillLevel=0,
            brush=pg.mkBrush(80, 160, 255, 150),
            pen="w",
        )
        if len(norms):
            threshold = 0.25 * float(np.max(norms))
            plot.addItem(
                pg.InfiniteLine(
                    pos=threshold, angle=0, pen=pg.mkPen("y", style=Qt.PenStyle.DashLine)
                )
            )
        keys = result.key_frequencies[index]
        listed = ", ".join(str(k) for k in keys) or "none"
        self.key_label.setText(f"Key frequencies at epoch {epoch} (p = {result.prime}): {listed}")

    # ---- actions ---------------------------------------------------------------------------
    @Slot()
    def request_resume(self) -> None:
        """Ask the main window to resume the selected variant (emits resumeRequested(name))."""
        current = self.current_variant()
        if current is None or current.status not in RESUMABLE:
            self.statusMessage.emit("Select one interrupted, cancelled or failed variant to resume")
            return
        self.resumeRequested.emit(current.variant)

    @Slot()
    def replay(self) -> None:
        """Train the selected completed variant again in a worker and compare, step by step."""
        current = self.current_variant()
        if self._replay_path is not None:
            self.statusMessage.emit("A replay is already running")
            return
        if current is None or current.status != "completed":
            self.statusMessage.emit("Select one completed variant to replay")
            return
        self._replay_request = next(self._ids)
        self._replay_path = current.path
        self.replay_result = None
        self.replay_label.setText(f"Replaying {current.variant}…")
        self.replay_progress.setRange(0, max(current.total_epochs, 1))
        self.replay_progress.setValue(0)
        self.replay_progress.setVisible(True)
        worker = ReplayWorker(self._replay_request, self.workspace, current.path)
        self.runner.start(
            worker, self._on_replay_done, self._on_replay_failed, self._on_replay_progress
        )
        self._update_actions(self.selected_variants(), current)
        self.statusMessage.emit(f"Replaying {current.variant}…")

    @Slot()
    def cancel_replay(self) -> None:
        """Ask the running replay to stop at its next step."""
        self.runner.cancel("replay")
        self.replay_label.setText("Cancelling the replay…")

    @Slot(int, int, int)
    def _on_replay_progress(self, request_id: int, done: int, total: int) -> None:
        if request_id == self._replay_request and not self._closing:
            self.replay_progress.setRange(0, max(total, 1))
            self.replay_progress.setValue(done)

    @Slot(int, object)
    def _on_replay_done(self, request_id: int, result: Any) -> None:
        if request_id != self._replay_request or self._closing:
            return
        self.replay_result = result
        name = Path(self._replay_path or "").name
        text = f"{name}: {result.message}"
        self._end_replay(text)
        colour = (
            "green" if result.identical else ("gray" if result.status == "cancelled" else "red")
        )
        self.replay_label.setText(f'<span style="color:{colour}">{text}</span>')

    @Slot(int, str)
    def _on_replay_failed(self, request_id: int, message: str) -> None:
        if request_id != self._replay_request or self._closing:
            return
        self._end_replay(f"Replay failed: {message}")
        self.replay_label.setText(f'<span style="color:red">Replay failed: {message}</span>')

    def _end_replay(self, text: str) -> None:
        self._replay_path = None
        self.replay_progress.setVisible(False)
        self.replay_label.setToolTip(text)
        self.statusMessage.emit(text)
        self._update_actions(self.selected_variants(), self.current_variant())

    @Slot()
    def delete_selected(self) -> None:
        """Delete the selected variants' directories after confirmation."""
        selected = self.selected_variants()
        if not selected:
            return
        live = [s.variant for s in selected if s.status == "training"]
        if live:
            self.statusMessage.emit(f"Cannot delete {', '.join(live)}: it is being trained")
            return
        if self._replay_path in {s.path for s in selected}:
            self.statusMessage.emit("Cannot delete a variant while it is being replayed")
            return
        names = "\n".join(s.variant for s in selected)
        noun = "variant" if len(selected) == 1 else f"{len(selected)} variants"
        question = f"Delete {noun} and every file in {'its' if len(selected) == 1 else 'their'} directory?\n\n{names}"
        if not self.confirm("Delete variants", question):
            return
        deleted, errors = [], []
        for summary in selected:
            self.runner.wait_for(path=summary.path)  # nothing may read it while it goes
            try:
                shutil.rmtree(summary.path)
            except FileNotFoundError:
                pass
            except OSError as exc:
                errors.append(f"{summary.variant}: {exc}")
                continue
            deleted.append(summary.variant)
            self._curve_cache.pop(summary.path, None)
            self._analysis_cache.pop(summary.path, None)
        self.refresh()
        message = f"Deleted {', '.join(deleted)}" if deleted else "Nothing deleted"
        if errors:
            message += "; could not delete " + "; ".join(errors)
        self.statusMessage.emit(message)

    @Slot()
    def open_distill_dialog(self) -> DistillDialog | None:
        """Open the distillation dialog with the selected completed variant as the teacher."""
        current = self.current_variant()
        if current is None or current.status != "completed":
            self.statusMessage.emit("Select one completed variant to distill")
            return None
        from desktop_app.distill_dialog import DistillDialog

        if self.distill_dialog is not None:
            self.distill_dialog.close()  # one at a time; closing waits for its worker
        dialog = DistillDialog(self.workspace, current.variant, self, teacher_family=current.family)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.distilled.connect(self._on_distilled)
        dialog.destroyed.connect(self._on_distill_dialog_destroyed)
        self.distill_dialog = dialog
        dialog.open()
        return dialog

    @Slot(str)
    def _on_distilled(self, student: str) -> None:
        """A student was trained: list it and select it."""
        if self._closing:
            return
        self.refresh()
        self.select_variants([student])
        self.statusMessage.emit(f"Distilled student {student}")

    @Slot()
    def _on_distill_dialog_destroyed(self) -> None:
        self.distill_dialog = None

    @Slot()
    def open_folder(self) -> None:
        """Open the current variant's directory in the system's file manager."""
        current = self.current_variant()
        if current is None:
            return
        if not Path(current.path).is_dir():
            self.statusMessage.emit(f"{current.path} no longer exists")
            return
        self.open_url(QUrl.fromLocalFile(current.path))

    @Slot(int, str)
    def _on_curves_failed(self, request_id: int, message: str) -> None:
        self._pending_keys.pop(request_id, None)
        if not self._closing:
            self.statusMessage.emit(f"Could not read curves: {message}")

    def _ask(self, title: str, question: str) -> bool:
        buttons = QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No
        answer = QMessageBox.question(self, title, question, buttons, QMessageBox.StandardButton.No)
        return answer == QMessageBox.StandardButton.Yes
