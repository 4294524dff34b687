"""The Models tab: the published models and their versions, and what is done with them.

A sortable table of every version (score, size, inference speed, aliases; each model's
latest in bold), a filter, Import… (a bundle ZIP from another machine), and for the selected
version Export… (a dialog: ONNX, safetensors, torch.export or a bundle), Alias (set, or
remove one), Notes…, Rename model… and Delete…; its details (where it came from, the data
and weights hashes, lineage, how to use it from the command line), and "Try it": drop a CSV
or images and see its predictions. Publish… in the Analysis tab arrives here through
`publish_variant`.

Everything that reads or writes the registry runs in a kit Task; the table is listed again
after each change, whenever the tab is shown (the CLI may have published meanwhile), and on
Refresh.
"""

from __future__ import annotations

import html
import itertools
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtGui import QAction, QKeySequence, QTextOption
from PySide6.QtWidgets import (
    QApplication,
    QCheckBox,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QInputDialog,
    QLayout,
    QMenu,
    QTableView,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from desktop_app.kit.formatting import format_bytes, format_local_time
from desktop_app.kit.style import ERROR_STYLE, NOTE_STYLE, OK_STYLE
from desktop_app.kit.tasks import TaskRunner
from desktop_app.kit.widgets import (
    ElidedLabel,
    action_button,
    ask_yes_no,
    button,
    described,
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
from desktop_app.models.export_dialog import ExportDialog
from desktop_app.models.publish_dialog import PublishDialog, default_model_name
from desktop_app.models.try_pane import TryPane
from desktop_app.models.version_model import (
    MODEL,
    VersionFilterProxy,
    VersionRow,
    VersionTableModel,
    score_text,
)
from desktop_app.models.workers import (
    ChangeTask,
    Imported,
    ImportTask,
    ListTask,
    RegistryListing,
)

NO_MODELS = (
    "No models yet. Publish a completed variant from the Analysis tab (Publish…) or with "
    "`trainwright models publish VARIANT --name NAME`, or Import… a bundle exported on "
    "another machine."
)
NO_MATCH = "No version matches the filter"
NO_SELECTION = "Select a version to see where it came from and how to use it."
IMPORT_TIP = "Import a model bundle (a ZIP made by Export… → Bundle) as a new version (Ctrl+O)"


class ModelsTab(QWidget):
    """The model registry of the workspace's home: list, publish, export, import, try."""

    statusMessage = Signal(str)

    def __init__(self, workspace: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("modelsTab")
        self.setAccessibleName("Models")
        self.workspace = workspace
        self.home = Path(workspace.home)
        # Replaceable in tests: ask yes/no; ask for text (None: cancelled); choose a bundle.
        self.confirm: Callable[[str, str], bool] = self._ask
        self.ask_text: Callable[[str, str, str], str | None] = self._ask_text
        self.ask_notes: Callable[[str, str], str | None] = self._ask_notes
        self.choose_bundle: Callable[[], str | None] = self._choose_bundle
        self.runner = TaskRunner(self)
        self._ids = itertools.count(1)
        self._list_request = 0
        self._select_after: tuple[str, int | None] | None = None
        self._changing = 0  # the request id of a change or import in progress (0: none)
        self._closing = False
        self.listed = False  # a listing has arrived (tests wait for it)
        self.listing = False  # a listing is on its way (its answer not yet shown)
        self.dialog: Any = None  # the publish or export dialog open now
        self._build()
        self._connect()
        self.setAcceptDrops(True)
        app = QApplication.instance()
        if app is not None:
            app.aboutToQuit.connect(self.shutdown)
        self._update_hint()
        self._on_selection_changed()
        self.refresh()

    # ---- construction ----------------------------------------------------------------------
    def _build(self) -> None:
        self.model = VersionTableModel(self)
        self.proxy = VersionFilterProxy(self)
        self.proxy.setSourceModel(self.model)
        filters, table = self._build_filters(), self._build_table()
        top = table_page(filters, table, self.hint, self._build_actions())
        self.details = self._build_details()
        self.try_pane = TryPane(self.workspace, self.runner)
        details = group("Details", self.details, "modelDetailsGroup")
        horizontal, vertical = Qt.Orientation.Horizontal, Qt.Orientation.Vertical
        bottom = splitter("modelsBottomSplitter", horizontal, (details, self.try_pane), (2, 3))
        self.splitter = splitter("modelsSplitter", vertical, (top, bottom), (2, 3))
        QVBoxLayout(self).addWidget(self.splitter)

    def _build_filters(self) -> QLayout:
        self.filter_edit = filter_edit(
            "modelFilter",
            "Filter models",
            "Show only the versions whose model name, alias, family, dataset or variant "
            "contains this text",
            "Filter by name, alias, family, dataset",
        )
        self.latest_only = QCheckBox("&Latest only")
        self.latest_only.setObjectName("latestOnly")
        self.latest_only.setToolTip("Show only each model's latest version")
        self.import_action = make_action(self, "&Import…", IMPORT_TIP, self.import_dialog)
        self.import_action.setShortcut(QKeySequence(QKeySequence.StandardKey.Open))
        self.import_action.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        self.addAction(self.import_action)
        self.import_button = action_button("importModelButton", "&Import…", self.import_action)
        self.refresh_button = button(
            "modelsRefreshButton",
            "Refresh",
            "List the models again (after publishing from the command line)",
        )
        row = filter_bar(
            (("F&ilter:", self.filter_edit),), (self.import_button, self.refresh_button)
        )
        row.insertWidget(2, self.latest_only)
        return row

    def _build_table(self) -> QTableView:
        self.table = sortable_table(
            "modelTable",
            "Model versions",
            "Every published version; select one for its details, to export or to try it",
            self.proxy,
            MODEL,
        )
        self.table.setSelectionMode(QTableView.SelectionMode.SingleSelection)
        header = self.table.horizontalHeader()
        header.setStretchLastSection(True)
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        self.table.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.hint = text_label(
            "modelsHint", "Models hint", "What to do next", NO_MODELS, wrap=True, select=True
        )
        self.hint.setStyleSheet(NOTE_STYLE)
        return self.table

    def _build_actions(self) -> QLayout:
        self.export_action = make_action(
            self,
            "&Export…",
            "Export the selected version: ONNX, safetensors, torch.export, or a bundle ZIP",
            self.export_selected,
        )
        self.alias_action = make_action(
            self,
            "Set &alias…",
            "Give the selected version an alias (e.g. production); the alias moves from the "
            "model's other version if one had it",
            self.set_alias,
        )
        self.notes_action = make_action(
            self, "&Notes…", "Edit the selected version's notes", self.edit_notes
        )
        self.rename_action = make_action(
            self,
            "&Rename model…",
            "Rename the selected version's model (all its versions)",
            self.rename,
        )
        self.rename_action.setShortcut(QKeySequence(Qt.Key.Key_F2))
        self.rename_action.setShortcutContext(Qt.ShortcutContext.WidgetShortcut)
        self.delete_action = make_action(
            self,
            "&Delete version…",
            "Delete the selected version (asks first; its number is never given again)",
            self.delete_selected,
        )
        self.delete_action.setShortcut(QKeySequence(QKeySequence.StandardKey.Delete))
        self.delete_action.setShortcutContext(Qt.ShortcutContext.WidgetShortcut)
        for action in (self.rename_action, self.delete_action):
            self.table.addAction(action)
        self.export_button = action_button("exportModelButton", "Export…", self.export_action)
        self.alias_button = button(
            "aliasButton", "Alias", "Set an alias for the selected version, or remove one of its"
        )
        self.alias_menu = QMenu(self)
        self.alias_menu.setToolTipsVisible(True)
        self.alias_button.setMenu(self.alias_menu)
        self.notes_button = action_button("notesButton", "Notes…", self.notes_action)
        self.rename_button = action_button("renameModelButton", "Rename…", self.rename_action)
        self.delete_button = action_button("deleteVersionButton", "Delete…", self.delete_action)
        self.message = ElidedLabel()
        self.message.setObjectName("modelsMessage")
        self.message.setAccessibleName("Models message")
        row = QHBoxLayout()
        for widget in (
            self.export_button,
            self.alias_button,
            self.notes_button,
            self.rename_button,
            self.delete_button,
        ):
            row.addWidget(widget)
        row.addWidget(self.message, 1)
        return row

    def _build_details(self) -> QTextBrowser:
        """Rich text that wraps anywhere (variant names and hashes are long words)."""
        browser = described(
            QTextBrowser(),
            "Version details",
            "Where the selected version came from, what it scored and how to use it",
            object_name="modelDetails",
        )
        browser.setOpenLinks(False)
        browser.setWordWrapMode(QTextOption.WrapMode.WrapAtWordBoundaryOrAnywhere)
        browser.setMinimumWidth(280)
        browser.setPlainText(NO_SELECTION)
        return browser

    def _connect(self) -> None:
        self.filter_edit.textChanged.connect(self.proxy.set_text)
        self.latest_only.toggled.connect(self.proxy.set_latest_only)
        self.refresh_button.clicked.connect(self.refresh)
        self.table.selectionModel().selectionChanged.connect(self._on_selection_changed)
        self.table.customContextMenuRequested.connect(self._show_context_menu)
        self.alias_menu.aboutToShow.connect(self._fill_alias_menu)
        for signal in (
            self.proxy.modelReset,
            self.proxy.rowsInserted,
            self.proxy.rowsRemoved,
            self.proxy.layoutChanged,
        ):
            signal.connect(self._update_hint)
        self.try_pane.statusMessage.connect(self.statusMessage)

    # ---- public ----------------------------------------------------------------------------
    @Slot()
    def refresh(self) -> None:
        """List the registry again, in the background."""
        if self._closing:
            return
        self.runner.cancel("list")
        self._list_request = next(self._ids)
        self.listing = True
        self.runner.start(
            ListTask(self._list_request, self.home), self._on_listed, self._on_list_failed
        )

    def selected_version(self) -> VersionRow | None:
        rows = self.table.selectionModel().selectedRows()
        return self.proxy.item(rows[0].row()) if rows else None

    def select_version(self, name: str, version: int | None = None) -> bool:
        """Select NAME's version (None: its latest), clearing a filter that hides it."""
        return select_source_row(
            self.table, self.proxy, self.model.row_of(name, version), self._clear_filters
        )

    @property
    def busy(self) -> bool:
        """A change, an import, a publish or an export is being written."""
        return self._changing != 0 or any(
            self.runner.busy(kind) for kind in ("publish", "export", "import", "change")
        )

    @Slot()
    def shutdown(self) -> bool:
        """Cancel what can stop (a listing, a prediction) and wait for every thread (a
        version being written is finished, never cut halfway); True if all ended in time."""
        self._closing = True
        return self.runner.shutdown()

    def showEvent(self, event: Any) -> None:
        super().showEvent(event)
        if self.listed:  # the first listing is on its way already
            self.refresh()

    # ---- listing ---------------------------------------------------------------------------
    @Slot(int, object)
    def _on_listed(self, request: int, listing: RegistryListing) -> None:
        if request != self._list_request or self._closing:
            return
        self.listing = False
        current = self.selected_version()
        keep = self._select_after or ((current.name, current.version) if current else None)
        self._select_after = None
        self.model.set_versions(listing.rows)
        self.listed = True
        if keep is None or not self.select_version(*keep):
            self._on_selection_changed()
        self._fit_columns()
        self._update_hint()
        if listing.warnings:
            self._show_message(False, "; ".join(listing.warnings))

    def _fit_columns(self) -> None:
        """Every column to its contents, the last (notes) then taking the spare width."""
        header = self.table.horizontalHeader()
        header.setStretchLastSection(False)
        self.table.resizeColumnsToContents()
        header.setStretchLastSection(True)

    @Slot(int, str)
    def _on_list_failed(self, request: int, message: str) -> None:
        if request != self._list_request or self._closing:
            return
        self.listed, self.listing = True, False
        self.hint.setText(f"Could not list the models: {message}")
        self.hint.setVisible(True)

    @Slot()
    def _update_hint(self, *_: Any) -> None:
        if self.model.rowCount() == 0:
            self.hint.setText(NO_MODELS)
        elif self.proxy.rowCount() == 0:
            self.hint.setText(NO_MATCH)
        self.hint.setVisible(self.proxy.rowCount() == 0)

    def _clear_filters(self) -> None:
        self.filter_edit.clear()
        self.latest_only.setChecked(False)

    # ---- selection -------------------------------------------------------------------------
    @Slot()
    def _on_selection_changed(self, *_: Any) -> None:
        row = self.selected_version()
        if row is None:
            self.details.setPlainText(NO_SELECTION)
        else:
            self.details.setHtml(details_html(row))
        self.try_pane.set_version(row)
        self._update_actions()

    def _update_actions(self) -> None:
        row = self.selected_version()
        free = self._changing == 0
        for action, widget in (
            (self.export_action, self.export_button),
            (self.notes_action, self.notes_button),
            (self.rename_action, self.rename_button),
            (self.delete_action, self.delete_button),
        ):
            action.setEnabled(row is not None and free)
            widget.setEnabled(action.isEnabled())
        self.alias_action.setEnabled(row is not None and free)
        self.alias_button.setEnabled(row is not None and free)
        self.import_action.setEnabled(free)
        self.import_button.setEnabled(free)

    @Slot()
    def _fill_alias_menu(self) -> None:
        """Set alias…, then Remove “A” for each alias of the selected version."""
        self.alias_menu.clear()
        self.alias_menu.addAction(self.alias_action)
        row = self.selected_version()
        if row is None or not row.aliases:
            return
        self.alias_menu.addSeparator()
        for alias in row.aliases:
            action = self.alias_menu.addAction(f"Remove “{alias}”")
            action.setToolTip(f"{row.name}:{alias} will no longer name v{row.version}")
            action.setData(alias)
            action.triggered.connect(self._on_remove_alias)

    def _show_context_menu(self, pos: Any) -> None:
        if not self.table.indexAt(pos).isValid():
            return
        menu = QMenu(self)
        menu.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        menu.setToolTipsVisible(True)
        for action in (self.export_action, self.alias_action, self.notes_action):
            menu.addAction(action)
        menu.addSeparator()
        menu.addAction(self.rename_action)
        menu.addAction(self.delete_action)
        menu.popup(self.table.viewport().mapToGlobal(pos))

    # ---- changes ---------------------------------------------------------------------------
    def _change(
        self,
        change: Callable[[Any], Any],
        done: str,
        select: tuple[str, int | None] | None,
    ) -> None:
        """Run one registry change in a task; the table is listed again after it."""
        if self._changing:
            return
        self._changing = next(self._ids)
        self._select_after = select
        self._update_actions()
        task = ChangeTask(self._changing, self.home, change, done)
        self.runner.start(task, self._on_changed, self._on_change_failed)

    @Slot(int, object)
    def _on_changed(self, request: int, text: str) -> None:
        if request != self._changing:
            return
        self._changing = 0
        if self._closing:
            return
        self.try_pane.forget()
        self._show_message(True, text)
        self.statusMessage.emit(text)
        self.refresh()
        self._update_actions()

    @Slot(int, str)
    def _on_change_failed(self, request: int, message: str) -> None:
        if request != self._changing:
            return
        self._changing = 0
        self._select_after = None
        if self._closing:
            return
        self._show_message(False, message)
        self.refresh()
        self._update_actions()

    def _show_message(self, good: bool, text: str) -> None:
        self.message.setStyleSheet(OK_STYLE if good else ERROR_STYLE)
        self.message.setText(text)

    @Slot()
    def set_alias(self) -> None:
        row = self.selected_version()
        if row is None or self._changing:
            return
        alias = self.ask_text(
            f"Alias for {row.name} v{row.version}",
            "Alias (letters, digits, '_', '.' and '-'; it moves here from another version):",
            "",
        )
        if not alias or not alias.strip():
            return
        alias = alias.strip()
        name, version = row.name, row.version
        self._change(
            lambda store: store.set_alias(name, alias, version),
            f"{name}:{alias} now names v{version}",
            (name, version),
        )

    @Slot()
    def _on_remove_alias(self) -> None:
        action = self.sender()
        row = self.selected_version()
        if row is None or not isinstance(action, QAction):
            return
        self.remove_alias(str(action.data()))

    def remove_alias(self, alias: str) -> None:
        row = self.selected_version()
        if row is None or self._changing:
            return
        name, version = row.name, row.version
        self._change(
            lambda store: store.remove_alias(name, alias),
            f"Removed the alias {alias} of {name}",
            (name, version),
        )

    @Slot()
    def edit_notes(self) -> None:
        row = self.selected_version()
        if row is None or self._changing:
            return
        notes = self.ask_notes(f"Notes of {row.name} v{row.version}", row.notes)
        if notes is None or notes.strip() == row.notes.strip():
            return
        name, version, text = row.name, row.version, notes.strip()
        self._change(
            lambda store: store.set_notes(name, text, version),
            f"Saved the notes of {name} v{version}",
            (name, version),
        )

    @Slot()
    def rename(self) -> None:
        row = self.selected_version()
        if row is None or self._changing:
            return
        new = self.ask_text(f"Rename {row.name}", "New name of the model:", row.name)
        if not new or new.strip() == row.name:
            return
        old, new, version = row.name, new.strip(), row.version
        self._change(
            lambda store: store.rename(old, new),
            f"Renamed the model {old} to {new}",
            (new, version),
        )

    @Slot()
    def delete_selected(self) -> None:
        row = self.selected_version()
        if row is None or self._changing:
            return
        versions = sum(1 for r in self.model.versions() if r.name == row.name)
        question = f"Delete {row.name} v{row.version}?"
        if versions == 1:
            question += f" It is the model's only version: the model {row.name} goes with it."
        if row.aliases:
            question += f"\n\nIts aliases go too: {', '.join(row.aliases)}."
        question += (
            f"\n\nThe variant it came from ({row.variant}) stays; the number v{row.version} "
            "is never given to another version."
        )
        if not self.confirm("Delete model version", question):
            return
        self.runner.wait_for("predict", row.ref)  # nothing may read it while it goes
        self.try_pane.forget(row.name)
        ref = row.ref
        self._change(
            lambda store: store.delete(ref),
            f"Deleted {row.name} v{row.version}",
            (row.name, None) if versions > 1 else None,
        )

    # ---- export, import, publish -----------------------------------------------------------
    @Slot()
    def export_selected(self) -> ExportDialog | None:
        """The export dialog for the selected version (modal; it runs the export)."""
        row = self.selected_version()
        if row is None:
            return None
        dialog = ExportDialog(self.workspace, self.runner, row.name, row.version, parent=self)
        self._open(dialog)
        return dialog

    @Slot()
    def import_dialog(self) -> None:
        path = self.choose_bundle()
        if path:
            self.import_bundle(path)

    def import_bundle(self, path: str | Path) -> None:
        """Import a bundle ZIP (in a task); nothing is written when it is refused."""
        if self._changing or self._closing:
            return
        self._changing = next(self._ids)
        self._update_actions()
        self._show_message(True, f"Importing {Path(path).name}…")
        task = ImportTask(self._changing, self.workspace, Path(path))
        self.runner.start(task, self._on_imported, self._on_change_failed)

    @Slot(int, object)
    def _on_imported(self, request: int, imported: Imported) -> None:
        if request != self._changing:
            return
        self._changing = 0
        if self._closing:
            return
        version = imported.version
        text = f"Imported {version.name} v{version.version}"
        if imported.notes:
            text += " (note: " + "; ".join(imported.notes) + ")"
        self._select_after = (version.name, int(version.version))
        self._show_message(True, text)
        self.statusMessage.emit(text)
        self.refresh()
        self._update_actions()

    def publish_variant(self, variant: str, family: str, dataset: str = "") -> PublishDialog:
        """The publish dialog for a completed variant (from the Analysis tab)."""
        dialog = PublishDialog(
            self.workspace,
            self.runner,
            variant,
            models=self.model.model_names(),
            suggested=default_model_name(variant, family, dataset or None),
            parent=self,
        )
        dialog.published.connect(self._on_published)
        self._open(dialog)
        return dialog

    @Slot(str, int)
    def _on_published(self, name: str, version: int) -> None:
        self._select_after = (name, version)
        text = f"Published {name} v{version}"
        self._show_message(True, text)
        self.statusMessage.emit(text)
        self.refresh()

    def _open(self, dialog: Any) -> None:
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.setWindowModality(Qt.WindowModality.WindowModal)
        dialog.finished.connect(self._on_dialog_finished)
        self.dialog = dialog
        dialog.show()

    @Slot(int)
    def _on_dialog_finished(self, _: int) -> None:
        self.dialog = None

    def _choose_bundle(self) -> str | None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Import a model bundle", str(Path.home()), "Model bundles (*.zip)"
        )
        return path or None

    def dragEnterEvent(self, event: Any) -> None:
        """A bundle ZIP dropped on the tab is imported (the Try it pane takes its own
        drops: files to predict on)."""
        if _bundles(event.mimeData()) and not self._changing:
            event.acceptProposedAction()
        else:
            event.ignore()

    def dropEvent(self, event: Any) -> None:
        bundles = _bundles(event.mimeData())
        if bundles:
            event.acceptProposedAction()
            self.import_bundle(bundles[0])

    # ---- dialogs ---------------------------------------------------------------------------
    def _ask(self, title: str, question: str) -> bool:
        return ask_yes_no(self, title, question)

    def _ask_text(self, title: str, label: str, current: str) -> str | None:
        text, ok = QInputDialog.getText(self, title, label, text=current)
        return text if ok else None

    def _ask_notes(self, title: str, current: str) -> str | None:
        text, ok = QInputDialog.getMultiLineText(self, title, "Notes:", current)
        return text if ok else None


def _bundles(mime: Any) -> list[str]:
    """The ZIP files of a drag (a bundle to import)."""
    return [p for p in local_paths(mime) if p.lower().endswith(".zip") and Path(p).is_file()]


def details_html(row: VersionRow) -> str:
    """The selected version's details as rich text (every value escaped)."""

    def esc(value: Any) -> str:
        return html.escape(str(value))

    latest = " (latest)" if row.latest else ""
    lines = [f"<b>{esc(row.name)} v{row.version}</b>{latest}"]
    if row.aliases:
        lines.append("Aliases: " + ", ".join(esc(a) for a in row.aliases))
    epoch = f", epoch {row.epoch}" if row.epoch is not None else ""
    lines.append(f"From variant <tt>{esc(row.variant)}</tt> ({esc(row.checkpoint)} weights{epoch})")
    lines.append(f"Family: {esc(row.family)}; task: {esc(row.task_type or 'not recorded')}")
    data = esc(row.dataset or "not recorded")
    if row.data_sha256:
        data += f" (data SHA-256 <tt>{esc(row.data_sha256[:16])}…</tt>)"
    lines.append(f"Dataset: {data}")
    if row.class_names:
        shown = ", ".join(esc(c) for c in row.class_names[:12])
        more = f" … ({len(row.class_names)} classes)" if len(row.class_names) > 12 else ""
        lines.append(f"Classes: {shown}{more}")
    metrics = ", ".join(f"{esc(k)} {v:.4g}" for k, v in sorted(row.metrics.items()))
    if metrics:
        lines.append(f"Test metrics: {metrics}" + (f" ({score_text(row)})" if row.score else ""))
    speed = (
        f"; {row.inference_ms_per_1000:.3g} ms per 1,000 examples (one thread)"
        if row.inference_ms_per_1000 is not None
        else ""
    )
    lines.append(f"{row.parameters:,} parameters, {format_bytes(row.size_bytes)}{speed}")
    lineage = {k: v for k, v in row.lineage.items() if v}
    if lineage.get("teacher"):
        lines.append(f"Distilled from <tt>{esc(lineage['teacher'])}</tt>")
    if lineage.get("init_from"):
        lines.append(f"Started from the weights of <tt>{esc(lineage['init_from'])}</tt>")
    lines.append(f"Weights SHA-256 <tt>{esc(row.weights_sha256[:16])}…</tt>")
    if row.trained_with != "torch":
        trained = row.trained_weights_sha256 or ""
        lines.append(
            f"Trained with {esc(row.trained_with)} (Keras weights <tt>{esc(trained[:16])}…</tt>),"
            " converted to its torch model for predict and export"
        )
    lines.append(
        f"Published {esc(format_local_time(row.created_at))} by engine {row.engine_version}"
    )
    if row.notes:
        lines.append("Notes: " + esc(row.notes).replace("\n", "<br>"))
    if row.model_notes:
        lines.append("Model notes: " + esc(row.model_notes).replace("\n", "<br>"))
    lines.append(
        "Command line: <tt>trainwright predict "
        f"{esc(row.ref)} INPUT</tt>, <tt>trainwright models export {esc(row.ref)} "
        "--format onnx --out FILE</tt>"
    )
    return "<br>".join(lines)
