"""The main window: the Training, Analysis, Sweeps, Datasets and Jobs tabs, menus, status bar,
settings, safe closing, and the wiring between the features (which never import each other)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, QSettings, Qt, QTimer, Signal, Slot
from PySide6.QtGui import QAction, QActionGroup
from PySide6.QtWidgets import (
    QApplication,
    QMainWindow,
    QMessageBox,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

import engine
from desktop_app.datasets.tab import DatasetsTab
from desktop_app.help.shortcuts import keys as shortcut_keys
from desktop_app.jobs.notifications import RunNotifier
from desktop_app.jobs.tab import JobsTab
from desktop_app.kit.gui_gc import GuiThreadGarbageCollector
from desktop_app.kit.job_store import JobStoreService, StoreOpened
from desktop_app.kit.preferences import (
    THEMES,
    Preferences,
    PreferencesDialog,
    home_is_explicit,
    save_preferences,
)
from desktop_app.models.tab import ModelsTab
from desktop_app.status_bar import ResourceStatusBar
from desktop_app.sweeps.panel import SweepPanel
from desktop_app.training.controller import RunController, RunOutcome
from desktop_app.training.run_queue import RunQueuePanel
from desktop_app.training.tab import TrainingTab

if TYPE_CHECKING:
    from desktop_app.analysis.tab import AnalysisTab
    from desktop_app.distill.dialog import DistillDialog

log = logging.getLogger("trainwright.desktop")

SETTINGS_FILE = "window.ini"
WARMUP_FALLBACK_MS = 1000  # start loading torch even if no paint event arrives


def window_settings(home: Path) -> QSettings:
    """Window state lives in the data home, so tests never touch the user's real config."""
    return QSettings(str(Path(home) / SETTINGS_FILE), QSettings.Format.IniFormat)


class MainWindow(QMainWindow):
    """The Training, Analysis, Sweeps, Datasets and Jobs tabs; closing waits for a run to stop
    safely, and the queued runs stay queued."""

    firstPainted = Signal()

    def __init__(
        self,
        workspace: Any,
        *,
        settings: QSettings | None = None,
        preferences: Preferences | None = None,
        home_explicit: bool | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        GuiThreadGarbageCollector.acquire()  # released when the window closes
        self._gc_acquired = True
        self.setObjectName("mainWindow")
        self.setWindowTitle(f"Trainwright — {workspace.home}")
        self.workspace = workspace
        self.settings = settings or window_settings(workspace.home)
        self.home_explicit = home_is_explicit() if home_explicit is None else home_explicit
        problem = None
        if preferences is None:
            preferences, problem = Preferences.load(workspace.home)
        self.preferences = preferences
        # Asked before closing while a run is in progress; tests replace it.
        self.confirm_close: Callable[[], bool] = self._ask_close
        self.confirm_close_imports: Callable[[], bool] = self._ask_close_imports
        self._close_pending = False
        self._painted = False
        self.first_paint_time: float | None = None

        # The job store on its own thread: the queue, the history and the log records.
        # Opened after the first paint (see _start_warmup); what is asked meanwhile waits.
        self.job_store = JobStoreService(workspace.home, self, deferred=True)
        self.controller = RunController(workspace, self, store=self.job_store)
        # First: it lists the library in the background and publishes it to every dataset
        # picker (the Training tab's among them).
        self.datasets_tab = DatasetsTab(workspace)
        self.training_tab = TrainingTab(workspace, self.controller, preferences)
        self.sweep_panel = SweepPanel(workspace, preferences=preferences)
        self.jobs_queue_panel = RunQueuePanel(self.controller.queue, busy=self._run_busy)
        self.jobs_tab = JobsTab(self.job_store, self.jobs_queue_panel)
        self.models_tab = ModelsTab(workspace)
        # The Analysis tab (pyqtgraph and friends) is built after the first paint, or on use.
        self._analysis_tab: AnalysisTab | None = None
        self.distill_launcher: DistillLauncher | None = None
        self._analysis_page = QWidget()
        self._analysis_page.setObjectName("analysisPage")
        QVBoxLayout(self._analysis_page).setContentsMargins(0, 0, 0, 0)
        self.setCentralWidget(self._build_tabs())
        self.status_bar = ResourceStatusBar(self)
        self.setStatusBar(self.status_bar)
        self.notifier = RunNotifier(self.status_bar.showMessage, self)
        self._build_menus()
        self._connect()
        if preferences.theme != "system":
            self.apply_theme(preferences.theme)

        self.resize(1280, 820)
        self._restore_settings()
        if problem:
            self.status_bar.showMessage(problem, 15_000)
        self._warmup_fallback = QTimer(self)
        self._warmup_fallback.setSingleShot(True)
        self._warmup_fallback.setInterval(WARMUP_FALLBACK_MS)
        self._warmup_fallback.timeout.connect(self._start_warmup)

    def _build_tabs(self) -> QTabWidget:
        """Training, Analysis (a placeholder page until it is built), Sweeps, Datasets, Jobs
        and Models (each added after the older ones, so a tab index saved by an older version still
        means the same tab)."""
        self.tabs = QTabWidget()
        self.tabs.setObjectName("mainTabs")
        self.tabs.setAccessibleName("Main tabs")
        self.tabs.addTab(self.training_tab, "&Training")
        self.tabs.addTab(self._analysis_page, "&Analysis")
        self.tabs.addTab(self.sweep_panel, "&Sweeps")
        self.tabs.addTab(self.datasets_tab, "&Datasets")
        self.tabs.addTab(self.jobs_tab, "&Jobs")
        self.tabs.addTab(self.models_tab, "&Models")
        self.tabs.setTabToolTip(0, "Configure, run and watch training")
        self.tabs.setTabToolTip(1, "Trained variants and their analyses")
        self.tabs.setTabToolTip(
            2, "Train every combination of parameter lists and compare the runs"
        )
        self.tabs.setTabToolTip(
            3, "The built-in and imported datasets: import, preview, rename, delete, train on"
        )
        self.tabs.setTabToolTip(
            4, "Every run's job: the queue, the history with logs; resume, retry, cancel"
        )
        self.tabs.setTabToolTip(
            5, "Published models and their versions: export, import, try on your own data"
        )
        return self.tabs

    def _connect(self) -> None:
        """The features talk through the window: runs ending refresh the Analysis tab, its
        Resume and the Datasets tab's Train on this go to the Training tab, and messages go to
        the status bar."""
        self.controller.runEnded.connect(self._on_run_ended)
        self.controller.busyChanged.connect(self._on_busy_changed)
        self.training_tab.statusMessage.connect(self._show_status_message)
        self.sweep_panel.runFinished.connect(self._on_sweep_finished)
        self.sweep_panel.statusMessage.connect(self._show_analysis_message)
        self.sweep_panel.trainLongerRequested.connect(self._on_train_longer_requested)
        self.sweep_panel.publishRequested.connect(self._on_publish_requested)
        self.datasets_tab.statusMessage.connect(self._show_analysis_message)
        self.datasets_tab.trainRequested.connect(self._on_train_requested)
        self.controller.jobStarted.connect(self._on_job_started)
        self.controller.busyChanged.connect(self.jobs_queue_panel.refresh_state)
        self.jobs_tab.retryRequested.connect(self._on_retry_requested)
        self.jobs_tab.cancelRequested.connect(self._on_cancel_requested)
        self.jobs_tab.openVariantRequested.connect(self._on_open_variant_requested)
        self.jobs_tab.statusMessage.connect(self._show_analysis_message)
        self.models_tab.statusMessage.connect(self._show_analysis_message)
        self.job_store.opened.connect(self._on_store_opened)
        self.job_store.unavailable.connect(self._on_store_unavailable)
        self.tabs.currentChanged.connect(self._on_tab_changed)

    # ---- the Analysis tab ------------------------------------------------------------------
    @property
    def analysis_tab(self) -> AnalysisTab:
        if self._analysis_tab is None:
            from desktop_app.analysis.tab import AnalysisTab

            tab = AnalysisTab(self.workspace)
            self._analysis_page.layout().addWidget(tab)
            tab.resumeRequested.connect(self._on_resume_requested)
            tab.publishRequested.connect(self._on_publish_requested)
            tab.statusMessage.connect(self._show_analysis_message)
            self.distill_launcher = DistillLauncher(self.workspace, tab)
            self._analysis_tab = tab
        return self._analysis_tab

    @Slot()
    def ensure_analysis_tab(self) -> None:
        _ = self.analysis_tab

    @Slot(int)
    def _on_tab_changed(self, index: int) -> None:
        if self.tabs.widget(index) is self._analysis_page and self._painted:
            self.ensure_analysis_tab()

    # ---- menus -----------------------------------------------------------------------------
    def _build_menus(self) -> None:
        """File (Preferences, Export, Quit), View (Theme) and Help (Keyboard shortcuts, Quick
        start, About); their keys come from desktop_app.help.shortcuts' table."""
        file_menu = self.menuBar().addMenu("&File")
        self.preferences_action = self._action(
            "preferencesAction",
            "&Preferences…",
            "Data home, torch threads, device and the LLM endpoint",
            self.show_preferences,
            "app.preferences",
        )
        self.export_action = self._action(
            "exportAction",
            "&Export chronicle as CSV…",
            "Save the chronicle table as CSV",
            self.training_tab.export_chronicle_dialog,
        )
        self.quit_action = self._action(
            "quitAction", "&Quit", "Close Trainwright", self.close, "app.quit"
        )
        file_menu.addAction(self.preferences_action)
        file_menu.addAction(self.export_action)
        file_menu.addSeparator()
        file_menu.addAction(self.quit_action)
        self._build_view_menu()
        help_menu = self.menuBar().addMenu("&Help")
        self.shortcuts_action = self._action(
            "shortcutsAction",
            "&Keyboard shortcuts",
            "Every keyboard shortcut of the window",
            self.show_shortcuts,
            "help.shortcuts",
        )
        self.quick_start_action = self._action(
            "quickStartAction",
            "&Quick start",
            "The first steps: train, compare, sweep, bring your data",
            self.show_quick_start,
        )
        self.about_action = self._action(
            "aboutAction", "&About Trainwright", "Version information", self.show_about
        )
        help_menu.addAction(self.shortcuts_action)
        help_menu.addAction(self.quick_start_action)
        help_menu.addSeparator()
        help_menu.addAction(self.about_action)

    def _build_view_menu(self) -> None:
        """View → Theme: System, Light or Dark (stored in the preferences)."""
        view_menu = self.menuBar().addMenu("&View")
        theme_menu = view_menu.addMenu("&Theme")
        theme_menu.setObjectName("themeMenu")
        self.theme_group = QActionGroup(self)
        self.theme_group.setExclusive(True)
        self.theme_actions: dict[str, QAction] = {}
        tips = {
            "system": "The look of the desktop (its palette)",
            "light": "Light backgrounds, dark text, in every tab and plot",
            "dark": "Dark backgrounds, light text, in every tab and plot",
        }
        for name in THEMES:
            action = QAction(f"&{name.capitalize()}", self)
            action.setObjectName(f"theme{name.capitalize()}Action")
            action.setToolTip(tips[name])
            action.setStatusTip(tips[name])
            action.setCheckable(True)
            action.setChecked(name == self.preferences.theme)
            action.setData(name)
            self.theme_group.addAction(action)
            theme_menu.addAction(action)
            self.theme_actions[name] = action
        self.theme_group.triggered.connect(self._on_theme_chosen)

    def _action(
        self,
        name: str,
        text: str,
        tip: str,
        slot: Callable[[], Any],
        shortcut_id: str | None = None,
    ) -> QAction:
        """A menu action; its keys (if any) from the shortcuts table."""
        action = QAction(text, self)
        action.setObjectName(name)
        action.setToolTip(tip)
        action.setStatusTip(tip)
        if shortcut_id is not None:
            action.setShortcuts(shortcut_keys(shortcut_id))
        action.triggered.connect(slot)
        return action

    @Slot()
    def show_shortcuts(self) -> QWidget:
        """The keyboard shortcuts sheet (one, raised if open)."""
        from desktop_app.help.shortcuts import ShortcutsDialog

        return self._show_help_dialog("_shortcuts_dialog", ShortcutsDialog)

    @Slot()
    def show_quick_start(self) -> QWidget:
        """The Quick start page (one, raised if open)."""
        from desktop_app.help.quick_start import QuickStartDialog

        return self._show_help_dialog("_quick_start_dialog", QuickStartDialog)

    def _show_help_dialog(self, attribute: str, kind: Callable[[QWidget], QWidget]) -> QWidget:
        dialog = getattr(self, attribute, None)
        if dialog is None:
            dialog = kind(self)
            setattr(self, attribute, dialog)
        dialog.show()
        dialog.raise_()
        dialog.activateWindow()
        return dialog

    # ---- theme -----------------------------------------------------------------------------
    @Slot(QAction)
    def _on_theme_chosen(self, action: QAction) -> None:
        self.set_theme(str(action.data()))

    def set_theme(self, name: str) -> None:
        """Use a theme now and from the next start (saved in the preferences)."""
        if name not in THEMES:
            raise ValueError(f"{name!r} is not a theme; allowed: {', '.join(THEMES)}")
        self.theme_actions[name].setChecked(True)
        if name != self.preferences.theme:
            chosen = self.preferences.model_copy(update={"theme": name})
            try:
                chosen.save(self.workspace.home)
            except OSError as exc:
                self.status_bar.showMessage(f"Could not save the theme: {exc}", 15_000)
            self.preferences = chosen
        self.apply_theme(name)

    def apply_theme(self, name: str) -> bool:
        """Give the application the theme's palette (every plot follows it); False, and a
        message, if it cannot be applied."""
        app = QApplication.instance()
        if app is None:
            return False
        try:
            from desktop_app.kit.theme import apply_theme
        except ImportError:
            self.status_bar.showMessage("Themes are not available in this build", 10_000)
            return False
        apply_theme(app, name)
        return True

    @Slot()
    def show_about(self) -> QMessageBox:
        import pyqtgraph
        import PySide6

        box = QMessageBox(self)
        box.setObjectName("aboutDialog")
        box.setWindowTitle("About Trainwright")
        box.setIcon(QMessageBox.Icon.Information)
        box.setText(f"<b>Trainwright</b> {engine.__version__}")
        box.setInformativeText(
            "A desktop workbench for training neural networks offline and reproducibly.\n\n"
            f"Engine {engine.__version__} · PySide6 {PySide6.__version__} · "
            f"pyqtgraph {pyqtgraph.__version__}\nData home: {self.workspace.home}"
        )
        box.setStandardButtons(QMessageBox.StandardButton.Ok)
        box.open()
        return box

    @Slot()
    def show_preferences(self) -> PreferencesDialog:
        dialog = PreferencesDialog(self.preferences, self.workspace.home, self)
        dialog.accepted.connect(self._on_preferences_accepted)
        dialog.open()
        self._preferences_dialog = dialog
        return dialog

    @Slot()
    def _on_preferences_accepted(self) -> None:
        dialog = self._preferences_dialog
        self.apply_preferences(dialog.result_preferences())

    def apply_preferences(self, preferences: Preferences) -> None:
        try:
            notes = save_preferences(preferences, self.workspace.home, explicit=self.home_explicit)
        except OSError as exc:
            QMessageBox.warning(self, "Preferences", f"Could not save the preferences: {exc}")
            return
        self.preferences = preferences
        self.training_tab.apply_preferences(preferences)
        self.sweep_panel.apply_preferences(preferences)
        for note in notes:
            self.status_bar.showMessage(note, 15_000)

    # ---- startup ---------------------------------------------------------------------------
    def showEvent(self, event: Any) -> None:
        super().showEvent(event)
        if not self._painted and not self._warmup_fallback.isActive():
            self._warmup_fallback.start()

    def paintEvent(self, event: Any) -> None:
        super().paintEvent(event)
        if not self._painted:
            self._painted = True
            self.first_paint_time = time.monotonic()
            QTimer.singleShot(0, self, self._after_first_paint)

    @Slot()
    def _after_first_paint(self) -> None:
        self.firstPainted.emit()
        self._start_warmup()

    @Slot()
    def _start_warmup(self) -> None:
        """After the first paint: torch in the background, then the plots and Analysis tab."""
        self._warmup_fallback.stop()
        # Opening the store marks the runs whose process died interrupted (offered to Resume).
        self.job_store.start()
        self.training_tab.start_engine_warmup()
        QTimer.singleShot(0, self, self.ensure_analysis_tab)

    # ---- runs ------------------------------------------------------------------------------
    @Slot(object)
    def _on_run_ended(self, outcome: RunOutcome) -> None:
        if self._analysis_tab is not None:  # else it lists the variants when it is built
            self._analysis_tab.refresh()
        if outcome.failed:
            self.status_bar.showMessage(f"{outcome.request.describe()} failed", 10_000)
        if not self._close_pending:  # a run stopped to close the window is not news
            self.notifier.run_ended(outcome)
        self._refresh_jobs()

    @Slot(object)
    def _on_job_started(self, request: Any) -> None:
        self._refresh_jobs()

    def _refresh_jobs(self) -> None:
        """The Jobs tab lists again now if it is shown (else when it is next shown)."""
        if self.jobs_tab.isVisible():
            self.jobs_tab.refresh()

    def _run_busy(self) -> bool:
        return self.controller.busy

    # ---- jobs ------------------------------------------------------------------------------
    @Slot(object)
    def _on_store_opened(self, found: StoreOpened) -> None:
        """Say what opening the store found: a rebuilt database, runs that were interrupted
        (their process died) and can be resumed in the Jobs tab."""
        for warning in found.warnings:
            log.warning("job store: %s", warning)
            self.status_bar.showMessage(warning, 20_000)
        jobs = found.interrupted
        if jobs:
            self.jobs_tab.show_interrupted(jobs)
            noun = "run was" if len(jobs) == 1 else "runs were"
            self.status_bar.showMessage(
                f"{len(jobs)} {noun} interrupted last time: Resume in the Jobs tab continues "
                "from the last checkpoint",
                20_000,
            )

    @Slot(str)
    def _on_store_unavailable(self, message: str) -> None:
        text = f"The job history is unavailable: {message}"
        self.status_bar.showMessage(text, 20_000)
        self.jobs_tab.show_error(text)

    @Slot(int)
    def _on_retry_requested(self, job_id: int) -> None:
        """Resume or Retry in the Jobs tab: a new job, run now if nothing runs, else queued."""
        self.controller.retry(job_id, self._on_retried, self.jobs_tab.show_error)

    def _on_retried(self, job: Any) -> None:
        when = "queued" if self.controller.busy else "starting"
        self.status_bar.showMessage(f"Job #{job.id}: {job.describe()} — {when}", 10_000)
        self.jobs_tab.refresh()

    @Slot(int)
    def _on_cancel_requested(self, job_id: int) -> None:
        """The Jobs tab cancelled a job: if it is this window's run, stop it now; a queued
        one leaves the queue (listed after the cancel: the store answers in order)."""
        if self.controller.current_job_id == job_id:
            self.controller.stop()
        self.controller.queue.refresh()

    @Slot(str)
    def _on_open_variant_requested(self, name: str) -> None:
        """Show a job's variant in the Analysis tab, selected."""
        self.tabs.setCurrentWidget(self._analysis_page)
        tab = self.analysis_tab
        tab.refresh()
        tab.select_variants([name])
        if not any(s.variant == name for s in tab.selected_variants()):
            self.status_bar.showMessage(
                f"{name} is not among the variants on disk (it was never written, or was "
                "deleted, or a filter hides it)",
                10_000,
            )

    @Slot()
    def _on_sweep_finished(self) -> None:
        if self._analysis_tab is not None:  # else it lists the variants when it is built
            self._analysis_tab.refresh()

    @Slot(bool)
    def _on_busy_changed(self, busy: bool) -> None:
        if not busy and self._close_pending:
            QTimer.singleShot(0, self, self.close)

    @Slot(str, int)
    def _show_status_message(self, message: str, timeout_ms: int) -> None:
        self.status_bar.showMessage(message, timeout_ms)

    @Slot(str)
    def _show_analysis_message(self, message: str) -> None:
        self.status_bar.showMessage(message, 10_000)

    @Slot(str)
    def _on_resume_requested(self, variant: str) -> None:
        self.tabs.setCurrentWidget(self.training_tab)
        self.training_tab.request_resume(variant)

    @Slot(str, str, str)
    def _on_publish_requested(self, variant: str, family: str, dataset: str) -> None:
        """The Analysis tab's Publish…: the Models tab's dialog; the Models tab is shown
        with the new version selected once it is published."""
        dialog = self.models_tab.publish_variant(variant, family, dataset)
        dialog.published.connect(self._show_models_tab)

    @Slot(str)
    def _on_train_longer_requested(self, variant: str) -> None:
        """A search's best trial: its settings on the Training tab, for a longer run."""
        self.tabs.setCurrentWidget(self.training_tab)
        self.training_tab.train_from_variant(variant)

    @Slot()
    def _show_models_tab(self) -> None:
        self.tabs.setCurrentWidget(self.models_tab)

    @Slot(str, str, str)
    def _on_train_requested(self, dataset: str, kind: str, target: str) -> None:
        """The Datasets tab's Train on this: the Training tab, the family for the dataset's
        kind (MLP for a table, image classifier for images), that dataset (and target)."""
        self.tabs.setCurrentWidget(self.training_tab)
        family = self.training_tab.use_dataset(dataset, kind, target or None)
        if family is None:
            self.status_bar.showMessage(
                f"No family for this kind of dataset is available: cannot train on {dataset}",
                10_000,
            )
            return
        column = f", target column {target}" if target else ""
        self.status_bar.showMessage(
            f"{family} on dataset {dataset}{column}: check and Start", 10_000
        )

    # ---- closing ---------------------------------------------------------------------------
    def _ask_close(self) -> bool:
        answer = QMessageBox.question(
            self,
            "Stop training?",
            self.close_question(),
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
            QMessageBox.StandardButton.No,
        )
        return answer == QMessageBox.StandardButton.Yes

    def close_question(self) -> str:
        """What closing mid-run asks: the run stops resumably; the queued runs stay."""
        current = self.controller.current
        running = current.describe() if current else "A run"
        text = f"{running} is in progress.\n\nStop it and quit? It is saved and can be resumed."
        queued = len(self.controller.queue)
        if queued:
            runs = "1 queued run stays" if queued == 1 else f"{queued} queued runs stay"
            text += (
                f"\n\n{runs} in the queue: Start queue runs them when you next open "
                "Trainwright, or run `trainwright queue run`."
            )
        return text

    def _ask_close_imports(self) -> bool:
        panel = self.datasets_tab.import_panel
        waiting = len(panel.pending())
        more = f" ({waiting} more waiting)" if waiting else ""
        answer = QMessageBox.question(
            self,
            "Cancel the import?",
            f"A dataset is being imported{more}.\n\nCancel and quit? Nothing of it is kept "
            "in the library; the files you chose are untouched, so you can import them again.",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
            QMessageBox.StandardButton.No,
        )
        return answer == QMessageBox.StandardButton.Yes

    def closeEvent(self, event: Any) -> None:
        """Close at once when idle; mid-run, ask, stop the run and close when it has stopped.
        An import in progress is cancelled on close, after asking."""
        importing = self.datasets_tab.import_panel.busy
        if importing and not self._close_pending and not self.confirm_close_imports():
            event.ignore()
            return
        if self.controller.busy:
            # Stop, let the engine write its checkpoint, and close once the thread is done;
            # the window stays responsive meanwhile.
            if not self._close_pending:
                if not self.confirm_close():
                    event.ignore()
                    return
                self._close_pending = True
                self.controller.queue.hold()  # the queued runs stay queued, for next time
                self.controller.stop()
                self.training_tab.status_label.setText("Stopping the run before closing…")
                self.status_bar.showMessage("Stopping the run before closing…")
                self.tabs.setEnabled(False)
            event.ignore()
            return
        self._save_settings()
        self.jobs_tab.shutdown()
        self.notifier.close()
        self.controller.shutdown()
        self.training_tab.family_loader.shutdown()
        self.sweep_panel.shutdown()
        self.datasets_tab.shutdown()
        self.models_tab.shutdown()
        if self.distill_launcher is not None:
            self.distill_launcher.shutdown()
        if self._analysis_tab is not None:
            self._analysis_tab.shutdown()
        self.job_store.shutdown()
        super().closeEvent(event)
        if self._gc_acquired:
            self._gc_acquired = False
            GuiThreadGarbageCollector.release()

    # ---- settings --------------------------------------------------------------------------
    def _save_settings(self) -> None:
        settings = self.settings
        settings.setValue("window/geometry", self.saveGeometry())
        settings.setValue("window/state", self.saveState())
        settings.setValue("window/tab", self.tabs.currentIndex())
        self.training_tab.save_state(settings)
        settings.sync()

    def _restore_settings(self) -> None:
        """Geometry, splitters and the tab last shown, from the data home's window.ini."""
        settings = self.settings
        geometry = settings.value("window/geometry")
        if geometry is not None:
            self.restoreGeometry(geometry)
        state = settings.value("window/state")
        if state is not None:
            self.restoreState(state)
        self.training_tab.restore_state(settings)
        tab = settings.value("window/tab")
        try:
            if tab is not None:
                self.tabs.setCurrentIndex(int(tab))
        except (TypeError, ValueError):
            pass


class DistillLauncher(QObject):
    """Opens the distillation dialog for the Analysis tab's teacher (one at a time) and
    shows the student it trained there: the Analysis tab never imports the dialog."""

    def __init__(self, workspace: Any, analysis_tab: AnalysisTab) -> None:
        super().__init__(analysis_tab)
        self.workspace = workspace
        self.analysis_tab = analysis_tab
        self.dialog: DistillDialog | None = None
        analysis_tab.distillRequested.connect(self.open)
        app = QApplication.instance()
        if app is not None:
            app.aboutToQuit.connect(self.shutdown)

    @Slot(str, str)
    def open(self, teacher: str, family: str) -> DistillDialog:
        """The dialog for `teacher`, replacing any open one (closing waits for its task)."""
        from desktop_app.distill.dialog import DistillDialog

        if self.dialog is not None:
            self.dialog.close()
        dialog = DistillDialog(self.workspace, teacher, self.analysis_tab, teacher_family=family)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.distilled.connect(self._on_distilled)
        dialog.destroyed.connect(self._on_dialog_destroyed)
        self.dialog = dialog
        dialog.open()
        return dialog

    @Slot(str)
    def _on_distilled(self, student: str) -> None:
        self.analysis_tab.show_new_variant(student, f"Distilled student {student}")

    @Slot()
    def _on_dialog_destroyed(self) -> None:
        self.dialog = None

    @Slot()
    def shutdown(self) -> None:
        """Stop a distillation in progress and wait for its thread (the window closes)."""
        if self.dialog is not None:
            self.dialog.shutdown()
