"""Regression targets: learned standardised with train-split statistics, reported in their own
units (MAE in dollars for prices in dollars), with exact resume."""

from __future__ import annotations

import random
import threading
from pathlib import Path

import pytest
import torch

from engine.datasets import LoadedDataset, TargetScale, fit_split, get_dataset, load_csv
from engine.datasets.split import split_indices
from engine.training.callbacks import Callback
from engine.training.metrics import EpochAccumulator, evaluate

NOISE = 20_000.0  # dollars


def write_houses(path: Path, rows: int = 400, seed: int = 0) -> Path:
    """price = 50,000 + 120,000 * rooms - 800 * age + N(0, 20,000): hundreds of thousands."""
    r = random.Random(seed)
    lines = ["rooms,age,distance,price"]
    for _ in range(rows):
        rooms, age, distance = r.randint(1, 8), r.uniform(0, 80), r.uniform(0.5, 30)
        price = 50_000 + 120_000 * rooms - 800 * age + r.gauss(0, NOISE)
        lines.append(f"{rooms},{age:.1f},{distance:.2f},{price:.0f}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def table(y: torch.Tensor) -> LoadedDataset:
    n = len(y)
    return LoadedDataset(
        x=torch.arange(n, dtype=torch.float32).unsqueeze(1),
        y=y,
        num_features=1,
        task_type="regression" if y.is_floating_point() else "classification",
        num_classes=None if y.is_floating_point() else int(y.max()) + 1,
        feature_names=["i"],
        class_names=None if y.is_floating_point() else [str(k) for k in range(int(y.max()) + 1)],
        defaults=get_dataset("sine").load().defaults,
    )


# ---- the split -------------------------------------------------------------------------------
def test_a_regression_target_is_standardised_with_train_statistics_only():
    y = torch.tensor([100.0, 200.0, 300.0, 400.0, 500.0, 600.0, 700.0, 1e6, 2e6, 3e6])
    split = fit_split(table(y), 0.3, seed=1)
    train_idx, test_idx = split_indices(10, 0.3, seed=1)
    raw_train, raw_test = y[train_idx].double(), y[test_idx].double()
    mean, std = raw_train.mean().item(), raw_train.std(correction=0).item()
    assert split.target == TargetScale(mean=mean, std=std)
    assert torch.allclose(split.train_y.double(), (raw_train - mean) / std, atol=1e-6)
    assert torch.allclose(split.test_y.double(), (raw_test - mean) / std, atol=1e-6)
    assert abs(float(split.train_y.double().mean())) < 1e-6
    assert abs(float(split.train_y.double().std(correction=0)) - 1.0) < 1e-6
    back = split.target.inverse(split.test_y).double()
    assert torch.allclose(back, raw_test, atol=std * 1e-6)  # float32 relative to the std


def test_a_constant_target_keeps_its_scale():
    split = fit_split(table(torch.full((6,), 7.5)), 0.5, seed=0)
    assert split.target == TargetScale(mean=7.5, std=1.0)
    assert split.train_y.tolist() == [0.0, 0.0, 0.0]


def test_class_labels_are_not_scaled():
    y = torch.tensor([0, 1, 2, 0, 1, 2, 0, 1])
    split = fit_split(table(y), 0.25, seed=0)
    assert split.target is None
    train_idx, _ = split_indices(8, 0.25, seed=0)
    assert torch.equal(split.train_y, y[train_idx])


# ---- metrics ---------------------------------------------------------------------------------
def test_the_accumulator_reports_mae_in_the_targets_units_and_resumes_exactly():
    g = torch.Generator().manual_seed(0)
    batches = [(torch.randn(8, 1, generator=g), torch.randn(8, generator=g)) for _ in range(6)]
    whole = EpochAccumulator(True, target_std=1000.0)
    plain = EpochAccumulator(True)
    for out, y in batches:
        whole.update(out, y, float(((out.squeeze(1) - y) ** 2).mean()))
        plain.update(out, y, float(((out.squeeze(1) - y) ** 2).mean()))
    scaled, unscaled = whole.result(), plain.result()
    assert scaled["train_mae"] == unscaled["train_mae"] * 1000.0
    assert (
        scaled["train_r2"] == unscaled["train_r2"]
        and scaled["train_loss"] == unscaled["train_loss"]
    )

    first = EpochAccumulator(True, target_std=1000.0)
    for out, y in batches[:3]:
        first.update(out, y, float(((out.squeeze(1) - y) ** 2).mean()))
    state = first.state_dict()
    assert set(state) == {"loss_sum", "loss_comp", "count", "correct", "sums"}  # no scale
    second = EpochAccumulator(True, target_std=1000.0)
    second.load_state_dict(state, torch.device("cpu"))
    for out, y in batches[3:]:
        second.update(out, y, float(((out.squeeze(1) - y) ** 2).mean()))
    assert second.result() == scaled


def test_evaluate_reports_mae_in_the_targets_units_and_r2_unchanged():
    torch.manual_seed(0)
    model = torch.nn.Linear(2, 1)
    x, y = torch.randn(50, 2), torch.randn(50)

    def loss(out, target):
        return torch.nn.functional.mse_loss(out.squeeze(1), target)

    base = evaluate(model, loss, x, y)
    scaled = evaluate(model, loss, x, y, target_std=250.0)
    assert scaled["test_mae"] == base["test_mae"] * 250.0
    assert scaled["test_r2"] == base["test_r2"] and scaled["test_loss"] == base["test_loss"]


# ---- the family and the trainer --------------------------------------------------------------
def test_the_family_gives_the_train_splits_target_scale(workspace, tmp_path):
    path = write_houses(tmp_path / "houses.csv")
    family = workspace.registry.family("mlp")
    domain = workspace.create_variant(
        "mlp", {"dataset": f"csv:{path}", "target": "price"}
    ).config.domain
    mean, std = family.target_scale(domain, 0.8, 3)
    prices = load_csv(path).y.double()
    train_idx, _ = split_indices(len(prices), 0.2, 3)
    assert mean == pytest.approx(prices[train_idx].mean().item(), rel=1e-12)
    assert std == pytest.approx(prices[train_idx].std(correction=0).item(), rel=1e-12)
    assert 100_000 < std < 500_000
    _, train_y, _, _ = family.generate_training_dataset(domain, 0.8, 3)
    assert abs(float(train_y.double().mean())) < 1e-5
    iris = workspace.create_variant("mlp", {"dataset": "iris"}).config.domain
    assert family.target_scale(iris, 0.8, 0) is None


def test_a_price_table_trains_to_completion_with_mae_in_dollars(workspace, tmp_path):
    """The README's example: `-p dataset=csv:data/houses.csv -p target=price`."""
    from engine.strategies.distill.teacher import load_trained_model

    path = write_houses(tmp_path / "houses.csv")
    variant = workspace.create_variant(
        "mlp", {"dataset": f"csv:{path}", "target": "price"}, {"log_every": 1000}
    )
    session = workspace.train(variant)
    assert session.status == "completed", session.error_message
    metrics = session.final_metrics
    assert metrics["test_r2"] > 0.8, metrics
    assert 0.5 * NOISE < metrics["test_mae"] < 2.5 * NOISE, metrics  # dollars, not ~0.1

    # The reported MAE is the model's error in dollars, computed here by hand.
    cfg = variant.config.training
    family = workspace.registry.family("mlp")
    _, _, test_x, _ = family.generate_training_dataset(
        variant.config.domain, cfg.training_fraction, cfg.data_seed
    )
    mean, std = family.target_scale(variant.config.domain, cfg.training_fraction, cfg.data_seed)
    prices = load_csv(path).y.double()
    _, test_idx = split_indices(len(prices), 1.0 - cfg.training_fraction, cfg.data_seed)
    model = load_trained_model(workspace.registry, variant).model
    with torch.no_grad():
        dollars = model(test_x).squeeze(1).double() * std + mean
    by_hand = float((dollars - prices[test_idx]).abs().mean())
    assert metrics["test_mae"] == pytest.approx(by_hand, rel=1e-5)


def test_a_stopped_regression_run_resumes_to_the_uninterrupted_result(workspace, tmp_path):
    from engine.workspace import Workspace

    path = write_houses(tmp_path / "houses.csv", rows=200)
    domain = {"dataset": f"csv:{path}", "target": "price", "hidden_dim": 16}
    training = {"epochs": 6, "resume_every": 1, "log_every": 1000}
    reference_ws = Workspace(tmp_path / "reference")
    straight = reference_ws.train(reference_ws.create_variant("mlp", domain, training))

    class StopAfter(Callback):
        def __init__(self, event):
            self.event = event

        def on_epoch_end(self, metrics):
            if metrics.epoch == 3:
                self.event.set()

    variant = workspace.create_variant("mlp", domain, training)
    cancel = threading.Event()
    stopped = workspace.train(variant, [StopAfter(cancel)], cancel)
    assert stopped.status == "cancelled"
    resumed = workspace.resume(variant)
    assert resumed.status == "completed", resumed.error_message
    assert resumed.weights_sha256 == straight.weights_sha256
    assert resumed.final_metrics == straight.final_metrics
    assert straight.final_metrics["test_mae"] > 1000  # in dollars
