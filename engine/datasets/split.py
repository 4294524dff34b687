"""Seeded train/test split and feature standardisation fitted on the train split only.

Fitting the scaler on the train rows alone keeps test rows from leaking into training.
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


def fit_split(
    ds: LoadedDataset, test_fraction: float, seed: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, Standardizer]:
    """Like `train_test_split`, also returning the fitted `Standardizer`."""
    train_idx, test_idx = split_indices(len(ds.y), test_fraction, seed)
    scaler = Standardizer.fit(ds.x[train_idx])
    return (
        scaler.transform(ds.x[train_idx]),
        ds.y[train_idx].clone(),
        scaler.transform(ds.x[test_idx]),
        ds.y[test_idx].clone(),
        scaler,
    )


def train_test_split(
    ds: LoadedDataset, test_fraction: float, seed: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Return ``train_x, train_y, test_x, test_y`` with features standardised by train stats."""
    train_x, train_y, test_x, test_y, _ = fit_split(ds, test_fraction, seed)
    return train_x, train_y, test_x, test_y
