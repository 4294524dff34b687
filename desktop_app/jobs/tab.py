"""The Jobs tab: every run's job (this window's, and those a CLI made in another process), its
log following a live run, and what can be done with it: Resume, Retry, Cancel, Open variant.

Everything goes through the kit's JobStoreService (the store on its own thread): the tab
lists the jobs again every LIST_MS while it is visible, and reads the selected job's log
records (all of them once, then every LOG_POLL_MS those after the last one while the job
runs). The GUI thread only draws the answers. Resuming and retrying queue a new job, which
the main window hands to the run controller; cancelling a run of this window also stops it
there (the store's cancel flag reaches a run in another process at its next step).
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QPoint, Qt, QTimer, Signal, Slot
from PySide6.QtWidgets import (
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLayout,
    QMenu,
    QSplitter,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from desktop_app.jobs.log_view import JobLogView
from desktop_app.jobs.models import ID, WHAT, JobFilterProxy, JobTableModel
from desktop_app.kit.job_status import CANCELLABLE, RESUMABLE, RETRYABLE, status_word
from desktop_app.kit.style import ERROR_STYLE, NOTE_STYLE
from desktop_app.kit.widgets import (
    ElidedLabel,
    action_button,
    button,
    choice_filter,
    filter_bar,
    filter_edit,
    group,
    make_action,
    select_source_row,
    selectable,
    sortable_table,
    splitter,
    table_page,
)

LIST_MS = 2000  # the history is listed again this often while the tab is visible
LOG_POLL_MS = 500  # a running job's new log records are read this often
HISTORY_LIMIT = 1000  # the newest jobs listed
STATUSES = ("queued", "running", "completed", "failed", "cancelled", "timed_out", "interrupted")
KINDS = ("train", "resume", "replay", "sweep", "distill")
EMPTY_HISTORY = (
    "No jobs yet. Every run started in the Training tab (or by `trainwright train`) "
    "is listed here with its log."
)
NO_MATCH = "No job matches the filters."


class JobsTab(QWidget):
    """The job history with filters, the log of the selected job, and its actions."""

    retryRequested = Signal(int)  # the job id: queue it again (Resume or Retry)
    cancelRequested = Signal(int)  # the job id: the store has been asked to cancel it
    openVariantRequested = Signal(str)  # the variant's name: show it in the Analysis tab
    statusMessage = Signal(str)

    def __init__(
        self, service: Any, queue_panel: QWidget | None = None, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setObjectName("jobsTab")
        self.setAccessibleName("Jobs")
        self.service = service
        self.listed = False  # a listing has arrived (tests wait for it)
        self._closing = False
        self._listing = False
        self._list_again = False
        self._reading_log = False
        self._log_job: int | None = None  # the job whose records are being read
        self._error: str | None = None
        self._interrupted: list[int] = []  # jobs found interrupted when the window opened

        self._build(queue_panel)
        self._connect()
        self._list_timer = QTimer(self)
        self._list_timer.setInterval(LIST_MS)
        self._list_timer.timeout.connect(self.refresh)
        self._log_timer = QTimer(self)
        self._log_timer.setInterval(LOG_POLL_MS)
        self._log_timer.timeout.connect(self._poll_log)
        self._update_actions()
        self._update_hint()

    # ---- construction ----------------------------------------------------------------------
    def _build(self, queue_panel: QWidget | None) -> None:
        """Filters over the history and its actions; the queue and the log below."""
        self.model = JobTableModel(self)
        self.proxy = JobFilterProxy(self)
        self.proxy.setSourceModel(self.model)
        filters, table = self._build_filters(), self._build_table()
        top = table_page(filters, table, self.hint, self._build_actions())
        self.log_view = JobLogView()
        self.log_box = group("Log", self.log_view, "jobLogGroup")
        bottom = QSplitter(Qt.Orientation.Horizontal)
        bottom.setObjectName("jobsBottomSplitter")
        if queue_panel is not None:
            self.queue_box = group("Queue", queue_panel, "jobsQueueGroup")
            self.queue_box.setToolTip(
                "The runs waiting to start; they stay queued when Trainwright closes"
            )
            bottom.addWidget(self.queue_box)
        bottom.addWidget(self.log_box)
        bottom.setStretchFactor(0, 1)
        bottom.setStretchFactor(bottom.count() - 1, 2)
        bottom.setChildrenCollapsible(False)
        vertical = Qt.Orientation.Vertical
        self.splitter = splitter("jobsSplitter", vertical, (top, bottom), (3, 2))
        QVBoxLayout(self).addWidget(self.splitter)

    def _build_filters(self) -> QLayout:
        """Text, status and kind filters, and Refresh."""
        self.filter_edit = filter_edit(
            "jobFilter",
            "Filter jobs",
            "Show only the jobs whose number, variant, status or error contains this text",
            "Filter by variant, number or error",
        )
        self.status_filter = choice_filter(
            "jobStatusFilter",
            "Status filter",
            "Show only the jobs with one status",
            "Any status",
            (),
        )
        for status in STATUSES:
            self.status_filter.addItem(status_word(status), status)
        self.kind_filter = choice_filter(
            "jobKindFilter", "Kind filter", "Show only one kind of job", "Any kind", KINDS
        )
        self.refresh_button = button(
            "jobsRefreshButton",
            "Refresh",
            f"List the jobs again now (it happens every {LIST_MS // 1000} s while this tab "
            "is shown, so runs started by the CLI appear)",
        )
        fields = (
            ("F&ilter:", self.filter_edit),
            ("Stat&us:", self.status_filter),
            ("&Kind:", self.kind_filter),
        )
        return filter_bar(fields, (self.refresh_button,))

    def _build_table(self) -> QTableView:
        self.table = sortable_table(
            "jobTable",
            "Jobs",
            "Every run's job, newest first; select one to see its log (right-click for actions)",
            self.proxy,
            ID,
            Qt.SortOrder.DescendingOrder,
        )
        self.table.setSelectionMode(QTableView.SelectionMode.SingleSelection)
        header = self.table.horizontalHeader()
        header.setStretchLastSection(True)
        header.setSectionResizeMode(WHAT, QHeaderView.ResizeMode.Interactive)
        self.table.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.hint = selectable(QLabel(EMPTY_HISTORY))
        self.hint.setObjectName("jobsHint")
        self.hint.setAccessibleName("Jobs hint")
        self.hint.setStyleSheet(NOTE_STYLE)
        return self.table

    def _build_actions(self) -> QLayout:
        """Resume, Retry, Cancel and Open variant (also the context menu), and one line for
        the last error."""
        self.resume_action = make_action(
            self,
            "&Resume",
            "Queue the selected interrupted, timed-out or cancelled job again: it continues "
            "from its last checkpoint",
            self.resume_selected,
        )
        self.retry_action = make_action(
            self,
            "Retr&y",
            "Queue the selected failed job again (a train starts over)",
            self.retry_selected,
        )
        self.cancel_action = make_action(
            self,
            "&Cancel job",
            "Cancel the selected queued job, or stop the running one at its next step "
            "(in this window or another process)",
            self.cancel_selected,
        )
        self.open_action = make_action(
            self,
            "Open &variant",
            "Show the selected job's variant in the Analysis tab",
            self.open_selected,
        )
        self.resume_button = action_button("jobResumeButton", "Resume", self.resume_action)
        self.retry_button = action_button("jobRetryButton", "Retry", self.retry_action)
        self.cancel_button = action_button("jobCancelButton", "Cancel job", self.cancel_action)
        self.open_button = action_button("jobOpenVariantButton", "Open variant", self.open_action)
        # One line in the spare width beside the buttons (a long message ends in "…", its
        # tooltip holds all of it): showing or clearing it never moves anything.
        self.error_label = ElidedLabel()
        self.error_label.setObjectName("jobsError")
        self.error_label.setAccessibleName("Jobs error")
        self.error_label.setStyleSheet(ERROR_STYLE)
        row = QHBoxLayout()
        for widget in (self.resume_button, self.retry_button, self.cancel_button, self.open_button):
            row.addWidget(widget)
        row.addWidget(self.error_label, 1)
        return row

    def _connect(self) -> None:
        self.filter_edit.textChanged.connect(self.proxy.set_text)
        self.filter_edit.textChanged.connect(self._update_hint)
        self.status_filter.currentIndexChanged.connect(self._on_filter_choice)
        self.kind_filter.currentIndexChanged.connect(self._on_filter_choice)
        self.refresh_button.clicked.connect(self.refresh)
        self.table.selectionModel().selectionChanged.connect(self._on_selection_changed)
        self.table.customContextMenuRequested.connect(self._show_context_menu)
        self.proxy.modelReset.connect(self._update_hint)
        self.proxy.rowsInserted.connect(self._update_hint)
        self.proxy.rowsRemoved.connect(self._update_hint)

    # ---- visibility: poll only while shown -------------------------------------------------
    def showEvent(self, event: Any) -> None:
        super().showEvent(event)
        if not self._closing:
            self.refresh()
            self._list_timer.start()
            self._update_log_polling()

    def hideEvent(self, event: Any) -> None:
        super().hideEvent(event)
        self._list_timer.stop()
        self._log_timer.stop()

    # ---- public ----------------------------------------------------------------------------
    def selected_job(self) -> Any:
        rows = self.table.selectionModel().selectedRows()
        return self.proxy.item(rows[0].row()) if rows else None

    def select_job(self, job_id: int) -> bool:
        """Select a job's row (clearing filters that hide it); False if it is not listed."""
        return select_source_row(
            self.table, self.proxy, self.model.row_of(job_id), self._clear_filters
        )

    def _clear_filters(self) -> None:
        self.filter_edit.clear()
        self.status_filter.setCurrentIndex(0)
        self.kind_filter.setCurrentIndex(0)

    def show_interrupted(self, jobs: list[Any]) -> None:
        """Jobs found interrupted when the window opened: say so above the table."""
        self._interrupted = [int(j.id) for j in jobs]
        self.refresh()
        self._update_hint()

    @Slot()
    def refresh(self) -> None:
        """List the jobs again in the background (one listing at a time)."""
        if self._closing:
            return
        if self._listing:
            self._list_again = True
            return
        self._listing = True
        if self.service.call(_history, self._on_listed, self._on_list_failed) == 0:
            self._listing = False

    @Slot()
    def shutdown(self) -> bool:
        """Stop polling; answers still to come are dropped. True (the store's thread is the
        service's to stop)."""
        self._closing = True
        self._list_timer.stop()
        self._log_timer.stop()
        return True

    # ---- listing ---------------------------------------------------------------------------
    def _on_listed(self, jobs: list[Any]) -> None:
        self._listing = False
        if self._closing:
            return
        selected = self.selected_job()
        bar = self.table.verticalScrollBar()
        position = bar.value()
        replaced = self.model.set_jobs(jobs)
        if replaced:
            if selected is not None:
                self.select_job(int(selected.id))
            bar.setValue(position)
            if not self.listed:
                self._fit_columns()
        self.listed = True
        self._update_hint()
        self._on_selection_changed()
        if self._list_again:
            self._list_again = False
            self.refresh()

    def _on_list_failed(self, message: str) -> None:
        self._listing = False
        self._list_again = False
        self._show_error(f"Could not list the jobs: {message}")

    def _fit_columns(self) -> None:
        self.table.resizeColumnsToContents()
        header = self.table.horizontalHeader()
        header.resizeSection(WHAT, min(max(header.sectionSize(WHAT), 200), 420))

    @Slot()
    def _update_hint(self, *_: object) -> None:
        """What the table shows, or what to do when it shows nothing."""
        interrupted = [j for j in self._interrupted if self._status_of(j) == "interrupted"]
        if self.model.rowCount() == 0:
            text = EMPTY_HISTORY if self.listed else "Reading the job history…"
        elif self.proxy.rowCount() == 0:
            text = NO_MATCH
        elif interrupted:
            noun = "run was" if len(interrupted) == 1 else "runs were"
            text = (
                f"{len(interrupted)} {noun} interrupted when Trainwright last closed "
                "(or its process died): select one and Resume to continue it."
            )
        else:
            shown, total = self.proxy.rowCount(), self.model.rowCount()
            more = f" (the newest {HISTORY_LIMIT})" if total >= HISTORY_LIMIT else ""
            text = f"{total} jobs{more}" if shown == total else f"{shown} of {total} jobs"
        self.hint.setText(text)

    def _status_of(self, job_id: int) -> str | None:
        job = self.model.job(job_id)
        return None if job is None else str(job.status)

    # ---- filters, selection ----------------------------------------------------------------
    @Slot(int)
    def _on_filter_choice(self, _: int) -> None:
        self.proxy.set_status(self.status_filter.currentData())
        self.proxy.set_kind(self.kind_filter.currentData())
        self._update_hint()

    @Slot()
    def _on_selection_changed(self, *_: object) -> None:
        if self._closing:
            return
        job = self.selected_job()
        self._update_actions()
        job_id = int(job.id) if job is not None else None
        if job_id != self.log_view.job_id:
            self._start_log(job)
        elif job is not None and job.status != "running" and self._log_timer.isActive():
            self._poll_log()  # it has just ended: its last records
        self._update_log_polling()

    def _update_actions(self) -> None:
        """Each action enabled only when it applies to the selected job."""
        job = self.selected_job()
        status = str(job.status) if job is not None else ""
        self.resume_action.setEnabled(status in RESUMABLE)
        self.retry_action.setEnabled(status in RETRYABLE)
        self.cancel_action.setEnabled(
            status in CANCELLABLE and not (job is not None and job.cancel_requested)
        )
        self.open_action.setEnabled(job is not None and bool(job.variant or job.request.variant))
        for action, widget in (
            (self.resume_action, self.resume_button),
            (self.retry_action, self.retry_button),
            (self.cancel_action, self.cancel_button),
            (self.open_action, self.open_button),
        ):
            widget.setEnabled(action.isEnabled())

    @Slot(QPoint)
    def _show_context_menu(self, pos: QPoint) -> None:
        if self.table.indexAt(pos).isValid():
            self.context_menu().popup(self.table.viewport().mapToGlobal(pos))

    def context_menu(self) -> QMenu:
        menu = QMenu(self)
        menu.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        menu.setAccessibleName("Job actions")
        menu.setToolTipsVisible(True)
        for action in (self.resume_action, self.retry_action, self.cancel_action):
            menu.addAction(action)
        menu.addSeparator()
        menu.addAction(self.open_action)
        return menu

    # ---- the log ---------------------------------------------------------------------------
    def _start_log(self, job: Any) -> None:
        """Show the selected job's log: all its records, read in the background."""
        if job is None:
            self.log_view.show_job(None)
            self.log_box.setTitle("Log")
            return
        job_id = int(job.id)
        empty = "No log records yet." if job.status in ("queued", "running") else "No log records."
        self.log_view.show_job(job_id, empty)
        self.log_box.setTitle(f"Log — job #{job_id}")
        self._reading_log = False  # an answer for the previous job is dropped by the view
        self._read_log()

    @Slot()
    def _poll_log(self) -> None:
        if not self._reading_log:
            self._read_log()

    def _read_log(self) -> None:
        job_id, after = self.log_view.job_id, self.log_view.last_id
        if job_id is None or self._closing:
            return
        self._reading_log = True
        self._log_job = job_id

        def read(store: Any) -> tuple[int, list[Any]]:
            return job_id, store.logs(job_id, after_id=after)

        if self.service.call(read, self._on_log_read, self._on_log_failed) == 0:
            self._reading_log = False

    def _on_log_read(self, answer: tuple[int, list[Any]]) -> None:
        job_id, records = answer
        if job_id == self._log_job:
            self._reading_log = False
        if not self._closing:
            self.log_view.append(job_id, records)

    def _on_log_failed(self, message: str) -> None:
        self._reading_log = False
        self._show_error(f"Could not read the log: {message}")

    def _update_log_polling(self) -> None:
        """Poll the log only while the tab is shown and the selected job runs."""
        job = self.selected_job()
        wanted = (
            not self._closing
            and self.isVisible()
            and job is not None
            and job.status == "running"
            and int(job.id) == self.log_view.job_id
        )
        if wanted and not self._log_timer.isActive():
            self._log_timer.start()
        elif not wanted and self._log_timer.isActive():
            self._log_timer.stop()

    # ---- actions ---------------------------------------------------------------------------
    @Slot()
    def resume_selected(self) -> None:
        job = self.selected_job()
        if job is not None and job.status in RESUMABLE:
            self._hide_error()
            self.retryRequested.emit(int(job.id))

    @Slot()
    def retry_selected(self) -> None:
        job = self.selected_job()
        if job is not None and job.status in RETRYABLE:
            self._hide_error()
            self.retryRequested.emit(int(job.id))

    @Slot()
    def cancel_selected(self) -> None:
        """Ask the store to cancel the job (queued: at once; running: at its next step)."""
        job = self.selected_job()
        if job is None or job.status not in CANCELLABLE:
            return
        job_id = int(job.id)
        self._hide_error()

        def cancel(store: Any) -> Any:
            store.request_cancel(job_id)
            return store.get(job_id)

        self.service.call(cancel, self._on_cancelled, self._on_action_failed)
        self.cancelRequested.emit(job_id)

    def _on_cancelled(self, job: Any) -> None:
        word = "cancelled" if job.status == "cancelled" else "stops at its next step"
        self.statusMessage.emit(f"Job #{job.id} ({job.describe()}) {word}")
        self.refresh()

    def _on_action_failed(self, message: str) -> None:
        self._show_error(message)
        self.refresh()

    def show_error(self, message: str) -> None:
        """A problem with a job action (the controller could not queue it again, the store
        is unavailable): one line beside the buttons."""
        self._show_error(message)

    @Slot()
    def open_selected(self) -> None:
        job = self.selected_job()
        if job is None:
            return
        name = job.variant or job.request.variant
        if name:
            self.openVariantRequested.emit(str(name))

    # ---- errors: one line beside the buttons -----------------------------------------------
    def _show_error(self, message: str) -> None:
        line = message.strip().splitlines()[0] if message.strip() else ""
        self._error = line
        self.error_label.setText(line)

    def _hide_error(self) -> None:
        self._error = None
        self.error_label.setText("")

    @property
    def error_text(self) -> str:
        """The error shown beside the buttons ("" when none)."""
        return self._error or ""


def _history(store: Any) -> list[Any]:
    return store.list(limit=HISTORY_LIMIT)
