"""The image family's building blocks: the CNNs, the batch augmentations, the stratified split."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from engine.datasets.stratified import class_seed, class_test_count, stratified_indices
from engine.datasets.types import DatasetError
from engine.models.cnn import CifarResNet, SimpleCNN
from engine.training.augment import (
    AUGMENTATIONS,
    batch_augment,
    crop_flip,
    crop_padding,
    random_crop,
    random_flip,
)


def count(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def last_module_with_parameters(model: torch.nn.Module) -> str:
    owners = [
        name
        for name, m in model.named_modules()
        if next(m.parameters(recurse=False), None) is not None
    ]
    return owners[-1]


# ---- models ----------------------------------------------------------------------------------
def test_cifar_resnets_have_the_papers_parameter_counts():
    # He et al. 2016 (CIFAR-10): ResNet-20 0.27 M; here with 1x1 projection shortcuts.
    assert count(CifarResNet(3, 10, depth=20, width=1)) == 272_474
    assert count(CifarResNet(3, 10, depth=14, width=1)) == 175_258
    assert count(CifarResNet(3, 10, depth=8, width=1)) == 78_042
    # A grey stem has a third of the first convolution's weights: 3*16*9 -> 1*16*9.
    assert count(CifarResNet(1, 10, depth=20)) == 272_474 - 2 * 16 * 9
    wide = CifarResNet(3, 10, depth=8, width=2)
    assert wide.head.in_features == 128 and count(wide) > 3 * count(CifarResNet(3, 10, depth=8))


@pytest.mark.parametrize("depth", [8, 14, 20])
def test_resnet_blocks_stages_and_output(depth):
    model = CifarResNet(3, 7, depth=depth, width=1)
    assert [len(stage) for stage in model.stages] == [(depth - 2) // 6] * 3
    out = model(torch.randn(2, 3, 12, 12))
    assert out.shape == (2, 7)
    assert model.head_name == "head" and last_module_with_parameters(model) == "head"
    # The resolution halves twice: 12 -> 6 -> 3.
    assert model.stages(model.stem(torch.randn(1, 3, 12, 12))).shape == (1, 64, 3, 3)


def test_simple_cnn_parameter_count_and_pooling_down_to_one_pixel():
    model = SimpleCNN(1, 10, 8, conv_channels=[32, 64, 128], batch_norm=True)
    convs = 1 * 32 * 9 + 32 * 64 * 9 + 64 * 128 * 9  # no conv bias beside BatchNorm
    assert count(model) == convs + 2 * (32 + 64 + 128) + 128 * 10 + 10
    pools = [m for m in model.features if isinstance(m, torch.nn.MaxPool2d)]
    assert len(pools) == 3  # 8 -> 4 -> 2 -> 1
    deep = SimpleCNN(3, 2, 8, conv_channels=[4, 4, 4, 4, 4], pooling="avg")
    assert sum(isinstance(m, torch.nn.AvgPool2d) for m in deep.features) == 3
    assert deep(torch.randn(3, 3, 8, 8)).shape == (3, 2)
    plain = SimpleCNN(1, 10, 8, conv_channels=[32], batch_norm=False)
    assert count(plain) == 32 * 9 + 32 + 32 * 10 + 10


@pytest.mark.parametrize("kernel_size", [3, 5, 7])
@pytest.mark.parametrize("activation", ["relu", "gelu", "silu", "tanh"])
def test_simple_cnn_every_option_builds_and_runs(kernel_size, activation):
    for batch_norm, pooling, dropout in [(True, "max", 0.0), (False, "avg", 0.5)]:
        model = SimpleCNN(3, 4, 16, [6, 12], kernel_size, batch_norm, activation, pooling, dropout)
        assert model(torch.randn(2, 3, 16, 16)).shape == (2, 4)
        assert last_module_with_parameters(model) == model.head_name == "head"
        assert isinstance(model.dropout, torch.nn.Dropout) == (dropout > 0)


def test_bad_model_arguments_are_refused():
    with pytest.raises(ValueError, match="6n \\+ 2"):
        CifarResNet(3, 10, depth=10)
    with pytest.raises(ValueError, match="width"):
        CifarResNet(3, 10, width=0)
    with pytest.raises(ValueError, match="at least one"):
        SimpleCNN(3, 10, 8, conv_channels=[])
    with pytest.raises(ValueError, match="odd"):
        SimpleCNN(3, 10, 8, kernel_size=4)


@pytest.mark.parametrize(
    "build",
    [
        lambda: SimpleCNN(3, 5, 16, [8, 16], pooling="max", dropout=0.2),
        lambda: SimpleCNN(3, 5, 16, [8, 16], pooling="avg", activation="gelu"),
        lambda: CifarResNet(3, 5, depth=8),
    ],
    ids=["simple_max", "simple_avg", "resnet8"],
)
def test_models_are_seeded_by_the_global_rng_and_deterministic(build):
    """The same seed builds the same weights, and a training step under
    use_deterministic_algorithms gives the same gradients twice (no refused op)."""

    def step() -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        torch.manual_seed(3)
        model = build()
        weights = [p.detach().clone() for p in model.parameters()]
        x = torch.randn(6, 3, 16, 16, generator=torch.Generator().manual_seed(1))
        y = torch.tensor([0, 1, 2, 3, 4, 0])
        F.cross_entropy(model(x), y).backward()
        return weights, [p.grad.clone() for p in model.parameters()]

    previous = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(True)
    try:
        (w1, g1), (w2, g2) = step(), step()
    finally:
        torch.use_deterministic_algorithms(previous)
    assert all(torch.equal(a, b) for a, b in zip(w1, w2, strict=True))
    assert all(torch.equal(a, b) for a, b in zip(g1, g2, strict=True))
    torch.manual_seed(4)
    assert not torch.equal(build().head.weight, w1[-2])  # another seed, other weights


# ---- augmentations ---------------------------------------------------------------------------
def batch(n: int = 16, c: int = 3, side: int = 8) -> torch.Tensor:
    return torch.randn(n, c, side, side, generator=torch.Generator().manual_seed(7))


def test_augmentation_names():
    assert AUGMENTATIONS == ("none", "flip", "crop_flip")
    assert batch_augment("none") is None
    assert batch_augment("flip") is random_flip and batch_augment("crop_flip") is crop_flip
    with pytest.raises(ValueError, match="unknown augmentation"):
        batch_augment("rotate")
    assert [crop_padding(s) for s in (4, 8, 16, 32, 64)] == [1, 1, 2, 4, 8]


def test_flip_mirrors_the_images_its_draws_pick():
    x = batch()
    g = torch.Generator().manual_seed(11)
    picked = torch.rand(len(x), generator=torch.Generator().manual_seed(11)) < 0.5
    out = random_flip(x, g)
    assert 0 < int(picked.sum()) < len(x)
    for i in range(len(x)):
        assert torch.equal(out[i], x[i].flip(-1) if picked[i] else x[i])


def test_crop_is_a_window_of_the_zero_padded_image():
    x = batch(n=32)
    pad = 2
    g = torch.Generator().manual_seed(5)
    offsets = torch.randint(0, 2 * pad + 1, (2, 32), generator=torch.Generator().manual_seed(5))
    out = random_crop(x, g, pad)
    assert out.shape == x.shape
    padded = F.pad(x, (pad, pad, pad, pad))
    for i in range(len(x)):
        r, c = offsets[:, i].tolist()
        assert torch.equal(out[i], padded[i, :, r : r + 8, c : c + 8])
    assert len({tuple(o) for o in offsets.T.tolist()}) > 5  # the offsets vary per image


def test_crop_flip_changes_the_batch_and_is_reproducible_from_the_generator_state():
    x = batch()
    g = torch.Generator().manual_seed(123)
    state = g.get_state()
    first = crop_flip(x, g)
    assert not torch.equal(first, x)
    after = g.get_state()
    g.set_state(state)
    assert torch.equal(crop_flip(x, g), first)  # the same draws from the same state
    assert torch.equal(g.get_state(), after)
    assert not torch.equal(crop_flip(x, g), first)  # the next batch draws anew
    assert not x.requires_grad and first.dtype == x.dtype


def test_augmentations_do_not_touch_the_global_rng():
    torch.manual_seed(9)
    expected = torch.rand(3)
    torch.manual_seed(9)
    crop_flip(batch(), torch.Generator().manual_seed(0))
    assert torch.equal(torch.rand(3), expected)


# ---- stratified split ------------------------------------------------------------------------
def test_each_class_is_split_in_proportion():
    labels = torch.tensor([0] * 50 + [1] * 30 + [2] * 7 + [3] * 2)[
        torch.randperm(89, generator=torch.Generator().manual_seed(0))
    ]
    train, test = stratified_indices(labels, 0.2, seed=4)
    assert sorted(train.tolist() + test.tolist()) == list(range(89))
    assert torch.equal(train, train.sort().values) and torch.equal(test, test.sort().values)
    per_class = torch.bincount(labels[test], minlength=4).tolist()
    assert per_class == [10, 6, 1, 1] == [class_test_count(n, 0.2) for n in (50, 30, 7, 2)]
    assert torch.bincount(labels[train], minlength=4).tolist() == [40, 24, 6, 1]


def test_class_test_counts_keep_one_on_each_side():
    assert [class_test_count(n, 0.2) for n in (1, 2, 3, 5, 8, 10)] == [0, 1, 1, 1, 2, 2]
    assert class_test_count(2, 0.9) == 1 and class_test_count(10, 0.99) == 9
    assert class_test_count(4, 0.375) == 2  # 1.5 rounds half up


def test_the_split_is_seeded_and_each_class_has_its_own_permutation():
    labels = torch.tensor([0, 1] * 20)
    a, b = stratified_indices(labels, 0.25, 1), stratified_indices(labels, 0.25, 1)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert not torch.equal(stratified_indices(labels, 0.25, 2)[1], a[1])
    assert class_seed(1, 0) != class_seed(1, 1) != class_seed(0, 1)
    # More examples of class 1 (appended) leave class 0's split where it was.
    more = torch.cat([labels, torch.ones(10, dtype=torch.int64)])
    _, more_test = stratified_indices(more, 0.25, 1)
    assert torch.equal(more_test[more[more_test] == 0], a[1][labels[a[1]] == 0])
    assert len(a[1]) == 5 + 5 and len(more_test) == 5 + 8  # 30 x 0.25 = 7.5: 8


def test_a_split_that_cannot_test_anything_is_refused():
    with pytest.raises(DatasetError, match="at least 2 examples"):
        stratified_indices(torch.tensor([0, 1, 2]), 0.2, 0)
    with pytest.raises(DatasetError, match="between 0 and 1"):
        stratified_indices(torch.tensor([0, 0, 1, 1]), 1.0, 0)
    train, test = stratified_indices(torch.tensor([0, 1, 1]), 0.5, 0)
    assert train.tolist()[0] == 0 and len(test) == 1  # the single 0 is trained on
