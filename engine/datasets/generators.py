"""The seeded generators behind the synthetic datasets (torch).

Every generator draws only from its own ``torch.Generator`` seeded by the caller, so the same
seed gives bit-identical tensors on any CPU and nothing depends on global RNG state.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

# Generator: (n, torch.Generator) -> (x float32 [n, d], y int64 or float32 [n]).
Generator = Callable[[int, torch.Generator], tuple[torch.Tensor, torch.Tensor]]


def _shuffle(x: torch.Tensor, y: torch.Tensor, g: torch.Generator) -> tuple[torch.Tensor, ...]:
    # Interleave the classes so no consumer can accidentally rely on their order.
    perm = torch.randperm(len(y), generator=g)
    return x[perm], y[perm]


def _class_sizes(n: int, k: int) -> list[int]:
    return [n // k + (1 if i < n % k else 0) for i in range(k)]


def make_two_moons(
    n: int, g: torch.Generator, noise: float = 0.1
) -> tuple[torch.Tensor, torch.Tensor]:
    """Two interleaving half circles (as in scikit-learn's make_moons)."""
    n_a, n_b = _class_sizes(n, 2)
    t_a = torch.rand(n_a, generator=g, dtype=torch.float64) * math.pi
    t_b = torch.rand(n_b, generator=g, dtype=torch.float64) * math.pi
    a = torch.stack([torch.cos(t_a), torch.sin(t_a)], dim=1)
    b = torch.stack([1.0 - torch.cos(t_b), 0.5 - torch.sin(t_b)], dim=1)
    x = torch.cat([a, b]) + noise * torch.randn(n, 2, generator=g, dtype=torch.float64)
    y = torch.cat([torch.zeros(n_a, dtype=torch.int64), torch.ones(n_b, dtype=torch.int64)])
    return _shuffle(x.float(), y, g)


def make_circles(
    n: int, g: torch.Generator, factor: float = 0.5, noise: float = 0.08
) -> tuple[torch.Tensor, torch.Tensor]:
    """A ring (class 0) around a smaller concentric ring (class 1): not linearly separable."""
    n_out, n_in = _class_sizes(n, 2)
    angle = torch.rand(n, generator=g, dtype=torch.float64) * (2 * math.pi)
    radius = torch.cat(
        [torch.ones(n_out, dtype=torch.float64), torch.full((n_in,), factor, dtype=torch.float64)]
    )
    x = torch.stack([radius * torch.cos(angle), radius * torch.sin(angle)], dim=1)
    x = x + noise * torch.randn(n, 2, generator=g, dtype=torch.float64)
    y = torch.cat([torch.zeros(n_out, dtype=torch.int64), torch.ones(n_in, dtype=torch.int64)])
    return _shuffle(x.float(), y, g)


def make_spirals(
    n: int, g: torch.Generator, num_classes: int = 3, turns: float = 4.0, noise: float = 0.2
) -> tuple[torch.Tensor, torch.Tensor]:
    """Interleaved spiral arms, one per class; ``turns`` is the angle swept per arm (rad)."""
    xs, ys = [], []
    for k, size in enumerate(_class_sizes(n, num_classes)):
        r = torch.rand(size, generator=g, dtype=torch.float64)
        theta = (
            2 * math.pi * k / num_classes
            + turns * r
            + noise * torch.randn(size, generator=g, dtype=torch.float64)
        )
        xs.append(torch.stack([r * torch.sin(theta), r * torch.cos(theta)], dim=1))
        ys.append(torch.full((size,), k, dtype=torch.int64))
    return _shuffle(torch.cat(xs).float(), torch.cat(ys), g)


def make_xor(n: int, g: torch.Generator, spread: float = 0.35) -> tuple[torch.Tensor, torch.Tensor]:
    """Four Gaussian blobs at (±1, ±1); the label is 1 where the signs differ."""
    corner = torch.randint(0, 4, (n,), generator=g)
    centres = torch.tensor(
        [[1.0, 1.0], [-1.0, -1.0], [1.0, -1.0], [-1.0, 1.0]], dtype=torch.float64
    )
    x = centres[corner] + spread * torch.randn(n, 2, generator=g, dtype=torch.float64)
    y = (corner >= 2).to(torch.int64)
    return x.float(), y


def make_sine(n: int, g: torch.Generator, noise: float = 0.1) -> tuple[torch.Tensor, torch.Tensor]:
    """y = sin(x) + noise for x uniform in [-3, 3]: the simplest non-linear regression."""
    x = torch.rand(n, 1, generator=g, dtype=torch.float64) * 6.0 - 3.0
    y = torch.sin(x[:, 0]) + noise * torch.randn(n, generator=g, dtype=torch.float64)
    return x.float(), y.float()
