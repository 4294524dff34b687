"""The modulo-addition fast path: `forward` (last position, tabulated attention) must compute
what the plain full computation `forward_all(x)[:, -1]` computes, before and during training."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from engine.models.transformer import OneLayerTransformer

ATOL = 1e-5


def all_pairs(p: int) -> tuple[torch.Tensor, torch.Tensor]:
    a = torch.arange(p).repeat_interleave(p)
    b = torch.arange(p).repeat(p)
    return torch.stack([a, b, torch.full_like(a, p)], dim=1), (a + b) % p


def model(p: int, **widths: int) -> OneLayerTransformer:
    torch.manual_seed(999)
    return OneLayerTransformer(p, **widths)


def assert_fast_matches_full(m: OneLayerTransformer, x: torch.Tensor) -> None:
    with torch.no_grad():
        fast, full = m(x), m.forward_all(x)[:, -1]
    assert fast.shape == full.shape == (len(x), m.p)
    torch.testing.assert_close(fast, full, atol=ATOL, rtol=0)


def test_fast_forward_matches_full_forward_at_init_p113() -> None:
    m = model(113)  # default widths: d_model 128, 4 heads, d_mlp 512
    x, _ = all_pairs(113)
    assert_fast_matches_full(m, x)


def test_fast_forward_matches_full_forward_after_training_steps_p113() -> None:
    p = 113
    m = model(p)
    x, y = all_pairs(p)
    order = torch.randperm(p * p, generator=torch.Generator().manual_seed(598))
    train = order[: int(0.3 * p * p)]
    opt = torch.optim.AdamW(m.parameters(), lr=1e-3, weight_decay=1.0, betas=(0.9, 0.98))
    for _ in range(5):  # trained through the fast path, as the engine does
        loss = F.cross_entropy(m(x[train]).to(torch.float64), y[train])
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert_fast_matches_full(m, x)


def test_fast_path_gradients_match_the_full_computation() -> None:
    # In float64: in float32 the two paths' last-bit differences flip a few ReLU gates whose
    # input is ~1e-7 from zero, which moves some gradient entries by more than rounding does.
    p = 113
    m = model(p).double()
    x, y = all_pairs(p)
    x, y = x[::4], y[::4]  # a quarter of the pairs is plenty, and 4x faster
    grads = []
    for forward in (m.forward, lambda t: m.forward_all(t)[:, -1]):
        m.zero_grad()
        F.cross_entropy(forward(x), y).backward()
        grads.append({name: q.grad.clone() for name, q in m.named_parameters()})
    fast, full = grads
    for name in full:
        torch.testing.assert_close(fast[name], full[name], atol=1e-12, rtol=1e-9, msg=name)


@pytest.mark.parametrize("widths", [{"d_model": 32, "n_heads": 2, "d_mlp": 64}, {"n_heads": 1}])
def test_fast_forward_matches_for_other_widths(widths: dict[str, int]) -> None:
    m = model(13, **widths)
    x, _ = all_pairs(13)
    assert_fast_matches_full(m, x)
    assert_fast_matches_full(m, x[:1])  # a batch of one


def test_the_trainers_grad_norm_is_get_total_norm_bit_for_bit() -> None:
    """The trainer's cheaper grad norm (engine/training/trainer.py) logs the same value as
    get_total_norm of the gradients in name order (its canonical order)."""
    from types import SimpleNamespace

    from engine.training.trainer import Trainer, _foreach_norm_applies

    m = model(13, d_model=32, n_heads=2, d_mlp=64)
    x, y = all_pairs(13)
    F.cross_entropy(m(x).to(torch.float64), y).backward()
    params = list(m.parameters())
    stub = SimpleNamespace(model=m, params=params, _single_group=_foreach_norm_applies(params))
    assert stub._single_group
    grads = [q.grad for _, q in sorted(m.named_parameters())]
    assert torch.equal(Trainer._grad_norm(stub), torch.nn.utils.get_total_norm(grads))
    mixed = torch.nn.Module()
    mixed.register_parameter("b", torch.nn.Parameter(torch.randn(5)))
    mixed.register_parameter("a", torch.nn.Parameter(torch.randn(3).double()))
    for q in mixed.parameters():
        q.grad = torch.randn_like(q)
    params = list(mixed.parameters())
    assert not _foreach_norm_applies(params)  # two dtypes: get_total_norm itself
    stub = SimpleNamespace(model=mixed, params=params, _single_group=False)
    expected = torch.nn.utils.get_total_norm([mixed.a.grad, mixed.b.grad])
    assert torch.equal(Trainer._grad_norm(stub), expected)
