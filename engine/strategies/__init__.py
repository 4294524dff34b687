"""Training strategies: plain (`native`) training, distillation, and user-registered ones.

    from engine.strategies import StrategyConfig, run_strategy, trainer_for
    result = run_strategy(ws, StrategyConfig(family="mlp", strategy="auto",
                                             strategy_params={"teacher": "mlp_two_moons_..."}))
    trainer_for(ws, ws.variant(name), callbacks, cancel_event).resume()

A user strategy subclasses TrainingStrategy and calls `register_strategy(MyStrategy)`.
"""

from engine.strategies.base import (
    StrategyConfig,
    StrategyRejected,
    TrainingStrategy,
    WorkspaceLike,
)
from engine.strategies.distill import DistillStrategy
from engine.strategies.native import NativeStrategy
from engine.strategies.registry import (
    AUTO,
    StrategyFailure,
    StrategyOrchestrator,
    StrategyResult,
    StrategySuccess,
    get_strategy,
    register_strategy,
    run_strategy,
    strategy_names,
    trainer_for,
    unregister_strategy,
)

register_strategy(NativeStrategy)
register_strategy(DistillStrategy)

__all__ = [
    "AUTO",
    "DistillStrategy",
    "NativeStrategy",
    "StrategyConfig",
    "StrategyFailure",
    "StrategyOrchestrator",
    "StrategyRejected",
    "StrategyResult",
    "StrategySuccess",
    "TrainingStrategy",
    "WorkspaceLike",
    "get_strategy",
    "register_strategy",
    "run_strategy",
    "strategy_names",
    "trainer_for",
    "unregister_strategy",
]
