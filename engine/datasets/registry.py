"""The id -> dataset lookup used by the trainer, CLI and GUI, and the built-in catalogue.

Importing this module does not import torch: the built-in tables describe their datasets as
data and import their loaders (torch) only when a dataset is loaded.
"""

from __future__ import annotations

from engine.datasets.bundled import BUNDLED_DATASETS
from engine.datasets.synthetic import SYNTHETIC_DATASETS
from engine.datasets.types import (
    CSV_DEFAULTS,
    CSV_PREFIX,
    TASK_TYPES,
    Dataset,
    DatasetDefaults,
    DatasetError,
    DatasetInfo,
    TargetColumnError,
)

_BUILTINS: dict[str, Dataset] = {ds.info.id: ds for ds in (*SYNTHETIC_DATASETS, *BUNDLED_DATASETS)}


def list_datasets() -> list[DatasetInfo]:
    """Built-in datasets (synthetic first, then bundled CSVs) in a stable order."""
    return [ds.info for ds in _BUILTINS.values()]


def get_dataset(
    dataset_id: str, *, target: str | None = None, task_type: str | None = None
) -> Dataset:
    """Look up a built-in id, or read a user CSV given as ``csv:PATH``.

    ``target`` picks the CSV's target column (default: the last column) and ``task_type``
    overrides the inferred task; for built-ins they may only restate what the dataset is.
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

    table = _BUILTINS
    ds = table.get(dataset_id)
    if ds is None:
        choices = ", ".join(table)
        raise DatasetError(f"Unknown dataset '{dataset_id}'; choose one of: {choices} or csv:PATH")
    builtin_target = getattr(ds, "target", None)
    if target is not None and target != builtin_target:
        raise TargetColumnError(
            f"Dataset '{dataset_id}' has a fixed target; a target column can only be chosen "
            "for csv:PATH datasets"
        )
    if task_type is not None and task_type != ds.info.task_type:
        raise DatasetError(
            f"Dataset '{dataset_id}' is a {ds.info.task_type} dataset; "
            f"it cannot be used for {task_type}"
        )
    return ds


def dataset_defaults(dataset_id: str) -> DatasetDefaults:
    """The hyperparameters a dataset trains well with, without loading it: a built-in's own,
    the CSV defaults for `csv:PATH`. Raises DatasetError for an unknown id."""
    if dataset_id.startswith(CSV_PREFIX):
        return CSV_DEFAULTS
    ds = _BUILTINS.get(dataset_id)
    if ds is None:
        get_dataset(dataset_id)  # raises with the list of choices
    return ds.defaults  # type: ignore[union-attr]


__all__ = ["dataset_defaults", "get_dataset", "list_datasets"]
