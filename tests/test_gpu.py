"""CPU and GPU compute the same training: a few steps in float64 on both, losses within 1e-8.

Skipped without CUDA (`pytest -m gpu` runs only these). float64 leaves the devices' different
summation orders and fused kernels far below the tolerance, so a larger gap is a real
difference (a device-dependent code path, an RNG drawn on the device, a lost dtype).
"""

from __future__ import annotations

import copy

import pytest
import torch

from engine.training.trainer import _deterministic

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]

STEPS = 8
TOLERANCE = 1e-8


def _losses(family, model, data, device: str, optimizer: str) -> list[float]:
    """Full-batch steps of `model` (a copy, in float64) on `device`: the loss of each step."""
    model = copy.deepcopy(model).double().to(device)
    x, y = (t.to(device) for t in data)
    if x.is_floating_point():
        x = x.double()
    if y.is_floating_point():
        y = y.double()
    params = list(model.parameters())
    if optimizer == "adamw":
        opt: torch.optim.Optimizer = torch.optim.AdamW(params, lr=1e-3, weight_decay=0.1)
    else:
        opt = torch.optim.SGD(params, lr=0.05, momentum=0.9)
    losses = []
    with _deterministic(1, device):
        for _ in range(STEPS):
            loss = family.compute_loss(model(x), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            losses.append(loss.item())
    return losses


@pytest.mark.parametrize(
    ("family_name", "domain", "optimizer"),
    [
        ("mlp", {"dataset": "two_moons", "hidden_dim": 32, "dropout": 0.0}, "adamw"),
        ("mlp", {"dataset": "sine", "hidden_dim": 32, "dropout": 0.0}, "sgd"),
        ("modulo_addition_1layer", {"prime": 13, "d_model": 32, "n_heads": 2}, "adamw"),
    ],
)
def test_cpu_and_cuda_train_alike_in_float64(workspace, family_name, domain, optimizer):
    config = workspace.resolve(family_name, domain, {}).config
    assert config is not None
    family = workspace.registry.family(family_name)
    torch.manual_seed(0)
    model = family.create_model(config.domain)
    train_x, train_y, _, _ = family.generate_training_dataset(config.domain, 0.8, 0)
    data = (train_x, train_y)
    cpu = _losses(family, model, data, "cpu", optimizer)
    cuda = _losses(family, model, data, "cuda", optimizer)
    assert cpu[-1] < cpu[0]  # it trained
    gaps = [abs(a - b) for a, b in zip(cpu, cuda, strict=True)]
    assert max(gaps) <= TOLERANCE, gaps
