"""The columns of a CSV table as the library shows them: type, empty cells, distinct values.

Uses the CSV reader and the number rules of `engine.datasets.tabular` (a column is numeric when
most of its filled cells parse as numbers), so what the library shows is what training reads.
"""

from __future__ import annotations

import math

from engine.datasets.manifest import ColumnInfo, ColumnType
from engine.datasets.tabular import _is_number, _looks_numeric, _read_rows


def column_type(cells: list[str]) -> ColumnType:
    """ "integer" if the column is numeric and every number in it is whole, "number" if it
    is numeric otherwise, else "text" (one-hot encoded when it is a feature)."""
    if not _looks_numeric(cells):
        return "text"
    values = [float(c) for c in cells if c and _is_number(c)]
    if values and all(math.isfinite(v) and v.is_integer() for v in values):
        return "integer"
    return "number"


def infer_columns(text: str, source: str) -> tuple[list[ColumnInfo], int]:
    """The columns of CSV `text` and its number of data rows. DatasetError naming `source`
    and the line for a malformed table (the same rules as training)."""
    header, rows = _read_rows(text, source)
    infos = []
    for j, name in enumerate(header):
        cells = [row[j] for row in rows]
        filled = [c for c in cells if c]
        infos.append(
            ColumnInfo(
                name=name,
                type=column_type(cells),
                missing=len(cells) - len(filled),
                distinct=len(set(filled)),
            )
        )
    return infos, len(rows)
