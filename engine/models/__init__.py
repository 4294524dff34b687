"""Model definitions; pure torch + pydantic, no Qt."""

from engine.models.mlp import Activation, DynamicMLPModel, LayerConfig, MLPConfig

__all__ = ["Activation", "DynamicMLPModel", "LayerConfig", "MLPConfig"]
