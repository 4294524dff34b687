"""Run requests, and the queue of runs: the job store's queued jobs, as the window shows them.

The queue lives in the data home's job store (engine.jobs), so it outlives the window and a
CLI (`trainwright queue add`, `trainwright queue run`) sees the same one. `RunQueue` keeps the
last listing in a list model, asks the store (through the kit's JobStoreService, off the GUI
thread) to submit, move, pause and remove, and lists again every few seconds, so jobs
another process queues appear. A run submitted here shows at once, marked "saving…", until
the store's answer replaces it.

Whether the queue is worked through is the window's choice (`RunQueue.active`): off when the
window opens (runs left queued never start by surprise), on with Start queue or when a run is
queued behind the one in progress.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from PySide6.QtCore import (
    QAbstractListModel,
    QItemSelectionModel,
    QModelIndex,
    QObject,
    Qt,
    QTimer,
    Signal,
    Slot,
)
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QHBoxLayout,
    QListView,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from desktop_app.kit.style import ERROR_STYLE, NOTE_STYLE
from desktop_app.kit.widgets import ElidedLabel, button
from engine.variants import RunConfig

RunMode = Literal["train", "retrain", "resume", "replay", "sweep", "distill"]

MODE_LABELS: dict[str, str] = {
    "train": "Train",
    "retrain": "Retrain",
    "resume": "Resume",
    "replay": "Replay",
    "sweep": "Sweep",
    "distill": "Distill",
}
POLL_MS = 2000  # the queue is listed again this often (jobs queued by another process)


@dataclass(frozen=True)
class RunRequest:
    """What to run: `train`/`retrain` carry the resolved config (or the parameters to resolve),
    `resume`/`replay` just the name; a request taken from the job store carries its job's id
    (a sweep or distillation queued by the CLI only its description)."""

    mode: RunMode
    variant: str
    family: str | None = None
    domain: dict[str, Any] = field(default_factory=dict)
    training: dict[str, Any] = field(default_factory=dict)
    config: RunConfig | None = None  # the engine's resolution, trained as it is
    job_id: int | None = None  # its job in the store, once it has one
    label: str | None = None  # how a job that is not a train/resume/replay describes itself

    def describe(self) -> str:
        if self.label:
            return self.label
        return f"{MODE_LABELS[self.mode]} {self.variant or self.family or ''}".rstrip()

    def details(self) -> str:
        lines = [self.describe()]
        if self.job_id is not None:
            lines.append(f"job #{self.job_id}")
        if self.family:
            lines.append(f"family: {self.family}")
        domain, training = self.domain, self.training
        if self.config is not None:
            domain, training = self.config.domain, self.config.training.model_dump()
        for key, value in {**domain, **training}.items():
            lines.append(f"{key} = {value}")
        return "\n".join(lines)

    def to_job_request(self) -> Any:
        """The engine's JobRequest for this run: a train carries every resolved value (so
        the job trains exactly the variant the form showed, whatever the defaults are by the
        time it starts); resume and replay just the variant."""
        from engine.jobs.records import JobRequest

        if self.mode in ("train", "retrain"):
            domain, training = dict(self.domain), dict(self.training)
            if self.config is not None:
                domain = dict(self.config.domain)
                training = self.config.training.model_dump(mode="json")
            return JobRequest(
                kind="train",
                family=self.family,
                domain=domain,
                training=training,
                variant=self.variant or None,
                overwrite=self.mode == "retrain",
            )
        if self.mode in ("resume", "replay"):
            return JobRequest(kind=self.mode, family=self.family, variant=self.variant)
        raise ValueError(f"a {self.mode} request is made by its own view, not the Training tab")

    def with_job(self, job_id: int) -> RunRequest:
        return replace(self, job_id=job_id)

    @classmethod
    def from_job(cls, job: Any) -> RunRequest:
        """The request a stored job makes (a job queued here, by the CLI, or by a retry)."""
        request = job.request
        kind = str(request.kind)
        mode: RunMode = "retrain" if kind == "train" and request.overwrite else kind  # type: ignore[assignment]
        label = None
        if kind in ("sweep", "distill") or not (request.variant or job.variant):
            label = job.describe()  # "Sweep 3f2a…", "Train mlp dataset=wine"
        return cls(
            mode=mode,
            variant=request.variant or job.variant or "",
            family=request.family or job.family,
            domain=dict(request.domain or {}),
            training=dict(request.training or {}),
            job_id=int(job.id),
            label=label,
        )


@dataclass(frozen=True)
class QueueEntry:
    """One queued run: its job's id (None until the store has saved it) and pause."""

    request: RunRequest
    job_id: int | None = None
    paused: bool = False

    @property
    def saving(self) -> bool:
        return self.job_id is None

    def key(self) -> tuple[Any, ...]:
        return (self.job_id, self.paused, self.request.describe())


class RunQueueModel(QAbstractListModel):
    """The waiting runs, first to start at the top."""

    EntryRole = Qt.ItemDataRole.UserRole + 1

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._items: list[QueueEntry] = []

    # ---- Qt model --------------------------------------------------------------------------
    def rowCount(self, parent: QModelIndex | None = None) -> int:
        if parent is not None and parent.isValid():
            return 0
        return len(self._items)

    def data(self, index: QModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._items):
            return None
        entry = self._items[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            suffix = " (saving…)" if entry.saving else " — paused" if entry.paused else ""
            return f"{index.row() + 1}. {entry.request.describe()}{suffix}"
        if role == Qt.ItemDataRole.ToolTipRole:
            note = "\npaused: it waits until you unpause it" if entry.paused else ""
            return entry.request.details() + note
        if role == Qt.ItemDataRole.ForegroundRole and (entry.paused or entry.saving):
            return self._muted()
        if role == self.EntryRole:
            return entry
        return None

    @staticmethod
    def _muted() -> Any:
        from PySide6.QtGui import QPalette
        from PySide6.QtWidgets import QApplication

        return QApplication.palette().brush(QPalette.ColorGroup.Disabled, QPalette.ColorRole.Text)

    # ---- contents --------------------------------------------------------------------------
    def entries(self) -> list[QueueEntry]:
        return list(self._items)

    def requests(self) -> list[RunRequest]:
        return [entry.request for entry in self._items]

    def __len__(self) -> int:
        return len(self._items)

    def entry(self, row: int) -> QueueEntry | None:
        return self._items[row] if 0 <= row < len(self._items) else None

    def row_of(self, job_id: int) -> int:
        return next((i for i, e in enumerate(self._items) if e.job_id == job_id), -1)

    def set_entries(self, entries: Sequence[QueueEntry]) -> None:
        """Show these entries (a reset only when something changed: the views keep their
        selection through a listing that found nothing new)."""
        entries = list(entries)
        if [e.key() for e in entries] == [e.key() for e in self._items]:
            self._items = entries
            return
        self.beginResetModel()
        self._items = entries
        self.endResetModel()


class RunQueue(QObject):
    """The store's queue: listed into `model`, changed through the store, worked through
    while `active` (the controller claims the next job when a run ends)."""

    activeChanged = Signal(bool)
    startRequested = Signal()  # Start queue: the controller starts the next job if idle
    problem = Signal(str)  # one line: a store call failed ("" when the last one worked)

    def __init__(self, service: Any, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.service = service
        self.model = RunQueueModel(self)
        self.active = False
        self.listed = False  # a listing has arrived (tests wait for it)
        self._listing = False
        self._list_again = False
        self._saving: list[tuple[int, RunRequest]] = []  # (token, request) not yet stored
        self._tokens = 0
        self._problem = ""  # the last store call's failure, until one works again
        self._problem_listing = False  # it was a listing's (a listing that works clears it)
        self._watchers = 0  # panels showing the queue now: it is polled only while seen
        self._polling = True
        self._timer = QTimer(self)
        self._timer.setInterval(POLL_MS)
        self._timer.timeout.connect(self.refresh)
        self.refresh()

    # ---- state -----------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.model)

    def requests(self) -> list[RunRequest]:
        return self.model.requests()

    def counts(self) -> tuple[int, int]:
        """(queued, of them paused)."""
        entries = self.model.entries()
        return len(entries), sum(1 for e in entries if e.paused)

    def set_active(self, active: bool) -> None:
        if active != self.active:
            self.active = active
            self.activeChanged.emit(active)

    @Slot()
    def start(self) -> None:
        """Work through the queue: now if no run is in progress, else when it ends."""
        self.set_active(True)
        self.startRequested.emit()

    @Slot()
    def hold(self) -> None:
        """Start nothing more after the run in progress; the queue stays as it is."""
        self.set_active(False)

    # ---- store calls (answers arrive on the GUI thread) ------------------------------------
    @Slot()
    def refresh(self) -> None:
        """List the store's queue again (one listing at a time; a request meanwhile lists
        once more after it)."""
        if self._listing:
            self._list_again = True
            return
        self._listing = True
        self._call(_queue_of, self._on_listed)

    def submit(self, request: RunRequest) -> None:
        """Queue `request` at the end (shown at once, saved in the background)."""
        job_request = request.to_job_request()
        self._tokens += 1
        token = self._tokens
        self._saving.append((token, request))
        self._show([*self.model.entries(), QueueEntry(request)])

        def submit(store: Any) -> list[Any]:
            store.submit(job_request, queued=True)
            return store.queue()

        def done(jobs: list[Any]) -> None:
            self._forget(token)
            self._on_listed(jobs, counted=False)

        def failed(message: str) -> None:
            self._forget(token)
            self._say(f"Could not queue {request.describe()}: {message}")
            self.refresh()

        self.service.call(submit, done, failed)

    def move(self, job_id: int, before_id: int | None) -> None:
        """Put a job before another (None: last)."""
        self._change(lambda store: store.move(job_id, before_id), f"move job #{job_id}")

    def remove(self, job_id: int) -> None:
        self._change(lambda store: store.remove(job_id), f"remove job #{job_id}")

    def set_paused(self, job_id: int, paused: bool) -> None:
        verb = "pause" if paused else "unpause"
        self._change(lambda store: store.set_paused(job_id, paused), f"{verb} job #{job_id}")

    def clear(self) -> None:
        """Remove every queued job (those the store has saved; a run being saved stays)."""
        ids = [e.job_id for e in self.model.entries() if e.job_id is not None]

        def clear(store: Any) -> None:
            for job_id in ids:
                store.remove(job_id)

        self._change(clear, "clear the queue")

    # ---- answers ---------------------------------------------------------------------------
    def _change(self, fn: Callable[[Any], Any], what: str) -> None:
        def change(store: Any) -> list[Any]:
            fn(store)
            return store.queue()

        def failed(message: str) -> None:
            self._say(f"Could not {what}: {message}")
            self.refresh()

        self.service.call(change, lambda jobs: self._on_listed(jobs, counted=False), failed)

    def _call(self, fn: Callable[[Any], Any], on_done: Callable[[Any], None]) -> None:
        if self.service.call(fn, on_done, self._on_list_failed) == 0:
            self._listing = False  # shut down: nothing will answer

    def _on_listed(self, jobs: list[Any], counted: bool = True) -> None:
        if counted:
            self._listing = False
        self.listed = True
        if self._problem and (self._problem_listing or not counted):
            self._say("")  # what failed works again (a listing does not hide a refusal)
        entries = [QueueEntry(RunRequest.from_job(j), int(j.id), bool(j.paused)) for j in jobs]
        self._show(entries + [QueueEntry(r) for _, r in self._saving])
        if counted and self._list_again:
            self._list_again = False
            self.refresh()

    def _on_list_failed(self, message: str) -> None:
        self._listing = False
        self._list_again = False
        self._say(f"Could not list the queue: {message}", listing=True)

    def _show(self, entries: list[QueueEntry]) -> None:
        self.model.set_entries(entries)

    def _forget(self, token: int) -> None:
        self._saving = [(t, r) for t, r in self._saving if t != token]

    def _say(self, message: str, *, listing: bool = False) -> None:
        """Show a store problem (one line), or clear it with ""."""
        self._problem = message
        self._problem_listing = listing
        self.problem.emit(message)

    def watch(self, shown: bool) -> None:
        """A panel was shown (True) or hidden: list again every POLL_MS while one is seen
        (jobs another process queues appear), and at once when one appears."""
        self._watchers = max(0, self._watchers + (1 if shown else -1))
        if self._watchers and self._polling and not self._timer.isActive():
            self.refresh()
            self._timer.start()
        elif not self._watchers:
            self._timer.stop()

    def stop_polling(self) -> None:
        """No more listings (the window closes)."""
        self._polling = False
        self._timer.stop()


def _queue_of(store: Any) -> list[Any]:
    return store.queue()


class RunQueuePanel(QWidget):
    """The queue, visible: what waits, Start queue, and Up/Down/Pause/Remove/Clear. Several
    panels (the Training tab's, the Jobs tab's) can show one queue."""

    def __init__(
        self, queue: RunQueue, parent: QWidget | None = None, *, busy: Callable[[], bool] = bool
    ) -> None:
        super().__init__(parent)
        self.queue = queue
        self.model = queue.model
        self._busy = busy  # whether a run is in progress (the affordance's words)
        self._selected_job: int | None = None

        # One line over the list, never more (the layout does not move): what waits and what
        # Start queue would do, or why the store refused the last change.
        self.summary_label = ElidedLabel()
        self.summary_label.setObjectName("queueSummary")
        self.summary_label.setAccessibleName("Queue state")
        self._problem = ""
        self.start_button = _button(
            "startQueueButton", "Start queue", "Start the queued runs, one after another"
        )
        self.start_button.clicked.connect(self._toggle_active)
        keep = self.start_button.sizePolicy()
        keep.setRetainSizeWhenHidden(True)  # shown or not, the list stays where it is
        self.start_button.setSizePolicy(keep)

        self.view = QListView(self)
        self.view.setObjectName("queueList")
        self.view.setModel(self.model)
        self.view.setAccessibleName("Queued runs")
        self.view.setToolTip(
            "Runs waiting to start, first at the top; they stay queued when you close "
            "Trainwright (Ctrl+Up/Down: move, Space: pause, Delete: remove)"
        )
        self.view.setSelectionMode(QListView.SelectionMode.SingleSelection)
        self.view.setMinimumHeight(48)

        self.up_button = _button("queueUpButton", "Up", "Move the selected queued run earlier")
        self.down_button = _button("queueDownButton", "Down", "Move the selected queued run later")
        self.pause_button = _button(
            "queuePauseButton", "Pause", "Keep the selected queued run waiting (or let it go)"
        )
        self.remove_button = _button(
            "queueRemoveButton", "Remove", "Remove the selected queued run"
        )
        self.clear_button = _button("queueClearButton", "Clear", "Remove every queued run")
        self.up_button.clicked.connect(self.move_up)
        self.down_button.clicked.connect(self.move_down)
        self.pause_button.clicked.connect(self.toggle_pause)
        self.remove_button.clicked.connect(self.remove_selected)
        self.clear_button.clicked.connect(self.queue.clear)
        for widget in (
            self.up_button,
            self.down_button,
            self.pause_button,
            self.remove_button,
            self.clear_button,
        ):
            widget.clicked.connect(self._forget_problem)
        for keys, slot in (
            ("Ctrl+Up", self.move_up),
            ("Ctrl+Down", self.move_down),
            ("Space", self.toggle_pause),
            (QKeySequence.StandardKey.Delete, self.remove_selected),
        ):
            shortcut = QShortcut(QKeySequence(keys), self.view)
            shortcut.setContext(Qt.ShortcutContext.WidgetShortcut)
            shortcut.activated.connect(slot)

        top = QHBoxLayout()
        top.addWidget(self.summary_label, 1)
        top.addWidget(self.start_button)
        buttons = QHBoxLayout()
        for widget in (
            self.up_button,
            self.down_button,
            self.pause_button,
            self.remove_button,
            self.clear_button,
        ):
            buttons.addWidget(widget)
        buttons.addStretch(1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(top)
        layout.addWidget(self.view, 1)
        layout.addLayout(buttons)

        self.model.modelAboutToBeReset.connect(self._remember_selection)
        self.model.modelReset.connect(self._restore_selection)
        self.view.selectionModel().selectionChanged.connect(self._update_buttons)
        queue.activeChanged.connect(self._update_buttons)
        queue.problem.connect(self.show_problem)
        self._update_buttons()

    # ---- selection -------------------------------------------------------------------------
    def selected_row(self) -> int:
        indexes = self.view.selectionModel().selectedIndexes()
        return indexes[0].row() if indexes else -1

    def selected_entry(self) -> QueueEntry | None:
        return self.model.entry(self.selected_row())

    def select_job(self, job_id: int) -> bool:
        row = self.model.row_of(job_id)
        if row < 0:
            return False
        self.view.selectionModel().setCurrentIndex(
            self.model.index(row), QItemSelectionModel.SelectionFlag.ClearAndSelect
        )
        return True

    @Slot()
    def _remember_selection(self) -> None:
        entry = self.selected_entry()
        self._selected_job = entry.job_id if entry is not None else None

    @Slot()
    def _restore_selection(self) -> None:
        if self._selected_job is not None:
            self.select_job(self._selected_job)
        self._update_buttons()

    # ---- actions ---------------------------------------------------------------------------
    @Slot()
    def move_up(self) -> None:
        row = self.selected_row()
        entry, before = self.model.entry(row), self.model.entry(row - 1)
        if entry is None or entry.job_id is None or before is None or before.job_id is None:
            return
        self.queue.move(entry.job_id, before.job_id)

    @Slot()
    def move_down(self) -> None:
        row = self.selected_row()
        entry, after = self.model.entry(row), self.model.entry(row + 1)
        if entry is None or entry.job_id is None or after is None or after.job_id is None:
            return
        later = self.model.entry(row + 2)
        before = later.job_id if later is not None else None
        self.queue.move(entry.job_id, before)

    @Slot()
    def toggle_pause(self) -> None:
        entry = self.selected_entry()
        if entry is not None and entry.job_id is not None:
            self.queue.set_paused(entry.job_id, not entry.paused)

    @Slot()
    def remove_selected(self) -> None:
        entry = self.selected_entry()
        if entry is not None and entry.job_id is not None:
            self.queue.remove(entry.job_id)

    @Slot()
    def _toggle_active(self) -> None:
        if self.queue.active:
            self.queue.hold()
        else:
            self.queue.start()

    @Slot(str)
    def show_problem(self, message: str) -> None:
        """Why the store refused a change (shown in place of the summary until the next
        change works or is asked for); "" clears it."""
        self._problem = message.strip().splitlines()[0] if message.strip() else ""
        self._update_buttons()

    @Slot()
    def _forget_problem(self) -> None:
        if self._problem:
            self.show_problem("")

    @property
    def problem_text(self) -> str:
        return self._problem

    def showEvent(self, event: Any) -> None:
        super().showEvent(event)
        self.queue.watch(True)

    def hideEvent(self, event: Any) -> None:
        super().hideEvent(event)
        self.queue.watch(False)

    # ---- state -----------------------------------------------------------------------------
    @Slot()
    def refresh_state(self) -> None:
        """The words and buttons again (a run started or ended)."""
        self._update_buttons()

    @Slot()
    def _update_buttons(self, *args: object) -> None:
        """Each button enabled only when it can act; the summary says what waits and what
        Start queue would do."""
        row = self.selected_row()
        entry = self.model.entry(row)
        stored = entry is not None and entry.job_id is not None
        count = self.model.rowCount()
        self.up_button.setEnabled(stored and row > 0)
        self.down_button.setEnabled(stored and row < count - 1)
        self.pause_button.setEnabled(stored)
        self.pause_button.setText("Unpause" if entry is not None and entry.paused else "Pause")
        self.remove_button.setEnabled(stored)
        self.clear_button.setEnabled(any(e.job_id is not None for e in self.model.entries()))
        queued, paused = self.queue.counts()
        runnable = queued - paused
        active = self.queue.active
        self.start_button.setText("Hold queue" if active else "Start queue")
        self.start_button.setAccessibleName(self.start_button.text())
        self.start_button.setToolTip(
            "Start nothing more after the run in progress (the queue stays)"
            if active
            else "Start the queued runs, one after another"
        )
        self.start_button.setEnabled(active or runnable > 0)
        self.start_button.setVisible(active or runnable > 0)
        if self._problem:
            self.summary_label.setStyleSheet(ERROR_STYLE)
            self.summary_label.setText(self._problem)
        else:
            self.summary_label.setStyleSheet(NOTE_STYLE if queued == 0 else "")
            self.summary_label.setText(self._summary(queued, paused, active))

    def _summary(self, queued: int, paused: int, active: bool) -> str:
        if queued == 0:
            return "Nothing queued. Start a run while another trains to queue it here."
        text = f"{queued} queued" + (f" ({paused} paused)" if paused else "")
        if queued == paused:
            return f"{text} — unpause one to run it"
        if active:
            return f"{text} — next after this run" if self._busy() else f"{text} — starting…"
        return f"{text} — waiting for Start queue"


def _button(name: str, text: str, tip: str) -> QPushButton:
    """A queue button, announced by what it does (its text alone says too little)."""
    return button(name, text, tip, accessible=tip)
