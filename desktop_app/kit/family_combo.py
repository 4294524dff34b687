"""The model-family chooser every tab uses: Training, Sweeps, the distillation dialog's
student, and the Analysis tab's family filter."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import QComboBox

from desktop_app.kit.widgets import described


class FamilyCombo(QComboBox):
    """Families by name (the item data); `familyChanged(name)` when the user picks another.

    `fill(registry)` lists the registry's families by display name, each with its description
    (and architecture) as its tooltip, and the combo's own tooltip follows the choice.
    `set_names(names)` lists plain names instead (a filter over variants on disk, whose
    families may be gone from the registry), after an "any" entry whose data is None.
    Neither emits: the owner updates itself for the family shown, once, after filling.
    """

    familyChanged = Signal(object)  # the family's name (None: the "any" entry)

    def __init__(
        self, object_name: str, accessible: str, tip: str, *, any_text: str | None = None
    ) -> None:
        super().__init__()
        described(self, accessible, tip, object_name=object_name)
        self.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self._any_text = any_text
        self._specs: dict[str, Any] = {}
        if any_text is not None:
            self.addItem(any_text, None)
        self.currentIndexChanged.connect(self._on_index_changed)

    def fill(self, registry: Any, select: str | None = None) -> None:
        """List the registry's families (the first, or `select`, chosen), without emitting."""
        self._specs = {spec.name: spec for spec in registry.specs()}
        blocked = self.blockSignals(True)
        try:
            self.clear()
            for spec in self._specs.values():
                self.addItem(spec.display_name, spec.name)
                tip = spec.description + (f"\n\n{spec.architecture}" if spec.architecture else "")
                self.setItemData(self.count() - 1, tip, Qt.ItemDataRole.ToolTipRole)
            if select is not None:
                self.setCurrentIndex(max(self.findData(select), 0))
        finally:
            self.blockSignals(blocked)
        self._follow(self.family())

    def set_names(self, names: Iterable[str]) -> None:
        """List plain family names after the "any" entry, keeping the choice, without emitting."""
        chosen = self.family()
        blocked = self.blockSignals(True)
        try:
            self.clear()
            if self._any_text is not None:
                self.addItem(self._any_text, None)
            for name in names:
                self.addItem(name, name)
            index = self.findData(chosen) if chosen else 0
            self.setCurrentIndex(max(index, 0))
        finally:
            self.blockSignals(blocked)

    def family(self) -> str | None:
        return self.currentData()

    def select_family(self, name: str) -> bool:
        """Choose a family (emits `familyChanged` if it changes); False if it is not listed."""
        index = self.findData(name)
        if index < 0:
            return False
        self.setCurrentIndex(index)
        return True

    @Slot(int)
    def _on_index_changed(self, index: int) -> None:
        name = self.itemData(index)
        self._follow(name)
        self.familyChanged.emit(name)

    def _follow(self, name: str | None) -> None:
        """The combo's tooltip says what the chosen family is."""
        spec = self._specs.get(name) if name else None
        if spec is not None:
            self.setToolTip(spec.description or spec.display_name)
