"""Dataset types shared by the catalogue, the loaders and their callers.

Importing this module does not import torch: the catalogue (names, task types, defaults) is
read by the parameter forms before torch has loaded; only `LoadedDataset` holds tensors.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib.resources import files
from typing import TYPE_CHECKING, Any, Literal, Protocol

from engine.errors import TrainwrightError

# The config's record of the data a variant saw, re-exported for the loaders.
from engine.variants import DataRecord as DataRecord

if TYPE_CHECKING:
    import torch

TaskType = Literal["classification", "regression"]
DatasetKind = Literal["tabular", "images"]
TASK_TYPES: tuple[str, ...] = ("classification", "regression")
CSV_PREFIX = "csv:"


class DatasetError(TrainwrightError, ValueError):
    """A problem with a dataset; the message is written to be shown to a user as is (the CLI:
    exit 2, one line)."""


class TargetColumnError(DatasetError):
    """The chosen target column does not exist, or this dataset's target cannot be chosen."""


class DatasetImportError(DatasetError):
    """An import refused: the message names the file or archive entry and the rule it broke."""


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
    source: str  # "synthetic" | "bundled" | "csv" | "imported"
    kind: DatasetKind = "tabular"


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


@dataclass(frozen=True, eq=False)
class LoadedImages:
    """Decoded images at one size: what an image model trains on (uint8 keeps memory at 1/4)."""

    x: torch.Tensor  # uint8 [n, channels, size, size]
    y: torch.Tensor  # int64 [n]
    class_names: list[str]
    defaults: DatasetDefaults


class Dataset(Protocol):
    """Anything that can describe itself and produce a `LoadedDataset` for a seed."""

    info: DatasetInfo

    def load(self, seed: int = 0) -> LoadedDataset: ...


class ImageSource(Dataset, Protocol):
    """An image dataset: decoded at the size a run asks for; `load` flattens it for an MLP."""

    native_size: int  # the most common longer side of its images
    channels: int  # 1 (grey) or 3 (colour)

    def load_images(self, size: int, channels: int, seed: int = 0) -> LoadedImages: ...


# A user's CSV brings no tuned hyperparameters: these are the defaults its forms show.
CSV_DEFAULTS = DatasetDefaults(epochs=100, lr=1e-3, batch_size=32)


def read_catalog() -> dict[str, list[dict[str, Any]]]:
    """The built-in datasets as data: resources/datasets/catalog.json."""
    text = (files("resources") / "datasets" / "catalog.json").read_text(encoding="utf-8")
    return json.loads(text)
