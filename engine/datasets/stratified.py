"""A seeded train/test split that keeps every class's share on both sides.

A plain random split of a small image dataset can leave a rare class out of the test set (its
accuracy unmeasured) or out of training (never learned). Here each class is split on its own:
its examples are shuffled by a permutation seeded from the split seed and the class index, and
a class with at least two examples always has one on each side. Seeding per class means that
adding images to one class of an imported folder leaves the other classes' splits as they were.
"""

from __future__ import annotations

import hashlib
import math

import torch

from engine.datasets.types import DatasetError


def class_seed(seed: int, label: int) -> int:
    """The seed of class ``label``'s permutation: a hash of both (distinct for every pair, so
    two classes never share a permutation and seed 1 is not seed 0's second class)."""
    digest = hashlib.sha256(f"stratified:{seed}:{label}".encode()).digest()
    return int.from_bytes(digest[:8], "big") & (2**63 - 1)


def class_test_count(count: int, test_fraction: float) -> int:
    """How many of a class's ``count`` examples go to the test set: the fraction rounded half
    up, at least one and at most ``count - 1`` when the class has two or more; none when it
    has one (it is trained on, never measured)."""
    if count < 2:
        return 0
    return min(max(math.floor(count * test_fraction + 0.5), 1), count - 1)


def stratified_indices(
    labels: torch.Tensor, test_fraction: float, seed: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """(train, test) int64 indices into ``labels`` (int64 [n]), each in ascending order.

    Every class is split by its own seeded permutation (see `class_seed`); the result depends
    only on the labels, the fraction and the seed. DatasetError when either side would be
    empty or the fraction is not strictly between 0 and 1."""
    if not 0.0 < test_fraction < 1.0:
        raise DatasetError(
            f"Test fraction must be between 0 and 1 (exclusive), got {test_fraction}"
        )
    labels = labels.to(torch.int64).cpu()
    train_parts: list[torch.Tensor] = []
    test_parts: list[torch.Tensor] = []
    for label in torch.unique(labels).tolist():  # sorted
        members = (labels == label).nonzero().squeeze(1)
        generator = torch.Generator().manual_seed(class_seed(seed, label))
        shuffled = members[torch.randperm(len(members), generator=generator)]
        n_test = class_test_count(len(members), test_fraction)
        test_parts.append(shuffled[:n_test])
        train_parts.append(shuffled[n_test:])
    empty = torch.empty(0, dtype=torch.int64)
    train = torch.cat(train_parts).sort().values if train_parts else empty
    test = torch.cat(test_parts).sort().values if test_parts else empty
    if len(train) == 0 or len(test) == 0:
        raise DatasetError(
            f"{len(labels)} examples cannot be split into training and test sets: every class "
            "needs at least 2 examples for one of them to be tested"
        )
    return train, test
