"""The grokking setup of Nanda et al. (2023): a 1-layer transformer learning (a + b) mod p.

Importing this module does not import torch (the engine resolves parameters before torch has
loaded); the model lives in engine.models.transformer.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from engine.errors import ParameterError
from engine.families.base import FamilyBase, Split

if TYPE_CHECKING:
    import torch
    from torch import nn


def is_prime(n: int) -> bool:
    return n >= 2 and all(n % d for d in range(2, math.isqrt(n) + 1))


def modular_addition_split(p: int, training_fraction: float, data_seed: int) -> Split:
    """Every pair (a, b) as tokens [a, b, =] with label (a + b) mod p, split at random by
    `data_seed`: (train_x, train_y, test_x, test_y)."""
    import torch

    a = torch.arange(p).repeat_interleave(p)
    b = torch.arange(p).repeat(p)
    x = torch.stack([a, b, torch.full_like(a, p)], dim=1)
    y = (a + b) % p
    order = torch.randperm(p * p, generator=torch.Generator().manual_seed(data_seed))
    cut = int(training_fraction * p * p)
    train, test = order[:cut], order[cut:]
    return x[train], y[train], x[test], y[test]


class ModuloAdditionFamily(FamilyBase):
    def validate_domain(self, params: dict[str, Any]) -> dict[str, Any]:
        if not is_prime(params["prime"]):
            raise ParameterError(
                "prime", f"{params['prime']} is not prime; allowed: a prime from 3 to 997"
            )
        if params["d_model"] % params["n_heads"]:
            raise ParameterError(
                "d_model", f"{params['d_model']} is not a multiple of n_heads ({params['n_heads']})"
            )
        return params

    def create_model(self, params: dict[str, Any]) -> nn.Module:
        from engine.models.transformer import OneLayerTransformer

        return OneLayerTransformer(
            params["prime"], params["d_model"], params["n_heads"], params["d_mlp"]
        )

    def generate_training_dataset(
        self, params: dict[str, Any], training_fraction: float, data_seed: int
    ) -> Split:
        return modular_addition_split(params["prime"], training_fraction, data_seed)

    def preprocessing(
        self, params: dict[str, Any], training_fraction: float, data_seed: int
    ) -> dict[str, Any]:
        """What a new input is (engine.inference): a pair of residues a, b in [0, prime),
        which the model reads as the tokens [a, b, =] (= is token `prime`)."""
        return {"kind": "modulo", "prime": params["prime"], "columns": ["a", "b"]}

    def compute_loss(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        import torch
        import torch.nn.functional as F

        # float64: float32 cannot represent the ~1e-7 losses a grokked model reaches.
        return F.cross_entropy(outputs.to(torch.float64), targets)
