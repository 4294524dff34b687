"""The Sweeps tab: lists for some parameters, every combination trained, the runs compared.

Left, the SweepEditor (family, forms in list mode, the live count and estimate), with Start,
Stop and the overall progress `i / total`. Right, past sweeps (select one to load its runs,
Resume to finish it) and the runs table: one row per combination, sortable and filterable,
the best highlighted, CSV export; selecting runs overlays their curves.

The sweep runs in a SweepWorker task, which also creates it (an LLM search's endpoint is tried
then, off the GUI thread; an unreachable one is the sweep's failure, in the status line).
Runs in one process take turns (engine.training.turns): a sweep
started while the Training tab trains waits for that run to finish, and says so.
`shutdown()` stops the sweep and waits for the threads.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from PySide6.QtCore import QItemSelection, Qt, Signal, Slot
from PySide6.QtGui import QShortcut
from PySide6.QtWidgets import (
    QApplication,
    QFileDialog,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLayout,
    QLineEdit,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from desktop_app.help.shortcuts import keys as shortcut_keys
from desktop_app.kit.curves import CurveLoader
from desktop_app.kit.preferences import Preferences
from desktop_app.kit.style import ERROR_STYLE
from desktop_app.kit.tasks import ActiveTask, TaskRunner
from desktop_app.kit.turns import WAITING_TEXT
from desktop_app.kit.widgets import (
    button,
    choice_filter,
    described,
    progress_bar,
    sortable_table,
    text_label,
)
from desktop_app.sweeps.editor import SweepEditor
from desktop_app.sweeps.past_sweeps import TURNS_TIP, PastSweeps
from desktop_app.sweeps.runs_model import RESULTS, RunsFilterProxy, RunsTableModel
from desktop_app.sweeps.search_view import SearchView
from desktop_app.sweeps.workers import SweepRequest, SweepWorker
from engine.sweeps import SweepRecord, SweepRow
from engine.variants import variant_dir

log = logging.getLogger("trainwright.desktop")

__all__ = ["SweepPanel"]


class SweepPanel(QWidget):
    """The sweep editor, its run, past sweeps and the runs table, self-contained."""

    runFinished = Signal()  # a sweep run has ended (completed, stopped or failed)
    statusMessage = Signal(str)
    trainLongerRequested = Signal(str)  # a search's best variant, to train again for longer
    publishRequested = Signal(str, str, str)  # a search's best variant, its family, dataset

    def __init__(self, workspace: Any, *, preferences: Preferences | None = None) -> None:
        super().__init__()
        self.setObjectName("sweepPanel")
        self.setAccessibleName("Sweeps")
        self.workspace = workspace
        self.runner = TaskRunner(self)  # the sweep, the estimate's timing, the curves
        self.curve_loader = CurveLoader(
            self.runner, self._draw_curves, self._on_curves_failed, self
        )
        self.curve_overlay: Any = None  # the plots, made when runs are first selected
        self._ignored: list[str] = []
        # The sweep in progress.
        self.active = ActiveTask(self.runner)  # its request, thread and cancel event
        self.running_sweep: str | None = None  # its id, once created or loaded
        self.waiting = False  # for another run in this process to finish
        self._running_text = ""
        self._outcome: SweepRecord | None = None
        self._error: str | None = None
        self._closing = False
        self.last_record: SweepRecord | None = None  # the last sweep run's final record
        self.last_error: str | None = None  # why the last sweep run failed, if it did

        preferences = preferences or Preferences.load(workspace.home)[0]
        self.editor = SweepEditor(workspace, self.runner, preferences)
        self._build()
        app = QApplication.instance()
        if app is not None:
            app.aboutToQuit.connect(self.shutdown)
        self.editor.load_families()
        self.refresh_sweeps()

    # ---- construction ----------------------------------------------------------------------
    def _build(self) -> None:
        """The editor (with the run's controls) beside past sweeps, runs and curves."""
        self.editor.add_footer(self._build_controls())
        self.editor.add_footer(self.status_label)
        self.past = PastSweeps(self.workspace)
        self.past_list, self.resume_button = self.past.list, self.past.resume_button
        top = QSplitter(Qt.Orientation.Horizontal)
        top.addWidget(self.past)
        top.addWidget(self._build_runs())
        top.setStretchFactor(0, 1)
        top.setStretchFactor(1, 3)
        right = QSplitter(Qt.Orientation.Vertical)
        right.addWidget(top)
        right.addWidget(self._build_results())
        right.setStretchFactor(0, 3)
        right.setStretchFactor(1, 2)
        right.setSizes([500, 340])
        main = QSplitter(Qt.Orientation.Horizontal)
        main.addWidget(self.editor)
        main.addWidget(right)
        main.setStretchFactor(0, 1)
        main.setStretchFactor(1, 2)
        main.setSizes([440, 960])
        self.splitters = (main, right, top)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(main)
        self._connect()

    def _build_controls(self) -> QLayout:
        """Start, Stop, the sweep's progress, and its status line."""
        self.start_button = button(
            "startSweepButton",
            "Start sweep",
            "Train every combination, one after another. " + TURNS_TIP,
            enabled=False,
        )
        self.stop_button = button(
            "stopSweepButton",
            "Stop sweep",
            "Stop after the current step; the sweep can be resumed later",
            enabled=False,
        )
        self.progress = progress_bar(
            "sweepProgress", "Sweep progress", "Combinations finished of the sweep's total"
        )
        self.progress.setFormat("0 / 0")
        self.status_label = text_label(
            "sweepStatusLabel",
            "Sweep status",
            "What the sweep is doing. " + TURNS_TIP,
            "No sweep running.",
            wrap=True,
            select=True,
        )
        # Ctrl+Return starts the sweep, as it starts a run on the Training tab (this tab only).
        self.start_shortcuts = []
        for keys in shortcut_keys("sweeps.start"):
            shortcut = QShortcut(keys, self)
            shortcut.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            shortcut.activated.connect(self._start_shortcut)
            self.start_shortcuts.append(shortcut)
        row = QHBoxLayout()
        row.addWidget(self.start_button)
        row.addWidget(self.stop_button)
        row.addWidget(self.progress, 1)
        return row

    def _build_runs(self) -> QGroupBox:
        """The runs of the sweep shown: filters, Export CSV…, and the table."""
        self.model = RunsTableModel(self)
        self.proxy = RunsFilterProxy(self)
        self.proxy.setSourceModel(self.model)
        # The runs in the sweep's order until sorted; the model marks the best.
        self.table = sortable_table(
            "runsTable",
            "Runs",
            "One row per combination; the best is highlighted. Select rows to compare their "
            "curves; hover a failed row for its error",
            self.proxy,
            -1,
        )
        self.filter_edit = described(
            QLineEdit(),
            "Filter runs",
            "Show only the runs with a cell containing this text",
            object_name="runsFilterEdit",
        )
        self.filter_edit.setPlaceholderText("Filter runs…")
        self.filter_edit.setClearButtonEnabled(True)
        self.result_filter = choice_filter(
            "runsResultFilter",
            "Result filter",
            "Show only the runs with one result",
            "All results",
            RESULTS,
        )
        self.export_button = button(
            "exportRunsButton",
            "Export CSV…",
            "Save the runs shown as a CSV file",
            accessible="Export runs as CSV",
            enabled=False,
        )
        filters = QHBoxLayout()
        filters.addWidget(self.filter_edit, 1)
        filters.addWidget(self.result_filter)
        filters.addWidget(self.export_button)
        self.runs_label = QLabel("Select a past sweep, or start one, to see its runs.")
        self.runs_label.setObjectName("runsLabel")
        self.runs_label.setWordWrap(True)
        runs_group = QGroupBox("Runs")
        layout = QVBoxLayout(runs_group)
        layout.addWidget(self.runs_label)
        layout.addLayout(filters)
        layout.addWidget(self.table, 1)
        return runs_group

    def _build_results(self) -> QTabWidget:
        """The selected runs' curves, and a search's results (parallel coordinates,
        importance, the best trial)."""
        self.results_tabs = QTabWidget()
        self.results_tabs.setObjectName("sweepResultsTabs")
        self.results_tabs.addTab(self._build_curves_page(), "C&urves")
        self.search_view = SearchView(self.workspace, self.runner)
        self.results_tabs.addTab(self.search_view, "Searc&h")
        self.results_tabs.setTabToolTip(
            1,
            "A random, Bayesian or LLM search: parallel coordinates, importance (an LLM "
            "search: its proposals), best trial",
        )
        self.search_view.trainLongerRequested.connect(self.trainLongerRequested)
        self.search_view.publishRequested.connect(self.publishRequested)
        return self.results_tabs

    def _build_curves_page(self) -> QWidget:
        """Where the selected runs' curves go; a hint until runs are first selected."""
        self.curves_page = QWidget()
        self.curves_page.setObjectName("sweepCurvesPage")
        self.curves_page.setMinimumHeight(180)
        self._curves_layout = QHBoxLayout(self.curves_page)
        self._curves_layout.setContentsMargins(0, 0, 0, 0)
        self.curves_hint = QLabel("Select runs to overlay their loss and accuracy curves.")
        self.curves_hint.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self._curves_layout.addWidget(self.curves_hint)
        return self.curves_page

    def _connect(self) -> None:
        """Signals from the editor, the controls, the lists and the curve loader."""
        self.editor.changed.connect(self._update_buttons)
        self.start_button.clicked.connect(self.start_sweep)
        self.stop_button.clicked.connect(self.stop_sweep)
        self.past.selectionChanged.connect(self._on_past_selection)
        self.resume_button.clicked.connect(self.resume_selected)
        self.past.refresh_button.clicked.connect(self._on_refresh_clicked)
        self.filter_edit.textChanged.connect(self._on_filter_text)
        self.result_filter.currentIndexChanged.connect(self._on_result_filter)
        self.export_button.clicked.connect(self.export_clicked)
        self.table.selectionModel().selectionChanged.connect(self._on_runs_selection)

    # ---- the editor, as tests and the window know it -----------------------------------------
    def select_family(self, name: str) -> bool:
        """Choose the family to sweep (rebuilds the forms); False if it is not listed."""
        return self.editor.family_forms.select_family(name)

    def combination_count(self) -> int | None:
        """How many runs the lists make (None while a list or value is invalid)."""
        return self.editor.combination_count()

    def apply_preferences(self, preferences: Preferences) -> None:
        """New preferences: threads/device fields still at their old default follow them;
        LLM proposals are offered if they name an endpoint."""
        self.editor.family_forms.apply_preferences(preferences)
        self.editor.set_llm_settings(preferences.llm)

    @Slot()
    def _update_buttons(self) -> None:
        self.start_button.setEnabled(self.can_start())
        self.stop_button.setEnabled(self.busy and not self.active.stopping)
        resumable = self.past.selected_resumable()
        self.resume_button.setEnabled(not self.busy and resumable is not None)
        self.export_button.setEnabled(self.model.rowCount() > 0)

    # ---- running -----------------------------------------------------------------------------
    def can_start(self) -> bool:
        """True when the forms make a valid sweep the engine has no objection to, and no
        sweep is running."""
        return not self.busy and not self._closing and self.editor.startable()

    @property
    def busy(self) -> bool:
        """True while a sweep runs (until its thread has ended)."""
        return self.active.busy

    @Slot()
    def start_sweep(self) -> bool:
        """Create a sweep from the forms and run it in a task; False if it cannot start."""
        if not self.can_start() or self.editor.family is None:
            return False
        count = self.combination_count()
        request = self.editor.sweep_request()
        if request.search.get("search") == "llm":
            text = f"Creating the LLM search of {count} trials (trying its endpoint)…"
        else:
            text = f"Creating the sweep of {count} combinations…"
        self._start(request, text)
        return True

    @Slot()
    def _start_shortcut(self) -> None:
        """Ctrl+Return: Start sweep when it can start; else say why not."""
        if self.busy:
            self.statusMessage.emit("A sweep is already running")
        elif not self.start_sweep():
            self.statusMessage.emit("The sweep cannot start yet: check the lists and values")

    @Slot()
    def resume_selected(self) -> bool:
        """Run the unfinished combinations of the selected past sweep; False if it cannot."""
        sweep_id = self.past.selected_resumable()
        if self.busy or self._closing or sweep_id is None:
            return False
        self._start(SweepRequest(sweep_id=sweep_id), f"Resuming sweep {sweep_id}…")
        return True

    @Slot()
    def stop_sweep(self) -> None:
        """Stop the sweep after the current step; it can be resumed later."""
        if not self.active.stop():
            return
        self._set_status("Stopping the sweep after the current step…")
        self._update_buttons()

    def _start(self, request: SweepRequest, text: str) -> None:
        """Run a sweep in a SweepWorker task; its signals update the panel as it goes."""
        worker = SweepWorker(self.workspace, request)
        worker.created.connect(self._on_created)
        worker.waitingStarted.connect(self._on_waiting_started)
        worker.waitingEnded.connect(self._on_waiting_ended)
        worker.combinationStarted.connect(self._on_combination_started)
        worker.epochProgress.connect(self._on_epoch_progress)
        worker.rowReady.connect(self._on_row)
        worker.sweepProgress.connect(self._on_progress)
        self._outcome = self._error = None
        self.running_sweep = request.sweep_id
        self.waiting = False
        log.info("starting %s", request.describe())
        self.active.start(worker, request, self._on_succeeded, self._on_failed, self._on_ended)
        self._set_status(text)
        self._update_buttons()

    # ---- worker signals (queued onto the GUI thread) -----------------------------------------
    @Slot(object)
    def _on_created(self, record: SweepRecord) -> None:
        """The sweep exists (or was loaded): show its runs and its progress so far."""
        if self._closing:
            return
        self.running_sweep = record.id
        done = len(record.finished())
        self.progress.setRange(0, max(record.total, 1))
        self.progress.setValue(done)
        self.progress.setFormat(f"%v / {record.total}")
        self.refresh_sweeps(select=record.id)
        if self.model.sweep_id != record.id:
            self._show_record(record)
        elif self._search_shows(record.id):
            self.search_view.set_running(True)  # resumed: its proposal will be training
        self.model.mark_next_running()
        self._set_status(f"Sweep {record.id}: {done} of {record.total} combinations done")

    @Slot(str)
    def _on_combination_started(self, variant: str) -> None:
        if self._closing:
            return
        self.waiting = False
        self._running_text = f"Training {variant}"
        self._set_status(self._running_text + "…")
        if self._search_shows(self.running_sweep):
            self.search_view.trial_started()

    @Slot(int, int)
    def _on_epoch_progress(self, epoch: int, total: int) -> None:
        if self._closing or not self._running_text:
            return
        self._set_status(f"{self._running_text}: epoch {epoch} of {total}")

    @Slot(object)
    def _on_row(self, row: SweepRow) -> None:
        """A combination finished: its row, the best, the count; a failure is said."""
        if self._closing:
            return
        self._running_text = ""
        if self.model.sweep_id == self.running_sweep:
            self.model.update_row(row)
            if not self.active.stopping:
                self.model.mark_next_running()
            self._update_runs_label()
            self.table.resizeColumnsToContents()
            self._update_buttons()
        if self._search_shows(self.running_sweep):
            self.search_view.add_row(row)
        if row.result == "failed":
            self.statusMessage.emit(f"Combination {row.index + 1} failed: {row.error}")

    def _search_shows(self, sweep_id: str | None) -> bool:
        """Whether the Search page shows this sweep (a search's rows go to it as they come)."""
        record = self.search_view.record
        return sweep_id is not None and record is not None and record.id == sweep_id

    @Slot(int, int)
    def _on_progress(self, done: int, total: int) -> None:
        if self._closing:
            return
        self.progress.setRange(0, max(total, 1))
        self.progress.setValue(done)
        self.progress.setFormat(f"%v / {total}")
        if self.running_sweep is not None:
            family = self.model.family if self.model.sweep_id == self.running_sweep else ""
            self.past.show_progress(self.running_sweep, family or "", done, total)

    @Slot(int, object)
    def _on_succeeded(self, request_id: int, record: SweepRecord) -> None:
        self._outcome = record

    @Slot(int, str)
    def _on_failed(self, request_id: int, message: str) -> None:
        self._error = message

    def _on_ended(self) -> None:
        """The sweep's thread has ended: say how it went, list it, time its runs."""
        record, error, request = self._outcome, self._error, self.active.request
        self.active.ended()
        self.waiting = False
        self._running_text = ""
        running_id, self.running_sweep = self.running_sweep, None
        self.last_record, self.last_error = record, error
        if self._closing:
            return
        if self.model.sweep_id == running_id:
            self.model.set_running(None)
            if record is not None and record.spec.searched:
                self.search_view.show_record(record)  # every trial drawn, told and recorded
                self.results_tabs.setCurrentIndex(1)
            elif self._search_shows(running_id):
                self.search_view.set_running(False)  # failed: what was proposed stays listed
        text = _ending_text(record, error)
        self._set_status(text, error=error is not None)
        self.statusMessage.emit(text)
        if request is not None:
            log.info("ended %s: %s", request.describe(), text)
        self.refresh_sweeps(select=running_id)
        family = record.spec.family if record is not None else self.editor.family
        if family is not None:
            self.editor.retime(family)
        self._update_buttons()
        self.runFinished.emit()

    @Slot()
    def _on_waiting_started(self) -> None:
        """Another run in this process trains (the Training tab's): the sweep waits its turn."""
        if self._closing:
            return
        self.waiting = True
        self._set_status(WAITING_TEXT)

    @Slot()
    def _on_waiting_ended(self) -> None:
        if self._closing:
            return
        self.waiting = False
        if self.status_label.text() == WAITING_TEXT:
            self._set_status("Starting the next combination…")

    def _set_status(self, text: str, *, error: bool = False) -> None:
        self.status_label.setText(text)
        self.status_label.setStyleSheet(ERROR_STYLE if error else "")

    # ---- past sweeps -------------------------------------------------------------------------
    def refresh_sweeps(self, select: str | None = None) -> None:
        """List the stored sweeps again (newest first), keeping (or making) the selection."""
        if self._closing:
            return
        problem = self.past.refresh(self.running_sweep, select)
        if problem is not None:
            self.statusMessage.emit(problem)
        self._update_buttons()

    @Slot()
    def _on_refresh_clicked(self) -> None:
        self.refresh_sweeps()

    def past_sweep_ids(self) -> list[str]:
        return self.past.ids()

    def select_sweep(self, sweep_id: str) -> bool:
        """Select a past sweep in the list (which loads its runs); False if it is not listed."""
        return self.past.select(sweep_id)

    @Slot()
    def _on_past_selection(self) -> None:
        selected = self.past.selected()
        if selected is not None:
            self.open_sweep(selected[0])
        self._update_buttons()

    def open_sweep(self, sweep_id: str) -> bool:
        """Load a stored sweep's runs into the table; False (and a message) if unreadable."""
        from engine.sweeps import load_sweep

        try:
            record = load_sweep(self.workspace, sweep_id)
        except Exception as exc:
            self.runs_label.setText(f"Cannot open sweep {sweep_id}: {exc}")
            self.statusMessage.emit(f"Cannot open sweep {sweep_id}: {exc}")
            return False
        self._show_record(record)
        if sweep_id == self.running_sweep:
            self.model.mark_next_running()
        return True

    def _show_record(self, record: SweepRecord) -> None:
        running = record.id == self.running_sweep
        self.model.set_record(record, self._family_spec(record.spec.family))
        self.search_view.show_record(record, running=running)
        self.results_tabs.setTabEnabled(1, record.spec.searched)
        if record.spec.searched and ((record.rows and not running) or record.spec.llm):
            self.results_tabs.setCurrentIndex(1)  # an LLM search's proposals, as they come
        elif not record.spec.searched:
            self.results_tabs.setCurrentIndex(0)
        self._ignored = list(record.ignored)
        self._update_runs_label()
        self.table.resizeColumnsToContents()
        self._on_runs_selection()
        self._update_buttons()

    def _family_spec(self, family: str) -> Any:
        """The family's FamilySpec (labels of its swept parameters), or None if not known."""
        try:
            return self.workspace.registry.spec(family)
        except Exception:
            return None

    def _update_runs_label(self) -> None:
        """How many runs of the sweep shown completed and failed."""
        entries = self.model.entries()
        if self.model.sweep_id is None:
            self.runs_label.setText("Select a past sweep, or start one, to see its runs.")
            return
        completed = sum(1 for e in entries if e.result == "completed")
        failed = sum(1 for e in entries if e.result == "failed")
        pruned = sum(1 for e in entries if e.result == "pruned")
        pruned_text = f", {pruned} pruned" if pruned else ""
        text = (
            f"Sweep {self.model.sweep_id} ({self.model.family}): {completed} completed, "
            f"{failed} failed{pruned_text} of {len(entries)}"
        )
        if self._ignored:
            text += f"; not swept in linear baseline mode: {', '.join(self._ignored)}"
        note = self.model.best_note()
        if note:
            text += f". {note}."
        self.runs_label.setText(text)

    # ---- the runs table ----------------------------------------------------------------------
    @Slot(str)
    def _on_filter_text(self, text: str) -> None:
        self.proxy.set_text(text)

    @Slot(int)
    def _on_result_filter(self, _: int) -> None:
        self.proxy.set_result(self.result_filter.currentData())

    def best_proxy_row(self) -> int | None:
        """The view row of the best run, or None (none completed, or filtered out)."""
        best = self.model.best_row()
        if best is None:
            return None
        index = self.proxy.mapFromSource(self.model.index(best, 0))
        return index.row() if index.isValid() else None

    @Slot()
    def export_clicked(self) -> None:
        """Ask for a file name and write the runs shown as CSV."""
        default = f"{self.model.sweep_id or 'sweep'}.csv"
        path, _ = QFileDialog.getSaveFileName(
            self, "Export runs as CSV", str(Path.home() / default), "CSV files (*.csv)"
        )
        if path:
            self.export_csv(path)

    def export_csv(self, path: str | Path) -> int:
        """Write the runs shown (filtered, in view order) to `path`; returns how many."""
        try:
            count = self.model.write_csv(path, self.proxy.source_rows())
        except OSError as exc:
            self.statusMessage.emit(f"Could not write {path}: {exc}")
            return 0
        self.statusMessage.emit(f"Wrote {count} runs to {path}")
        return count

    def selected_variants(self) -> list[str]:
        """Variant names of the selected runs that have a variant, in view order."""
        rows = sorted(i.row() for i in self.table.selectionModel().selectedRows())
        names = []
        for row in rows:
            entry = self.proxy.item(row)
            if entry is not None and entry.variant:
                names.append(entry.variant)
        return names

    def select_runs(self, source_rows: list[int]) -> None:
        """Select these runs (source rows) in the table, which overlays their curves."""
        selection = QItemSelection()
        for row in source_rows:
            index = self.proxy.mapFromSource(self.model.index(row, 0))
            if index.isValid():
                selection.select(index, index)
        flags = self.table.selectionModel().SelectionFlag
        self.table.selectionModel().select(selection, flags.ClearAndSelect | flags.Rows)

    # ---- curves ------------------------------------------------------------------------------
    @property
    def loss_plot(self) -> Any:
        return None if self.curve_overlay is None else self.curve_overlay.loss_plot

    @property
    def metric_plot(self) -> Any:
        return None if self.curve_overlay is None else self.curve_overlay.metric_plot

    @property
    def curve_items(self) -> dict[str, list[Any]]:
        return {} if self.curve_overlay is None else self.curve_overlay.curve_items

    @Slot()
    def _on_runs_selection(self, *_: Any) -> None:
        if self._closing:
            return
        family = self.model.family
        names = self.selected_variants() if family is not None else []
        home = self.workspace.home
        self.curve_loader.request([str(variant_dir(home, family, n)) for n in names if family])

    @Slot()
    def _draw_curves(self) -> None:
        """Overlay the curves of the runs selected (the plots are made for the first ones)."""
        entries = self.curve_loader.wanted()
        if self._closing or (self.curve_overlay is None and not entries):
            return
        if self.curve_overlay is None:
            from desktop_app.kit.curve_plots import CurveOverlay  # pyqtgraph: only when needed

            self.curve_overlay = CurveOverlay(
                "sweepLossPlot",
                "sweepMetricPlot",
                "of the selected runs",
                empty_text=self.curves_hint.text(),
            )
            self._curves_layout.removeWidget(self.curves_hint)
            self.curves_hint.hide()
            self._curves_layout.addWidget(self.curve_overlay)
        self.curve_overlay.draw(entries)

    @Slot(str)
    def _on_curves_failed(self, message: str) -> None:
        self.statusMessage.emit(f"Could not read curves: {message}")

    # ---- closing -----------------------------------------------------------------------------
    @Slot()
    def shutdown(self, timeout_ms: int = 60_000) -> bool:
        """Stop the sweep (it stays resumable) and wait for every thread; True if all ended."""
        if self._closing and not self.busy:
            return self.runner.running() == 0
        self._closing = True
        self.editor.close_editor()
        self.curve_loader.close()
        self.active.stop()
        ended = self.runner.shutdown(timeout_ms)
        if not ended:
            log.warning("some sweep threads did not stop in time")
        return ended


def _ending_text(record: SweepRecord | None, error: str | None) -> str:
    """How a sweep run ended, for the status line."""
    if error is not None:
        return f"Sweep failed: {error}"
    if record is None:
        return "The sweep ended without reporting a result"
    counts = record.counts()
    pruned = f", {counts['pruned']} pruned" if counts["pruned"] else ""
    if record.status == "completed":
        return (
            f"Sweep {record.id} completed: {counts['completed']} completed, "
            f"{counts['failed']} failed{pruned} of {record.total}"
        )
    done = counts["completed"] + counts["failed"] + counts["pruned"]
    return (
        f"Sweep {record.id} stopped after {done} of {record.total} combinations; "
        "select it and press Resume to finish it"
    )
