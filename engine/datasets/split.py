"""Seeded train/test split; features and regression targets standardised with train statistics.

Fitting the scalers on the train rows alone keeps test rows from leaking into training. A
regression target is standardised too, so one learning rate suits a target in [-1, 1] and one in
the hundreds of thousands alike; its `TargetScale` brings errors back to the target's own units.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from engine.datasets.types import DatasetError, LoadedDataset


@dataclass(frozen=True, eq=False)
class Standardizer:
    """Per-feature mean/std from training rows; kept so new inputs (plots, inference) match."""

    mean: torch.Tensor  # float32 [num_features]
    std: torch.Tensor  # float32 [num_features], constant features have std 1

    @classmethod
    def fit(cls, x: torch.Tensor) -> Standardizer:
        x64 = x.double()
        mean = x64.mean(dim=0)
        std = x64.std(dim=0, correction=0)
        # A constant column has std 0 (or rounding noise): leave its scale alone.
        constant = (x64.amax(dim=0) == x64.amin(dim=0)) | (std == 0)
        std = torch.where(constant, torch.ones_like(std), std)
        return cls(mean=mean.float(), std=std.float())

    def transform(self, x: torch.Tensor) -> torch.Tensor:
        return ((x.double() - self.mean.double()) / self.std.double()).float()


@dataclass(frozen=True)
class TargetScale:
    """Mean and std of a regression target over the training rows (std 1 when constant).

    The model learns `(y - mean) / std`; its predictions are `mean + std * output` and its
    errors `std * error` in the target's own units (R² is the same in either)."""

    mean: float
    std: float

    @classmethod
    def fit(cls, y: torch.Tensor) -> TargetScale:
        y64 = y.double()
        mean = float(y64.mean())
        std = float(y64.std(correction=0))
        if not std > 0 or float(y64.amax()) == float(y64.amin()):
            std = 1.0
        return cls(mean=mean, std=std)

    def transform(self, y: torch.Tensor) -> torch.Tensor:
        return ((y.double() - self.mean) / self.std).float()

    def inverse(self, y: torch.Tensor) -> torch.Tensor:
        """Standardised values (a model's outputs) back in the target's units."""
        return (y.double() * self.std + self.mean).float()


@dataclass(frozen=True, eq=False)
class FittedSplit:
    """A standardised train/test split and the scalers fitted on its train rows."""

    train_x: torch.Tensor
    train_y: torch.Tensor  # standardised for regression (see `target`)
    test_x: torch.Tensor
    test_y: torch.Tensor
    features: Standardizer
    target: TargetScale | None  # None for classification


def split_indices(n: int, test_fraction: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Seeded permutation of ``range(n)`` cut into (train, test) index tensors, both non-empty."""
    if not 0.0 < test_fraction < 1.0:
        raise DatasetError(
            f"Test fraction must be between 0 and 1 (exclusive), got {test_fraction}"
        )
    if n < 2:
        raise DatasetError(f"Need at least 2 rows to split into train and test sets, got {n}")
    n_test = min(max(round(n * test_fraction), 1), n - 1)
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    return perm[n_test:], perm[:n_test]


def fit_split(ds: LoadedDataset, test_fraction: float, seed: int) -> FittedSplit:
    """The seeded split with features (and a regression target) standardised by train stats."""
    train_idx, test_idx = split_indices(len(ds.y), test_fraction, seed)
    scaler = Standardizer.fit(ds.x[train_idx])
    train_y, test_y = ds.y[train_idx].clone(), ds.y[test_idx].clone()
    target = None
    if ds.y.is_floating_point():
        target = TargetScale.fit(train_y)
        train_y, test_y = target.transform(train_y), target.transform(test_y)
    return FittedSplit(
        train_x=scaler.transform(ds.x[train_idx]),
        train_y=train_y,
        test_x=scaler.transform(ds.x[test_idx]),
        test_y=test_y,
        features=scaler,
        target=target,
    )


def train_test_split(
    ds: LoadedDataset, test_fraction: float, seed: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Return ``train_x, train_y, test_x, test_y`` standardised by train statistics (a
    regression target too: `fit_split` returns its `TargetScale`)."""
    s = fit_split(ds, test_fraction, seed)
    return s.train_x, s.train_y, s.test_x, s.test_y
