"""The update order is fixed: the same weights whatever order a model registers its parameters in.

The optimizers update each parameter on its own, so their order (the registration order, which
the optimizer's state is indexed by) does not change any update; gradient clipping sums over
all parameters, so the trainer sums in a canonical order (by name, `Trainer._grad_norm`).
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch
from torch import nn

from engine.training.config import TrainingConfig
from engine.training.optim import build_optimizer
from engine.training.trainer import Trainer, _foreach_norm_applies

LAYERS = ("first", "second", "head")


class Net(nn.Module):
    """The same parameters under the same names, registered in `order` (layers, and bias
    before weight when `bias_first`); the forward pass does not depend on the order."""

    def __init__(self, order: tuple[str, ...] = LAYERS, *, bias_first: bool = False) -> None:
        super().__init__()
        sizes = {"first": (4, 16), "second": (16, 16), "head": (16, 3)}
        for name in order:
            layer = nn.Linear(*sizes[name])
            if bias_first:
                layer._parameters = dict(reversed(layer._parameters.items()))
            setattr(self, name, layer)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(torch.tanh(self.second(torch.tanh(self.first(x)))))


def _pair() -> tuple[Net, Net]:
    torch.manual_seed(0)
    ours = Net()
    theirs = Net(tuple(reversed(LAYERS)), bias_first=True)
    theirs.load_state_dict(ours.state_dict())
    assert [n for n, _ in ours.named_parameters()] != [n for n, _ in theirs.named_parameters()]
    return ours, theirs


def _train(model: Net, cfg, steps: int = 6) -> list[torch.Tensor]:
    """`steps` optimizer steps as the trainer takes them; the grad norm of each step."""
    params = [p for p in model.parameters() if p.requires_grad]
    trainer = SimpleNamespace(
        model=model, params=params, _single_group=_foreach_norm_applies(params)
    )
    optimizer = build_optimizer(params, cfg)
    generator = torch.Generator().manual_seed(1)
    norms = []
    for _ in range(steps):
        x = torch.randn(32, 4, generator=generator)
        y = torch.randint(0, 3, (32,), generator=generator)
        optimizer.zero_grad(set_to_none=True)
        nn.functional.cross_entropy(model(x), y).backward()
        norm = Trainer._grad_norm(trainer)
        if cfg.grad_clip > 0:
            torch.nn.utils.clip_grads_with_norm_(params, cfg.grad_clip, norm)
        norms.append(norm)
        optimizer.step()
    return norms


OPTIMIZERS = [
    {"optimizer": "adam", "weight_decay": 0.01},
    {"optimizer": "adamw", "weight_decay": 0.1},
    {"optimizer": "sgd", "momentum": 0.9, "weight_decay": 0.01, "lr": 0.05},
    {"optimizer": "rmsprop", "momentum": 0.5, "weight_decay": 0.01},
]


@pytest.mark.parametrize("grad_clip", [0.0, 0.05])
@pytest.mark.parametrize("optimizer", OPTIMIZERS, ids=lambda o: o["optimizer"])
def test_updates_do_not_depend_on_the_registration_order(optimizer, grad_clip):
    cfg = TrainingConfig(**{"lr": 0.01, **optimizer, "grad_clip": grad_clip})
    ours, theirs = _pair()
    our_norms, their_norms = _train(ours, cfg), _train(theirs, cfg)
    assert all(torch.equal(a, b) for a, b in zip(our_norms, their_norms, strict=True))
    if grad_clip:
        assert all(n > grad_clip for n in our_norms)  # clipping was at work on every step
    theirs_by_name = dict(theirs.named_parameters())
    for name, weight in ours.named_parameters():
        assert torch.equal(weight, theirs_by_name[name]), name


def test_the_grad_norm_sums_by_name_whatever_the_order():
    """Many gradients of mixed scales, registered in shuffled orders: one norm, bit for bit,
    and it is get_total_norm of the gradients in name order."""
    generator = torch.Generator().manual_seed(0)
    grads = {
        f"p{i:02d}": torch.randn(7, generator=generator) * 10.0 ** (i % 7 - 3) for i in range(40)
    }
    expected = torch.nn.utils.get_total_norm([grads[name] for name in sorted(grads)])
    for seed in range(5):
        names = [sorted(grads)[i] for i in torch.randperm(40, generator=generator)]
        model = nn.Module()
        for name in names:
            model.register_parameter(name, nn.Parameter(torch.zeros(7)))
            model.get_parameter(name).grad = grads[name].clone()
        params = list(model.parameters())
        trainer = SimpleNamespace(model=model, params=params, _single_group=True)
        assert torch.equal(Trainer._grad_norm(trainer), expected), seed


def test_tied_weights_sort_by_their_least_name():
    """A parameter registered under two names sorts the same whichever name torch sees first."""
    from engine.training.trainer import _by_name

    for first in ("embed", "unembed"):
        model = nn.Module()
        shared = nn.Parameter(torch.zeros(3))
        other = nn.Parameter(torch.zeros(3))
        model.register_parameter(first, shared)
        model.register_parameter("middle", other)
        model.register_parameter("unembed" if first == "embed" else "embed", shared)
        assert _by_name(model, list(model.parameters())) == [shared, other]


def test_a_clipped_training_run_does_not_depend_on_the_registration_order(
    workspace, tmp_path, monkeypatch
):
    """End to end: the mlp family with bias registered before weight in every layer."""
    from engine.workspace import Workspace

    training = {"epochs": 3, "batch_size": 64, "grad_clip": 0.05, "optimizer": "adam"}
    params = {"dataset": "two_moons", "hidden_dim": 16, "num_hidden_layers": 2}
    runs = []
    for reorder, home in ((False, workspace.home), (True, tmp_path / "reordered")):
        ws = Workspace(home)
        family = ws.registry.family("mlp")
        create = family.create_model

        def create_model(domain, create=create, reorder=reorder):
            model = create(domain)
            if reorder:
                for module in model.modules():
                    module._parameters = dict(reversed(module._parameters.items()))
            return model

        monkeypatch.setattr(family, "create_model", create_model)
        trainer = Trainer(family, ws.create_variant("mlp", params, training))
        runs.append((trainer.train(), [n for n, _ in trainer.model.named_parameters()]))
    (plain, plain_names), (reordered, reordered_names) = runs
    assert plain_names != reordered_names and sorted(plain_names) == sorted(reordered_names)
    assert plain.status == reordered.status == "completed"
    assert plain.weights_sha256 == reordered.weights_sha256  # hashed by name
