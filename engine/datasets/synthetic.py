"""Seeded 2-D toy datasets: small, fast, and hard enough to show what depth and width do.

This module is the catalogue (torch-free); the generators live in `generators.py` and are
imported when a dataset is loaded.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from engine.datasets.types import DatasetDefaults, DatasetInfo, LoadedDataset

if TYPE_CHECKING:
    pass

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


def _info(id_: str, name: str, description: str, task_type: str = "classification") -> DatasetInfo:
    return DatasetInfo(id_, name, description, task_type, "synthetic")  # type: ignore[arg-type]


SYNTHETIC_DATASETS: tuple[SyntheticDataset, ...] = (
    SyntheticDataset(
        _info("two_moons", "Two moons", "Two interleaving noisy half circles; 2 classes."),
        "make_two_moons",
        ("x1", "x2"),
        ("moon_a", "moon_b"),
        DatasetDefaults(epochs=20, lr=1e-2, batch_size=32),
    ),
    SyntheticDataset(
        _info("circles", "Circles", "A noisy ring around a smaller ring; 2 classes."),
        "make_circles",
        ("x1", "x2"),
        ("outer", "inner"),
        DatasetDefaults(epochs=20, lr=1e-2, batch_size=32),
    ),
    SyntheticDataset(
        _info("spirals", "Spirals", "Three interleaved noisy spiral arms; 3 classes."),
        "make_spirals",
        ("x1", "x2"),
        ("arm_1", "arm_2", "arm_3"),
        DatasetDefaults(epochs=60, lr=1e-2, batch_size=32),
    ),
    SyntheticDataset(
        _info("xor", "XOR", "Four Gaussian blobs; the class is 1 where x1 and x2 differ in sign."),
        "make_xor",
        ("x1", "x2"),
        ("same_sign", "opposite_sign"),
        DatasetDefaults(epochs=20, lr=1e-2, batch_size=32),
    ),
    SyntheticDataset(
        _info("sine", "Sine", "y = sin(x) + noise for x in [-3, 3]; regression.", "regression"),
        "make_sine",
        ("x",),
        None,
        DatasetDefaults(epochs=20, lr=1e-2, batch_size=32),
    ),
)
