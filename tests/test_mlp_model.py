"""DynamicMLPModel: structure follows the config, output shapes, determinism, validation."""

from __future__ import annotations

import pytest
import torch
from pydantic import ValidationError
from torch import nn

from engine.models import DynamicMLPModel, LayerConfig, MLPConfig


def build(**kwargs: object) -> DynamicMLPModel:
    return DynamicMLPModel(MLPConfig(**kwargs))  # type: ignore[arg-type]


def count(model: nn.Module, kind: type[nn.Module]) -> int:
    return sum(isinstance(m, kind) for m in model.modules())


def test_classification_outputs_one_logit_per_class() -> None:
    model = build(
        input_dim=4, output_dim=3, task_type="classification", layers=[LayerConfig(units=8)]
    )
    assert model(torch.randn(5, 4)).shape == (5, 3)
    assert isinstance(model.loss_fn(), nn.CrossEntropyLoss)


def test_regression_outputs_column_vector() -> None:
    model = build(input_dim=1, output_dim=1, task_type="regression", layers=[LayerConfig(units=8)])
    assert model(torch.randn(7, 1)).shape == (7, 1)
    assert isinstance(model.loss_fn(), nn.MSELoss)


def test_no_layers_is_a_single_linear_map() -> None:
    model = build(input_dim=3, output_dim=2, task_type="classification")
    assert count(model, nn.Linear) == 1
    assert list(model.net) == [model.net[0]] and isinstance(model.net[0], nn.Linear)


def test_hidden_layers_follow_the_config_in_order() -> None:
    model = build(
        input_dim=2,
        output_dim=2,
        task_type="classification",
        layers=[LayerConfig(units=16, activation="tanh"), LayerConfig(units=4, activation="gelu")],
    )
    kinds = [type(m) for m in model.net]
    assert kinds == [nn.Linear, nn.Tanh, nn.Linear, nn.GELU, nn.Linear]
    assert [m.out_features for m in model.net if isinstance(m, nn.Linear)] == [16, 4, 2]


def test_batch_norm_and_dropout_added_when_asked() -> None:
    model = build(
        input_dim=2,
        output_dim=2,
        task_type="classification",
        layers=[LayerConfig(units=8, batch_norm=True, dropout=0.3), LayerConfig(units=8)],
    )
    kinds = [type(m) for m in model.net]
    assert kinds == [nn.Linear, nn.BatchNorm1d, nn.ReLU, nn.Dropout, nn.Linear, nn.ReLU, nn.Linear]
    assert model.net[3].p == pytest.approx(0.3)


def test_no_batch_norm_or_dropout_by_default() -> None:
    model = build(input_dim=2, output_dim=2, task_type="classification", layers=[{"units": 8}])
    assert count(model, nn.BatchNorm1d) == 0 and count(model, nn.Dropout) == 0


def test_invalid_activation_rejected() -> None:
    with pytest.raises(ValidationError):
        LayerConfig(units=8, activation="swish")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "bad", [{"units": 0}, {"units": 4, "dropout": 1.0}, {"units": 4, "dropout": -0.1}]
)
def test_invalid_layer_values_rejected(bad: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        LayerConfig(**bad)  # type: ignore[arg-type]


def test_regression_needs_one_output() -> None:
    with pytest.raises(ValidationError, match="output_dim must be 1"):
        MLPConfig(input_dim=2, output_dim=3, task_type="regression")


def test_config_round_trips_through_json() -> None:
    config = MLPConfig(
        input_dim=2,
        output_dim=3,
        task_type="classification",
        layers=[LayerConfig(units=8, activation="silu", dropout=0.1, batch_norm=True)],
    )
    assert MLPConfig.model_validate_json(config.model_dump_json()) == config


def test_same_seed_gives_identical_state_dict() -> None:
    config = MLPConfig(
        input_dim=3,
        output_dim=2,
        task_type="classification",
        layers=[LayerConfig(units=32, batch_norm=True), LayerConfig(units=16, dropout=0.2)],
    )
    torch.manual_seed(11)
    a = DynamicMLPModel(config).state_dict()
    torch.manual_seed(11)
    b = DynamicMLPModel(config).state_dict()
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)
    torch.manual_seed(12)
    c = DynamicMLPModel(config).state_dict()
    assert not torch.equal(a["net.0.weight"], c["net.0.weight"])


def test_classifier_needs_at_least_two_outputs() -> None:
    with pytest.raises(ValidationError, match="output_dim must be >= 2"):
        MLPConfig(input_dim=2, output_dim=1, task_type="classification")
