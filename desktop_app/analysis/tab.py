"""The Analysis tab: browse trained variants, overlay their curves, replay, verify, resume,
analyse.

Everything slow (reading chronicles, loading checkpoints, replaying, verifying) runs in a kit Task on its
own QThread; the GUI thread only draws what comes back. The list follows the variants folder
without Refresh: a QFileSystemWatcher on it, its family folders and its variant folders (a new
variant, a checkpoint's metadata.json) and, while a listed variant trains and the tab shows, a
poll of its chronicle, start a scan in a task, at most every SCAN_DELAY_MS. Each request has an id, and answers to
requests that have since been replaced are dropped. Resuming (in the Training tab) and
distilling (its dialog) are asked of the main window with signals.
"""

from __future__ import annotations

import contextlib
import html
import itertools
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import (
    QFileSystemWatcher,
    QItemSelection,
    QItemSelectionModel,
    QModelIndex,
    QPoint,
    Qt,
    QTimer,
    QUrl,
    Signal,
    Slot,
)
from PySide6.QtGui import QAction, QDesktopServices, QKeySequence
from PySide6.QtWidgets import (
    QApplication,
    QHBoxLayout,
    QLabel,
    QLayout,
    QMenu,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QSplitter,
    QTableView,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from desktop_app.analysis.analyses_page import NO_VARIANT_TEXT, AnalysesPage
from desktop_app.analysis.classification_page import ClassificationPage
from desktop_app.analysis.variant_details import ConfigDiffDialog, VariantDetails
from desktop_app.analysis.variant_model import (
    MODIFIED,
    STATUSES,
    Scan,
    VariantFilterProxy,
    VariantTableModel,
    differing_parameters,
    scan_variants,
)
from desktop_app.analysis.workers import AnalysisTask, ReplayTask, ScanTask, VerifyTask
from desktop_app.kit.curve_plots import NO_SELECTION_TEXT, CurveOverlay
from desktop_app.kit.curves import CurveLoader, file_key, remember
from desktop_app.kit.family_combo import FamilyCombo
from desktop_app.kit.tasks import TaskRunner
from desktop_app.kit.widgets import (
    ask_yes_no,
    button,
    choice_filter,
    described,
    filter_bar,
    sortable_table,
    text_label,
)
from engine import variants
from engine.analysis import available_analyses
from engine.discovery import VariantSummary
from engine.errors import VariantError
from engine.run_rules import can_delete, can_replay, can_resume, can_verify, delete_variant_dir

ANALYSIS_CACHE_SIZE = 16
SCAN_DELAY_MS = 500  # a change on disk is listed this long after it (changes in between too)
LIVE_POLL_MS = 1000  # while a listed variant trains: how often its epochs are read again
LIVE_CURVES_S = 5.0  # a training variant's curves are read again at most this often
NO_VARIANTS_TEXT = (
    "No variants yet. Train one on the Training tab (or with <code>trainwright train</code>); "
    "it appears here as it runs."
)
NO_CURVES_TEXT = "The curves of the variants you select show here."


class AnalysisTab(QWidget):
    """Variant browser, curve overlays, replay/verify/resume/delete, and the family's analyses."""

    resumeRequested = Signal(str)  # the variant's name
    distillRequested = Signal(str, str)  # the teacher variant's name, its family
    # a completed variant to publish as a model version: its name, family, dataset ("": none)
    publishRequested = Signal(str, str, str)
    statusMessage = Signal(str)

    def __init__(self, workspace: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("analysisTab")
        self.setAccessibleName("Analysis")
        self.workspace = workspace
        # Replaceable in tests: ask before deleting; open a folder in the file manager.
        self.confirm: Callable[[str, str], bool] = self._ask
        self.warn: Callable[[str, str], None] = self._warn  # (title, message): an error to see
        self.open_url: Callable[[QUrl], Any] = QDesktopServices.openUrl

        self.runner = TaskRunner(self)
        self.curve_loader = CurveLoader(
            self.runner, self._draw_curves, self._on_curves_failed, self
        )
        self._ids = itertools.count(1)
        self._analysis_request = 0
        self._replay_request = 0
        self._replay_path: str | None = None
        self._closing = False
        self._refreshing = False
        self._analysis_cache: dict[str, tuple[Any, Any]] = {}
        self._analysis_keys: dict[int, Any] = {}  # request id -> the metadata's file key
        self._analysis_path: str | None = None  # the variant the analyses page shows (or awaits)
        self.replay_result: Any = None  # the last ReplayResult
        self._verify_request = 0
        self._verify_path: str | None = None
        self.verify_result: Any = None  # the last VerifyReport
        # The variant each result label speaks of: cleared when another one is selected.
        self._replay_label_path: str | None = None
        self._verify_label_path: str | None = None
        # Following the variants folder: a watcher, a debounce, and a poll for live runs.
        self._scan_request = 0
        self._scan_again = False  # the folder changed while a scan ran: scan once more
        self._live_curves_at = 0.0
        self._listing_problem: str | None = None  # why the last Refresh listed nothing
        self.watcher = QFileSystemWatcher(self)
        self.watcher.directoryChanged.connect(self._schedule_scan)
        self._scan_timer = QTimer(self)
        self._scan_timer.setSingleShot(True)
        self._scan_timer.setInterval(SCAN_DELAY_MS)
        self._scan_timer.timeout.connect(self._start_scan)
        self._live_timer = QTimer(self)
        self._live_timer.setInterval(LIVE_POLL_MS)
        self._live_timer.timeout.connect(self._schedule_scan)

        self._build()
        self._connect()
        app = QApplication.instance()
        if app is not None:
            app.aboutToQuit.connect(self.shutdown)
        self.refresh()

    # ---- construction ----------------------------------------------------------------------
    def _build(self) -> None:
        """The variants (filters, table, actions) over the views of the selected ones."""
        self.model = VariantTableModel(self)
        self.proxy = VariantFilterProxy(self)
        self.proxy.setSourceModel(self.model)
        top = QWidget()
        top_layout = QVBoxLayout(top)
        top_layout.setContentsMargins(0, 0, 0, 0)
        top_layout.addLayout(self._build_filters())
        top_layout.addWidget(self._build_table(), 1)
        top_layout.addWidget(self._build_no_variants_label(), 1)
        top_layout.addLayout(self._build_actions())
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(top)
        splitter.addWidget(self._build_views())
        splitter.setStretchFactor(0, 2)
        splitter.setStretchFactor(1, 3)
        QVBoxLayout(self).addWidget(splitter)

    def _build_filters(self) -> QLayout:
        """Family and status filters, and Refresh."""
        self.family_filter = FamilyCombo(
            "familyFilter",
            "Family filter",
            "Show only the variants of one family",
            any_text="All families",
        )
        self.status_filter = choice_filter(
            "statusFilter",
            "Status filter",
            "Show only the variants with one status",
            "All statuses",
            STATUSES,
        )
        self.refresh_button = button(
            "analysisRefreshButton", "Refresh", "Look for variants on disk again"
        )
        fields = (("&Family:", self.family_filter), ("&Status:", self.status_filter))
        return filter_bar(fields, (self.refresh_button,))

    def _build_table(self) -> QTableView:
        """The variants, newest first; several can be selected to compare them."""
        self.table = sortable_table(
            "variantTable",
            "Variants",
            "Trained variants; select one or more to compare their curves (right-click for actions)",
            self.proxy,
            MODIFIED,
            Qt.SortOrder.DescendingOrder,
        )
        self.table.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        return self.table

    def _build_no_variants_label(self) -> QLabel:
        """Where the table is while the data home has no variant at all (first launch): a
        sentence saying how one comes, rather than an empty table."""
        self.no_variants_label = text_label(
            "noVariantsLabel",
            "No variants",
            "The data home has no trained variant yet",
            NO_VARIANTS_TEXT,
        )
        self.no_variants_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.no_variants_label.setWordWrap(True)
        self.no_variants_label.setVisible(False)
        return self.no_variants_label

    def _build_actions(self) -> QLayout:
        """The actions on the selected variants (also the context menu), as buttons."""
        self.resume_action = self._action(
            "&Resume",
            "Continue an interrupted, cancelled or failed run from its last checkpoint",
            self.request_resume,
        )
        self.replay_action = self._action(
            "Re&play",
            "Train the variant again from scratch and check it is bit-identical",
            self.replay,
        )
        self.verify_action = self._action(
            "&Verify",
            "Recheck every checkpoint's SHA-256 and state hash, and the chronicle's length, "
            "against the records (trains nothing)",
            self.verify,
        )
        self.delete_action = self._action(
            "&Delete…",
            "Delete the selected variants' directories (asks first)",
            self.delete_selected,
        )
        self.delete_action.setShortcut(QKeySequence(QKeySequence.StandardKey.Delete))
        self.delete_action.setShortcutContext(Qt.ShortcutContext.WidgetShortcut)
        self.table.addAction(self.delete_action)
        self.open_action = self._action(
            "&Open folder", "Open the variant's directory in the file manager", self.open_folder
        )
        self.distill_action = self._action(
            "D&istill…",
            "Train a smaller student on this classifier's softened outputs (distillation)",
            self.request_distill,
        )
        self.distill_action.setObjectName("distillAction")
        self.publish_action = self._action(
            "&Publish…",
            "Publish this completed variant as a version of a model (Models tab): to export "
            "it, predict with it and keep it by name",
            self.request_publish,
        )
        self.publish_action.setObjectName("publishAction")
        self.compare_action = self._action(
            "&Compare configs…",
            "Show the configs of the two selected variants side by side, differences first",
            self.compare_configs,
        )
        self.compare_action.setObjectName("compareConfigsAction")
        self.resume_button = self._button("Resume", "analysisResumeButton", self.resume_action)
        self.replay_button = self._button("Replay", "replayButton", self.replay_action)
        self.cancel_replay_button = button(
            "cancelReplayButton", "Cancel replay", "Stop the replay that is running", enabled=False
        )
        self.verify_button = self._button("Verify", "verifyButton", self.verify_action)
        self.delete_button = self._button("Delete…", "deleteButton", self.delete_action)
        self.open_folder_button = self._button("Open folder", "openFolderButton", self.open_action)
        self.distill_button = self._button("Distill…", "distillButton", self.distill_action)
        self.publish_button = self._button("Publish…", "publishVariantButton", self.publish_action)
        self.compare_button = self._button(
            "Compare configs…", "compareConfigsButton", self.compare_action
        )
        self.replay_progress = described(
            QProgressBar(), "Replay progress", "Epochs replayed", object_name="replayProgress"
        )
        self.replay_progress.setMaximumWidth(160)
        self.replay_progress.setVisible(False)
        self.replay_label = text_label(
            "replayResultLabel", "Replay result", "The outcome of the last replay", select=True
        )
        self.verify_label = text_label(
            "verifyResultLabel",
            "Verify result",
            "The outcome of the last verify: verified, or each mismatch",
            select=True,
        )
        row = QHBoxLayout()
        for widget in (
            self.resume_button,
            self.replay_button,
            self.cancel_replay_button,
            self.verify_button,
            self.distill_button,
            self.publish_button,
            self.compare_button,
            self.delete_button,
            self.open_folder_button,
            self.replay_progress,
        ):
            row.addWidget(widget)
        row.addWidget(self.replay_label, 1)
        row.addWidget(self.verify_label, 1)
        return row

    def _build_views(self) -> QTabWidget:
        """Curves, Analyses, Classification and Details of the selected variants."""
        self.curve_overlay = CurveOverlay("lossPlot", "metricPlot", "of the selected variants")
        self.loss_plot = self.curve_overlay.loss_plot
        self.metric_plot = self.curve_overlay.metric_plot
        self.analyses_page = AnalysesPage()
        self.classification_page = ClassificationPage(self.workspace, self.runner)
        self.details = VariantDetails()
        self.details.setToolTip(
            f"{variants.CONFIG_FILE}, {variants.METADATA_FILE} and the checkpoints of the "
            "current variant"
        )
        self.tabs = described(
            QTabWidget(),
            "Variant views",
            "Curves, analyses, classification and details",
            object_name="analysisTabs",
        )
        for page, title in (
            (self.curve_overlay, "Curves"),
            (self.analyses_page, "Analyses"),
            (self.classification_page, "Classification"),
            (self.details, "Details"),
        ):
            self.tabs.addTab(page, title)
        return self.tabs

    def _connect(self) -> None:
        """Signals from the controls, the selection and the curve loader."""
        self.family_filter.familyChanged.connect(self._on_family_filter)
        self.status_filter.currentIndexChanged.connect(self._on_status_filter)
        self.refresh_button.clicked.connect(self.refresh)
        self.table.selectionModel().selectionChanged.connect(self._on_selection_changed)
        self.table.customContextMenuRequested.connect(self._show_context_menu)
        self.cancel_replay_button.clicked.connect(self.cancel_replay)
        self.tabs.currentChanged.connect(self._on_page_changed)

    def _action(self, text: str, tip: str, slot: Callable[[], object]) -> QAction:
        """An action on the selected variants: `slot` runs when it is triggered."""
        action = QAction(text, self)
        action.setToolTip(tip)
        action.triggered.connect(slot)
        return action

    def _button(self, text: str, name: str, action: QAction) -> QPushButton:
        widget = button(name, text, action.toolTip())
        widget.clicked.connect(action.trigger)
        return widget

    # ---- public ----------------------------------------------------------------------------
    @property
    def analysis(self) -> Any:
        """The CheckpointAnalysis the Analyses page shows (None: none)."""
        return self.analyses_page.analysis

    @property
    def curve_items(self) -> dict[str, list[Any]]:
        """The curves drawn, by variant directory."""
        return self.curve_overlay.curve_items

    @Slot()
    def refresh(self) -> None:
        """Discover the variants on disk again, keeping the filters and the selection."""
        if self._closing:
            return
        self._scan_request = next(self._ids)  # a scan on its way is older: dropped
        try:
            scan = scan_variants(self.workspace)
        except Exception as exc:  # a bad home must not take the tab down
            self.statusMessage.emit(f"Could not list variants: {exc}")
            # What was listed stays; an empty list says why, not "no variants yet".
            self._listing_problem = f"Could not list the variants: {exc}"
            self._show_empty_state()
            return
        self._listing_problem = None
        self._show_scan(scan)
        self._follow(scan)

    def _show_scan(self, scan: Scan) -> None:
        """List these variants, keeping the filters and the selection."""
        selected = [s.path for s in self.selected_variants()]
        current = self.current_variant()
        self._refreshing = True
        try:
            self.model.set_variants(scan.summaries, scan.parameters)
            self._update_family_filter()
            self._select_paths(selected, current.path if current else None)
        finally:
            self._refreshing = False
        self.table.resizeColumnsToContents()
        self._update_parameter_columns()
        self._show_empty_state()
        self._on_selection_changed()

    def _show_empty_state(self) -> None:
        """No variant at all: the sentence instead of the table, and the plots say so too;
        it goes as soon as a scan lists one (the folder is followed live)."""
        none = not self.model.summaries()
        self.no_variants_label.setText(self._listing_problem or NO_VARIANTS_TEXT)
        self.no_variants_label.setVisible(none)
        self.table.setVisible(not none)
        self.curve_overlay.set_empty_text(NO_CURVES_TEXT if none else NO_SELECTION_TEXT)

    # ---- following the variants folder -------------------------------------------------------
    @property
    def watched_paths(self) -> list[str]:
        """The folders watched for new, changed and deleted variants."""
        return sorted(self.watcher.directories())

    def _schedule_scan(self, *_: Any) -> None:
        """Something changed on disk: scan in SCAN_DELAY_MS (later changes join this scan)."""
        if not self._closing and not self._scan_timer.isActive():
            self._scan_timer.start()

    @Slot()
    def _start_scan(self) -> None:
        if self._closing:
            return
        if self.runner.busy("scan"):
            self._scan_again = True  # once this one has answered
            return
        self._scan_request = next(self._ids)
        task = ScanTask(self._scan_request, self.workspace)
        self.runner.start(task, self._on_scan_ready, self._on_scan_failed)

    @Slot(int, object)
    def _on_scan_ready(self, request_id: int, scan: Scan) -> None:
        if self._closing:
            return
        if self._scan_again:
            self._scan_again = False
            self._schedule_scan()
        if request_id != self._scan_request or not isinstance(scan, Scan):
            return  # a Refresh has listed them since
        changed = self.model.update_variants(scan.summaries, scan.parameters)
        if changed is None:  # variants came or went: list them again
            self._show_scan(scan)
        elif changed:
            self._on_rows_changed(changed)
        self._follow(scan)

    @Slot(int, str)
    def _on_scan_failed(self, request_id: int, message: str) -> None:
        if request_id == self._scan_request and not self._closing:
            self.statusMessage.emit(f"Could not list variants: {message}")

    def _on_rows_changed(self, rows: list[int]) -> None:
        """Listed variants changed on disk (a live run's epochs, its status): what shows the
        selected ones follows (a training variant's curves at most every LIVE_CURVES_S)."""
        summaries = self.model.summaries()
        changed = {summaries[r].path: summaries[r] for r in rows}
        selected = self.selected_variants()
        if not any(s.path in changed for s in selected):
            return
        current = self.current_variant()
        self._update_actions(selected, current)
        if current is not None and current.path in changed:
            self.details.show_variant(current)
            self._maybe_analyse()
        live = any(s.status == "training" for s in selected if s.path in changed)
        now = time.monotonic()
        if not live or now - self._live_curves_at >= LIVE_CURVES_S:
            self._live_curves_at = now
            self.curve_loader.request([s.path for s in selected])

    def _follow(self, scan: Scan) -> None:
        """Watch the folders of these variants (and their families, and the variants folder,
        or the home until it has one); poll while one of them trains and the tab shows."""
        if self._closing:
            return
        home = Path(self.workspace.home)
        root = home / "variants"
        wanted = {str(root)} if root.is_dir() else ({str(home)} if home.is_dir() else set())
        with contextlib.suppress(OSError):
            if root.is_dir():
                wanted |= {str(p) for p in root.iterdir() if p.is_dir()}
        wanted |= {s.path for s in scan.summaries if Path(s.path).is_dir()}
        current = set(self.watcher.directories())
        if current - wanted:
            self.watcher.removePaths(sorted(current - wanted))
        if wanted - current:
            self.watcher.addPaths(sorted(wanted - current))
        self._update_live_poll()

    def _update_live_poll(self) -> None:
        training = any(s.status == "training" for s in self.model.summaries())
        if training and self.isVisible() and not self._closing:
            if not self._live_timer.isActive():
                self._live_timer.start()
        else:
            self._live_timer.stop()

    def showEvent(self, event: Any) -> None:
        super().showEvent(event)
        self._update_live_poll()
        self._schedule_scan()  # what changed while it was hidden

    def hideEvent(self, event: Any) -> None:
        super().hideEvent(event)
        self._live_timer.stop()

    def _update_parameter_columns(self) -> None:
        """Show the hyperparameter columns whose values differ between the variants shown
        (the filters hide the others)."""
        shown = [self.proxy.item(r) for r in range(self.proxy.rowCount())]
        keys = set(differing_parameters(self.model.parameters(s.path) for s in shown if s))
        for name in self.model.parameter_columns():
            column = self.model.column_of_parameter(name)
            self.table.setColumnHidden(column, name not in keys)

    def shown_parameter_columns(self) -> list[str]:
        """The hyperparameter columns shown, in column order."""
        return [
            name
            for name in self.model.parameter_columns()
            if not self.table.isColumnHidden(self.model.column_of_parameter(name))
        ]

    def selected_variants(self) -> list[VariantSummary]:
        """The selected rows' summaries, in view order."""
        rows = sorted(i.row() for i in self.table.selectionModel().selectedRows())
        return [self.proxy.item(r) for r in rows]

    def current_variant(self) -> VariantSummary | None:
        """The variant the details and analyses show: the current row if selected, else the first."""
        selection = self.table.selectionModel()
        current = self.table.currentIndex()
        if current.isValid() and selection.isRowSelected(current.row(), QModelIndex()):
            return self.proxy.item(current.row())
        selected = self.selected_variants()
        return selected[0] if selected else None

    def select_variants(self, names: list[str]) -> None:
        """Select the visible rows of these variants (by name); the first becomes current."""
        paths = [s.path for s in self.model.summaries() if s.variant in names]
        order = {name: i for i, name in enumerate(names)}
        paths.sort(key=lambda p: order.get(Path(p).name, 0))
        self._select_paths(paths, paths[0] if paths else None)

    def show_new_variant(self, name: str, message: str) -> None:
        """A variant was made elsewhere (a distilled student): list it, select it, say so."""
        if self._closing:
            return
        self.refresh()
        self.select_variants([name])
        self.statusMessage.emit(message)

    def show_analyses(self) -> None:
        """Bring the Analyses page to the front (which starts the analysis of the current variant)."""
        self.tabs.setCurrentWidget(self.analyses_page)

    @Slot()
    def shutdown(self) -> bool:
        """Cancel every task and wait for its thread; call before the window closes. True if
        all ended in time."""
        self._closing = True
        self._scan_timer.stop()
        self._live_timer.stop()
        with contextlib.suppress(RuntimeError):  # already deleted with the window
            paths = self.watcher.directories()
            if paths:
                self.watcher.removePaths(paths)
        self.curve_loader.close()
        ended = self.runner.shutdown()
        if not ended:
            self.statusMessage.emit("Some analysis threads did not stop in time")
        return ended

    # ---- selection -------------------------------------------------------------------------
    def _select_paths(self, paths: list[str], current: str | None) -> None:
        """Select these variants (by directory) without a selection signal per row."""
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
        self._clear_other_results(current)
        self.details.show_variant(current)
        self.curve_loader.request([s.path for s in selected])
        self._maybe_analyse()
        self._maybe_classify()

    def _clear_other_results(self, current: VariantSummary | None) -> None:
        """The replay and verify verdicts speak of one variant: selecting another clears
        them (a replay or verify still running keeps saying so)."""
        path = current.path if current is not None else None
        if self._replay_path is None and self._replay_label_path not in (None, path):
            self._replay_label_path = None
            self.replay_label.clear()
            self.replay_label.setToolTip("The outcome of the last replay")
        if self._verify_path is None and self._verify_label_path not in (None, path):
            self._verify_label_path = None
            self.verify_label.clear()
            self.verify_label.setToolTip(
                "The outcome of the last verify: verified, or each mismatch"
            )

    def _update_actions(
        self, selected: list[VariantSummary], current: VariantSummary | None
    ) -> None:
        """Each action is available only when it applies to the selection."""
        one = current if len(selected) == 1 else None
        replaying = self._replay_path is not None
        verifying = self._verify_path is not None
        self.resume_action.setEnabled(one is not None and can_resume(one.status))
        self.replay_action.setEnabled(one is not None and can_replay(one.status) and not replaying)
        self.verify_action.setEnabled(one is not None and can_verify(one.status) and not verifying)
        self.delete_action.setEnabled(
            bool(selected) and all(can_delete(s.status) for s in selected)
        )
        self.open_action.setEnabled(current is not None)
        self.distill_action.setEnabled(one is not None and one.status == "completed")
        self.publish_action.setEnabled(one is not None and one.status == "completed")
        self.compare_action.setEnabled(len(selected) == 2)
        for action, widget in (
            (self.resume_action, self.resume_button),
            (self.replay_action, self.replay_button),
            (self.verify_action, self.verify_button),
            (self.delete_action, self.delete_button),
            (self.open_action, self.open_folder_button),
            (self.distill_action, self.distill_button),
            (self.publish_action, self.publish_button),
            (self.compare_action, self.compare_button),
        ):
            widget.setEnabled(action.isEnabled())
        self.cancel_replay_button.setEnabled(replaying)

    def _update_family_filter(self) -> None:
        """The families on disk and in the registry, keeping the one chosen."""
        names = set(self.model.families())
        with contextlib.suppress(Exception):
            names |= set(self.workspace.registry.names())
        self.family_filter.set_names(sorted(names))
        self.proxy.set_family(self.family_filter.family())

    @Slot(object)
    def _on_family_filter(self, family: str | None) -> None:
        self.proxy.set_family(family)
        self._update_parameter_columns()
        self._on_selection_changed()

    @Slot(int)
    def _on_status_filter(self, _: int) -> None:
        self.proxy.set_status(self.status_filter.currentData())
        self._update_parameter_columns()
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
            self.verify_action,
            self.distill_action,
            self.publish_action,
            self.compare_action,
            self.open_action,
        ):
            menu.addAction(action)
        menu.addSeparator()
        menu.addAction(self.delete_action)
        return menu

    # ---- curves ----------------------------------------------------------------------------
    @Slot()
    def _draw_curves(self) -> None:
        if not self._closing:
            self.curve_overlay.draw(self.curve_loader.wanted())

    @Slot(str)
    def _on_curves_failed(self, message: str) -> None:
        self.statusMessage.emit(f"Could not read curves: {message}")

    # ---- analyses --------------------------------------------------------------------------
    @Slot(int)
    def _on_page_changed(self, _: int) -> None:
        self._maybe_analyse()
        self._maybe_classify()

    def show_classification(self) -> None:
        """Bring the Classification page to the front (which reads the current variant's)."""
        self.tabs.setCurrentWidget(self.classification_page)

    def _maybe_classify(self) -> None:
        """Show the current variant's confusion matrices if the Classification page shows."""
        if self.tabs.currentWidget() is self.classification_page and not self._closing:
            self.classification_page.show_variant(self.current_variant())

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
            self.analyses_page.show_result(None, NO_VARIANT_TEXT)
            return
        key = file_key(variants.metadata_path(Path(current.path)))
        cached = self._analysis_cache.get(current.path)
        if cached is not None and cached[0] == key:
            self._analysis_path = current.path
            if self.analysis is not cached[1]:
                self.analyses_page.show_result(cached[1])
            return
        if self._analysis_path == current.path and self.runner.busy("analysis", current.path):
            return  # already on its way
        self.runner.cancel("analysis")
        self._analysis_request = next(self._ids)
        self._analysis_path = current.path
        self._analysis_keys[self._analysis_request] = key
        message = f"Analysing the checkpoints of {current.variant}…"
        self.analyses_page.show_result(None, message)
        task = AnalysisTask(self._analysis_request, current.path, self._analyses_for(current))
        self.runner.start(
            task, self._on_analysis_ready, self._on_analysis_failed, self._on_analysis_progress
        )

    @Slot(int, int, int)
    def _on_analysis_progress(self, request_id: int, done: int, total: int) -> None:
        if request_id == self._analysis_request and not self._closing:
            status = self.analyses_page.analysis_status
            status.setText(f"Analysing checkpoints… {done} of {total}")

    @Slot(int, object)
    def _on_analysis_ready(self, request_id: int, result: Any) -> None:
        key = self._analysis_keys.pop(request_id, None)
        if self._closing or result.cancelled:
            return
        remember(self._analysis_cache, result.path, (key, result), ANALYSIS_CACHE_SIZE)
        if request_id == self._analysis_request:
            self.analyses_page.show_result(result)

    @Slot(int, str)
    def _on_analysis_failed(self, request_id: int, message: str) -> None:
        self._analysis_keys.pop(request_id, None)
        if request_id == self._analysis_request and not self._closing:
            self.analyses_page.show_result(None, f"Analysis failed: {message}")
            self.statusMessage.emit(f"Analysis failed: {message}")

    # ---- replay ----------------------------------------------------------------------------
    @Slot()
    def replay(self) -> None:
        """Train the selected completed variant again in a task and compare, step by step."""
        current = self.current_variant()
        if self._replay_path is not None:
            self.statusMessage.emit("A replay is already running")
            return
        if current is None or not can_replay(current.status):
            self.statusMessage.emit("Select one completed variant to replay")
            return
        self._replay_request = next(self._ids)
        self._replay_path = self._replay_label_path = current.path
        self.replay_result = None
        self.replay_label.setText(f"Replaying {current.variant}…")
        self.replay_progress.setRange(0, max(current.total_epochs, 1))
        self.replay_progress.setValue(0)
        self.replay_progress.setVisible(True)
        task = ReplayTask(self._replay_request, self.workspace, current.path)
        self.runner.start(
            task, self._on_replay_done, self._on_replay_failed, self._on_replay_progress
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

    # ---- verify ----------------------------------------------------------------------------
    @Slot()
    def verify(self) -> None:
        """Recheck the selected variant's checkpoints and chronicle against its records, in a
        task; the result (verified, or each mismatch) is shown beside the buttons."""
        current = self.current_variant()
        if self._verify_path is not None:
            self.statusMessage.emit("A verify is already running")
            return
        if current is None or not can_verify(current.status):
            self.statusMessage.emit("Select one variant that is not training to verify")
            return
        self._verify_request = next(self._ids)
        self._verify_path = self._verify_label_path = current.path
        self.verify_result = None
        self.verify_label.setText(f"Verifying {html.escape(current.variant)}…")
        task = VerifyTask(self._verify_request, self.workspace, current.path)
        self.runner.start(task, self._on_verify_done, self._on_verify_failed)
        self._update_actions(self.selected_variants(), current)
        self.statusMessage.emit(f"Verifying {current.variant}…")

    @Slot(int, object)
    def _on_verify_done(self, request_id: int, result: Any) -> None:
        if request_id != self._verify_request or self._closing:
            return
        self.verify_result = result
        name = Path(self._verify_path or "").name
        lines = [f"{name}: {result.message}"]
        lines += [m.line() for m in result.mismatches]
        colour = "green" if result.verified else ("gray" if result.cancelled else "red")
        body = "<br>".join(html.escape(line) for line in lines)
        self._end_verify("\n".join(lines), lines[0])
        self.verify_label.setText(f'<span style="color:{colour}">{body}</span>')

    @Slot(int, str)
    def _on_verify_failed(self, request_id: int, message: str) -> None:
        if request_id != self._verify_request or self._closing:
            return
        text = f"Verify failed: {message}"
        self._end_verify(text, text)
        self.verify_label.setText(f'<span style="color:red">{html.escape(text)}</span>')

    def _end_verify(self, text: str, status: str) -> None:
        self._verify_path = None
        self.verify_label.setToolTip(text)
        self.statusMessage.emit(status)
        self._update_actions(self.selected_variants(), self.current_variant())

    # ---- the other actions -----------------------------------------------------------------
    @Slot()
    def request_resume(self) -> None:
        """Ask the main window to resume the selected variant (emits resumeRequested(name))."""
        current = self.current_variant()
        if current is None or not can_resume(current.status):
            self.statusMessage.emit("Select one interrupted, cancelled or failed variant to resume")
            return
        self.resumeRequested.emit(current.variant)

    @Slot()
    def request_distill(self) -> None:
        """Ask the main window to distill the selected completed variant (the teacher)."""
        current = self.current_variant()
        if current is None or current.status != "completed":
            self.statusMessage.emit("Select one completed variant to distill")
            return
        self.distillRequested.emit(current.variant, current.family)

    @Slot()
    def request_publish(self) -> None:
        """Ask the main window to publish the selected completed variant (a dialog asks the
        model's name there)."""
        current = self.current_variant()
        if current is None or current.status != "completed":
            self.statusMessage.emit("Select one completed variant to publish")
            return
        dataset = self.model.parameters(current.path).get("dataset")
        self.publishRequested.emit(
            current.variant, current.family, dataset if isinstance(dataset, str) else ""
        )

    @Slot()
    def compare_configs(self) -> ConfigDiffDialog | None:
        """The configs of the two selected variants side by side (the current one left)."""
        selected = self.selected_variants()
        if len(selected) != 2:
            self.statusMessage.emit("Select two variants to compare their configs")
            return None
        current = self.current_variant()
        left, right = (
            selected
            if current is None or current.path == selected[0].path
            else (
                selected[1],
                selected[0],
            )
        )
        dialog = ConfigDiffDialog(
            left,
            self.model.parameters(left.path),
            right,
            self.model.parameters(right.path),
            self,
        )
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.open()
        return dialog

    @Slot()
    def delete_selected(self) -> None:
        """Delete the selected variants after confirmation, through the engine (which refuses
        a variant a run holds the lock of); what was refused is shown with the reason."""
        selected = self.selected_variants()
        if not selected:
            return
        live = [s.variant for s in selected if not can_delete(s.status)]
        if live:
            self.statusMessage.emit(f"Cannot delete {', '.join(live)}: it is being trained")
            return
        if self._replay_path in {s.path for s in selected}:
            self.statusMessage.emit("Cannot delete a variant while it is being replayed")
            return
        names = "\n".join(s.variant for s in selected)
        noun = "variant" if len(selected) == 1 else f"{len(selected)} variants"
        their = "its" if len(selected) == 1 else "their"
        question = f"Delete {noun} and every file in {their} directory?\n\n{names}"
        if not self.confirm("Delete variants", question):
            return
        deleted, errors = [], []
        for summary in selected:
            self.runner.wait_for(path=summary.path)  # nothing may read it while it goes
            problem = self._delete(summary)
            if problem is not None:
                errors.append(f"{summary.variant}: {problem}")
                continue
            deleted.append(summary.variant)
            self.curve_loader.forget(summary.path)
            self._analysis_cache.pop(summary.path, None)
            self.classification_page.forget(summary.path)
        self.refresh()
        message = f"Deleted {', '.join(deleted)}" if deleted else "Nothing deleted"
        if errors:
            message += "; could not delete " + "; ".join(errors)
            self.warn("Delete variants", message)
        self.statusMessage.emit(message)

    def _delete(self, summary: VariantSummary) -> str | None:
        """Delete one variant (engine: refused while its lock is held); why not, or None."""
        try:
            if summary.status == "broken":  # no config to load it by: delete its folder
                delete_variant_dir(self.workspace.home, Path(summary.path))
            else:
                self.workspace.delete(summary.variant, summary.family)
        except VariantError as exc:
            if not Path(summary.path).exists():
                return None  # already gone
            return str(exc)
        except OSError as exc:
            return str(exc)
        return None

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

    def _warn(self, title: str, message: str) -> None:
        QMessageBox.warning(self, title, message)

    def _ask(self, title: str, question: str) -> bool:
        return ask_yes_no(self, title, question)
