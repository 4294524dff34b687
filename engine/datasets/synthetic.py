"""Seeded 2-D toy datasets: small, fast, and hard enough to show what depth and width do.

This module is the catalogue (torch-free); the generators live in `generators.py` and are
imported when a dataset is loaded.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from engine.datasets.types import DatasetDefaults, DatasetInfo, LoadedDataset, read_catalog

NUM_SAMPLES = 1000


@dataclass(frozen=True)
class SyntheticDataset:
    """A built-in dataset produced by a seeded generator function."""

    info: DatasetInfo
    generator: str  # a function of engine.datasets.generators: (n, torch.Generator) -> (x, y)
    feature_names: tuple[str, ...]
    class_names: tuple[str, ...] | None
    defaults: DatasetDefaults
    num_samples: int = NUM_SAMPLES

    def load(self, seed: int = 0) -> LoadedDataset:
        import torch

        from engine.datasets import generators

        g = torch.Generator().manual_seed(seed)
        x, y = getattr(generators, self.generator)(self.num_samples, g)
        classes = list(self.class_names) if self.class_names is not None else None
        return LoadedDataset(
            x=x.contiguous(),
            y=y.contiguous(),
            num_features=x.shape[1],
            task_type=self.info.task_type,
            num_classes=len(classes) if classes is not None else None,
            feature_names=list(self.feature_names),
            class_names=classes,
            defaults=self.defaults,
        )


def _from_catalog(entry: dict[str, Any]) -> SyntheticDataset:
    info = DatasetInfo(
        entry["id"], entry["name"], entry["description"], entry["task_type"], "synthetic"
    )
    classes = tuple(entry["classes"]) if entry["classes"] is not None else None
    return SyntheticDataset(
        info,
        entry["generator"],
        tuple(entry["features"]),
        classes,
        DatasetDefaults(**entry["defaults"]),
    )


# The table is data (resources/datasets/catalog.json), with the bundled tables beside it.
SYNTHETIC_DATASETS: tuple[SyntheticDataset, ...] = tuple(
    _from_catalog(entry) for entry in read_catalog()["synthetic"]
)
