"""The engine's front door: a data home, its family registry, and train/resume/replay."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from engine.discovery import VariantSummary
from engine.families.registry import FamilyRegistry
from engine.home import resolve_home
from engine.replay import ReplayResult, replay
from engine.strategies import trainer_for
from engine.training.callbacks import Callback
from engine.training.session import TrainingSession
from engine.variants import Variant


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

    def discover_variants(self) -> list[VariantSummary]:
        return self.registry.discover_variants()

    # `trainer(variant, callbacks, cancel_event, **kwargs)`: the Trainer for any variant, built
    # by the strategy its config names (a distilled student trains, resumes and replays with its
    # distillation loss). See engine.strategies.trainer_for.
    trainer = trainer_for

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
    ) -> ReplayResult:
        return replay(self, variant, callbacks, cancel_event)
