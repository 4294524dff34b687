"""The published models as a table: one row per version, and its filter.

Rows are `VersionRow`s, plain values the listing task builds from the registry's version
records and each model's aliases (engine.registry); the table sorts every column by value
(versions as numbers, sizes in bytes, times chronologically).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QFont

from desktop_app.kit.filter_proxy import AttributeFilterProxy
from desktop_app.kit.formatting import format_bytes, format_local_time
from desktop_app.kit.table_model import ALIGN_NUMBER, Index, RowTableModel

COLUMNS = (
    "Model",
    "Version",
    "Aliases",
    "Family",
    "Dataset",
    "Score",
    "Test loss",
    "Parameters",
    "Size",
    "ms / 1,000",
    "Published",
    "Notes",
)
COLUMN_TIPS = (
    "The model's name: what `trainwright predict NAME` and `models export NAME` take",
    "The version number (NAME:3 names it; without a number, the latest is meant)",
    "Other names of this version (NAME:ALIAS names it), e.g. production",
    "The model family it was trained with",
    "The dataset its variant was trained on",
    "Test accuracy for a classifier, R² for a regression, of the published weights",
    "Test loss of the published weights",
    "Number of weights",
    "The weights file (safetensors) on disk",
    "Milliseconds for a forward pass over 1,000 examples on one thread, measured at publish",
    "When the version was published (local time)",
    "The version's notes (the model's notes are in the details)",
)
(
    MODEL,
    VERSION,
    ALIASES,
    FAMILY,
    DATASET,
    SCORE,
    LOSS,
    PARAMETERS,
    SIZE,
    SPEED,
    PUBLISHED,
    NOTES,
) = range(len(COLUMNS))
NUMBER_COLUMNS = (VERSION, SCORE, LOSS, PARAMETERS, SIZE, SPEED)
SCORE_METRICS = ("test_accuracy", "test_r2")  # the headline metric, first one present


@dataclass(frozen=True)
class VersionRow:
    """One published version as the Models tab shows it (its record, the model's aliases
    pointing at it, and whether it is the model's latest)."""

    name: str
    version: int
    family: str
    variant: str
    created_at: str
    checkpoint: str = "final"
    epoch: int | None = None
    dataset: str | None = None
    data_sha256: str | None = None
    task_type: str | None = None
    class_names: list[str] | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    parameters: int = 0
    size_bytes: int = 0
    inference_ms_per_1000: float | None = None
    weights_sha256: str = ""
    file_sha256: str = ""
    trained_with: str = "torch"  # a tensorflow variant's weights are converted to torch
    trained_weights_sha256: str | None = None
    lineage: dict[str, str | None] = field(default_factory=dict)
    notes: str = ""
    aliases: tuple[str, ...] = ()
    latest: bool = False
    model_notes: str = ""
    engine_version: str = ""
    input_kind: str | None = None  # what its preprocessing takes: "table", "image", ...
    takes_images: bool = False  # an image classifier or an MLP on pixels (its input kind)

    @property
    def ref(self) -> str:
        """NAME:VERSION: what the CLI takes to name exactly this version."""
        return f"{self.name}:{self.version}"

    @property
    def score(self) -> tuple[str, float] | None:
        """The headline metric (accuracy, else R²) and its value, if recorded."""
        for key in SCORE_METRICS:
            if key in self.metrics:
                return key, self.metrics[key]
        return None

    @classmethod
    def from_version(
        cls,
        version: Any,
        aliases: dict[str, int],
        *,
        latest: bool,
        model_notes: str = "",
        input_kind: str | None = None,
        takes_images: bool = False,
    ) -> VersionRow:
        """The row of an engine ModelVersion (its fields of the same names), with the
        model's aliases that name it."""
        record = version.model_dump(mode="json")
        values = {f.name: record[f.name] for f in fields(cls) if f.name in record}
        return cls(
            **values,
            aliases=tuple(sorted(a for a, v in aliases.items() if v == version.version)),
            latest=latest,
            model_notes=model_notes,
            input_kind=input_kind,
            takes_images=takes_images,
        )


def score_text(row: VersionRow) -> str:
    score = row.score
    if score is None:
        return ""
    key, value = score
    return f"{value:.1%}" if key == "test_accuracy" else f"R² {value:.3f}"


class VersionTableModel(RowTableModel):
    """One row per published version; ITEM_ROLE gives its VersionRow. The latest version of
    each model is in bold."""

    columns = COLUMNS
    column_tips = COLUMN_TIPS

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self._rows: list[VersionRow] = []

    def set_versions(self, rows: Sequence[VersionRow]) -> None:
        self.replace_rows(rows)

    def versions(self) -> list[VersionRow]:
        return list(self._rows)

    def row_of(self, name: str, version: int | None = None) -> int:
        """The row of NAME's `version` (None: its latest), or -1."""
        for i, row in enumerate(self._rows):
            if row.name == name and (row.version == version or (version is None and row.latest)):
                return i
        return -1

    def model_names(self) -> list[str]:
        return sorted({row.name for row in self._rows})

    # ---- RowTableModel ---------------------------------------------------------------------
    def cell_text(self, r: VersionRow, column: int) -> str:
        texts = {
            MODEL: r.name,
            VERSION: f"v{r.version}",
            ALIASES: ", ".join(r.aliases),
            FAMILY: r.family,
            DATASET: r.dataset or "",
            SCORE: score_text(r),
            LOSS: f"{r.metrics['test_loss']:.4g}" if "test_loss" in r.metrics else "",
            PARAMETERS: f"{r.parameters:,}",
            SIZE: format_bytes(r.size_bytes),
            SPEED: "" if r.inference_ms_per_1000 is None else f"{r.inference_ms_per_1000:.3g}",
            PUBLISHED: format_local_time(r.created_at),
            NOTES: r.notes.replace("\n", " "),
        }
        return texts.get(column, "")

    def sort_key(self, r: VersionRow, column: int) -> Any:
        if column == MODEL:
            # A model's versions together, newest first (one string: Qt compares no tuples).
            return f"{r.name.lower()}\0{10**9 - r.version:010d}"
        if column == VERSION:
            return r.version
        if column == SCORE:
            score = r.score
            return -float("inf") if score is None else score[1]
        if column == LOSS:
            return r.metrics.get("test_loss", float("inf"))
        if column == PARAMETERS:
            return r.parameters
        if column == SIZE:
            return r.size_bytes
        if column == SPEED:
            return float("inf") if r.inference_ms_per_1000 is None else r.inference_ms_per_1000
        if column == PUBLISHED:
            return r.created_at
        return super().sort_key(r, column)

    def role_data(self, r: VersionRow, index: Index, role: int) -> Any:
        column = index.column()
        if role == Qt.ItemDataRole.ToolTipRole:
            return self._tooltip(r, column)
        if role == Qt.ItemDataRole.FontRole and r.latest:
            font = QFont()
            font.setBold(True)
            return font
        if role == Qt.ItemDataRole.AccessibleTextRole:
            return self.accessible_text(column, self.cell_text(r, column))
        if role == Qt.ItemDataRole.TextAlignmentRole and column in NUMBER_COLUMNS:
            return ALIGN_NUMBER
        return None

    @staticmethod
    def _tooltip(r: VersionRow, column: int) -> str:
        if column == NOTES and r.notes:
            return r.notes
        latest = " (the latest)" if r.latest else ""
        lines = [f"{r.name} v{r.version}{latest}: {r.family} on {r.dataset or 'its own data'}"]
        lines.append(f"from variant {r.variant} ({r.checkpoint} weights)")
        if r.aliases:
            lines.append("aliases: " + ", ".join(r.aliases))
        return "\n".join(lines)


class VersionFilterProxy(AttributeFilterProxy):
    """Filters by text (in the name, an alias, the family, the dataset or the variant) and
    optionally to each model's latest version; sorts on SORT_ROLE."""

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self._text = ""
        self._latest_only = False

    def set_text(self, text: str) -> None:
        self._set_criterion("_text", text.strip().casefold())

    def set_latest_only(self, latest_only: bool) -> None:
        self._set_criterion("_latest_only", bool(latest_only))

    def filtering(self) -> bool:
        return bool(self._text or self._latest_only)

    def accepts(self, item: VersionRow, source_row: int, source_parent: Index) -> bool:
        if self._latest_only and not item.latest:
            return False
        text = self._text
        if not text:
            return True
        fields = (item.name, item.family, item.dataset or "", item.variant, *item.aliases)
        return any(text in value.casefold() for value in fields)
