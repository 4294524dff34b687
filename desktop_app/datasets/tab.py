"""The Datasets tab: the library (built-in and imported datasets), importing (menu, file and
folder dialogs, drag and drop), a preview of the selected dataset, rename, delete, and "Train
on this", which the main window carries to the Training tab.

Everything that reads or writes the disk (listing, importing, previews, deleting) runs in a
kit Task on its own thread; the GUI thread only draws what comes back, and answers to
requests that have since been replaced are dropped. After each listing the tab publishes the
ready datasets to the kit's DatasetCatalog, which every dataset picker lists.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QModelIndex, Qt, Signal, Slot
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import (
    QApplication,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QInputDialog,
    QLayout,
    QMenu,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from desktop_app.datasets.import_panel import ImportPanel
from desktop_app.datasets.library_model import (
    KINDS,
    NAME,
    ORIGINS,
    DatasetFilterProxy,
    DatasetRow,
    DatasetTableModel,
)
from desktop_app.datasets.preview import NOTHING_SELECTED, DatasetPreview
from desktop_app.datasets.workers import (
    BUILTIN_STATS,
    BuiltinStats,
    DeleteTask,
    ImagePreview,
    LibraryListing,
    ListTask,
    PreviewTask,
    StatsTask,
    TablePreview,
    UsageTask,
    builtin_rows,
)
from desktop_app.kit.dataset_picker import DatasetCatalog
from desktop_app.kit.style import NOTE_STYLE
from desktop_app.kit.tasks import TaskRunner
from desktop_app.kit.warmup import EngineWarmup
from desktop_app.kit.widgets import (
    action_button,
    ask_yes_no,
    button,
    choice_filter,
    filter_bar,
    filter_edit,
    group,
    local_paths,
    make_action,
    select_source_row,
    sortable_table,
    splitter,
    table_page,
    text_label,
)
from engine.datasets.types import DatasetError

EMPTY_LIBRARY = "No imported datasets yet — Import… or drop a CSV, a folder or a ZIP here"
DROP_HINT = "Drop a CSV file, a folder of class folders or a ZIP here to import it"
NO_MATCH = "No dataset matches the filter"
PREVIEW_CACHE_SIZE = 12
BUILTIN_RENAME_TIP = "Built-in datasets cannot be renamed: they ship with Trainwright"
BUILTIN_DELETE_TIP = "Built-in datasets cannot be deleted: they ship with Trainwright"
RENAME_TIP = "Give the selected imported dataset a new name (its id stays) (F2)"
DELETE_TIP = "Delete the selected imported dataset from the library (asks first) (Del)"
TRAIN_TIP = (
    "Switch to the Training tab with the MLP family and this dataset (and the target column "
    "picked in the preview)"
)


class DatasetsTab(QWidget):
    """The dataset library: list, import, preview, rename, delete, train on."""

    # dataset id, its kind ("tabular" or "images"), target column ("": the dataset's own)
    trainRequested = Signal(str, str, str)
    statusMessage = Signal(str)

    def __init__(self, workspace: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("datasetsTab")
        self.setAccessibleName("Datasets")
        self.workspace = workspace
        self.home = Path(workspace.home)
        # Replaceable in tests: ask yes/no; ask for a name (None: cancelled); choose sources.
        self.confirm: Callable[[str, str], bool] = self._ask
        self.ask_name: Callable[[str, str], str | None] = self._ask_name
        self.choose_files: Callable[[], list[str]] = self._choose_files
        self.choose_folder: Callable[[], str | None] = self._choose_folder

        self.runner = TaskRunner(self)
        self.catalog = DatasetCatalog.shared()
        self.catalog.reset(self.home)  # another home's datasets must not show meanwhile
        self._ids = itertools.count(1)
        self._list_request = 0
        self._preview_request = 0
        self._preview_key: tuple[str, str, str] | None = None  # (id, sha256, status) shown
        self._previews: dict[tuple[str, str, str], Any] = {}
        self._stats: dict[str, BuiltinStats] = {}
        self._stats_started = False
        self._targets: dict[str, str] = {}  # target column picked per imported table
        self._select_after: str | None = None  # the dataset to select once listed
        self._deleting: str | None = None
        self._closing = False
        self.listed = False  # a listing has arrived (tests wait for it)

        self._build()
        self._connect()
        self.setAcceptDrops(True)
        app = QApplication.instance()
        if app is not None:
            app.aboutToQuit.connect(self.shutdown)
        self.model.set_datasets(builtin_rows())  # at once; the library follows
        self._update_hint()
        self._update_actions()
        self.refresh()

    # ---- construction ----------------------------------------------------------------------
    def _build(self) -> None:
        """Filters and Import over the table and its actions; the preview below."""
        self.model = DatasetTableModel(self)
        self.proxy = DatasetFilterProxy(self)
        self.proxy.setSourceModel(self.model)
        filters, table = self._build_filters(), self._build_table()
        top = table_page(filters, table, self.hint, self._build_actions())
        self.preview = DatasetPreview()
        preview = group("Preview", self.preview, "previewGroup")
        vertical = Qt.Orientation.Vertical
        self.splitter = splitter("datasetsSplitter", vertical, (top, preview), (2, 3))
        QVBoxLayout(self).addWidget(self.splitter)

    def _build_filters(self) -> QLayout:
        """Text, origin and kind filters; Import… and Refresh."""
        self.filter_edit = filter_edit(
            "datasetFilter",
            "Filter datasets",
            "Show only the datasets whose id or name contains this text",
            "Filter by id or name",
        )
        self.origin_filter = choice_filter(
            "originFilter", "Origin filter", "Built-in or imported datasets", "Any origin", ORIGINS
        )
        self.kind_filter = choice_filter(
            "kindFilter", "Kind filter", "Tabular or image datasets", "Any kind", KINDS
        )
        self.import_file_action = make_action(
            self,
            "&CSV or ZIP file…",
            "Import a CSV table, or a ZIP of a table or of class folders of images",
            self.import_files_dialog,
        )
        self.import_file_action.setShortcut(QKeySequence(QKeySequence.StandardKey.Open))
        self.import_file_action.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        self.addAction(self.import_file_action)
        self.import_folder_action = make_action(
            self,
            "&Folder of class folders…",
            "Import a folder holding one folder of images per class",
            self.import_folder_dialog,
        )
        self.import_menu = QMenu(self)
        self.import_menu.setToolTipsVisible(True)
        self.import_menu.addAction(self.import_file_action)
        self.import_menu.addAction(self.import_folder_action)
        self.import_button = button(
            "importButton",
            "&Import…",
            "Import a CSV file, a folder of class folders, or a ZIP into the library "
            "(or drop them on this tab) (Ctrl+O: a file)",
        )
        self.import_button.setMenu(self.import_menu)
        self.refresh_button = button(
            "datasetsRefreshButton",
            "Refresh",
            "List the library again (after changes made outside the window)",
        )
        fields = (
            ("F&ilter:", self.filter_edit),
            ("&Origin:", self.origin_filter),
            ("&Kind:", self.kind_filter),
        )
        return filter_bar(fields, (self.import_button, self.refresh_button))

    def _build_table(self) -> QTableView:
        self.table = sortable_table(
            "datasetTable",
            "Datasets",
            "The built-in and imported datasets; select one to preview it",
            self.proxy,
            NAME,
        )
        self.table.setSelectionMode(QTableView.SelectionMode.SingleSelection)
        # The name takes the spare width (the numbers stay next to it, not at the far edge).
        header = self.table.horizontalHeader()
        header.setStretchLastSection(False)
        header.setSectionResizeMode(NAME, QHeaderView.ResizeMode.Stretch)
        self.table.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.hint = text_label(
            "datasetsHint", "Library hint", "What to do next", EMPTY_LIBRARY, select=False
        )
        self.hint.setStyleSheet(NOTE_STYLE)
        return self.table

    def _build_actions(self) -> QLayout:
        """Rename, Delete and Train on this (also the table's context menu), and the line
        that shows an import's progress or the last message."""
        self.rename_action = make_action(self, "&Rename…", RENAME_TIP, self.rename_selected)
        self.rename_action.setShortcut(QKeySequence(Qt.Key.Key_F2))
        self.rename_action.setShortcutContext(Qt.ShortcutContext.WidgetShortcut)
        self.delete_action = make_action(self, "&Delete…", DELETE_TIP, self.delete_selected)
        self.delete_action.setShortcut(QKeySequence(QKeySequence.StandardKey.Delete))
        self.delete_action.setShortcutContext(Qt.ShortcutContext.WidgetShortcut)
        self.train_action = make_action(self, "Train on &this", TRAIN_TIP, self.train_selected)
        for action in (self.rename_action, self.delete_action):
            self.table.addAction(action)
        self.rename_button = action_button("renameDatasetButton", "Rename…", self.rename_action)
        self.delete_button = action_button("deleteDatasetButton", "Delete…", self.delete_action)
        self.train_button = action_button(
            "trainOnDatasetButton", "Train on this", self.train_action
        )
        # Made here, after the buttons, so Tab reaches its Cancel after them.
        self.import_panel = ImportPanel(self.home, self.runner)
        row = QHBoxLayout()
        for widget in (self.rename_button, self.delete_button, self.train_button):
            row.addWidget(widget)
        row.addWidget(self.import_panel, 1)
        return row

    def _connect(self) -> None:
        self.filter_edit.textChanged.connect(self._on_filter_text)
        self.origin_filter.currentIndexChanged.connect(self._on_filter_choice)
        self.kind_filter.currentIndexChanged.connect(self._on_filter_choice)
        self.refresh_button.clicked.connect(self.refresh)
        self.table.selectionModel().currentRowChanged.connect(self._on_current_changed)
        self.table.selectionModel().selectionChanged.connect(self._on_selection_changed)
        self.table.customContextMenuRequested.connect(self._show_context_menu)
        self.proxy.modelReset.connect(self._update_hint)
        self.proxy.rowsInserted.connect(self._update_hint)
        self.proxy.rowsRemoved.connect(self._update_hint)
        self.proxy.layoutChanged.connect(self._update_hint)
        self.import_panel.imported.connect(self._on_imported)
        self.import_panel.idle.connect(self._on_imports_idle)
        self.preview.targetChanged.connect(self._on_target_changed)

    # ---- public ----------------------------------------------------------------------------
    @property
    def busy(self) -> bool:
        """An import or a delete is in progress."""
        return self.import_panel.busy or self._deleting is not None

    @Slot()
    def refresh(self) -> None:
        """List the library again, in the background (the table follows when it is read)."""
        if self._closing:
            return
        self.runner.cancel("list")
        self._list_request = next(self._ids)
        task = ListTask(self._list_request, self.home)
        self.runner.start(task, self._on_listed, self._on_list_failed)

    def import_paths(self, paths: list[str | Path]) -> None:
        """Import files and folders (CSV, ZIP, a folder of class folders), one after another."""
        sources = [str(p) for p in paths if str(p)]
        if sources:
            self.import_panel.enqueue(sources)
            self._update_actions()

    def cancel_import(self) -> None:
        self.import_panel.cancel()

    def selected_dataset(self) -> DatasetRow | None:
        rows = self.table.selectionModel().selectedRows()
        return self.proxy.item(rows[0].row()) if rows else None

    def select_dataset(self, dataset_id: str) -> bool:
        """Select a dataset's row (clearing a filter that hides it); False if not listed."""
        return select_source_row(
            self.table, self.proxy, self.model.row_of(dataset_id), self._clear_filters
        )

    def _clear_filters(self) -> None:
        self.filter_edit.clear()
        self.origin_filter.setCurrentIndex(0)
        self.kind_filter.setCurrentIndex(0)

    @Slot()
    def shutdown(self) -> bool:
        """Cancel every task (an import leaves nothing) and wait for its thread; True if all
        ended in time."""
        self._closing = True
        self.import_panel.shutdown()
        return self.runner.shutdown()

    # ---- listing ---------------------------------------------------------------------------
    @Slot(int, object)
    def _on_listed(self, request: int, listing: LibraryListing) -> None:
        if request != self._list_request or self._closing:
            return
        current = self.selected_dataset()
        keep = self._select_after or (current.id if current else None)
        self._select_after = None
        self.model.set_datasets(listing.rows)
        for stats in self._stats.values():
            self.model.set_stats(stats.id, stats.count, stats.classes, stats.size_bytes)
        self.catalog.publish(self.home, listing.choices)
        self.listed = True
        if keep is None or not self.select_dataset(keep):
            self._on_selection_changed()
        self._fit_columns()
        self._update_hint()
        self._count_builtins()

    def _fit_columns(self) -> None:
        """Every column but the name to its contents; the name keeps the spare width
        (resizeColumnsToContents would size it too, until the next resize)."""
        for column in range(self.model.column_count()):
            if column != NAME:
                self.table.resizeColumnToContents(column)

    @Slot(int, str)
    def _on_list_failed(self, request: int, message: str) -> None:
        if request == self._list_request and not self._closing:
            self.import_panel.show_error(f"Could not list the dataset library: {message}")

    def _count_builtins(self) -> None:
        """Count the built-ins' rows and classes once, in the background, after the engine's
        warm-up has loaded torch (importing it meanwhile would delay the window's first
        paint)."""
        warmup = EngineWarmup.instance()
        if warmup.done:
            self._start_stats()
        elif not self._stats_started:
            warmup.ready.connect(self._start_stats, Qt.ConnectionType.UniqueConnection)

    @Slot()
    def _start_stats(self, *_: object) -> None:
        if self._stats_started or self._closing:
            return
        self._stats_started = True
        ids = []
        for row in self.model.datasets():
            known = BUILTIN_STATS.get(row.id)
            if known is not None:
                self._on_stats(known)
            elif not row.imported:
                ids.append(row.id)
        if not ids:
            return
        task = StatsTask(ids)
        task.stats.connect(self._on_stats)
        self.runner.start(task, self._on_stats_done, self._on_stats_failed)

    @Slot(object)
    def _on_stats(self, stats: BuiltinStats) -> None:
        if self._closing:
            return
        self._stats[stats.id] = stats
        self.model.set_stats(stats.id, stats.count, stats.classes, stats.size_bytes)
        self._fit_columns()  # a dozen rows: cheap, and no number is cut short

    @Slot(int, object)
    def _on_stats_done(self, request: int, count: object) -> None:
        pass  # each dataset's counts arrived with `stats`

    @Slot(int, str)
    def _on_stats_failed(self, request: int, message: str) -> None:
        if not self._closing:
            self.statusMessage.emit(f"Could not load a built-in dataset: {message}")

    # ---- filters, selection ----------------------------------------------------------------
    @Slot(str)
    def _on_filter_text(self, text: str) -> None:
        self.proxy.set_text(text)
        self._on_selection_changed()

    @Slot(int)
    def _on_filter_choice(self, _: int) -> None:
        self.proxy.set_origin(self.origin_filter.currentData())
        self.proxy.set_kind(self.kind_filter.currentData())
        self._on_selection_changed()

    @Slot()
    def _update_hint(self, *_: Any) -> None:
        if self.model.imported_count() == 0:
            text = EMPTY_LIBRARY
        elif self.proxy.rowCount() == 0 and self.proxy.filtering():
            text = NO_MATCH
        else:
            text = DROP_HINT
        self.hint.setText(text)

    @Slot(QModelIndex, QModelIndex)
    def _on_current_changed(self, current: QModelIndex, previous: QModelIndex) -> None:
        self._on_selection_changed()

    @Slot()
    def _on_selection_changed(self, *_: Any) -> None:
        if self._closing:
            return
        row = self.selected_dataset()
        self._update_actions()
        self._show_preview(row)

    def _update_actions(self) -> None:
        """Each action only when it can act; a disabled one says why in its tooltip."""
        row = self.selected_dataset()
        deleting = self._deleting is not None
        imported = row is not None and row.imported
        can_change = imported and not deleting
        self.rename_action.setEnabled(can_change and row is not None and row.status != "processing")
        self.delete_action.setEnabled(can_change)
        self.train_action.setEnabled(row is not None and row.ready and not deleting)
        builtin = row is not None and not row.imported
        tips = (
            (self.rename_action, self.rename_button, BUILTIN_RENAME_TIP if builtin else RENAME_TIP),
            (self.delete_action, self.delete_button, BUILTIN_DELETE_TIP if builtin else DELETE_TIP),
            (self.train_action, self.train_button, self._train_tip(row)),
        )
        for action, widget, tip in tips:
            widget.setEnabled(action.isEnabled())
            widget.setToolTip(tip)
            widget.setAccessibleDescription(tip)

    @staticmethod
    def _train_tip(row: DatasetRow | None) -> str:
        if row is not None and row.status == "error":
            return f"This dataset cannot be used: {row.error or 'unknown error'}"
        return TRAIN_TIP

    @Slot(object)
    def _show_context_menu(self, pos: Any) -> None:
        if self.table.indexAt(pos).isValid():
            self.context_menu().popup(self.table.viewport().mapToGlobal(pos))

    def context_menu(self) -> QMenu:
        menu = QMenu(self)
        menu.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        menu.setAccessibleName("Dataset actions")
        menu.setToolTipsVisible(True)
        menu.addAction(self.train_action)
        menu.addSeparator()
        menu.addAction(self.rename_action)
        menu.addAction(self.delete_action)
        return menu

    # ---- preview ---------------------------------------------------------------------------
    def _show_preview(self, row: DatasetRow | None) -> None:
        """The selected dataset's rows or images: from the cache, else read in a task."""
        if row is None:
            self._preview_key = None
            self._preview_request = next(self._ids)
            self.runner.cancel("preview")
            self.preview.show_dataset(None)
            self.preview.show_message(NOTHING_SELECTED)
            return
        key = (row.id, row.sha256, row.status)
        if key == self._preview_key:
            self.preview.show_dataset(row)  # a rename changes the title only
            return
        self._preview_key = key
        self._preview_request = next(self._ids)
        self.runner.cancel("preview")
        self.preview.show_dataset(row)
        if not row.ready:
            self.preview.show_message(f"This dataset cannot be used: {row.error or row.status}")
            return
        cached = self._previews.get(key)
        if cached is not None:
            self._draw_preview(cached)
            return
        self.preview.show_message(f"Reading {row.name}…")
        task = PreviewTask(self._preview_request, self.home, row)
        self.runner.start(task, self._on_preview_ready, self._on_preview_failed)

    @Slot(int, object)
    def _on_preview_ready(self, request: int, preview: TablePreview | ImagePreview) -> None:
        if self._closing:
            return
        row = self.model.dataset(preview.dataset_id)
        if row is not None:
            key = (row.id, row.sha256, row.status)
            self._previews.pop(key, None)
            self._previews[key] = preview
            while len(self._previews) > PREVIEW_CACHE_SIZE:
                self._previews.pop(next(iter(self._previews)))
        if request == self._preview_request:
            self._draw_preview(preview)

    @Slot(int, str)
    def _on_preview_failed(self, request: int, message: str) -> None:
        if request == self._preview_request and not self._closing:
            self._preview_key = None  # selecting it again tries again
            self.preview.show_message(f"Could not preview this dataset: {message}")

    def _draw_preview(self, preview: TablePreview | ImagePreview) -> None:
        if isinstance(preview, TablePreview):
            picked = self._targets.get(preview.dataset_id)
            if picked and not preview.target_fixed:
                preview = _with_target(preview, picked)
            self.preview.show_table(preview)
        else:
            self.preview.show_images(preview)

    @Slot(str)
    def _on_target_changed(self, column: str) -> None:
        if self.preview.dataset_id is not None:
            self._targets[self.preview.dataset_id] = column

    # ---- importing -------------------------------------------------------------------------
    @Slot()
    def import_files_dialog(self) -> None:
        paths = self.choose_files()
        if paths:
            self.import_paths(list(paths))

    @Slot()
    def import_folder_dialog(self) -> None:
        folder = self.choose_folder()
        if folder:
            self.import_paths([folder])

    def _choose_files(self) -> list[str]:
        paths, _ = QFileDialog.getOpenFileNames(
            self,
            "Import datasets",
            str(Path.home()),
            "Tables and archives (*.csv *.zip);;CSV files (*.csv);;ZIP archives (*.zip)",
        )
        return paths

    def _choose_folder(self) -> str | None:
        folder = QFileDialog.getExistingDirectory(
            self, "Import a folder of class folders", str(Path.home())
        )
        return folder or None

    @Slot(object)
    def _on_imported(self, manifest: Any) -> None:
        self._select_after = manifest.id
        self.statusMessage.emit(f"Imported {manifest.name} as {manifest.id}")
        self.refresh()

    @Slot()
    def _on_imports_idle(self) -> None:
        self._update_actions()

    def dragEnterEvent(self, event: Any) -> None:
        paths = local_paths(event.mimeData())
        if paths:
            event.acceptProposedAction()
            names = ", ".join(Path(p).name for p in paths[:3])
            more = f" and {len(paths) - 3} more" if len(paths) > 3 else ""
            self.hint.setText(f"Drop to import {names}{more}")
        else:
            event.ignore()

    def dragMoveEvent(self, event: Any) -> None:
        if local_paths(event.mimeData()):
            event.acceptProposedAction()

    def dragLeaveEvent(self, event: Any) -> None:
        self._update_hint()

    def dropEvent(self, event: Any) -> None:
        paths = local_paths(event.mimeData())
        self._update_hint()
        if paths:
            event.acceptProposedAction()
            self.import_paths(paths)

    # ---- rename, delete, train -------------------------------------------------------------
    @Slot()
    def rename_selected(self) -> None:
        """Ask for a new name and rename the dataset (its id stays); a refusal is shown."""
        row = self.selected_dataset()
        if row is None or not row.imported or not self.rename_action.isEnabled():
            return
        name = self.ask_name(f"Rename {row.id}", row.name)
        if name is None or name.strip() == row.name:
            return
        from engine.datasets.library import DatasetLibrary

        try:
            manifest = DatasetLibrary(self.home).rename(row.id, name)
        except (DatasetError, OSError) as exc:
            self.import_panel.show_error(f"Could not rename {row.id}: {exc}")
            return
        self.import_panel.show_note(f"Renamed {row.id} to “{manifest.name}”", good=True)
        self._select_after = row.id
        self.refresh()

    @Slot()
    def delete_selected(self) -> None:
        """Find the variants trained on the dataset (in a task), then ask, then delete."""
        row = self.selected_dataset()
        if row is None or not row.imported or self._deleting is not None:
            return
        self._deleting = row.id
        self._update_actions()
        task = UsageTask(next(self._ids), self.home, row.id)
        self.runner.start(task, self._on_usage, self._on_delete_failed)

    @Slot(int, object)
    def _on_usage(self, request: int, variants: list[str]) -> None:
        dataset_id = self._deleting
        if dataset_id is None or self._closing:
            return
        row = self.model.dataset(dataset_id)
        name = row.name if row is not None else dataset_id
        question = f"Delete the dataset “{name}” ({dataset_id}) and its copy in the library?"
        if variants:
            shown = "\n".join(f"  {v}" for v in variants[:15])
            more = f"\n  … and {len(variants) - 15} more" if len(variants) > 15 else ""
            trained = (
                "1 variant was trained on it; it stays, but cannot be"
                if len(variants) == 1
                else f"{len(variants)} variants were trained on it; they stay, but cannot be"
            )
            question += f"\n\n{trained} resumed or replayed without it:\n{shown}{more}"
        if not self.confirm("Delete dataset", question):
            self._deleting = None
            self._update_actions()
            return
        self.runner.wait_for("preview", dataset_id)  # nothing may read it while it goes
        task = DeleteTask(next(self._ids), self.home, dataset_id)
        self.runner.start(task, self._on_deleted, self._on_delete_failed)

    @Slot(int, object)
    def _on_deleted(self, request: int, dataset_id: str) -> None:
        self._deleting = None
        if self._closing:
            return
        self._previews = {k: v for k, v in self._previews.items() if k[0] != dataset_id}
        self._targets.pop(dataset_id, None)
        self.import_panel.show_note(f"Deleted {dataset_id}")
        self.statusMessage.emit(f"Deleted dataset {dataset_id}")
        self.refresh()
        self._update_actions()

    @Slot(int, str)
    def _on_delete_failed(self, request: int, message: str) -> None:
        dataset_id = self._deleting
        self._deleting = None
        if self._closing:
            return
        self.import_panel.show_error(f"Could not delete {dataset_id}: {message}")
        self.refresh()
        self._update_actions()

    @Slot()
    def train_selected(self) -> None:
        """Ask the main window to train on the selected dataset: the family for its kind, and
        for a table the target column picked in its preview."""
        row = self.selected_dataset()
        if row is None or not row.ready:
            return
        target = ""
        if row.imported and row.kind == "tabular":
            picked = self._targets.get(row.id)
            target = picked if picked and picked != row.target else ""
        self.trainRequested.emit(row.id, row.kind, target)

    # ---- dialogs ---------------------------------------------------------------------------
    def _ask(self, title: str, question: str) -> bool:
        return ask_yes_no(self, title, question)

    def _ask_name(self, title: str, current: str) -> str | None:
        name, ok = QInputDialog.getText(self, title, "New name:", text=current)
        return name if ok else None


def _with_target(preview: TablePreview, target: str) -> TablePreview:
    from dataclasses import replace

    names = {name for name, _ in preview.columns}
    return replace(preview, target=target) if target in names else preview
