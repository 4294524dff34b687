"""The runs table of a sweep: one row per combination, its filter proxy, and CSV export.

`RunsTableModel.set_record(record)` shows every combination of a SweepRecord: those with a
row show its outcome, the others are "pending" (or "running", the one being trained). The
swept parameters are columns of their own. The best completed row (highest metric score;
lowest when the metric is test_loss) is highlighted; ties are broken by a stated rule (lower
test loss, then fewer epochs, then the first run), and `best_note()` says when one happened.
A failed row's error is its tooltip.
"""

from __future__ import annotations

import csv
import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PySide6.QtCore import QModelIndex, Qt
from PySide6.QtGui import QBrush, QColor, QFont

from desktop_app.kit.filter_proxy import AttributeFilterProxy
from desktop_app.kit.formatting import format_duration, format_value
from desktop_app.kit.table_model import ALIGN_NUMBER, SORT_ROLE, Index, RowTableModel
from engine.sweeps import NA, SweepRecord, SweepRow, sweep_label

BEST_ROLE = Qt.ItemDataRole.UserRole + 3  # True on the best row

PENDING, RUNNING = "pending", "running"
RESULTS = ("completed", "failed", "cancelled", "timed_out", "pruned", RUNNING, PENDING)
LOWER_IS_BETTER = frozenset({"test_loss"})

BEST_TINT = QColor(76, 175, 80, 90)
_TINTS = {
    "failed": QColor(220, 50, 47, 45),
    "cancelled": QColor(160, 160, 160, 45),
    "timed_out": QColor(160, 160, 160, 45),
    "pruned": QColor(255, 152, 0, 40),
    RUNNING: QColor(33, 150, 243, 40),
}

# Columns around the swept parameters: (key, header, tooltip).
LEADING = (
    ("index", "#", "The combination's number, in the order the sweep runs them"),
    ("variant", "Variant", "The variant trained for this combination (its directory)"),
)
TRAILING = (
    (
        "result",
        "Result",
        "completed, failed, pruned (a search stopped it early), cancelled (resume the sweep), "
        "running or pending",
    ),
    ("metric_name", "Metric", "accuracy (classification), r2 (regression) or test_loss"),
    ("metric_score", "Score", "The final value of the metric on the test split"),
    ("train_loss", "Train loss", "The final training loss"),
    ("test_loss", "Test loss", "The final test loss"),
    ("duration_s", "Duration", "The variant's total training time"),
)
NUMERIC = frozenset({"index", "metric_score", "train_loss", "test_loss", "duration_s"})
CSV_FIELDS = ("metric_name", "metric_score", "train_loss", "test_loss", "duration_s")


@dataclass
class RunEntry:
    """One combination as the table shows it: its parameters and its row, once it has one."""

    index: int
    parameters: dict[str, Any]
    row: SweepRow | None = None
    running: bool = False

    @property
    def result(self) -> str:
        if self.running:
            return RUNNING
        return self.row.result if self.row is not None else PENDING

    @property
    def unfinished(self) -> bool:
        """Not run yet, or stopped before it finished (a resumed sweep runs it again)."""
        return self.row is None or self.row.result in ("cancelled", "timed_out")

    @property
    def variant(self) -> str | None:
        return self.row.variant if self.row is not None else None

    @property
    def error(self) -> str | None:
        return self.row.error if self.row is not None else None

    def value(self, key: str) -> Any:
        """The raw value of a column key (a parameter name, or a SweepRow field)."""
        if key == "index":
            return self.index + 1
        if key == "variant":
            return self.variant or ""
        if key == "result":
            return self.result
        if key in self.parameters:
            return self.parameters[key]
        if self.row is not None and key in CSV_FIELDS:
            return getattr(self.row, key)
        return ""


def score(entry: RunEntry) -> float | None:
    """The entry's metric score as a finite number, or None (failed, pending, n/a)."""
    row = entry.row
    if row is None or row.result != "completed":
        return None
    return _number(row.metric_score)


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


TIE_RULE = "lower test loss, then fewer epochs, then the first run"


def break_tie(tied: list[RunEntry], metric: str, top: float) -> tuple[int, str]:
    """The best of runs with the same best score, by TIE_RULE, and a sentence saying so
    ("" when only one run has that score)."""
    if len(tied) == 1:
        return tied[0].index, ""
    rules: list[tuple[str, Any]] = [("the lower test loss", _test_loss)]
    if metric == "test_loss":
        rules = []
    rules.append(("fewer epochs", _epochs))
    remaining, reason = list(tied), "the first run"
    for words, key in rules:
        values = [key(e) for e in remaining]
        known = [v for v in values if v is not None]
        if not known:
            continue
        least = min(known)
        kept = [e for e, v in zip(remaining, values, strict=True) if v == least]
        if len(kept) < len(remaining):
            remaining, reason = kept, words
        if len(remaining) == 1:
            break
    best = min(remaining, key=lambda e: e.index)
    numbers = ", ".join(f"#{e.index + 1}" for e in tied)
    note = (
        f"Runs {numbers} tie at {metric} {format_cell(top)}; #{best.index + 1} is best by "
        f"{reason} (ties go to {TIE_RULE})"
    )
    return best.index, note


def _test_loss(entry: RunEntry) -> float | None:
    return _number(entry.row.test_loss) if entry.row is not None else None


def _epochs(entry: RunEntry) -> float | None:
    return _number(entry.parameters.get("epochs"))


def format_cell(value: Any) -> str:
    """A cell's text: floats to 4 significant digits, booleans as true/false."""
    return format_value(value, precision=4)


class RunsTableModel(RowTableModel):
    """One row per combination of the sweep shown; ITEM_ROLE gives the row's RunEntry."""

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self._record_id: str | None = None
        self._family: str | None = None
        self._parameters: list[str] = []
        self._rows: list[RunEntry] = []
        self._columns: list[tuple[str, str, str]] = list(LEADING) + list(TRAILING)
        self._best: int | None = None
        self._best_note = ""

    # ---- content ---------------------------------------------------------------------------
    @property
    def sweep_id(self) -> str | None:
        return self._record_id

    @property
    def family(self) -> str | None:
        return self._family

    def set_record(self, record: SweepRecord | None, family_spec: Any = None) -> None:
        """Show a sweep (None: nothing); a model reset, so views drop their selection. The
        swept parameters' tooltips name them as `family_spec` (its FamilySpec) labels them."""
        self.beginResetModel()
        if record is None:
            self._record_id = self._family = None
            self._parameters, self._rows = [], []
        else:
            self._record_id, self._family = record.id, record.spec.family
            self._parameters = record.spec.swept_names()
            rows = {row.index: row for row in record.rows}
            self._rows = [
                RunEntry(i, dict(combo), rows.get(i)) for i, combo in enumerate(record.combinations)
            ]
        self._columns = (
            list(LEADING)
            + [(name, name, f"Swept: {_label(family_spec, name)}") for name in self._parameters]
            + list(TRAILING)
        )
        self._best, self._best_note = self._find_best()
        self.endResetModel()

    def update_row(self, row: SweepRow) -> None:
        """Record a combination's outcome (from the running sweep); a search's trial, drawn
        as it runs, is added as its row."""
        if row.index < 0:
            return
        if row.index >= len(self._rows):
            first = len(self._rows)
            self.beginInsertRows(QModelIndex(), first, row.index)
            self._rows += [RunEntry(i, {}, None) for i in range(first, row.index + 1)]
            self.endInsertRows()
        entry = self._rows[row.index]
        entry.row, entry.running = row, False
        if row.parameters:
            entry.parameters = {**entry.parameters, **row.parameters}
        previous = self._best
        self._best, self._best_note = self._find_best()
        self.row_changed(row.index)
        for other in {previous, self._best} - {None, row.index}:
            assert other is not None
            self.row_changed(other)

    def set_running(self, index: int | None) -> None:
        """Mark the combination being trained (None: none)."""
        for i, entry in enumerate(self._rows):
            running = i == index and entry.unfinished
            if entry.running != running:
                entry.running = running
                self.row_changed(i)

    def mark_next_running(self) -> int | None:
        """Mark the first unfinished combination as running (sequential sweeps run them in
        order); returns its index, or None when every combination has finished."""
        index = next((e.index for e in self._rows if e.unfinished), None)
        self.set_running(index)
        return index

    def entries(self) -> list[RunEntry]:
        return list(self._rows)

    def best_row(self) -> int | None:
        """The source row of the best completed combination, or None."""
        return self._best

    def column_keys(self) -> list[str]:
        return [key for key, _, _ in self._columns]

    def column_of(self, key: str) -> int:
        return self.column_keys().index(key)

    def best_note(self) -> str:
        """How a tie for the best was broken ("" when the best run had no equal)."""
        return self._best_note

    def _find_best(self) -> tuple[int | None, str]:
        """The completed row with the best score of the sweep's metric (None: none), and how
        a tie was broken (TIE_RULE: lower test loss, then fewer epochs, then the first)."""
        scored = [(e, score(e)) for e in self._rows]
        scored = [(e, s) for e, s in scored if s is not None]
        if not scored:
            return None, ""
        # One sweep has one metric, unless it sweeps the dataset across task types: then the
        # metric most rows share decides.
        metric = Counter(e.row.metric_name for e, _ in scored if e.row).most_common(1)[0][0]
        candidates = [(e, s) for e, s in scored if e.row and e.row.metric_name == metric]
        pick = min if metric in LOWER_IS_BETTER else max
        top = pick(s for _, s in candidates)
        tied = [e for e, s in candidates if math.isclose(s, top, rel_tol=1e-12, abs_tol=1e-15)]
        return break_tie(tied, metric, top)

    # ---- RowTableModel -----------------------------------------------------------------------
    def column_count(self) -> int:
        return len(self._columns)

    def column_title(self, column: int) -> str:
        return self._columns[column][1]

    def column_tip(self, column: int) -> str:
        return self._columns[column][2]

    def role_data(self, entry: RunEntry, index: Index, role: int) -> Any:
        """Whether a cell is the best run's, what it says to a screen reader, and its tint."""
        column = index.column()
        key = self._columns[column][0]
        best = index.row() == self._best
        if role == BEST_ROLE:
            return best
        if role == Qt.ItemDataRole.ToolTipRole:
            return self._tooltip(entry, best)
        if role == Qt.ItemDataRole.BackgroundRole:
            tint = BEST_TINT if best else _TINTS.get(entry.result)
            return QBrush(tint) if tint is not None else None
        if role == Qt.ItemDataRole.FontRole and best:
            font = QFont()
            font.setBold(True)
            return font
        if role == Qt.ItemDataRole.AccessibleTextRole:
            text = self.accessible_text(column, self.cell_text(entry, column))
            return text + (" (best)" if best and column == 0 else "")
        if role == Qt.ItemDataRole.TextAlignmentRole and (key in NUMERIC or key in self._numeric()):
            return ALIGN_NUMBER
        return None

    def _numeric(self) -> set[str]:
        return {
            name
            for name in self._parameters
            if any(_number(e.parameters.get(name)) is not None for e in self._rows[:1])
        }

    def cell_text(self, entry: RunEntry, column: int) -> str:
        key = self._columns[column][0]
        if key == "duration_s":
            row = entry.row
            if row is None or (row.result == "failed" and not row.duration_s):
                return ""
            return format_duration(row.duration_s)
        if key in ("metric_name", "metric_score", "train_loss", "test_loss") and entry.row is None:
            return ""
        return format_cell(entry.value(key))

    def sort_key(self, entry: RunEntry, column: int) -> Any:
        key = self._columns[column][0]
        value = entry.value(key)
        if key in NUMERIC or key in self._parameters:
            number = _number(value)
            if number is not None:
                return number
            if key in NUMERIC:  # n/a, pending: sorted after every number (see lessThan)
                return None
        return format_cell(value).lower()

    def _tooltip(self, entry: RunEntry, best: bool) -> str:
        """A run's error, state, or what it is (and whether it is the best)."""
        if entry.result == "failed":
            return entry.error or "failed"
        if entry.result == "cancelled":
            return "Stopped before it finished; resume the sweep to finish it"
        if entry.result == "timed_out":
            return "Stopped at its time limit (timeout); resume the sweep to finish it"
        if entry.result == "pruned":
            epoch = entry.row.stopped_epoch if entry.row is not None else None
            return f"Pruned by the search after epoch {epoch}: its results were not promising"
        if entry.result == PENDING:
            return "Not trained yet"
        if entry.result == RUNNING:
            return "Being trained now"
        row = entry.row
        assert row is not None
        lines = [row.variant or ""]
        if best:
            better = "lowest" if row.metric_name in LOWER_IS_BETTER else "highest"
            lines.append(f"Best of the sweep ({better} {row.metric_name})")
            if self._best_note:
                lines.append(self._best_note)
        if row.reused:
            lines.append("Reused: this variant was already trained")
        return "\n".join(line for line in lines if line)

    # ---- export ------------------------------------------------------------------------------
    def write_csv(self, path: str | Path, rows: Iterable[int] | None = None) -> int:
        """Write the rows (source rows, all by default) as CSV with raw values; returns how many."""
        chosen: Sequence[int] = list(range(len(self._rows)) if rows is None else rows)
        header = ["index", "variant", *self._parameters, "result", *CSV_FIELDS, "error"]
        with open(path, "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(header)
            for source_row in chosen:
                entry = self._rows[source_row]
                row = entry.row
                values: list[Any] = [entry.index + 1, entry.variant or ""]
                values += [_csv(entry.parameters.get(name)) for name in self._parameters]
                values.append(entry.result)
                values += [_csv(getattr(row, f)) if row else "" for f in CSV_FIELDS]
                values.append((row.error or "") if row else "")
                writer.writerow(values)
        return len(chosen)


def _csv(value: Any) -> Any:
    if value is None or value == NA:
        return "" if value is None else NA
    if isinstance(value, bool):
        return "true" if value else "false"
    return value


class RunsFilterProxy(AttributeFilterProxy):
    """Filters by text (any cell contains it, case-insensitive) and by result; sorts on
    SORT_ROLE."""

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self._text = ""
        self._result: str | None = None

    def set_text(self, text: str) -> None:
        self._set_criterion("_text", text.strip().lower())

    def set_result(self, result: str | None) -> None:
        self._set_criterion("_result", result or None)

    def accepts(self, item: RunEntry, source_row: int, source_parent: Index) -> bool:
        if self._result is not None and item.result != self._result:
            return False
        if not self._text:
            return True
        model = self.sourceModel()
        for column in range(model.columnCount()):
            text = model.data(model.index(source_row, column, source_parent))
            if text and self._text in str(text).lower():
                return True
        return False

    def lessThan(self, left: Index, right: Index) -> bool:
        """Numbers before text; missing values (n/a, pending) last in either order."""
        a, b = left.data(SORT_ROLE), right.data(SORT_ROLE)
        if a is None or b is None:
            if (a is None) == (b is None):
                return left.row() < right.row()
            # Descending order shows "greater" first: missing counts as least there.
            return (a is None) == (self.sortOrder() == Qt.SortOrder.DescendingOrder)
        if isinstance(a, str) != isinstance(b, str):
            return not isinstance(a, str)
        return a < b

    def source_rows(self) -> list[int]:
        """The source rows shown, in view order."""
        return [self.mapToSource(self.index(r, 0)).row() for r in range(self.rowCount())]


def _label(family_spec: Any, name: str) -> str:
    """A swept parameter's words for a user (its name without the family's spec)."""
    return sweep_label(family_spec, name) if family_spec is not None else name
