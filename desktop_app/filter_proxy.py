"""A sort/filter proxy whose filter criteria are plain attributes."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QSortFilterProxyModel


class AttributeFilterProxy(QSortFilterProxyModel):
    """Subclasses keep their criteria in attributes and change them through `_set_criterion`,
    which re-filters the rows only when the value really changes."""

    def _set_criterion(self, attribute: str, value: Any) -> None:
        if getattr(self, attribute) == value:
            return
        if hasattr(self, "beginFilterChange"):  # Qt >= 6.10
            self.beginFilterChange()
            setattr(self, attribute, value)
            self.endFilterChange(QSortFilterProxyModel.Direction.Rows)
        else:  # older Qt
            setattr(self, attribute, value)
            self.invalidateFilter()
