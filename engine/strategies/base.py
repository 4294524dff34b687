"""The TrainingStrategy interface: how a variant is trained (plain, distilled, user-defined).

A strategy turns a request (`StrategyConfig`: family, domain and training values, and the
strategy's own hyperparameters) into an ordinary variant and trains it. Its merged
hyperparameters (user values over `default_hyperparameters`) are recorded in the variant's
config as `RunConfig.strategy_params`, so they are part of its hash and name, and
`trainer(variant, ...)` rebuilds the same objective from the config alone: resume and replay
of any variant go through `engine.strategies.trainer_for`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from pydantic import BaseModel, ConfigDict

from engine.errors import TrainwrightError, VariantError
from engine.families.registry import FamilyRegistry
from engine.params import ParameterSpec, validate_values
from engine.training.callbacks import Callbacks, CancelEvent
from engine.training.session import TrainingSession
from engine.variants import RunConfig, Variant

if TYPE_CHECKING:  # torch: the trainer is imported when one is built
    from engine.training.trainer import Objective, Trainer


# What a strategy with its own loss (distillation) trains: the loss and the teacher's logits
# are computed in the torch training loop; a tensorflow teacher comes converted into torch.
TORCH_STUDENT = "distillation trains a torch student: teacher torch or tensorflow, student torch"


class WorkspaceLike(Protocol):
    """What strategies need of a workspace: its data home and its family registry.

    engine.workspace.Workspace is one; it sits above the strategies (its `trainer` builds
    every Trainer through `trainer_for`), so they take it by this description instead.
    """

    @property
    def home(self) -> Path: ...

    @property
    def registry(self) -> FamilyRegistry: ...


class StrategyRejected(TrainwrightError):
    """A strategy's `validate` refuses a config; the message says why, for the user."""


class StrategyConfig(BaseModel):
    """A training request: what to train, with which strategy and hyperparameters.

    `strategy` is a registered name or "auto" (the first strategy whose `validate` accepts).
    `strategy_params` holds only the values the user chose; defaults are merged in later.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    family: str
    domain: dict[str, Any] = {}
    training: dict[str, Any] = {}
    strategy: str = "auto"
    strategy_params: dict[str, Any] = {}
    overwrite: bool = False


class TrainingStrategy(ABC):
    """Override `name`, `parameters`, `validate` and, to change the loss, `objective`.

    `parameters` is the schema of the strategy's hyperparameters (typed, range-checked, the
    same ParameterSpec the families use); `default_hyperparameters` may depend on the config.
    """

    name: ClassVar[str]
    description: ClassVar[str] = ""
    parameters: ClassVar[list[ParameterSpec]] = []

    def __init__(self, workspace: WorkspaceLike) -> None:
        self.workspace = workspace

    # ---- the interface -----------------------------------------------------------------------
    def default_hyperparameters(self, config: StrategyConfig) -> dict[str, Any]:
        return {p.name: p.default for p in self.parameters}

    @abstractmethod
    def validate(self, config: StrategyConfig) -> None:
        """Accept the config or raise StrategyRejected (or ParameterError) saying why."""

    def train(
        self, config: StrategyConfig, callbacks: Callbacks = None, cancel_event: CancelEvent = None
    ) -> TrainingSession:
        """Validate, resolve the variant and train it; training failures end in the session."""
        self.validate(config)
        variant = self.variant(config)
        if variant.exists() and not config.overwrite:
            raise VariantError(
                f"variant {variant.name} already exists; use overwrite to retrain it, or "
                f"`trainwright resume {variant.name}`"
            )
        return self.trainer(variant, callbacks, cancel_event).train(overwrite=config.overwrite)

    # ---- helpers strategies share ------------------------------------------------------------
    def hyperparameters(self, config: StrategyConfig) -> dict[str, Any]:
        """User values over the defaults, each validated against `parameters`."""
        merged = {**self.default_hyperparameters(config), **config.strategy_params}
        return validate_values(self.parameters, merged, kind=f"{self.name} strategy")

    def resolve(self, config: StrategyConfig) -> RunConfig:
        return self.workspace.registry.resolve_config(
            config.family,
            config.domain,
            config.training,
            strategy=self.name,
            strategy_params=self.hyperparameters(config),
        )

    def variant(self, config: StrategyConfig) -> Variant:
        return Variant(self.workspace.home, self.resolve(config))

    def objective(self, variant: Variant) -> Objective | None:
        """The loss for this variant's config; None is the family's own loss."""
        return None

    def metadata_extra(self, variant: Variant) -> dict[str, Any]:
        """Entries for the variant's metadata.extra, written when its training starts."""
        return {}

    def prepare(self, variant: Variant) -> tuple[Objective | None, dict[str, Any]]:
        """`objective` and `metadata_extra` together, for a strategy that computes both from
        one thing it loads (a teacher)."""
        return self.objective(variant), self.metadata_extra(variant)

    def _keras_trainer(
        self,
        family: Any,
        variant: Variant,
        callbacks: Callbacks,
        cancel_event: CancelEvent,
        **kwargs: Any,
    ) -> Trainer:
        """The tensorflow backend's trainer: plain training only (a strategy's objective is a
        torch loss), with the family's own loss."""
        from engine.backends.keras_trainer import KerasTrainer

        if self.name != "native":
            raise StrategyRejected(
                f"the {self.name} strategy trains with the torch backend only: its loss is "
                f"computed in the torch training loop ({TORCH_STUDENT}); use -t backend=torch"
            )
        return KerasTrainer(family, variant, callbacks, cancel_event, **kwargs)

    def trainer(
        self,
        variant: Variant,
        callbacks: Callbacks = None,
        cancel_event: CancelEvent = None,
        **kwargs: Any,
    ) -> Trainer:
        """A Trainer for `variant` (new, resumed or replayed at another home) with this loss;
        `kwargs` go to the Trainer (`threads`).

        A config with `init_from` gets the source's weights here, looked up in this workspace
        (a replay's copy at another home still finds it), checked before anything is written
        (engine.training.transfer)."""
        from engine.training.trainer import Trainer
        from engine.training.transfer import resolve_transfer

        family = self.workspace.registry.family(variant.family)
        if variant.config.training.backend == "tensorflow":
            return self._keras_trainer(family, variant, callbacks, cancel_event, **kwargs)
        transfer = resolve_transfer(self.workspace, variant)
        objective, extra = self.prepare(variant)
        if transfer is not None:
            extra = {**extra, "init_from": transfer.record}
        return Trainer(
            family,
            variant,
            callbacks,
            cancel_event,
            objective=objective,
            metadata_extra=extra,
            initial_weights=transfer,
            **kwargs,
        )
