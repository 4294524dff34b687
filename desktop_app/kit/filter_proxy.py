"""A sort/filter proxy over a RowTableModel whose filter criteria are plain attributes."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QObject, QSortFilterProxyModel

from desktop_app.kit.table_model import ITEM_ROLE, SORT_ROLE, Index


class AttributeFilterProxy(QSortFilterProxyModel):
    """Sorts on SORT_ROLE and filters rows by their item (ITEM_ROLE) with `accepts`.

    Subclasses keep their criteria in attributes and change them through `_set_criterion`,
    which re-filters the rows only when the value really changes.
    """

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.setSortRole(SORT_ROLE)
        self.setDynamicSortFilter(True)

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

    def filterAcceptsRow(self, source_row: int, source_parent: Index) -> bool:
        model = self.sourceModel()
        item = model.data(model.index(source_row, 0, source_parent), ITEM_ROLE)
        return item is not None and self.accepts(item, source_row, source_parent)

    def accepts(self, item: Any, source_row: int, source_parent: Index) -> bool:
        """Whether the row of `item` passes the criteria (all rows by default)."""
        return True

    def item(self, proxy_row: int) -> Any:
        """The item of a row as the view shows it."""
        source = self.mapToSource(self.index(proxy_row, 0))
        return self.sourceModel().data(source, ITEM_ROLE)
