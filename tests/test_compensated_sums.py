"""Compensated loss sums: the epoch's mean loss does not drift with the number of batches."""

from __future__ import annotations

import math
import random
from fractions import Fraction

import torch

from engine.training.metrics import EpochAccumulator, LossEMA, compensated_add, product_error


def _mixed_values(count: int, seed: int = 16) -> list[float]:
    """Positive values over twelve orders of magnitude, in no particular order."""
    r = random.Random(seed)
    return [r.random() * 10.0 ** r.randint(-6, 6) for _ in range(count)]


def _ulps(a: float, b: float) -> float:
    return abs(a - b) / math.ulp(b)


def test_a_million_mixed_values_sum_to_fsum_within_an_ulp_where_a_plain_sum_drifts():
    values = _mixed_values(1_000_000)
    total, comp, naive = 0.0, 0.0, 0.0
    for v in values:
        total, comp = compensated_add(total, comp, v)
        naive += v
    exact_mean = math.fsum(values) / len(values)
    assert _ulps((total + comp) / len(values), exact_mean) <= 1
    assert _ulps(naive / len(values), exact_mean) > 8  # the test can fail: a plain sum drifts


def test_the_weighted_terms_are_exact_too():
    r = random.Random(3)
    for _ in range(20_000):
        x, n = r.random() * 10.0 ** r.randint(-8, 8), r.randint(1, 1 << 20)
        product = x * n
        assert Fraction(product) + Fraction(product_error(x, n, product)) == Fraction(x) * n


_BATCHES: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}


def _batch(n: int) -> tuple[torch.Tensor, torch.Tensor]:
    if n not in _BATCHES:
        _BATCHES[n] = (torch.zeros(n, 3), torch.zeros(n, dtype=torch.long))
    return _BATCHES[n]


def _steps(count: int, seed: int = 5) -> list[tuple[float, int]]:
    r = random.Random(seed)
    return [(r.random() * 10.0 ** r.randint(-4, 4), r.choice((32, 47, 64))) for _ in range(count)]


def _exact_mean(steps: list[tuple[float, int]]) -> float:
    return float(sum(Fraction(x) * n for x, n in steps) / sum(n for _, n in steps))


def test_the_epoch_mean_loss_is_the_exact_weighted_mean_to_an_ulp():
    steps = [(1e8, 1)] + [(1e-9 * (1 + i % 7), 64) for i in range(5_000)] + _steps(5_000)
    acc = EpochAccumulator(regression=False)
    naive, count = 0.0, 0
    for x, n in steps:
        acc.update(*_batch(n), x)
        naive += x * n
        count += n
    exact = _exact_mean(steps)
    assert _ulps(acc.result()["train_loss"], exact) <= 1
    assert _ulps(naive / count, exact) > 8  # what the accumulator did before


def test_a_resumed_accumulator_continues_bit_for_bit():
    steps = _steps(3_000, seed=9)
    whole = EpochAccumulator(regression=False)
    for x, n in steps:
        whole.update(*_batch(n), x)

    first = EpochAccumulator(regression=False)
    for x, n in steps[:1_234]:
        first.update(*_batch(n), x)
    state = first.state_dict()
    assert state["loss_comp"] != 0.0  # the compensation travels with the checkpoint
    second = EpochAccumulator(regression=False)
    second.load_state_dict(state, torch.device("cpu"))
    for x, n in steps[1_234:]:
        second.update(*_batch(n), x)
    assert second.state_dict()["loss_sum"] == whole.state_dict()["loss_sum"]
    assert second.state_dict()["loss_comp"] == whole.state_dict()["loss_comp"]
    assert second.result() == whole.result()


def test_an_accumulator_state_from_before_compensation_still_loads():
    old = {"loss_sum": 12.5, "count": 5, "correct": 3, "sums": torch.zeros(1, dtype=torch.float64)}
    acc = EpochAccumulator(regression=False)
    acc.load_state_dict(old, torch.device("cpu"))
    assert acc.loss_comp == 0.0
    assert acc.result() == {"train_loss": 2.5, "train_accuracy": 0.6}


def test_the_loss_ema_is_debiased_and_its_state_resumes_exactly():
    ema = LossEMA(decay=0.98)
    assert ema.result() is None
    ema.update(3.25)
    assert ema.result() == 3.25  # debiased: the first value is not pulled toward 0
    losses = [r / 7 for r in range(1, 400)]
    biased = 0.02 * 3.25
    for t, x in enumerate(losses, start=2):
        ema.update(x)
        biased = 0.98 * biased + 0.02 * x
        assert math.isclose(ema.result(), biased / (1 - 0.98**t), rel_tol=1e-12)

    whole, part = LossEMA(), LossEMA()
    for x in losses:
        whole.update(x)
    for x in losses[:100]:
        part.update(x)
    resumed = LossEMA()
    resumed.load_state_dict(part.state_dict())
    for x in losses[100:]:
        resumed.update(x)
    assert resumed.result() == whole.result()
    fresh = LossEMA()
    fresh.load_state_dict(None)  # a checkpoint from before the EMA: it starts afresh
    assert (fresh.count, fresh.value) == (0, 0.0)
