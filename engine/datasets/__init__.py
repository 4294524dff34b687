"""Datasets: seeded synthetic toys, bundled real tables and users' CSV files.

Everything here is pure Python + torch so the CLI, tests and GUI share one implementation.
"""

from engine.datasets.registry import (
    Dataset,
    DatasetDefaults,
    DatasetError,
    DatasetInfo,
    LoadedDataset,
    get_dataset,
    list_datasets,
)
from engine.datasets.split import Standardizer, fit_split, split_indices, train_test_split
from engine.datasets.tabular import load_csv

__all__ = [
    "Dataset",
    "DatasetDefaults",
    "DatasetError",
    "DatasetInfo",
    "LoadedDataset",
    "Standardizer",
    "fit_split",
    "get_dataset",
    "list_datasets",
    "load_csv",
    "split_indices",
    "train_test_split",
]
