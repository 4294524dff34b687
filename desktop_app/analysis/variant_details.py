"""The details pane: a variant's config, metadata and checkpoint list with SHA-256s; and the
side-by-side config diff of two variants."""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Slot
from PySide6.QtGui import QBrush, QColor, QFont
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QHeaderView,
    QLabel,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from engine import variants
from engine.discovery import VariantSummary

CHECKPOINT_COLUMNS = ("File", "Kind", "Epoch", "Step", "SHA-256", "Weights SHA-256")


def read_json(path: Path) -> tuple[Any, str | None]:
    """(parsed JSON, None) or (None, why it could not be read)."""
    try:
        return json.loads(path.read_text(encoding="utf-8")), None
    except FileNotFoundError:
        return None, f"{path.name} is missing"
    except (OSError, ValueError) as exc:
        return None, f"{path.name} is unreadable: {exc}"


def _add_items(parent: QTreeWidgetItem, value: Any) -> None:
    if isinstance(value, dict):
        for key, child in value.items():
            _add_child(parent, str(key), child)
    elif isinstance(value, list):
        for i, child in enumerate(value):
            _add_child(parent, f"[{i}]", child)


def _add_child(parent: QTreeWidgetItem, key: str, value: Any) -> None:
    if isinstance(value, dict | list) and value:
        item = QTreeWidgetItem(parent, [key, ""])
        _add_items(item, value)
    else:
        text = json.dumps(value) if not isinstance(value, str) else value
        item = QTreeWidgetItem(parent, [key, text])
        item.setToolTip(1, text)


class VariantDetails(QWidget):
    """Shows one variant: a tree of its config and metadata files, and a checkpoint table."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("variantDetails")
        self.setAccessibleName("Variant details")
        self.header = QLabel("Select a variant to see its configuration and checkpoints.")
        self.header.setObjectName("detailsHeader")
        self.header.setWordWrap(True)
        self.header.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.header.setAccessibleName("Variant summary")

        self.tree = QTreeWidget()
        self.tree.setObjectName("detailsTree")
        self.tree.setColumnCount(2)
        self.tree.setHeaderLabels(["Field", "Value"])
        self.tree.setAccessibleName("Configuration and metadata")
        self.tree.setToolTip(
            f"{variants.CONFIG_FILE} and {variants.METADATA_FILE} of the selected variant"
        )
        self.tree.header().setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)

        self.checkpoints = QTableWidget(0, len(CHECKPOINT_COLUMNS))
        self.checkpoints.setObjectName("checkpointTable")
        self.checkpoints.setHorizontalHeaderLabels(list(CHECKPOINT_COLUMNS))
        self.checkpoints.setAccessibleName("Checkpoints")
        self.checkpoints.setToolTip(
            f"Checkpoints recorded in {variants.METADATA_FILE}; each file is verified against "
            "its SHA-256 before it is loaded"
        )
        self.checkpoints.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.checkpoints.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.checkpoints.verticalHeader().setVisible(False)
        self.checkpoints.horizontalHeader().setStretchLastSection(True)

        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(self.tree)
        splitter.addWidget(self.checkpoints)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.header)
        layout.addWidget(splitter, 1)
        self.summary: VariantSummary | None = None

    def show_variant(self, summary: VariantSummary | None) -> None:
        """Fill the pane from the variant's files (None clears it)."""
        self.summary = summary
        self.tree.clear()
        self.checkpoints.setRowCount(0)
        if summary is None:
            self.header.setText("Select a variant to see its configuration and checkpoints.")
            return
        directory = Path(summary.path)
        header = f"<b>{summary.variant}</b> ({summary.family}) — {summary.status}"
        if summary.problem:
            header += f"<br>Problem: {summary.problem}"
        self.header.setText(header + f"<br><small>{directory}</small>")
        config_path, metadata_path = (
            variants.config_path(directory),
            variants.metadata_path(directory),
        )
        config, config_error = read_json(config_path)
        metadata, metadata_error = read_json(metadata_path)
        self._add_section(config_path.name, config, config_error)
        checkpoints = []
        if isinstance(metadata, dict):
            checkpoints = metadata.get("checkpoints") or []
            metadata = {k: v for k, v in metadata.items() if k != "checkpoints"}
        self._add_section(metadata_path.name, metadata, metadata_error)
        self._fill_checkpoints(checkpoints)

    def _add_section(self, title: str, value: Any, error: str | None) -> None:
        root = QTreeWidgetItem(self.tree, [title, error or ""])
        if error:
            root.setToolTip(1, error)
        _add_items(root, value)
        root.setExpanded(True)

    def _fill_checkpoints(self, checkpoints: list[dict[str, Any]]) -> None:
        rows = sorted(
            (c for c in checkpoints if isinstance(c, dict)),
            key=lambda c: (c.get("epoch", 0), c.get("step", 0), c.get("kind", "")),
        )
        self.checkpoints.setRowCount(len(rows))
        keys = ("file", "kind", "epoch", "step", "sha256", "weights_sha256")
        for r, entry in enumerate(rows):
            for c, key in enumerate(keys):
                value = entry.get(key)
                item = QTableWidgetItem("" if value is None else str(value))
                item.setToolTip(str(value) if value is not None else "")
                self.checkpoints.setItem(r, c, item)
        self.checkpoints.resizeColumnsToContents()


DIFF_TINT = QColor(255, 193, 7, 70)  # a row whose values differ (amber, readable light or dark)
MISSING = "—"  # a parameter one of the variants does not have


def _shown_value(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True)


def config_diff(left: dict[str, Any], right: dict[str, Any]) -> list[tuple[str, str, str, bool]]:
    """(name, left value, right value, differs) for every parameter of either, the differing
    ones first, each group by name."""
    rows = []
    for name in set(left) | set(right):
        a = _shown_value(left[name]) if name in left else MISSING
        b = _shown_value(right[name]) if name in right else MISSING
        rows.append((name, a, b, a != b or (name in left) != (name in right)))
    rows.sort(key=lambda r: (not r[3], r[0]))
    return rows


class ConfigDiffDialog(QDialog):
    """Two variants' hyperparameters side by side, the differences first and highlighted;
    "Only differences" hides the rest."""

    def __init__(
        self,
        left: VariantSummary,
        left_params: dict[str, Any],
        right: VariantSummary,
        right_params: dict[str, Any],
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("configDiffDialog")
        self.setWindowTitle(f"Compare configs — {left.variant} and {right.variant}")
        self.setAccessibleName("Compare configs")
        self.diff = config_diff(left_params, right_params)
        differing = sum(1 for row in self.diff if row[3])
        a, b = (f"<b>{html.escape(v.variant)}</b> ({html.escape(v.family)})" for v in (left, right))
        self.summary = QLabel(
            f"<b>{differing}</b> of {len(self.diff)} parameters differ between {a} and {b}."
            if differing
            else f"The configs of {a} and {b} are the same."
        )
        self.summary.setObjectName("configDiffSummary")
        self.summary.setWordWrap(True)
        self.summary.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.only_differences = QCheckBox("&Only differences")
        self.only_differences.setObjectName("onlyDifferencesCheck")
        self.only_differences.setAccessibleName("Only differences")
        self.only_differences.setToolTip("Hide the parameters both variants set alike")
        self.table = QTableWidget(len(self.diff), 3)
        self.table.setObjectName("configDiffTable")
        self.table.setAccessibleName("Config differences")
        self.table.setAccessibleDescription(
            "Each parameter with its value in both variants; differing rows are highlighted "
            "and listed first"
        )
        self.table.setHorizontalHeaderLabels(["Parameter", left.variant, right.variant])
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        bold = QFont()
        bold.setBold(True)
        for r, (name, a, b, differs) in enumerate(self.diff):
            for c, text in enumerate((name, a, b)):
                item = QTableWidgetItem(text)
                item.setToolTip(text)
                if differs:
                    item.setBackground(QBrush(DIFF_TINT))
                    item.setFont(bold)
                    item.setData(Qt.ItemDataRole.AccessibleTextRole, f"{text} (differs)")
                self.table.setItem(r, c, item)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        self.only_differences.toggled.connect(self._on_only_differences)
        self.only_differences.setChecked(differing > 0)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.summary)
        layout.addWidget(self.only_differences)
        layout.addWidget(self.table, 1)
        layout.addWidget(buttons)
        self.resize(760, 520)

    @Slot(bool)
    def _on_only_differences(self, only: bool) -> None:
        for r, row in enumerate(self.diff):
            self.table.setRowHidden(r, only and not row[3])

    def shown_rows(self) -> list[tuple[str, str, str]]:
        """The rows shown, as text (parameter, left, right)."""
        return [
            tuple(self.table.item(r, c).text() for c in range(3))  # type: ignore[misc]
            for r in range(self.table.rowCount())
            if not self.table.isRowHidden(r)
        ]
