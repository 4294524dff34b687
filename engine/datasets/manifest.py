"""What the dataset library records about an imported dataset, and the names of its files.

`<home>/datasets/<id>/` holds `manifest.json` (a `Manifest`), the data (`data.csv` for a table,
`images/<class>/<file>` for images) and `cache/` (decoded tensors, rebuilt when missing). The
file names are spelled here and nowhere else. Torch-free: the library is listed before torch
loads.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from engine.datasets.types import DatasetImportError

MANIFEST_FORMAT = 1
MANIFEST_FILE = "manifest.json"
DATA_CSV = "data.csv"
IMAGES_DIR = "images"
CACHE_DIR = "cache"
# Folders of the library root that are not datasets (they start with "." so no id is one).
IMPORTING_PREFIX = ".importing-"  # an import being built; renamed to <id> when it succeeds
TRASH_PREFIX = ".trash-"  # a deletion: renamed here in one step, then removed
PID_FILE = "importer.pid"  # inside an .importing- folder: the process building it

ColumnType = Literal["integer", "number", "text"]
DatasetStatus = Literal["processing", "ready", "error"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ColumnInfo(_Model):
    """One CSV column: its inferred type, empty cells and distinct non-empty values."""

    name: str
    type: ColumnType
    missing: int = 0
    distinct: int = 0


class ClassCount(_Model):
    """One image class (a class folder) and how many images it has."""

    name: str
    count: int


class SkippedFile(_Model):
    """A file of the source left out of the dataset, and why (shown in the library)."""

    path: str
    reason: str


class Manifest(_Model):
    """`manifest.json` of an imported dataset; also what the library shows for a broken one.

    A folder whose manifest is missing or unreadable, or whose data is gone, is listed as a
    Manifest with status "error" and the reason (`Manifest.broken`), so listing never fails.
    """

    format: int = MANIFEST_FORMAT
    id: str
    name: str
    kind: Literal["tabular", "images"] = "tabular"
    source: str = ""  # the path it was imported from, as given (absolute)
    imported_at: str = ""  # ISO 8601 UTC
    # tabular: sha256 of data.csv; images: sha256 over sorted "relpath\tsha256\n" lines
    sha256: str = ""
    size_bytes: int = 0  # the data on disk (not the cache)
    status: DatasetStatus = "ready"
    error: str | None = None
    # tabular
    rows: int | None = None
    columns: list[ColumnInfo] = []
    target: str | None = None
    task_type: Literal["classification", "regression"] | None = None
    # images
    classes: list[ClassCount] = []
    image_sizes: dict[str, int] = {}  # "WxH" -> count
    formats: dict[str, int] = {}  # Pillow's format name ("PNG") -> count
    channels: int | None = None  # 3 if any image has colour, else 1
    skipped: list[SkippedFile] = []

    @classmethod
    def broken(cls, dataset_id: str, reason: str, kind: str = "tabular") -> Manifest:
        """The entry listed for a dataset folder that cannot be used, with the reason."""
        return cls(id=dataset_id, name=dataset_id, kind=kind, status="error", error=reason)  # type: ignore[arg-type]

    def image_count(self) -> int:
        return sum(c.count for c in self.classes)


def manifest_path(directory: Path) -> Path:
    return Path(directory) / MANIFEST_FILE


def read_manifest(directory: Path) -> Manifest:
    """The manifest stored in a dataset folder; `ValueError` with a one-line reason if it is
    missing, unreadable, of a newer format or for another id."""
    path = manifest_path(directory)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ValueError(f"{MANIFEST_FILE} is missing") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"{MANIFEST_FILE} cannot be read ({_reason(exc)})") from None
    try:
        manifest = Manifest.model_validate_json(text)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ())) or "file"
        raise ValueError(f"{MANIFEST_FILE} is not valid ({where}: {first['msg']})") from None
    if manifest.format > MANIFEST_FORMAT:
        raise ValueError(
            f"{MANIFEST_FILE} has format {manifest.format}, written by a newer Trainwright"
        )
    if manifest.id != Path(directory).name:
        raise ValueError(
            f"{MANIFEST_FILE} is for dataset '{manifest.id}', not for its folder "
            f"'{Path(directory).name}'"
        )
    return manifest


def _reason(exc: BaseException) -> str:
    return getattr(exc, "strerror", None) or str(exc) or type(exc).__name__


# ---- the import's vocabulary, shared by archive.py, images.py and library.py ----------------


@dataclass(frozen=True)
class ImportProgress:
    """One step of an import: `done` of `total` files of `stage` ("extracting", "copying",
    "checking images", "checking table", "hashing"); `path` the file just handled."""

    stage: str
    done: int
    total: int
    path: str = ""


class ImportCancelled(DatasetImportError):
    """The user cancelled the import; nothing of it remains."""

    def __init__(self) -> None:
        super().__init__("import cancelled")


def check_cancel(cancel: threading.Event | None) -> None:
    """Raise ImportCancelled if `cancel` is set (called once per file)."""
    if cancel is not None and cancel.is_set():
        raise ImportCancelled()
