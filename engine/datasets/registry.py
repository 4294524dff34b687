"""Dataset types and the id -> dataset lookup used by the trainer, CLI and GUI.

The types live here (not in the loaders) so every loader and caller shares one definition;
the built-in table is imported lazily because the loaders themselves import these types.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Literal, Protocol

import torch

TaskType = Literal["classification", "regression"]
TASK_TYPES: tuple[str, ...] = ("classification", "regression")
CSV_PREFIX = "csv:"


class DatasetError(ValueError):
    """A problem with a dataset; the message is written to be shown to a user as is."""


@dataclass(frozen=True)
class DatasetDefaults:
    """Hyperparameters that train this dataset well; the UI pre-fills them."""

    epochs: int
    lr: float
    batch_size: int


@dataclass(frozen=True)
class DatasetInfo:
    """What the dataset picker shows, known without loading any data."""

    id: str
    display_name: str
    description: str
    task_type: TaskType
    source: str  # "synthetic" | "bundled" | "csv"


# eq=False: comparing tensors with == is elementwise, so a generated __eq__ would be a trap.
@dataclass(frozen=True, eq=False)
class LoadedDataset:
    """Raw (not standardised) features and targets, ready for `train_test_split`."""

    x: torch.Tensor  # float32 [n, num_features]
    y: torch.Tensor  # int64 [n] (classification) or float32 [n] (regression)
    num_features: int
    task_type: TaskType
    num_classes: int | None  # None for regression
    feature_names: list[str]
    class_names: list[str] | None
    defaults: DatasetDefaults


class Dataset(Protocol):
    """Anything that can describe itself and produce a `LoadedDataset` for a seed."""

    info: DatasetInfo

    def load(self, seed: int = 0) -> LoadedDataset: ...


@functools.cache
def _builtins() -> dict[str, Dataset]:
    from engine.datasets.synthetic import SYNTHETIC_DATASETS
    from engine.datasets.tabular import BUNDLED_DATASETS

    table: dict[str, Dataset] = {}
    for ds in (*SYNTHETIC_DATASETS, *BUNDLED_DATASETS):
        table[ds.info.id] = ds
    return table


def list_datasets() -> list[DatasetInfo]:
    """Built-in datasets (synthetic first, then bundled CSVs) in a stable order."""
    return [ds.info for ds in _builtins().values()]


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

    table = _builtins()
    ds = table.get(dataset_id)
    if ds is None:
        choices = ", ".join(table)
        raise DatasetError(f"Unknown dataset '{dataset_id}'; choose one of: {choices} or csv:PATH")
    builtin_target = getattr(ds, "target", None)
    if target is not None and target != builtin_target:
        raise DatasetError(
            f"Dataset '{dataset_id}' has a fixed target; a target column can only be chosen "
            "for csv:PATH datasets"
        )
    if task_type is not None and task_type != ds.info.task_type:
        raise DatasetError(
            f"Dataset '{dataset_id}' is a {ds.info.task_type} dataset; "
            f"it cannot be used for {task_type}"
        )
    return ds
