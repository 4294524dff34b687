"""Registered strategies, the orchestrator that picks one, and `trainer_for` any variant."""

from __future__ import annotations

import traceback
from typing import TYPE_CHECKING, Any, Literal, TypedDict

from engine.errors import TrainwrightError
from engine.metadata import VariantMetadata
from engine.strategies.base import (
    StrategyConfig,
    StrategyRejected,
    TrainingStrategy,
    WorkspaceLike,
)
from engine.training.callbacks import Callbacks, CancelEvent
from engine.training.session import TrainingSession
from engine.variants import Variant, metadata_path, variant_dir

if TYPE_CHECKING:  # torch: imported when a trainer is built
    from engine.training.trainer import Trainer

AUTO = "auto"
_STRATEGIES: dict[str, type[TrainingStrategy]] = {}


def register_strategy(
    cls: type[TrainingStrategy], *, replace: bool = False
) -> type[TrainingStrategy]:
    """Add a strategy class (usable as a decorator). Its `name` must be new unless `replace`."""
    name = getattr(cls, "name", None)
    if not isinstance(name, str) or not name.isidentifier() or name == AUTO:
        raise ValueError(f"strategy {cls!r} needs a `name` that is an identifier other than 'auto'")
    if name in _STRATEGIES and not replace and _STRATEGIES[name] is not cls:
        raise ValueError(f"a strategy named {name!r} is already registered")
    _STRATEGIES[name] = cls
    return cls


def unregister_strategy(name: str) -> None:
    if name in ("native", "distill"):
        raise ValueError(f"the built-in strategy {name!r} cannot be removed")
    _STRATEGIES.pop(name, None)


def strategy_names() -> list[str]:
    """Registered names in the order `auto` tries them: every other strategy, then native."""
    names = [n for n in _STRATEGIES if n != "native"]
    return [*names, "native"] if "native" in _STRATEGIES else names


def get_strategy(name: str, workspace: WorkspaceLike) -> TrainingStrategy:
    if name not in _STRATEGIES:
        known = ", ".join([*strategy_names(), AUTO])
        raise TrainwrightError(f"unknown training strategy {name!r}; known: {known}")
    return _STRATEGIES[name](workspace)


class StrategySuccess(TypedDict):
    status: Literal["ok"]
    strategy: str
    metrics: dict[str, Any]
    modelId: str
    modelPath: str
    distilledRun: dict[str, Any] | None


class StrategyFailure(TypedDict):
    status: Literal["error"]
    error: str


StrategyResult = StrategySuccess | StrategyFailure


class StrategyOrchestrator:
    """Picks a strategy by name (or `auto`) and runs it, reporting a JSON-ready result."""

    def __init__(self, workspace: WorkspaceLike) -> None:
        self.workspace = workspace

    def select(self, config: StrategyConfig) -> TrainingStrategy:
        """The named strategy once its `validate` accepts, or for `auto` the first that does."""
        if config.strategy != AUTO:
            strategy = get_strategy(config.strategy, self.workspace)
            strategy.validate(config)
            return strategy
        reasons = []
        for name in strategy_names():
            strategy = get_strategy(name, self.workspace)
            try:
                strategy.validate(config)
            except StrategyRejected as exc:
                reasons.append(f"{name}: {exc}")
                continue
            return strategy
        raise StrategyRejected(
            "no training strategy accepts this request (" + "; ".join(reasons) + ")"
        )

    def execute(
        self, config: StrategyConfig, callbacks: Callbacks = None, cancel_event: CancelEvent = None
    ) -> tuple[TrainingStrategy, TrainingSession]:
        """Select and train. Bad requests raise TrainwrightError; training failures do not."""
        strategy = self.select(config)
        return strategy, strategy.train(config, callbacks, cancel_event)

    def run(
        self, config: StrategyConfig, callbacks: Callbacks = None, cancel_event: CancelEvent = None
    ) -> StrategyResult:
        """Never raises for anything downstream: a failure is `{status: 'error', error}` only."""
        try:
            strategy, session = self.execute(config, callbacks, cancel_event)
        except TrainwrightError as exc:
            return failure(str(exc))
        except Exception as exc:  # a family's or strategy's own bug: still one clear answer
            traceback.print_exc()
            return failure(f"{type(exc).__name__}: {exc}")
        return result_from_session(self.workspace, strategy.name, session)


def failure(message: str) -> StrategyFailure:
    return {"status": "error", "error": message}


def result_from_session(
    workspace: WorkspaceLike, strategy: str, session: TrainingSession
) -> StrategyResult:
    if session.status == "failed":
        return failure(f"training {session.variant} failed: {session.error_message}")
    if session.status in ("cancelled", "timed_out"):
        how = "stopped at its time limit" if session.status == "timed_out" else "stopped"
        return failure(
            f"training {session.variant} was {how}; continue it with "
            f"`trainwright resume {session.variant}`"
        )
    directory = variant_dir(workspace.home, session.family, session.variant)
    meta = VariantMetadata.load(metadata_path(directory))
    distilled = None
    if strategy == "distill":
        config = Variant.load(directory).config
        distilled = {
            "teacher": meta.extra.get("teacher"),
            "temperature": config.strategy_params.get("temperature"),
            "alpha": config.strategy_params.get("alpha"),
            "epochs_completed": session.epochs_completed,
            "weights_sha256": session.weights_sha256,
        }
    return {
        "status": "ok",
        "strategy": strategy,
        "metrics": dict(session.final_metrics),
        "modelId": session.variant,
        "modelPath": str(directory),
        "distilledRun": distilled,
    }


def run_strategy(
    workspace: WorkspaceLike,
    config: StrategyConfig,
    callbacks: Callbacks = None,
    cancel_event: CancelEvent = None,
) -> StrategyResult:
    return StrategyOrchestrator(workspace).run(config, callbacks, cancel_event)


def trainer_for(
    workspace: WorkspaceLike,
    variant: Variant,
    callbacks: Callbacks = None,
    cancel_event: CancelEvent = None,
    **kwargs: Any,
) -> Trainer:
    """The Trainer for any variant, built by the strategy its config names (for train, resume
    and replay alike: a distilled student resumes with its distillation loss). `kwargs` go to
    the Trainer (`threads`). The variant may live under another home (replay's temp copy);
    what it refers to (a teacher) is looked up in `workspace`.
    """
    strategy = get_strategy(variant.config.strategy, workspace)
    return strategy.trainer(variant, callbacks, cancel_event, **kwargs)
