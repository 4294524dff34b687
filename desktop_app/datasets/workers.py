"""The Datasets tab's background work, each a kit Task: listing the library, loading the
built-ins' sizes, importing, previewing, and checking and carrying out a delete.

Every task reads or writes the disk (an import copies and checks every file; a preview decodes
images), so none of it runs on the GUI thread. Results are plain values (`DatasetRow`s,
`TablePreview`, `ImagePreview` with QImages, which may be made on any thread); the tab turns
them into widgets.
"""

from __future__ import annotations

import csv
import io
import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtGui import QImage

from desktop_app.datasets.library_model import DatasetRow
from desktop_app.kit.dataset_picker import DatasetChoice, choices_from_infos
from desktop_app.kit.tasks import Task, Throttle, error_message
from engine.datasets.types import DatasetError

PREVIEW_ROWS = 50  # rows of a table shown in its preview
THUMBS_PER_CLASS = 8  # thumbnails of an image dataset shown per class
THUMB_SIZE = 64  # pixels: thumbnails are decoded at this size (smaller images are scaled up)
MAX_PREVIEW_CLASSES = 40  # classes shown in a preview (a dataset may have hundreds)


def dataset_message(exc: BaseException) -> str:
    """A dataset error in the engine's own words (it names the file, entry or row and the
    rule); anything else with its type."""
    return str(exc) if isinstance(exc, DatasetError) else error_message(exc)


# ---- listing -------------------------------------------------------------------------------
@dataclass(frozen=True)
class LibraryListing:
    """What a listing found: the table's rows, and the ready datasets the pickers offer."""

    rows: list[DatasetRow]
    choices: list[DatasetChoice]


def builtin_rows() -> list[DatasetRow]:
    """The built-ins (no disk read: their catalogue is data); sizes and counts come later."""
    from engine.datasets import list_datasets

    return [
        DatasetRow(
            id=info.id,
            name=info.display_name,
            kind=info.kind,
            imported=False,
            description=info.description,
            task_type=info.task_type,
            source=info.source,
        )
        for info in list_datasets()
        if info.source != "imported"
    ]


def imported_row(manifest: Any) -> DatasetRow:
    """An imported dataset's row, from its manifest."""
    images = manifest.kind == "images"
    count = manifest.image_count() if images else manifest.rows
    if images:
        classes: int | None = len(manifest.classes) or None
    else:
        target = next((c for c in manifest.columns if c.name == manifest.target), None)
        classification = manifest.task_type == "classification"
        classes = target.distinct if target is not None and classification else None
    return DatasetRow(
        id=manifest.id,
        name=manifest.name,
        kind=manifest.kind,
        imported=True,
        status=manifest.status,
        error=manifest.error,
        task_type=manifest.task_type or ("classification" if images else None),
        size_bytes=manifest.size_bytes if manifest.status != "error" else None,
        count=count if manifest.status != "error" else None,
        classes=classes if manifest.status != "error" else None,
        target=manifest.target,
        source=manifest.source,
        imported_at=manifest.imported_at,
        sha256=manifest.sha256,
        skipped=len(manifest.skipped),
    )


class ListTask(Task):
    """Lists the built-ins and the library of `home` (reading each manifest): LibraryListing."""

    kind = "list"

    def __init__(self, request_id: int, home: Path) -> None:
        super().__init__(request_id)
        self.home = Path(home)

    def compute(self) -> LibraryListing:
        from engine.datasets import list_datasets
        from engine.datasets.library import DatasetLibrary

        manifests = DatasetLibrary(self.home).manifests()
        rows = builtin_rows() + [imported_row(m) for m in manifests]
        choices = choices_from_infos(list_datasets(home=self.home))
        return LibraryListing(rows, choices)


@dataclass(frozen=True)
class BuiltinStats:
    """A built-in's size once loaded: its rows (or images), classes, and file size if any."""

    id: str
    count: int
    classes: int | None
    size_bytes: int | None


# Built-ins ship with the app: counted once per process (by id), whichever tab asks.
BUILTIN_STATS: dict[str, BuiltinStats] = {}


class StatsTask(Task):
    """Loads each built-in once per process to count its rows and classes; `stats` per
    dataset as it goes (result: how many were counted). Imports torch: runs in the
    background once the engine has warmed up."""

    kind = "stats"
    stats = Signal(object)  # BuiltinStats

    def __init__(self, ids: list[str]) -> None:
        super().__init__()
        self.ids = list(ids)

    def compute(self) -> int:
        from engine.datasets import get_dataset

        for done, dataset_id in enumerate(self.ids):
            if self.cancel_event.is_set():
                return done
            stats = BUILTIN_STATS.get(dataset_id)
            if stats is None:
                dataset = get_dataset(dataset_id)
                loaded = dataset.load()
                count = int(loaded.x.shape[0])
                size = _resource_size(dataset)
                stats = BuiltinStats(dataset_id, count, loaded.num_classes, size)
                BUILTIN_STATS[dataset_id] = stats
            self.stats.emit(stats)
        return len(self.ids)


def _resource_size(dataset: Any) -> int | None:
    """The size of a built-in's bundled file (None: generated)."""
    filename = getattr(dataset, "filename", None)
    if not filename:
        return None
    from importlib.resources import as_file, files

    try:
        with as_file(files("resources") / "datasets" / filename) as path:
            return Path(path).stat().st_size
    except OSError:
        return None


# ---- importing -----------------------------------------------------------------------------
class ImportTask(Task):
    """Imports one CSV file, folder or ZIP into the library: result its Manifest; `stepped`
    (request id, stage, done, total) as it goes; stops (leaving nothing) once cancelled."""

    kind = "import"
    stepped = Signal(int, str, int, int)

    def __init__(self, request_id: int, home: Path, source: str) -> None:
        super().__init__(request_id, source)
        self.home = Path(home)
        self.source = source
        self._throttle = Throttle()

    def compute(self) -> Any:
        from engine.datasets.library import DatasetLibrary

        return DatasetLibrary(self.home).import_path(
            self.source, progress=self._progress, cancel=self.cancel_event
        )

    def _progress(self, step: Any) -> None:
        final = step.total > 0 and step.done >= step.total
        if self._throttle.ready(final=final):
            self.stepped.emit(self.request_id, step.stage, step.done, step.total)

    def failure_message(self, exc: BaseException) -> str:
        return dataset_message(exc)


# ---- previews ------------------------------------------------------------------------------
@dataclass(frozen=True)
class TablePreview:
    """The first rows of a table: (name, type) per column, the rows as text, the total row
    count, and which column is the target (and whether another may be chosen)."""

    dataset_id: str
    columns: list[tuple[str, str]]
    rows: list[list[str]]
    total_rows: int
    target: str | None
    target_fixed: bool  # a built-in: its target cannot be chosen


@dataclass(frozen=True)
class ClassThumbnails:
    name: str
    count: int
    images: list[QImage]


@dataclass(frozen=True)
class ImagePreview:
    """Some images of each of the first MAX_PREVIEW_CLASSES classes (decoded to thumbnails)
    with each class's count, and the dataset's totals."""

    dataset_id: str
    classes: list[ClassThumbnails]
    channels: int
    total: int  # images in the dataset
    class_total: int  # classes in the dataset (more than `classes` shows, past the cap)
    sizes: dict[str, int] = field(default_factory=dict)  # "WxH" -> count (imported)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)


class PreviewTask(Task):
    """Reads what the preview of one dataset shows: a TablePreview or an ImagePreview."""

    kind = "preview"

    def __init__(self, request_id: int, home: Path, row: DatasetRow) -> None:
        super().__init__(request_id, row.id)
        self.home = Path(home)
        self.row = row

    def compute(self) -> TablePreview | ImagePreview:
        row = self.row
        if row.imported:
            from engine.datasets.library import DatasetLibrary

            library = DatasetLibrary(self.home)
            manifest = library.get(row.id)
            if manifest.kind == "images":
                return self._imported_images(library, manifest)
            return _imported_table(library, manifest)
        from engine.datasets import get_dataset

        dataset = get_dataset(row.id)
        if row.kind == "images":
            return self._builtin_images(dataset)
        return _builtin_table(row.id, dataset)

    def failure_message(self, exc: BaseException) -> str:
        return dataset_message(exc)

    def _imported_images(self, library: Any, manifest: Any) -> ImagePreview:
        """The first images of each class, decoded here (never the whole dataset)."""
        from engine.datasets.images import decode_image, image_files
        from engine.datasets.manifest import IMAGES_DIR

        root = library.dir(manifest.id) / IMAGES_DIR
        files = image_files(root)
        channels = manifest.channels or 3
        counts = {c.name: c.count for c in manifest.classes}
        classes = []
        for name, paths in itertools.islice(files.items(), MAX_PREVIEW_CLASSES):
            images = []
            for relpath in paths[:THUMBS_PER_CLASS]:
                if self.cancel_event.is_set():
                    break
                tensor = decode_image(root / relpath, THUMB_SIZE, channels)
                images.append(_qimage(tensor))
            classes.append(ClassThumbnails(name, counts.get(name, len(paths)), images))
        skipped = [(s.path, s.reason) for s in manifest.skipped]
        return ImagePreview(
            manifest.id,
            classes,
            channels,
            manifest.image_count(),
            len(files),
            dict(manifest.image_sizes),
            skipped,
        )

    def _builtin_images(self, dataset: Any) -> ImagePreview:
        """A built-in image dataset's first images of each class, from its tensors at its
        native size (small ones are scaled up when drawn, pixels kept sharp)."""
        import torch

        size = min(int(dataset.native_size), THUMB_SIZE)
        loaded = dataset.load_images(size, int(dataset.channels))
        counts = torch.bincount(loaded.y, minlength=len(loaded.class_names)).tolist()
        classes = []
        for label, name in enumerate(loaded.class_names[:MAX_PREVIEW_CLASSES]):
            indices = (loaded.y == label).nonzero().flatten()[:THUMBS_PER_CLASS].tolist()
            images = [_qimage(loaded.x[i]) for i in indices]
            classes.append(ClassThumbnails(name, int(counts[label]), images))
        total, class_total = int(loaded.y.shape[0]), len(loaded.class_names)
        return ImagePreview(dataset.info.id, classes, int(dataset.channels), total, class_total)


def _imported_table(library: Any, manifest: Any) -> TablePreview:
    """The first rows of an imported table, its column types from the manifest."""
    from engine.datasets.manifest import DATA_CSV

    path = library.dir(manifest.id) / DATA_CSV
    with path.open(encoding="utf-8-sig", newline="") as handle:
        header, rows = _first_rows(csv.reader(handle))
    types = {c.name: c.type for c in manifest.columns}
    columns = [(name, types.get(name, "")) for name in header]
    return TablePreview(
        manifest.id, columns, rows, manifest.rows or len(rows), manifest.target, False
    )


def _builtin_table(dataset_id: str, dataset: Any) -> TablePreview:
    """A built-in table: a bundled CSV as written (column types as the library infers them),
    a generated one from its tensors (features, then the target)."""
    read_text = getattr(dataset, "read_text", None)
    target = getattr(dataset, "target", None)
    if read_text is not None:
        from engine.datasets.columns import infer_columns

        text = read_text()
        infos, total = infer_columns(text, dataset_id)
        header, rows = _first_rows(csv.reader(io.StringIO(text)))
        columns = [(info.name, info.type) for info in infos]
        return TablePreview(dataset_id, columns, rows, total, target or header[-1], True)
    loaded = dataset.load()
    names = list(loaded.feature_names)
    target_name = target or "target"
    classification = loaded.class_names is not None
    columns = [(name, "number") for name in names]
    columns.append((target_name, "text" if classification else "number"))
    rows = []
    for i in range(min(PREVIEW_ROWS, int(loaded.x.shape[0]))):
        cells = [f"{v:.4g}" for v in loaded.x[i].tolist()]
        label = loaded.y[i].item()
        cells.append(loaded.class_names[int(label)] if classification else f"{label:.4g}")
        rows.append(cells)
    return TablePreview(dataset_id, columns, rows, int(loaded.x.shape[0]), target_name, True)


def _first_rows(reader: Iterator[list[str]]) -> tuple[list[str], list[list[str]]]:
    """The header and the first PREVIEW_ROWS non-empty rows of a CSV reader."""
    header = next(reader, [])
    body = (row for row in reader if any(cell.strip() for cell in row))
    return header, list(itertools.islice(body, PREVIEW_ROWS))


def _qimage(tensor: Any) -> QImage:
    """A uint8 [c, h, w] tensor as a QImage (a copy: it owns its pixels)."""
    channels, height, width = (int(d) for d in tensor.shape)
    data = tensor.permute(1, 2, 0).contiguous().numpy().tobytes()
    fmt = QImage.Format.Format_Grayscale8 if channels == 1 else QImage.Format.Format_RGB888
    image = QImage(data, width, height, width * channels, fmt)
    return image.copy()  # the QImage above only borrows `data`, alive until this line ends


# ---- deleting ------------------------------------------------------------------------------
class UsageTask(Task):
    """The variants trained on a dataset (their config's domain names it): result list[str]."""

    kind = "usage"

    def __init__(self, request_id: int, home: Path, dataset_id: str) -> None:
        super().__init__(request_id, dataset_id)
        self.home = Path(home)

    def compute(self) -> list[str]:
        from engine.datasets.library import DatasetLibrary

        return list(DatasetLibrary(self.home).variants_using(self.path))

    def failure_message(self, exc: BaseException) -> str:
        return dataset_message(exc)


class DeleteTask(Task):
    """Deletes an imported dataset from the library (its folder goes in one step): result
    its id."""

    kind = "delete"

    def __init__(self, request_id: int, home: Path, dataset_id: str) -> None:
        super().__init__(request_id, dataset_id)
        self.home = Path(home)

    def compute(self) -> str:
        from engine.datasets.library import DatasetLibrary

        DatasetLibrary(self.home).delete(self.path)
        return self.path

    def failure_message(self, exc: BaseException) -> str:
        return dataset_message(exc)
