"""The id -> dataset lookup used by the trainer, CLI and GUI: built-ins, `csv:PATH`, and the
datasets imported into a data home's library.

Importing this module does not import torch: the built-in tables describe their datasets as
data and import their loaders (torch) only when a dataset is loaded; the library is imported
when a home is given.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from engine.datasets.bundled import BUNDLED_DATASETS
from engine.datasets.image_sources import IMAGE_DATASETS, IMAGE_DEFAULTS
from engine.datasets.synthetic import SYNTHETIC_DATASETS
from engine.datasets.types import (
    CSV_DEFAULTS,
    CSV_PREFIX,
    TASK_TYPES,
    DataRecord,
    Dataset,
    DatasetDefaults,
    DatasetError,
    DatasetInfo,
    TargetColumnError,
)

if TYPE_CHECKING:
    from engine.datasets.manifest import Manifest

_BUILTINS: dict[str, Dataset] = {
    ds.info.id: ds for ds in (*SYNTHETIC_DATASETS, *BUNDLED_DATASETS, *IMAGE_DATASETS)
}


def list_datasets(home: str | Path | None = None) -> list[DatasetInfo]:
    """Built-in datasets (synthetic, bundled tables, images) in a stable order, then the
    datasets imported into ``home``'s library that are ready to train on (by name)."""
    infos = [ds.info for ds in _BUILTINS.values()]
    if home is not None:
        infos.extend(imported_info(m) for m in _manifests(home) if m.status == "ready")
    return infos


def get_dataset(
    dataset_id: str,
    *,
    home: str | Path | None = None,
    target: str | None = None,
    task_type: str | None = None,
) -> Dataset:
    """Look up a built-in id, read a user CSV given as ``csv:PATH``, or open a dataset imported
    into ``home``'s library (an image dataset is an `ImageSource`).

    ``target`` picks a table's target column (default: the last column) and ``task_type``
    overrides the inferred task; for built-ins and image datasets they may only restate what
    the dataset is.
    """
    if task_type is not None and task_type not in TASK_TYPES:
        raise DatasetError(
            f"Unknown task type '{task_type}'; choose 'classification' or 'regression'"
        )
    if dataset_id.startswith(CSV_PREFIX):
        from engine.datasets.tabular import CsvFileDataset

        path = dataset_id[len(CSV_PREFIX) :].strip()
        if not path:
            raise DatasetError("A CSV dataset id needs a path, e.g. 'csv:data/my_table.csv'")
        return CsvFileDataset(path, target=target, task_type=task_type)

    ds = _BUILTINS.get(dataset_id)
    if ds is None:
        manifest = _ready_manifest(dataset_id, home)
        return _open_imported(home, manifest, target, task_type)  # type: ignore[arg-type]
    builtin_target = getattr(ds, "target", None) if ds.info.kind == "tabular" else None
    if target is not None and target != builtin_target:
        raise TargetColumnError(
            f"Dataset '{dataset_id}' has a fixed target; a target column can only be chosen "
            "for csv:PATH datasets and imported tables"
        )
    _check_fixed_task(ds.info, task_type)
    return ds


def dataset_defaults(dataset_id: str, home: str | Path | None = None) -> DatasetDefaults:
    """The hyperparameters a dataset trains well with, without loading it: a built-in's own,
    the CSV defaults for `csv:PATH` and imported tables, the image defaults for imported
    images. Raises DatasetError for an unknown id."""
    if dataset_id.startswith(CSV_PREFIX):
        return CSV_DEFAULTS
    ds = _BUILTINS.get(dataset_id)
    if ds is not None:
        return ds.defaults  # type: ignore[attr-defined]
    manifest = _ready_manifest(dataset_id, home)
    return IMAGE_DEFAULTS if manifest.kind == "images" else CSV_DEFAULTS


def data_record(dataset_id: str, home: str | Path | None = None) -> DataRecord | None:
    """The id and content SHA-256 *now* of the user's data (an imported dataset, a `csv:PATH`
    file), which can change under the same id; None for built-ins, which ship with the app.

    The hash is recomputed from the files, not taken from the manifest, so a copy changed on
    disk is noticed. Raises DatasetError when the data cannot be read or the id is unknown."""
    if dataset_id.startswith(CSV_PREFIX):
        from engine.datasets.tabular import file_sha256

        path = dataset_id[len(CSV_PREFIX) :].strip()
        if not path:
            raise DatasetError("A CSV dataset id needs a path, e.g. 'csv:data/my_table.csv'")
        return DataRecord(id=dataset_id, sha256=file_sha256(path))
    if dataset_id in _BUILTINS:
        return None
    _ready_manifest(dataset_id, home)  # an unknown id is refused with the list of choices
    from engine.datasets.library import DatasetLibrary

    return DataRecord(id=dataset_id, sha256=DatasetLibrary(home).content_sha256(dataset_id))


def imported_info(manifest: Manifest) -> DatasetInfo:
    """What the picker shows for an imported dataset, from its manifest alone (no loading)."""
    if manifest.kind == "images":
        names = [c.name for c in manifest.classes]
        shown = ", ".join(names[:5]) + (", …" if len(names) > 5 else "")
        count = sum(c.count for c in manifest.classes)
        return DatasetInfo(
            id=manifest.id,
            display_name=manifest.name,
            description=f"{count} images, {len(names)} classes ({shown}); imported",
            task_type="classification",
            source="imported",
            kind="images",
        )
    features = max(len(manifest.columns) - 1, 0)
    return DatasetInfo(
        id=manifest.id,
        display_name=manifest.name,
        description=(
            f"{manifest.rows} rows, {features} feature columns, target '{manifest.target}'; "
            "imported"
        ),
        task_type=manifest.task_type or "classification",
        source="imported",
        kind="tabular",
    )


def _check_fixed_task(info: DatasetInfo, task_type: str | None) -> None:
    if task_type is not None and task_type != info.task_type:
        raise DatasetError(
            f"Dataset '{info.id}' is a {info.task_type} dataset; it cannot be used for {task_type}"
        )


def _manifests(home: str | Path) -> list[Manifest]:
    from engine.datasets.library import DatasetLibrary

    return DatasetLibrary(home).manifests()


def _ready_manifest(dataset_id: str, home: str | Path | None) -> Manifest:
    """The manifest of an imported dataset that can be trained on, or a DatasetError: not
    ready (with the reason), or unknown (with every id that could be chosen)."""
    if home is not None:
        from engine.datasets.library import DatasetLibrary

        try:
            manifest = DatasetLibrary(home).get(dataset_id)
        except DatasetError:  # not in the library (or not a possible id at all)
            manifest = None
        if manifest is not None:
            if manifest.status == "ready":
                return manifest
            if manifest.status == "processing":
                raise DatasetError(
                    f"Dataset '{dataset_id}' is still being imported; try again soon"
                )
            reason = manifest.error or "its import failed"
            raise DatasetError(f"Dataset '{dataset_id}' cannot be used: {reason}")
    ready = [m.id for m in _manifests(home) if m.status == "ready"] if home is not None else []
    choices = ", ".join([*_BUILTINS, *ready])
    raise DatasetError(f"Unknown dataset '{dataset_id}'; choose one of: {choices} or csv:PATH")


def _open_imported(
    home: str | Path, manifest: Manifest, target: str | None, task_type: str | None
) -> Dataset:
    from engine.datasets.library import DatasetLibrary

    directory = DatasetLibrary(home).dir(manifest.id)
    info = imported_info(manifest)
    if manifest.kind == "images":
        from engine.datasets.image_sources import LibraryImageDataset

        if target is not None:
            raise TargetColumnError(
                f"Dataset '{manifest.id}' is an image dataset: its classes are its folders, so "
                "a target column cannot be chosen"
            )
        _check_fixed_task(info, task_type)
        return LibraryImageDataset(directory, manifest, info)
    from engine.datasets.tabular import LibraryTableDataset

    return LibraryTableDataset(directory, manifest, info, target=target, task_type=task_type)


__all__ = ["data_record", "dataset_defaults", "get_dataset", "imported_info", "list_datasets"]
