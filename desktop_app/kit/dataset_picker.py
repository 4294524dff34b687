"""The dataset picker of a parameter form, and the catalogue of datasets every picker lists.

A parameter whose spec says `widget == "dataset"` (mlp's `dataset`) is edited with a
`DatasetPicker`: an editable combo listing the datasets of the library (built-in and
imported ready ones) by display name, with the id as each item's data, and a Browse… button
that chooses a CSV file read in place (`csv:PATH`). Its value is always the id string the
engine resolves: the chosen item's id, else what was typed (an id, a display name, a
`csv:PATH`), so a form reads it like a line edit and the engine reports an unknown one.

The `DatasetCatalog` is the one list every picker shows (`DatasetCatalog.shared()`, one per
process like the engine warm-up): it starts with the built-ins, and the Datasets tab publishes
the library's list to it after each listing (an import, a rename, a delete), so every picker
follows the library without reading the disk itself.

A spec with `dataset_kinds` (the image classifier's `dataset`: `["images"]`) makes a picker
that lists only datasets of those kinds; without "tabular" there is no Browse… for a CSV.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Qt, Signal, Slot
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QSizePolicy,
    QToolButton,
    QWidget,
)

from engine.datasets import list_datasets
from engine.datasets.types import CSV_PREFIX

BROWSE_TIP = (
    "Choose a CSV file to read in place (csv:PATH); import it in the Datasets tab to keep a copy"
)


@dataclass(frozen=True)
class DatasetChoice:
    """One dataset a picker offers: its id (the value), display name, kind and origin."""

    id: str
    name: str
    kind: str = "tabular"  # "tabular" | "images"
    imported: bool = False

    @property
    def tip(self) -> str:
        origin = "imported" if self.imported else "built-in"
        kind = "image" if self.kind == "images" else "tabular"
        return f"{self.name} — id {self.id} ({origin}, {kind})"


def choices_from_infos(infos: Iterable[Any]) -> list[DatasetChoice]:
    """Picker entries from engine DatasetInfos (list_datasets), in their order."""
    return [
        DatasetChoice(
            info.id,
            info.display_name,
            getattr(info, "kind", "tabular"),
            info.source == "imported",
        )
        for info in infos
    ]


class DatasetCatalog(QObject):
    """The datasets every picker lists; `changed` when the list does. One per process
    (`shared()`), never deleted; lives on the GUI thread."""

    changed = Signal()

    _shared: DatasetCatalog | None = None

    def __init__(self) -> None:
        super().__init__()
        self.home: Path | None = None
        self._choices: list[DatasetChoice] = choices_from_infos(list_datasets())

    @classmethod
    def shared(cls) -> DatasetCatalog:
        if cls._shared is None:
            cls._shared = cls()
        return cls._shared

    def choices(self) -> list[DatasetChoice]:
        return list(self._choices)

    def reset(self, home: Path | None) -> None:
        """A window for `home` starts: the built-ins until its library has been listed (what
        another home published must not show)."""
        self.home = Path(home) if home is not None else None
        self.publish(self.home, choices_from_infos(list_datasets()))

    def publish(self, home: Path | None, choices: Iterable[DatasetChoice]) -> None:
        """The datasets of `home`'s library, as just listed (emits `changed` if different)."""
        self.home = Path(home) if home is not None else None
        choices = list(choices)
        if choices != self._choices:
            self._choices = choices
            self.changed.emit()


def _item_texts(choices: list[DatasetChoice]) -> list[str]:
    """Each choice's text in the list: its display name, with its id when that name is not
    unique or is another choice's id (so a typed name means one dataset)."""
    ids = {c.id for c in choices}
    counts: dict[str, int] = {}
    for choice in choices:
        counts[choice.name] = counts.get(choice.name, 0) + 1
    return [
        f"{c.name} ({c.id})" if counts[c.name] > 1 or (c.name in ids and c.name != c.id) else c.name
        for c in choices
    ]


class DatasetPicker(QWidget):
    """An editable combo of the catalogue's datasets and a Browse… button for a CSV file.

    `value()` is the dataset id (what the form reads); `set_value(id)` shows it (an id not
    listed, a `csv:PATH`, shows as typed text); `valueChanged(id)` when the value changes,
    whether the user picked, typed or browsed, or the dataset chosen left the library (then
    the first one is chosen: selected ?? first ?? none). Focus, accessible name and
    description go to the combo, which is what the user types in.
    """

    valueChanged = Signal(str)

    def __init__(
        self,
        parent: QWidget | None = None,
        catalog: DatasetCatalog | None = None,
        kinds: Iterable[str] | None = None,
    ):
        super().__init__(parent)
        self.catalog = catalog or DatasetCatalog.shared()
        # The dataset kinds listed (None: every kind); a CSV file is a table.
        self.kinds: frozenset[str] | None = frozenset(kinds) if kinds is not None else None
        # Asks for a CSV file (None: cancelled); tests replace it.
        self.choose_file: Callable[[], str | None] = self._choose_file
        self.combo = QComboBox(self)
        self.combo.setObjectName("datasetPickerCombo")
        self.combo.setEditable(True)
        self.combo.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        self.combo.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
        )
        self.combo.setMinimumContentsLength(12)
        self.combo.setMaxVisibleItems(20)
        self.combo.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.combo.lineEdit().setPlaceholderText(
            "a dataset id or csv:PATH" if self.takes_csv else "a dataset id"
        )
        self.browse_button = QToolButton(self)
        self.browse_button.setText("Browse…")
        self.browse_button.setToolTip(BROWSE_TIP)
        self.browse_button.setAccessibleName("Browse for a CSV file")
        self.browse_button.setAccessibleDescription(BROWSE_TIP)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addWidget(self.combo, 1)
        layout.addWidget(self.browse_button)
        self.browse_button.setVisible(self.takes_csv)
        self.setFocusProxy(self.combo)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self._choices: list[DatasetChoice] = []
        self._last = ""
        self._fill(self._listed(self.catalog.choices()), keep="")
        self._last = self.value()
        self.combo.currentIndexChanged.connect(self._on_combo_changed)
        self.combo.editTextChanged.connect(self._on_combo_changed)
        self.browse_button.clicked.connect(self.browse)
        self.catalog.changed.connect(self._on_catalog_changed)

    @property
    def takes_csv(self) -> bool:
        """Whether a CSV file (a table) may be chosen: Browse… is shown only then."""
        return self.kinds is None or "tabular" in self.kinds

    def _listed(self, choices: list[DatasetChoice]) -> list[DatasetChoice]:
        """The catalogue's choices of the kinds this picker takes."""
        if self.kinds is None:
            return choices
        return [c for c in choices if c.kind in self.kinds]

    # ---- what the form uses ----------------------------------------------------------------
    def setAccessibleName(self, name: str) -> None:
        """The combo is what a screen reader announces (the picker is its frame)."""
        super().setAccessibleName(name)
        self.combo.setAccessibleName(name)

    def setAccessibleDescription(self, description: str) -> None:
        super().setAccessibleDescription(description)
        self.combo.setAccessibleDescription(description)

    def setToolTip(self, tip: str) -> None:
        """The form's tooltip (help, default, error) is the combo's."""
        super().setToolTip(tip)
        self.combo.setToolTip(tip)

    def value(self) -> str:
        """The id: the chosen item's, else the typed text's (an id, a display name, or
        anything else as typed, which the engine then names as unknown)."""
        combo = self.combo
        text = combo.currentText().strip()
        if not text:
            return ""
        index = combo.currentIndex()
        if index >= 0 and combo.itemText(index) == combo.currentText():
            return str(combo.itemData(index))
        for choice in self._choices:  # a typed id means that dataset
            if choice.id == text:
                return choice.id
        found = combo.findText(text, Qt.MatchFlag.MatchFixedString)  # a name, any case
        if found >= 0:
            return str(combo.itemData(found))
        return text

    def set_value(self, value: Any) -> None:
        """Show `value`: the item whose id it is, else the text as typed ("" chooses the
        first dataset)."""
        text = "" if value is None else str(value).strip()
        combo = self.combo
        index = combo.findData(text) if text else (0 if combo.count() else -1)
        if index >= 0:
            combo.setCurrentIndex(index)
            combo.setEditText(combo.itemText(index))
        else:
            combo.setCurrentIndex(-1)
            combo.setEditText(text)
        self._emit_if_changed()

    def choice_ids(self) -> list[str]:
        """The ids listed, in order."""
        return [c.id for c in self._choices]

    # ---- browsing --------------------------------------------------------------------------
    @Slot()
    def browse(self) -> None:
        """Choose a CSV file: the value becomes `csv:PATH` (the file is read in place)."""
        path = self.choose_file()
        if path:
            self.set_value(f"{CSV_PREFIX}{path}")
            self.combo.setFocus()

    def _choose_file(self) -> str | None:
        current = self.value()
        start = current[len(CSV_PREFIX) :] if current.startswith(CSV_PREFIX) else str(Path.home())
        path, _ = QFileDialog.getOpenFileName(
            self, "Choose a CSV file", start, "CSV files (*.csv);;All files (*)"
        )
        return path or None

    # ---- the list --------------------------------------------------------------------------
    def _fill(self, choices: list[DatasetChoice], keep: str) -> None:
        """List `choices` and show `keep` again: its item if listed, else as typed text;
        if `keep` was a listed dataset that is gone (or nothing), the first dataset."""
        was_listed = keep in {c.id for c in self._choices}
        self._choices = list(choices)
        combo = self.combo
        blocked = combo.blockSignals(True)
        try:
            combo.clear()
            previous: DatasetChoice | None = None
            for choice, text in zip(self._choices, _item_texts(self._choices), strict=True):
                if previous is not None and choice.imported and not previous.imported:
                    combo.insertSeparator(combo.count())  # built-ins above, imported below
                combo.addItem(text, choice.id)
                combo.setItemData(combo.count() - 1, choice.tip, Qt.ItemDataRole.ToolTipRole)
                previous = choice
            index = combo.findData(keep) if keep else -1
            if index < 0 and (was_listed or not keep):
                index = 0 if combo.count() else -1
            if index >= 0:
                combo.setCurrentIndex(index)
                combo.setEditText(combo.itemText(index))
            else:
                combo.setCurrentIndex(-1)
                combo.setEditText(keep)
        finally:
            combo.blockSignals(blocked)

    @Slot()
    def _on_catalog_changed(self) -> None:
        self._fill(self._listed(self.catalog.choices()), keep=self.value())
        self._emit_if_changed()

    @Slot()
    def _on_combo_changed(self, *_: object) -> None:
        self._emit_if_changed()

    def _emit_if_changed(self) -> None:
        value = self.value()
        if value != self._last:
            self._last = value
            self.valueChanged.emit(value)
