"""Plain training: the family's own loss, no hyperparameters of its own."""

from __future__ import annotations

from typing import ClassVar

from engine.params import ParameterSpec
from engine.strategies.base import StrategyConfig, StrategyRejected, TrainingStrategy


class NativeStrategy(TrainingStrategy):
    name = "native"
    description = "Plain training on the family's own loss."
    parameters: ClassVar[list[ParameterSpec]] = []

    def validate(self, config: StrategyConfig) -> None:
        if config.strategy_params:
            names = ", ".join(sorted(config.strategy_params))
            raise StrategyRejected(f"plain training takes no strategy parameters (got {names})")
        self.resolve(config)  # every domain and training value is checked here
