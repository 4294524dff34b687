"""The variant browser's table model (from `Workspace.discover_variants()`) and its filter proxy.

`scan_variants` reads what the table shows (on a task's thread when the variants folder
changes): every variant's summary, the epochs a live run has finished (from its chronicle's
last lines: metadata.json is written only at checkpoints) and its hyperparameters (from
config.json), which become columns when they differ between the variants listed.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import QApplication, QStyle

from desktop_app.kit.filter_proxy import AttributeFilterProxy
from desktop_app.kit.table_model import ALIGN_NUMBER, SORT_ROLE, Index, RowTableModel
from engine import variants
from engine.discovery import VariantSummary

COLUMNS = ("Family", "Variant", "Status", "Epochs", "Accuracy / R²", "Test loss", "Last modified")
COLUMN_TIPS = (
    "The model family",
    "The variant's name (its directory)",
    "completed, training, interrupted (training but no live run), failed, cancelled, timed_out "
    "(stopped at its time limit; resumable), created or broken",
    "Epochs completed of the epochs planned",
    "Final test accuracy (classification) or test R² (regression); train values when no test",
    "Final test loss",
    "When a file of the variant last changed (local time)",
)
FAMILY, VARIANT, STATUS, EPOCHS, METRIC, TEST_LOSS, MODIFIED = range(len(COLUMNS))
TAIL_BYTES = 64 * 1024  # how much of a live run's chronicle is read for its last epoch
# config.json fields that are no hyperparameter (names, the hash, the data record).
_NOT_PARAMETERS = frozenset({"family", "variant", "config_hash", "data", "domain", "training"})

STATUSES = (
    "completed",
    "training",
    "interrupted",
    "cancelled",
    "timed_out",
    "failed",
    "created",
    "broken",
)
PROBLEM_STATUSES = frozenset({"broken", "interrupted", "failed"})
_TINTS = {
    "broken": QColor(220, 50, 47, 70),
    "failed": QColor(220, 50, 47, 45),
    "interrupted": QColor(255, 165, 0, 60),
    "cancelled": QColor(160, 160, 160, 45),
    "timed_out": QColor(160, 160, 160, 45),
}


Parameters = dict[str, Any]  # a variant's hyperparameters: name -> value


@dataclass
class Scan:
    """What the variants folder holds: summaries, and each variant's hyperparameters."""

    summaries: list[VariantSummary]
    parameters: dict[str, Parameters] = field(default_factory=dict)  # by variant directory


def scan_variants(workspace: Any, cancel: Any = None) -> Scan:
    """Every variant's summary (a live run's epochs from its chronicle) and hyperparameters.
    Never raises for what is in a variant's files; `cancel` (an Event) stops early."""
    summaries = []
    parameters: dict[str, Parameters] = {}
    for summary in workspace.discover_variants():
        if cancel is not None and cancel.is_set():
            break
        if summary.status == "training":
            epochs = live_epochs(Path(summary.path))
            if epochs is not None and epochs > summary.epochs_completed:
                summary = summary.model_copy(update={"epochs_completed": epochs})
        summaries.append(summary)
        parameters[summary.path] = read_parameters(Path(summary.path))
    return Scan(summaries, parameters)


def live_epochs(directory: Path) -> int | None:
    """The last epoch the chronicle records as finished (None: none, or unreadable)."""
    try:
        with open(variants.chronicle_path(directory), "rb") as handle:
            size = handle.seek(0, 2)
            handle.seek(max(0, size - TAIL_BYTES))
            tail = handle.read()
    except OSError:
        return None
    for line in reversed(tail.splitlines()):
        if b'"train_loss"' not in line:
            continue  # a step's row, or a line cut by the tail's start
        try:
            row = json.loads(line)
        except ValueError:
            continue
        epoch = row.get("epoch") if isinstance(row, dict) else None
        if isinstance(epoch, int) and not isinstance(epoch, bool):
            return epoch
    return None


def read_parameters(directory: Path) -> Parameters:
    """The variant's hyperparameters from config.json: domain and training values by name
    (a training value whose name a domain value has is "training.<name>"), the strategy
    and its parameters ("strategy.<name>"); {} when it cannot be read."""
    try:
        config = json.loads(variants.config_path(directory).read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        return {}
    if not isinstance(config, dict):
        return {}
    found: Parameters = {}
    domain, training = config.get("domain"), config.get("training")
    if isinstance(domain, dict):
        found.update({str(k): v for k, v in domain.items()})
    if isinstance(training, dict):
        for key, value in training.items():
            found[f"training.{key}" if key in found else str(key)] = value
    for key, value in config.items():
        if key not in _NOT_PARAMETERS and key != "strategy_params":
            found[str(key)] = value
    strategy = config.get("strategy_params")
    if isinstance(strategy, dict):
        found.update({f"strategy.{k}": v for k, v in strategy.items()})
    return found


def _same(value: Any) -> str:
    """A value as compared and shown: JSON, keys sorted (1 and 1.0 differ, as in configs)."""
    try:
        return json.dumps(value, sort_keys=True)
    except (TypeError, ValueError):
        return repr(value)


def differing_parameters(parameters: Iterable[Parameters]) -> list[str]:
    """The names with at least two values among the variants that have them, sorted."""
    seen: dict[str, set[str]] = {}
    for params in parameters:
        for key, value in params.items():
            seen.setdefault(key, set()).add(_same(value))
    return sorted(key for key, values in seen.items() if len(values) > 1)


def format_parameter(value: Any) -> str:
    """A hyperparameter's cell text: strings as they are, numbers compact, the rest JSON."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:.4g}"
    return _same(value)


def metric_value(summary: VariantSummary) -> tuple[str, float | None]:
    """("accuracy" | "R²" | "", value) of the final metrics, preferring test over train."""
    metrics = summary.final_metrics or {}
    for key, label in (
        ("test_accuracy", "accuracy"),
        ("test_r2", "R²"),
        ("train_accuracy", "accuracy"),
        ("train_r2", "R²"),
    ):
        value = _float(metrics.get(key))
        if value is not None:
            return (label if key.startswith("test") else f"train {label}"), value
    return "", None


def format_metric(summary: VariantSummary) -> str:
    label, value = metric_value(summary)
    if value is None:
        return ""
    text = f"{value:.1%}" if label.endswith("accuracy") else f"{value:.4f}"
    return text if label in ("accuracy", "R²") else f"{text} (train)"


def local_time(iso: str) -> str:
    """An ISO timestamp shown in local time, to the minute; the input if it does not parse."""
    try:
        return datetime.fromisoformat(iso).astimezone().strftime("%Y-%m-%d %H:%M")
    except (TypeError, ValueError):
        return iso or ""


def _number(value: Any) -> float | None:
    """A finite int or float (not a bool, not a string), else None."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def _float(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


class VariantTableModel(RowTableModel):
    """One row per discovered variant; ITEM_ROLE gives the row's VariantSummary."""

    columns = COLUMNS
    column_tips = COLUMN_TIPS

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self._rows: list[VariantSummary] = []
        self._parameters: dict[str, Parameters] = {}
        self._parameter_columns: list[str] = []  # after the fixed columns

    # ---- data --------------------------------------------------------------------------
    def set_variants(
        self,
        summaries: Sequence[VariantSummary],
        parameters: dict[str, Parameters] | None = None,
    ) -> None:
        """Replace every row (a model reset: views drop their selection); the
        hyperparameters that differ between the variants become columns."""
        self.beginResetModel()
        self._rows = list(summaries)
        self._parameters = dict(parameters or {})
        self._parameter_columns = differing_parameters(
            self._parameters.get(s.path, {}) for s in self._rows
        )
        self.endResetModel()

    def update_variants(
        self, summaries: Sequence[VariantSummary], parameters: dict[str, Parameters]
    ) -> list[int] | None:
        """Update the rows in place when the same variants are listed in the same order
        with the same hyperparameter columns (the selection stays): the rows that changed.
        None when that is not so (then call `set_variants`)."""
        if [s.path for s in summaries] != [s.path for s in self._rows]:
            return None
        columns = differing_parameters(parameters.get(s.path, {}) for s in summaries)
        if columns != self._parameter_columns:
            return None
        changed = [
            i
            for i, (old, new) in enumerate(zip(self._rows, summaries, strict=True))
            if old != new or self._parameters.get(old.path) != parameters.get(new.path)
        ]
        self._rows = list(summaries)
        self._parameters = dict(parameters)
        for row in changed:
            self.row_changed(row)
        return changed

    def parameters(self, path: str) -> Parameters:
        """The hyperparameters of the variant at `path` ({} if unknown)."""
        return dict(self._parameters.get(path, {}))

    def parameter_columns(self) -> list[str]:
        """The hyperparameter names shown as columns, in column order (after MODIFIED)."""
        return list(self._parameter_columns)

    def column_of_parameter(self, name: str) -> int:
        """The column of a hyperparameter, or -1."""
        try:
            return len(COLUMNS) + self._parameter_columns.index(name)
        except ValueError:
            return -1

    def column_count(self) -> int:
        return len(COLUMNS) + len(self._parameter_columns)

    def column_title(self, column: int) -> str:
        if column < len(COLUMNS):
            return COLUMNS[column]
        return self._parameter_columns[column - len(COLUMNS)]

    def column_tip(self, column: int) -> str | None:
        if column < len(COLUMNS):
            return COLUMN_TIPS[column]
        name = self._parameter_columns[column - len(COLUMNS)]
        return f"Hyperparameter {name} (config.json): it differs between the variants listed"

    def _parameter(self, s: VariantSummary, column: int) -> Any:
        name = self._parameter_columns[column - len(COLUMNS)]
        return self._parameters.get(s.path, {}).get(name)

    def summaries(self) -> list[VariantSummary]:
        return list(self._rows)

    def row_of(self, path: str) -> int:
        """The row of the variant at `path`, or -1."""
        return next((i for i, s in enumerate(self._rows) if s.path == path), -1)

    def families(self) -> list[str]:
        return sorted({s.family for s in self._rows})

    # ---- RowTableModel -----------------------------------------------------------------
    def role_data(self, s: VariantSummary, index: Index, role: int) -> Any:
        """What a cell says to a screen reader, its tooltip, tint and icon."""
        column = index.column()
        if role == Qt.ItemDataRole.ToolTipRole:
            return self._tooltip(s)
        if role == Qt.ItemDataRole.BackgroundRole and s.status in _TINTS:
            return QBrush(_TINTS[s.status])
        if role == Qt.ItemDataRole.DecorationRole and column == STATUS:
            return self._icon(s.status)
        if role == Qt.ItemDataRole.AccessibleTextRole:
            return self.accessible_text(column, self.cell_text(s, column))
        if role == Qt.ItemDataRole.TextAlignmentRole:
            if column in (EPOCHS, METRIC, TEST_LOSS):
                return ALIGN_NUMBER
            if column >= len(COLUMNS) and _number(self._parameter(s, column)) is not None:
                return ALIGN_NUMBER
        return None

    def cell_text(self, s: VariantSummary, column: int) -> str:
        """A cell's text."""
        if column == FAMILY:
            return s.family
        if column == VARIANT:
            return s.variant
        if column == STATUS:
            return s.status
        if column == EPOCHS:
            if s.status == "broken":
                return ""
            return (
                f"{s.epochs_completed}/{s.total_epochs}"
                if s.total_epochs
                else str(s.epochs_completed)
            )
        if column == METRIC:
            return format_metric(s)
        if column == TEST_LOSS:
            loss = _float((s.final_metrics or {}).get("test_loss"))
            return "" if loss is None else f"{loss:.4g}"
        if column == MODIFIED:
            return local_time(s.last_modified)
        if column >= len(COLUMNS):
            return format_parameter(self._parameter(s, column))
        return ""

    def sort_key(self, s: VariantSummary, column: int) -> Any:
        if column == EPOCHS:
            return s.epochs_completed
        if column == METRIC:
            value = metric_value(s)[1]
            return -math.inf if value is None else value
        if column == TEST_LOSS:
            loss = _float((s.final_metrics or {}).get("test_loss"))
            return math.inf if loss is None else loss
        if column == MODIFIED:
            return s.last_modified
        if column >= len(COLUMNS):
            value = self._parameter(s, column)
            number = _number(value)
            # Numbers in order, before text; a variant without the parameter last.
            if number is not None:
                return (0, number, "")
            return (1 if value is not None else 2, 0.0, format_parameter(value).lower())
        return super().sort_key(s, column)

    def _tooltip(self, s: VariantSummary) -> str:
        """The variant's status, its problem if any, and its final metrics."""
        lines = [f"{s.variant} ({s.family})", f"status: {s.status}"]
        if s.problem:
            lines.append(f"problem: {s.problem}")
        elif s.status == "interrupted":
            lines.append("problem: training stopped without finishing; resume it to continue")
        metrics = s.final_metrics or {}
        shown = [
            f"{k}: {v:.4g}" if isinstance(v, float) else f"{k}: {v}"
            for k, v in metrics.items()
            if k
            in ("train_loss", "test_loss", "train_accuracy", "test_accuracy", "train_r2", "test_r2")
        ]
        if shown:
            lines.append("final " + ", ".join(shown))
        lines.append(s.path)
        return "\n".join(lines)

    @staticmethod
    def _icon(status: str) -> Any:
        app = QApplication.instance()
        if app is None or status not in PROBLEM_STATUSES:
            return None
        pixmap = (
            QStyle.StandardPixmap.SP_MessageBoxCritical
            if status in ("broken", "failed")
            else QStyle.StandardPixmap.SP_MessageBoxWarning
        )
        return app.style().standardIcon(pixmap)  # type: ignore[attr-defined]


class VariantFilterProxy(AttributeFilterProxy):
    """Filters rows by family and by status (None: any) and sorts on SORT_ROLE."""

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self._family: str | None = None
        self._status: str | None = None

    def set_family(self, family: str | None) -> None:
        self._set_criterion("_family", family or None)

    def set_status(self, status: str | None) -> None:
        self._set_criterion("_status", status or None)

    def accepts(self, item: VariantSummary, source_row: int, source_parent: Index) -> bool:
        if self._family is not None and item.family != self._family:
            return False
        return self._status is None or item.status == self._status

    def lessThan(self, left: Index, right: Index) -> bool:
        """Python's order of the sort keys (hyperparameters sort as (kind, number, text))."""
        a, b = left.data(SORT_ROLE), right.data(SORT_ROLE)
        try:
            return bool(a < b)
        except TypeError:
            return str(a) < str(b)
