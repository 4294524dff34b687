"""The engine's front door: a data home, its family registry, and train/resume/replay."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.families.registry import FamilyRegistry
from engine.home import resolve_home
from engine.training.callbacks import Callback
from engine.training.session import TrainingSession
from engine.variants import Variant

if TYPE_CHECKING:
    from engine.training.trainer import Trainer


class Workspace:
    def __init__(self, home: str | Path | None = None) -> None:
        self.home = resolve_home(home)
        self.home.mkdir(parents=True, exist_ok=True)
        self.registry = FamilyRegistry(self.home)

    def create_variant(
        self,
        family: str,
        params: dict[str, Any] | None = None,
        training: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> Variant:
        return self.registry.create_variant(family, params, training, **kwargs)

    def variant(self, name: str, family: str | None = None) -> Variant:
        return self.registry.variant(name, family)

    def discover_variants(self) -> list[Any]:
        return self.registry.discover_variants()

    def trainer(
        self,
        variant: Variant,
        callbacks: list[Callback] | None = None,
        cancel_event: threading.Event | None = None,
        **kwargs: Any,
    ) -> Trainer:
        """The Trainer for any variant, built by the strategy its config names: a distilled
        student trains, resumes and replays with its distillation loss."""
        from engine.strategies import trainer_for

        return trainer_for(self, variant, callbacks, cancel_event, **kwargs)

    def train(
        self,
        variant: Variant,
        callbacks: list[Callback] | None = None,
        cancel_event: threading.Event | None = None,
        *,
        overwrite: bool = False,
    ) -> TrainingSession:
        return self.trainer(variant, callbacks, cancel_event).train(overwrite=overwrite)

    def resume(
        self,
        variant: Variant,
        callbacks: list[Callback] | None = None,
        cancel_event: threading.Event | None = None,
    ) -> TrainingSession:
        return self.trainer(variant, callbacks, cancel_event).resume()

    def replay(
        self,
        variant: Variant,
        callbacks: list[Callback] | None = None,
        cancel_event: threading.Event | None = None,
    ):
        from engine.replay import replay

        return replay(self, variant, callbacks, cancel_event)
