"""CSV tables -> `LoadedDataset`, for the bundled real datasets and users' ``csv:PATH`` files.

Uses only the stdlib ``csv`` module so user files need no extra dependency, and reports
every problem as a `DatasetError` naming the file, the 1-based data row (row 1 is the first
row after the header; blank lines are skipped and not counted) and the column.

A user's table is parsed once per (identity, content SHA-256): the form resolves a run on
every edit and a run loads its data several times, so the rows are kept in a small module-level
cache keyed by the content's hash. An edited file has a new hash and is read again.
"""

from __future__ import annotations

import csv
import hashlib
import io
import math
import stat
import threading
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from engine.datasets.content_memo import remembered_hash, signature
from engine.datasets.types import (
    CSV_DEFAULTS,
    CSV_PREFIX,
    TASK_TYPES,
    DatasetDefaults,
    DatasetError,
    DatasetInfo,
    LoadedDataset,
    TargetColumnError,
    TaskType,
)

if TYPE_CHECKING:
    from engine.datasets.manifest import Manifest

MAX_INTEGER_CLASSES = 20  # an integer target with at most this many values is a class label
MAX_CATEGORIES = 100  # more distinct strings than this is almost surely an id/free-text column
MAX_CACHED_TABLES = 8  # sources whose parsed rows stay in memory (one content hash each)

# How many times a table's text was read and split into rows: the cache below is what keeps
# this from growing on every load, and the tests count it to show so.
table_reads = 0

_Rows = tuple[list[str], list[list[str]]]
_lock = threading.Lock()
# (identity, sha256) -> header and rows; (identity, sha256, target, task_type) -> encoded table.
_rows: dict[tuple[str, str], _Rows] = {}
_encoded: dict[tuple[str, str, str | None, str | None], tuple[LoadedDataset, str]] = {}


def load_csv(
    path: str | Path,
    *,
    target: str | None = None,
    task_type: str | None = None,
    defaults: DatasetDefaults = CSV_DEFAULTS,
) -> LoadedDataset:
    """Read and parse a CSV file; ``target`` defaults to the last column."""
    p = Path(path).expanduser()
    return _parse(_decode(_read_file(p), p), p.name, target, task_type, defaults)[0]


def file_sha256(path: str | Path) -> str:
    """The SHA-256 of a CSV file's bytes now (DatasetError when it cannot be read); hashed
    again only when the file changed on disk (engine.datasets.content_memo)."""
    p = Path(path).expanduser()
    try:
        key = signature([p])
    except (OSError, ValueError):  # missing, unreadable, a NUL in the path: the reader says why
        return hashlib.sha256(_read_file(p)).hexdigest()
    return remembered_hash(key, lambda: hashlib.sha256(_read_file(p)).hexdigest())


def _read_file(p: Path) -> bytes:
    try:
        mode = p.stat().st_mode
    except FileNotFoundError:
        raise DatasetError(f"CSV file not found: {p}") from None
    except OSError as exc:
        raise DatasetError(f"Cannot read CSV file {p}: {exc.strerror or exc}") from None
    except ValueError as exc:  # a NUL in the path
        raise DatasetError(f"Cannot read CSV file {p!r}: {exc}") from None
    if stat.S_ISDIR(mode):
        raise DatasetError(f"Expected a CSV file but found a folder: {p}")
    if not stat.S_ISREG(mode):  # a FIFO or a device would block or never end
        raise DatasetError(f"{p}: not a regular file; give the path of a CSV file")
    try:
        return p.read_bytes()
    except FileNotFoundError:
        raise DatasetError(f"CSV file not found: {p}") from None
    except IsADirectoryError:
        raise DatasetError(f"Expected a CSV file but found a folder: {p}") from None
    except OSError as exc:
        raise DatasetError(f"Cannot read CSV file {p}: {exc.strerror or exc}") from None


def _decode(data: bytes, p: Path) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise DatasetError(f"{p.name}: not a UTF-8 text file") from None


def cached_table(
    identity: str,
    sha256: str,
    read_text: Callable[[], str],
    *,
    source: str,
    target: str | None,
    task_type: str | None,
    defaults: DatasetDefaults,
) -> tuple[LoadedDataset, str]:
    """The table whose content has hash ``sha256``, parsed from ``read_text()`` only the first
    time this (identity, hash) is asked for; the dataset (a private copy) and its target name.

    ``identity`` names the source (a file path, a library entry): it holds one content hash at
    a time, so an edited file's old rows are dropped when its new ones are read."""
    global table_reads
    key = (identity, sha256)
    encoded_key = (identity, sha256, target, task_type)
    with _lock:
        hit = _encoded.get(encoded_key)
        rows = _rows.get(key)
    if hit is None:
        if rows is None:
            rows = _read_rows(read_text(), source)
            with _lock:
                table_reads += 1
                _remember_rows(key, rows)
        # Not cached on error: a bad cell or an unknown target is reported again next time.
        hit = _parse_rows(*rows, source, target, task_type, defaults)
        with _lock:
            if key in _rows:
                _encoded[encoded_key] = hit
    return _copy(hit[0]), hit[1]


def _remember_rows(key: tuple[str, str], rows: _Rows) -> None:
    """Keep ``rows`` as the one content of its identity, and at most MAX_CACHED_TABLES."""
    stale = [k for k in _rows if k[0] == key[0] and k != key]
    for old in stale:
        del _rows[old]
    _rows[key] = rows
    while len(_rows) > MAX_CACHED_TABLES:  # the least recently read first (insertion order)
        stale.append(next(iter(_rows)))
        del _rows[stale[-1]]
    for old in stale:
        for k in [k for k in _encoded if k[:2] == old]:
            del _encoded[k]


def clear_cache() -> None:
    """Forget every parsed table (the next load of each reads its file again)."""
    with _lock:
        _rows.clear()
        _encoded.clear()


def _copy(d: LoadedDataset) -> LoadedDataset:
    """A copy whose tensors and lists a caller may change without touching the cache."""
    return LoadedDataset(
        x=d.x.clone(),
        y=d.y.clone(),
        num_features=d.num_features,
        task_type=d.task_type,
        num_classes=d.num_classes,
        feature_names=list(d.feature_names),
        class_names=list(d.class_names) if d.class_names is not None else None,
        defaults=d.defaults,
    )


def parse_csv_text(
    text: str,
    *,
    source: str,
    target: str | None = None,
    task_type: str | None = None,
    defaults: DatasetDefaults = CSV_DEFAULTS,
) -> LoadedDataset:
    """Parse CSV text; ``source`` (usually the file name) prefixes every error message."""
    return _parse(text, source, target, task_type, defaults)[0]


def _parse(
    text: str,
    source: str,
    target: str | None,
    task_type: str | None,
    defaults: DatasetDefaults,
) -> tuple[LoadedDataset, str]:
    """The dataset and the name of the column used as its target."""
    return _parse_rows(*_read_rows(text, source), source, target, task_type, defaults)


def _parse_rows(
    header: list[str],
    rows: list[list[str]],
    source: str,
    target: str | None,
    task_type: str | None,
    defaults: DatasetDefaults,
) -> tuple[LoadedDataset, str]:
    if task_type is not None and task_type not in TASK_TYPES:
        raise DatasetError(
            f"Unknown task type '{task_type}'; choose 'classification' or 'regression'"
        )
    if target is None:
        target = header[-1]
    if target not in header:
        raise TargetColumnError(
            f"{source}: no column named '{target}'; available columns: {', '.join(header)}"
        )
    if len(header) < 2:
        raise DatasetError(f"{source}: needs at least one feature column besides the target")
    columns = {name: [row[j] for row in rows] for j, name in enumerate(header)}

    feature_blocks: list[torch.Tensor] = []
    feature_names: list[str] = []
    for name in header:
        if name == target:
            continue
        block, names = _encode_feature(columns[name], name, source)
        feature_blocks.append(block)
        feature_names.extend(names)
    x = torch.cat(feature_blocks, dim=1)

    y, task, class_names = _encode_target(columns[target], target, source, task_type)
    if len(rows) < 2:  # a one-class table is refused above, with its own words
        raise DatasetError(
            f"{source}: has only 1 data row; at least 2 are needed "
            "(one to train on and one to test on)"
        )
    loaded = LoadedDataset(
        x=x,
        y=y,
        num_features=x.shape[1],
        task_type=task,
        num_classes=len(class_names) if class_names is not None else None,
        feature_names=feature_names,
        class_names=class_names,
        defaults=defaults,
    )
    return loaded, target


def _read_rows(text: str, source: str) -> tuple[list[str], list[list[str]]]:
    reader = csv.reader(io.StringIO(text))
    try:
        lines = [[cell.strip() for cell in row] for row in reader]
    except csv.Error as exc:
        raise DatasetError(f"{source}: line {reader.line_num}: malformed CSV ({exc})") from None
    lines = [row for row in lines if any(row)]
    if not lines:
        raise DatasetError(f"{source}: file is empty; expected a header row and data rows")
    header, rows = lines[0], lines[1:]
    for j, name in enumerate(header, start=1):
        if not name:
            raise DatasetError(f"{source}: column {j} has no name in the header row")
    duplicates = sorted({name for name in header if header.count(name) > 1})
    if duplicates:
        raise DatasetError(
            f"{source}: duplicate column names in the header: {', '.join(duplicates)}"
        )
    if not rows:
        raise DatasetError(f"{source}: has a header row but no data rows")
    for i, row in enumerate(rows, start=1):
        if len(row) != len(header):
            raise DatasetError(
                f"{source}: row {i}: expected {len(header)} values (one per column), "
                f"found {len(row)}"
            )
    return header, rows


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def _looks_numeric(cells: list[str]) -> bool:
    """Most non-empty cells parse as numbers: then stray text is a typo, not a category."""
    filled = [c for c in cells if c]
    return sum(_is_number(c) for c in filled) * 2 > len(filled) or not filled


def _parse_numbers(cells: list[str], column: str, source: str) -> list[float]:
    values = []
    for i, cell in enumerate(cells, start=1):
        where = f"{source}: row {i}, column '{column}'"
        if not cell:
            raise DatasetError(f"{where}: missing value")
        try:
            value = float(cell)
        except ValueError:
            raise DatasetError(f"{where}: cannot parse '{cell}' as a number") from None
        if not math.isfinite(value):
            raise DatasetError(f"{where}: '{cell}' is not a finite number")
        values.append(value)
    return values


def _require_filled(cells: list[str], column: str, source: str) -> None:
    for i, cell in enumerate(cells, start=1):
        if not cell:
            raise DatasetError(f"{source}: row {i}, column '{column}': missing value")


def _encode_feature(cells: list[str], column: str, source: str) -> tuple[torch.Tensor, list[str]]:
    """A numeric column as is, or a text column one-hot encoded with sorted categories."""
    if _looks_numeric(cells):
        values = _parse_numbers(cells, column, source)
        return torch.tensor(values, dtype=torch.float64).float().unsqueeze(1), [column]
    _require_filled(cells, column, source)
    categories = sorted(set(cells))
    if len(categories) > MAX_CATEGORIES:
        raise DatasetError(
            f"{source}: column '{column}' has {len(categories)} distinct text values, too many "
            f"to one-hot encode (at most {MAX_CATEGORIES}); remove it or make it numeric"
        )
    index = {c: k for k, c in enumerate(categories)}
    codes = torch.tensor([index[c] for c in cells], dtype=torch.int64)
    one_hot = torch.nn.functional.one_hot(codes, len(categories)).float()
    return one_hot, [f"{column}={c}" for c in categories]


def _format_label(value: float) -> str:
    return str(int(value)) if value.is_integer() else repr(value)


def _encode_target(
    cells: list[str], column: str, source: str, task_type: str | None
) -> tuple[torch.Tensor, TaskType, list[str] | None]:
    numeric = _looks_numeric(cells)
    values = _parse_numbers(cells, column, source) if numeric else None
    if task_type is None:
        is_class_code = values is not None and all(v.is_integer() for v in values)
        few = values is not None and len(set(values)) <= MAX_INTEGER_CLASSES
        is_regression = values is not None and not (is_class_code and few)
        task_type = "regression" if is_regression else "classification"
    if task_type == "regression":
        if values is None:
            # Text target forced to regression: report the first cell that is not a number.
            values = _parse_numbers(cells, column, source)
        return torch.tensor(values, dtype=torch.float64).float(), "regression", None

    _require_filled(cells, column, source)
    if values is not None:
        # Numeric labels sort by value ("2" before "10") and "1" / "1.0" are one class.
        distinct = sorted(set(values))
        class_names = [_format_label(v) for v in distinct]
        index = {v: k for k, v in enumerate(distinct)}
        codes = [index[v] for v in values]
    else:
        class_names = sorted(set(cells))
        index_s = {c: k for k, c in enumerate(class_names)}
        codes = [index_s[c] for c in cells]
    if len(class_names) < 2:
        raise DatasetError(
            f"{source}: target column '{column}' has only one class ('{class_names[0]}'); "
            "classification needs at least 2"
        )
    return torch.tensor(codes, dtype=torch.int64), "classification", class_names


class CsvFileDataset:
    """A user's CSV file; parsed when constructed so a bad file fails at selection time.

    The file's content hash is taken every time one is constructed (`file_sha256`: hashed
    again only when the file changed on disk), so an edited file is seen at the next run; its
    bytes are read and parsed once per content hash (`cached_table`)."""

    def __init__(
        self, path: str | Path, *, target: str | None = None, task_type: str | None = None
    ) -> None:
        self.path = Path(path).expanduser()
        self.sha256 = file_sha256(self.path)
        self._data, self.target = cached_table(
            f"csv:{self.path.resolve()}",
            self.sha256,
            lambda: _decode(_read_file(self.path), self.path),
            source=self.path.name,
            target=target,
            task_type=task_type,
            defaults=CSV_DEFAULTS,
        )
        n, f = self._data.x.shape
        self.info = DatasetInfo(
            id=f"{CSV_PREFIX}{path}",
            display_name=self.path.name,
            description=f"{self.path}: {n} rows, {f} features, target '{self.target}'",
            task_type=self._data.task_type,
            source="csv",
        )

    def load(self, seed: int = 0) -> LoadedDataset:
        """The file's rows (``seed`` is unused: real data has no randomness to seed)."""
        return _copy(self._data)


class LibraryTableDataset:
    """A table imported into the dataset library (``<home>/datasets/<id>/data.csv``).

    Its rows are read once per content hash recorded in the manifest: a second run on the same
    import does not read the file again (`data_record` rehashes it to catch a changed copy)."""

    def __init__(
        self,
        dataset_dir: Path,
        manifest: Manifest,
        info: DatasetInfo,
        *,
        target: str | None = None,
        task_type: str | None = None,
    ) -> None:
        self.path = Path(dataset_dir) / "data.csv"
        self.sha256 = manifest.sha256
        self._data, self.target = cached_table(
            f"library:{self.path}",
            manifest.sha256,
            lambda: _decode(_read_file(self.path), self.path),
            source=manifest.id,
            target=target if target is not None else manifest.target,
            task_type=task_type,
            defaults=CSV_DEFAULTS,
        )
        n, f = self._data.x.shape
        self.info = replace(
            info,
            description=f"{n} rows, {f} features, target '{self.target}'; imported",
            task_type=self._data.task_type,
        )

    def load(self, seed: int = 0) -> LoadedDataset:
        """The table's rows (``seed`` is unused: real data has no randomness to seed)."""
        return _copy(self._data)
