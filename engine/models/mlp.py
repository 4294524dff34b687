"""A feed-forward network built from a declarative, validated layer list.

The config is a pydantic model so the GUI, CLI and saved runs all describe a network the
same way and a bad value (unknown activation, dropout 1.0) fails before any training.
"""

from __future__ import annotations

from typing import Literal, Self

import torch
from pydantic import BaseModel, ConfigDict, Field, model_validator
from torch import nn

Activation = Literal["relu", "gelu", "tanh", "sigmoid", "silu", "identity"]

_ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "gelu": nn.GELU,
    "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
    "silu": nn.SiLU,
    "identity": nn.Identity,
}


class LayerConfig(BaseModel):
    """One hidden layer: Linear -> (BatchNorm1d) -> activation -> (Dropout)."""

    model_config = ConfigDict(extra="forbid")

    units: int = Field(ge=1)
    activation: Activation = "relu"
    dropout: float = Field(default=0.0, ge=0.0, lt=1.0)
    batch_norm: bool = False


class MLPConfig(BaseModel):
    """The whole network; an empty ``layers`` list is a plain linear model."""

    model_config = ConfigDict(extra="forbid")

    input_dim: int = Field(ge=1)
    output_dim: int = Field(ge=1)
    task_type: Literal["classification", "regression"]
    layers: list[LayerConfig] = Field(default_factory=list)

    @model_validator(mode="after")
    def _check_output_dim(self) -> Self:
        if self.task_type == "regression" and self.output_dim != 1:
            raise ValueError("a regression model predicts one value: output_dim must be 1")
        if self.task_type == "classification" and self.output_dim < 2:
            raise ValueError("a classifier needs one output per class: output_dim must be >= 2")
        return self


class DynamicMLPModel(nn.Module):
    """An MLP whose layers come from an `MLPConfig`; built in order, so seeding is enough."""

    def __init__(self, config: MLPConfig) -> None:
        super().__init__()
        self.config = config
        modules: list[nn.Module] = []
        width = config.input_dim
        for layer in config.layers:
            modules.append(nn.Linear(width, layer.units))
            if layer.batch_norm:
                modules.append(nn.BatchNorm1d(layer.units))
            modules.append(_ACTIVATIONS[layer.activation]())
            if layer.dropout > 0:
                modules.append(nn.Dropout(layer.dropout))
            width = layer.units
        modules.append(nn.Linear(width, config.output_dim))
        self.net = nn.Sequential(*modules)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``[n, num_classes]`` or predictions ``[n, 1]`` for regression."""
        return self.net(x)

    def loss_fn(self) -> nn.Module:
        """Cross-entropy on logits for classification, mean squared error for regression."""
        if self.config.task_type == "classification":
            return nn.CrossEntropyLoss()
        return nn.MSELoss()
