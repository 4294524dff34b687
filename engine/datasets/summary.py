"""One row per dataset, built-in or imported: what `trainwright datasets` and the Datasets tab
list (id, name, kind, origin, size, rows or images, classes, status).

Torch-free and cheap: built-ins are described from the catalogue and their shipped files
(counted once per process: app data does not change), imported ones from their manifests.
"""

from __future__ import annotations

import csv
import io
from functools import cache
from importlib.resources import files
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from engine.datasets.types import DatasetInfo, read_catalog

Origin = Literal["built-in", "imported"]


class DatasetSummary(BaseModel):
    """A dataset as the library lists it; `count` is rows (tables) or images."""

    model_config = ConfigDict(frozen=True)

    id: str
    name: str
    kind: Literal["tabular", "images"]
    origin: Origin
    task_type: str | None = None
    description: str = ""
    size_bytes: int | None = None  # None: generated on demand (synthetic)
    count: int | None = None
    classes: int | None = None  # None for regression tables
    status: Literal["processing", "ready", "error"] = "ready"
    error: str | None = None
    source: str = ""  # imported: the path it came from; built-in: "synthetic" or "bundled"
    imported_at: str = ""
    sha256: str = ""

    @property
    def count_text(self) -> str:
        """ "1,797 images", "150 rows", or "" when unknown."""
        if self.count is None:
            return ""
        unit = "images" if self.kind == "images" else "rows"
        return f"{self.count:,} {unit}"


def summarize_datasets(home: str | Path | None = None) -> list[DatasetSummary]:
    """Built-ins in catalogue order, then the imported datasets of `home` (any status) by name."""
    from engine.datasets.registry import list_datasets

    rows = [_builtin(info) for info in list_datasets()]
    if home is not None:
        from engine.datasets.library import DatasetLibrary

        rows.extend(_imported(m) for m in DatasetLibrary(home).manifests())
    return rows


def summarize_dataset(dataset_id: str, home: str | Path | None = None) -> DatasetSummary:
    """One dataset's row; DatasetError (listing the choices) for an unknown id."""
    from engine.datasets.registry import list_datasets

    for info in list_datasets():
        if info.id == dataset_id:
            return _builtin(info)
    from engine.datasets.library import DatasetLibrary

    if home is None:
        from engine.datasets.registry import get_dataset

        get_dataset(dataset_id)  # raises with the choices
    return _imported(DatasetLibrary(home).get(dataset_id))  # type: ignore[arg-type]


def _imported(manifest: Any) -> DatasetSummary:
    images = manifest.kind == "images"
    classes = len(manifest.classes) if images else None
    if not images and manifest.task_type == "classification":
        target = next((c for c in manifest.columns if c.name == manifest.target), None)
        classes = target.distinct if target is not None else None
    return DatasetSummary(
        id=manifest.id,
        name=manifest.name,
        kind=manifest.kind,
        origin="imported",
        task_type="classification" if images else manifest.task_type,
        size_bytes=manifest.size_bytes,
        count=manifest.image_count() if images else manifest.rows,
        classes=classes,
        status=manifest.status,
        error=manifest.error,
        source=manifest.source,
        imported_at=manifest.imported_at,
        sha256=manifest.sha256,
    )


def _builtin(info: DatasetInfo) -> DatasetSummary:
    size, count, classes = _builtin_stats(info.id)
    return DatasetSummary(
        id=info.id,
        name=info.display_name,
        kind=info.kind,
        origin="built-in",
        task_type=info.task_type,
        description=info.description,
        size_bytes=size,
        count=count,
        classes=classes,
        source=info.source,
    )


@cache
def _builtin_stats(dataset_id: str) -> tuple[int | None, int | None, int | None]:
    """(bytes on disk, rows or images, classes) of a built-in, from the catalogue and its file."""
    from engine.datasets.synthetic import NUM_SAMPLES

    for entries in read_catalog().values():
        for entry in entries:
            if entry["id"] != dataset_id:
                continue
            declared = entry.get("classes")
            classes = len(declared) if declared else None
            if "file" not in entry:  # generated on demand
                return None, entry.get("num_samples", NUM_SAMPLES), classes
            data = (files("resources") / "datasets" / entry["file"]).read_bytes()
            rows = [r for r in csv.reader(io.StringIO(data.decode("utf-8-sig"))) if any(r)][1:]
            if classes is None and entry.get("task_type") == "classification":
                header = next(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
                column = header.index(entry["target"])
                classes = len({r[column] for r in rows})
            return len(data), len(rows), classes
    return None, None, None
