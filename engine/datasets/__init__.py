"""Datasets: seeded synthetic toys, bundled real tables and images, users' CSV files, and the
datasets imported into a data home's library.

Importing this package does not import torch (the parameter forms read the catalogue before
torch loads); the loaders and the split import it when they are first used.
"""

from __future__ import annotations

from typing import Any

from engine.datasets.registry import (
    data_record,
    dataset_defaults,
    get_dataset,
    imported_info,
    list_datasets,
)
from engine.datasets.types import (
    CSV_PREFIX,
    DataRecord,
    Dataset,
    DatasetDefaults,
    DatasetError,
    DatasetImportError,
    DatasetInfo,
    ImageSource,
    LoadedDataset,
    LoadedImages,
    TargetColumnError,
)

# Names served from torch-bearing modules, imported on first use (PEP 562).
_LAZY = {
    "FittedSplit": "engine.datasets.split",
    "Standardizer": "engine.datasets.split",
    "TargetScale": "engine.datasets.split",
    "fit_split": "engine.datasets.split",
    "split_indices": "engine.datasets.split",
    "train_test_split": "engine.datasets.split",
    "load_csv": "engine.datasets.tabular",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'engine.datasets' has no attribute {name!r}")


__all__ = [
    "CSV_PREFIX",
    "DataRecord",
    "Dataset",
    "DatasetDefaults",
    "DatasetError",
    "DatasetImportError",
    "DatasetInfo",
    "FittedSplit",
    "ImageSource",
    "LoadedDataset",
    "LoadedImages",
    "Standardizer",
    "TargetColumnError",
    "TargetScale",
    "data_record",
    "dataset_defaults",
    "fit_split",
    "get_dataset",
    "imported_info",
    "list_datasets",
    "load_csv",
    "split_indices",
    "train_test_split",
]
