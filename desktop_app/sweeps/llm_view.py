"""An LLM search's proposals beside its parallel coordinates, and its whole conversation.

The engine logs every prompt, answer, API error and checked proposal of an LLM search in the
sweep's `llm_log.jsonl` (engine.sweeps.llm.proposer). `ProposalsPanel` lists each trial's
proposal — its parameters, the model's reason, the values the engine had to adjust — with
the trial's result and objective once its row exists, and the whole of the selected (else the
latest) proposal under the table; the log is read in a task whenever a trial starts or ends.
"Conversation…" opens the log as read-only text (read and laid out in a task too: it grows
with every prompt).
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import Qt, Slot
from PySide6.QtGui import QColor, QFontDatabase
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDialogButtonBox,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPlainTextEdit,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from desktop_app.kit.formatting import format_local_time, format_value
from desktop_app.kit.style import ERROR_STYLE, NOTE_STYLE
from desktop_app.kit.table_model import ALIGN_NUMBER, Index, RowTableModel
from desktop_app.kit.tasks import Task, TaskRunner
from desktop_app.kit.widgets import button, described, text_label
from engine.sweeps import SweepRecord, SweepRow

NO_IMPORTANCE = (
    "No parameter importance: it is computed from an Optuna study, which an LLM search does "
    "not have."
)
ADJUSTED = " (adjusted)"  # after the parameters the engine had to change
FAILED_COLOR = QColor("#b3261e")  # ERROR_STYLE's colour


@dataclass(frozen=True)
class ProposalEntry:
    """One trial of an LLM search as the table shows it: what the model proposed (None: no
    usable proposal) and, once trained, its row."""

    trial: int  # 0-based, the sweep's combination index
    parameters: dict[str, Any]
    reason: str = ""
    adjustments: tuple[str, ...] = ()
    asked: int = 0  # answers it took (0: no proposal logged)
    row: SweepRow | None = None
    training: bool = False  # proposed, and being trained now

    @property
    def result(self) -> str:
        if self.row is not None:
            return self.row.result
        return "training" if self.training else "not trained"


def proposal_entries(
    proposals: dict[int, Any], rows: list[SweepRow], *, running: bool
) -> list[ProposalEntry]:
    """Every trial with a proposal or a row, in order; while the search runs, the last
    proposal without a row is the one being trained."""
    by_index = {row.index: row for row in rows}
    trials = sorted(set(proposals) | set(by_index))
    unfinished = [t for t in trials if t not in by_index]
    training = unfinished[-1] if running and unfinished else None
    entries = []
    for trial in trials:
        proposal, row = proposals.get(trial), by_index.get(trial)
        parameters = dict(proposal.parameters) if proposal is not None else {}
        if not parameters and row is not None:
            parameters = dict(row.parameters)
        entries.append(
            ProposalEntry(
                trial=trial,
                parameters=parameters,
                reason=proposal.reason if proposal is not None else "",
                adjustments=tuple(proposal.adjustments) if proposal is not None else (),
                asked=proposal.asked if proposal is not None else 0,
                row=row,
                training=trial == training,
            )
        )
    return entries


class ProposalsModel(RowTableModel):
    """One row per trial: number, parameters (marked when the engine adjusted them; the
    tooltip says how), result, objective and the model's reason."""

    columns = ("#", "Parameters", "Result", "Objective", "Reason")
    column_tips = (
        "The trial's number",
        'The values the model proposed, after the engine\'s checks: "(adjusted)" when it '
        "clamped, rounded or matched a value to make a valid trial (hover for which)",
        "completed, failed, training, or not trained (the search stopped first)",
        "The search's objective for the trial, on the test split",
        "Why the model proposed it, in its own words",
    )
    REASON = 4

    def set_entries(self, entries: list[ProposalEntry]) -> None:
        self.replace_rows(entries)

    def entries(self) -> list[ProposalEntry]:
        return list(self._rows)

    def cell_text(self, item: ProposalEntry, column: int) -> str:
        if column == 0:
            return str(item.trial + 1)
        if column == 1:
            values = ", ".join(f"{k}={_short(v)}" for k, v in item.parameters.items())
            return values + (ADJUSTED if item.adjustments else "")
        if column == 2:
            return item.result
        if column == 3:
            objective = item.row.objective if item.row is not None else None
            return f"{objective:.4g}" if objective is not None else ""
        if item.asked == 0 and item.row is not None and item.row.error:
            return item.row.error  # no usable answer: the engine's reason instead
        return item.reason

    def role_data(self, item: ProposalEntry, index: Index, role: int) -> Any:
        column = index.column()
        if role == Qt.ItemDataRole.ToolTipRole:
            return self._tooltip(item, column)
        if role == Qt.ItemDataRole.TextAlignmentRole and column in (0, 3):
            return ALIGN_NUMBER
        if role == Qt.ItemDataRole.ForegroundRole and column == 2 and item.result == "failed":
            return FAILED_COLOR
        if role == Qt.ItemDataRole.AccessibleTextRole:
            return self.accessible_text(column, self.cell_text(item, column))
        return None

    def _tooltip(self, item: ProposalEntry, column: int) -> str | None:
        """The whole reason, each adjustment on its own line, or a failure's error."""
        if column == 2 and item.row is not None and item.row.error:
            return item.row.error
        if column == 1 and item.adjustments:
            return "Adjusted by the engine:\n" + "\n".join(item.adjustments)
        if column == self.REASON:
            text = self.cell_text(item, column)
            if item.asked == 2:
                text += "\n(The first answer was not usable; this is the second.)"
            return text or None
        return None


class ProposalsTask(Task):
    """Each trial's logged proposal (engine.sweeps.llm.proposer.logged_proposals)."""

    kind = "llm-proposals"

    def __init__(self, request_id: int, home: Any, sweep_id: str) -> None:
        super().__init__(request_id)
        self.home, self.sweep_id = home, sweep_id

    def compute(self) -> dict[int, Any]:
        from engine.sweeps.llm.proposer import logged_proposals

        return logged_proposals(self.home, self.sweep_id)


class ConversationTask(Task):
    """The sweep's whole LLM log, laid out as text (conversation_text)."""

    kind = "llm-conversation"

    def __init__(self, request_id: int, home: Any, sweep_id: str) -> None:
        super().__init__(request_id)
        self.home, self.sweep_id = home, sweep_id

    def compute(self) -> str:
        from engine.sweeps.llm.proposer import log_path, read_log

        entries = read_log(self.home, self.sweep_id)
        if not entries:
            return f"Nothing was asked yet ({log_path(self.home, self.sweep_id)} is empty)."
        return conversation_text(entries)


def conversation_text(entries: list[dict[str, Any]]) -> str:
    """The log as a person reads it: trial by trial, each prompt, answer and error with its
    time; a system message the same as the one before is not repeated."""
    lines: list[str] = []
    trial: int | None = None
    last_system: str | None = None
    for entry in entries:
        if entry.get("trial") != trial:
            trial = entry.get("trial")
            heading = f"Trial {trial + 1}" if isinstance(trial, int) else "The search"
            if lines:
                lines.append("")
            lines += [heading, "=" * len(heading)]
        when = format_local_time(entry.get("at"), seconds=True)
        event = str(entry.get("event", ""))
        if event == "prompt":
            lines.append(f"{when}  Prompt (ask {entry.get('asked', 1)}):")
            for message in entry.get("messages") or []:
                role, content = message.get("role", "?"), str(message.get("content", ""))
                if role == "system" and content == last_system:
                    lines.append("  [system] (as before)")
                    continue
                if role == "system":
                    last_system = content
                lines.append(f"  [{role}]")
                lines += [f"    {line}" for line in content.splitlines()]
        elif event == "answer":
            lines.append(f"{when}  Answer (ask {entry.get('asked', 1)}):")
            lines += [f"    {line}" for line in str(entry.get("text", "")).splitlines()]
        elif event == "invalid":
            lines.append(f"{when}  Not usable, sent back: {entry.get('error', '')}")
        elif event == "api_error":
            attempt = entry.get("attempt", "?")
            lines.append(f"{when}  API error (attempt {attempt}): {entry.get('error', '')}")
        elif event == "format_refused":
            kind = entry.get("format", "?")
            lines.append(
                f"{when}  The server refused response_format {kind}: asked again in the next "
                f"form ({entry.get('error', '')})"
            )
        elif event == "proposal":
            values = ", ".join(
                f"{k}={format_value(v)}" for k, v in (entry.get("parameters") or {}).items()
            )
            lines.append(f"{when}  Proposal: {values}")
            if entry.get("reason"):
                lines.append(f"    Reason: {entry['reason']}")
            for change in entry.get("adjustments") or []:
                lines.append(f"    Adjusted: {change}")
        else:
            rest = {k: v for k, v in entry.items() if k not in ("event", "trial", "at")}
            lines.append(f"{when}  {event}: {json.dumps(rest, default=str)}")
    return "\n".join(lines)


class ConversationDialog(QDialog):
    """The log of one LLM search as read-only text; `load()` reads it again (in a task)."""

    def __init__(self, runner: TaskRunner, home: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("llmConversationDialog")
        self.setWindowTitle("LLM conversation")
        self.runner, self.home = runner, home
        self.sweep_id: str | None = None
        self._ids = itertools.count(1)
        self._request = 0
        self.note = text_label(
            "llmConversationNote",
            "Conversation",
            "Every prompt, answer and error of the search, oldest first",
            wrap=True,
            select=True,
        )
        self.note.setStyleSheet(NOTE_STYLE)
        self.text = described(
            QPlainTextEdit(),
            "LLM conversation",
            "Every prompt sent to the model and every answer and error, oldest first",
            object_name="llmConversationText",
        )
        self.text.setReadOnly(True)
        self.text.setLineWrapMode(QPlainTextEdit.LineWrapMode.WidgetWidth)
        self.text.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.reload_button = button(
            "llmConversationReload", "Reload", "Read the log again (the search may have gone on)"
        )
        self.reload_button.clicked.connect(self.load)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.addButton(self.reload_button, QDialogButtonBox.ButtonRole.ActionRole)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.note)
        layout.addWidget(self.text, 1)
        layout.addWidget(buttons)
        self.resize(900, 640)

    def show_sweep(self, sweep_id: str) -> None:
        """Show this sweep's conversation (read in a task)."""
        if sweep_id != self.sweep_id:
            self.sweep_id = sweep_id
            self.text.setPlainText("")
        self.setWindowTitle(f"LLM conversation — sweep {sweep_id}")
        self.load()

    @Slot()
    def load(self) -> None:
        if self.sweep_id is None:
            return
        from engine.sweeps.llm.proposer import log_path

        self._request = next(self._ids)
        self.note.setText(f"Reading {log_path(self.home, self.sweep_id)}…")
        self.note.setStyleSheet(NOTE_STYLE)
        task = ConversationTask(self._request, self.home, self.sweep_id)
        self.runner.start(task, self._on_text, self._on_failed)

    @Slot(int, object)
    def _on_text(self, request_id: int, text: str) -> None:
        """The text, keeping the reader's place (or the end, if they were at it)."""
        if request_id != self._request:
            return
        bar = self.text.verticalScrollBar()
        at_end = bar.value() >= bar.maximum()
        position = bar.value()
        self.text.setPlainText(text)
        bar.setValue(bar.maximum() if at_end and position else position)
        from engine.sweeps.llm.proposer import log_path

        self.note.setText(
            f"Every prompt, answer and error of sweep {self.sweep_id}, oldest first; the "
            f"log is {log_path(self.home, self.sweep_id or '')}."
        )

    @Slot(int, str)
    def _on_failed(self, request_id: int, message: str) -> None:
        if request_id == self._request:
            self.note.setText(f"Could not read the conversation: {message}")
            self.note.setStyleSheet(ERROR_STYLE)


class ProposalsPanel(QGroupBox):
    """An LLM search's proposals (a table) and the button to its conversation."""

    def __init__(self, workspace: Any, runner: TaskRunner, parent: QWidget | None = None) -> None:
        super().__init__("Proposals", parent)
        self.setObjectName("llmProposals")
        self.workspace, self.runner = workspace, runner
        self.record: SweepRecord | None = None
        self.running = False
        self.dialog: ConversationDialog | None = None
        self._proposals: dict[int, Any] = {}  # as last read from the log
        self._ids = itertools.count(1)
        self._request = 0
        self.model = ProposalsModel(self)
        self.table = described(
            QTableView(),
            "Proposals",
            "Each trial the LLM proposed, its result and the model's reason (hover a cell for "
            "all of it)",
            object_name="llmProposalsTable",
        )
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setAlternatingRowColors(True)
        self.table.setWordWrap(False)
        self.table.verticalHeader().setVisible(False)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setStretchLastSection(True)
        self.table.selectionModel().currentRowChanged.connect(self._on_current_row)
        self.detail = text_label(
            "llmProposalDetail",
            "Proposal",
            "The selected proposal (else the latest) in full",
            wrap=True,
            select=True,
        )
        self.note = QLabel(NO_IMPORTANCE)
        self.note.setObjectName("llmProposalsNote")
        self.note.setWordWrap(True)
        self.note.setStyleSheet(NOTE_STYLE)
        self.conversation_button = button(
            "llmConversationButton",
            "Conversation…",
            "Every prompt sent to the model, its answers and the errors, as text",
            enabled=False,
        )
        self.conversation_button.clicked.connect(self.open_conversation)
        row = QHBoxLayout()
        row.addWidget(self.note, 1)
        row.addWidget(self.conversation_button, 0, Qt.AlignmentFlag.AlignTop)
        layout = QVBoxLayout(self)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.detail)
        layout.addLayout(row)

    def show_record(self, record: SweepRecord | None, *, running: bool = False) -> None:
        """Show an LLM search's proposals (None: none), read again from its log."""
        changed = record is None or self.record is None or record.id != self.record.id
        self.record, self.running = record, running
        if changed:
            self._proposals = {}
            self.model.set_entries([])
            self.detail.setText("")
        self.conversation_button.setEnabled(record is not None)
        if record is None:
            self._request = 0
            if self.dialog is not None:
                self.dialog.close()
            return
        llm = record.spec.llm
        self.setTitle(f"Proposals by {llm.model}" if llm is not None else "Proposals")
        self.setToolTip(f"Asked at {llm.base_url}" if llm is not None else "")
        self.refresh()
        if self.dialog is not None and self.dialog.isVisible():
            self.dialog.show_sweep(record.id)

    def refresh(self) -> None:
        """Read the proposals again (a trial started or ended)."""
        if self.record is None:
            return
        self._request = next(self._ids)
        task = ProposalsTask(self._request, self.workspace.home, self.record.id)
        self.runner.start(task, self._on_proposals, self._on_failed)

    @Slot(int, object)
    def _on_proposals(self, request_id: int, proposals: dict[int, Any]) -> None:
        if request_id != self._request or self.record is None:
            return
        self._proposals = proposals
        self._show_entries()

    def _show_entries(self) -> None:
        """The proposals as last read, with the rows the record has now."""
        if self.record is None:
            return
        current = self.table.currentIndex().row()
        entries = proposal_entries(self._proposals, self.record.rows, running=self.running)
        self.model.set_entries(entries)
        if 0 <= current < self.model.rowCount():  # a reset drops the selection: keep it
            self.table.selectRow(current)
        self._show_detail()
        for column in range(self.model.columnCount() - 1):
            self.table.resizeColumnToContents(column)
            width = self.table.columnWidth(column)
            self.table.setColumnWidth(column, min(width, 320))

    @Slot(int, str)
    def _on_failed(self, request_id: int, message: str) -> None:
        if request_id == self._request:
            self.note.setText(f"Could not read the proposals: {message}")

    @Slot()
    def _on_current_row(self, *_: Any) -> None:
        self._show_detail()

    def _show_detail(self) -> None:
        """The selected proposal (else the latest) in full: a reason rarely fits its cell."""
        entries = self.model.entries()
        row = self.table.currentIndex().row()
        entry = entries[row] if 0 <= row < len(entries) else entries[-1] if entries else None
        self.detail.setText("" if entry is None else proposal_detail(entry))

    @Slot()
    def open_conversation(self) -> ConversationDialog | None:
        """Open (or raise) the conversation of the search shown."""
        if self.record is None:
            return None
        if self.dialog is None:
            self.dialog = ConversationDialog(self.runner, self.workspace.home, self.window())
        self.dialog.show_sweep(self.record.id)
        self.dialog.show()
        self.dialog.raise_()
        return self.dialog

    def trial_ended(self) -> None:
        """A row arrived: its result at once, then the log again, and the open
        conversation."""
        self._show_entries()
        self.refresh()
        if self.dialog is not None and self.dialog.isVisible():
            self.dialog.load()


def proposal_detail(entry: ProposalEntry) -> str:
    """One trial's proposal in words: its values, what was adjusted, and why."""
    values = ", ".join(f"{k}={format_value(v)}" for k, v in entry.parameters.items())
    text = f"Trial {entry.trial + 1}: {values or 'no usable proposal'} ({entry.result})."
    if entry.adjustments:
        text += f" Adjusted: {'; '.join(entry.adjustments)}."
    if entry.reason:
        text += f" Reason: {entry.reason}"
    elif entry.row is not None and entry.row.error:
        text += f" {entry.row.error}"
    return text


def _short(value: Any) -> str:
    return f"{value:.3g}" if isinstance(value, float) else format_value(value)
