"""The engine's front door and its one service, used alike by the window and the CLI: a data
home, its family registry, resolving parameters, train/resume/replay/verify, and deleting
variants."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from engine.discovery import VariantSummary, summarise
from engine.families.registry import FamilyRegistry
from engine.home import ensure_home, locate_home
from engine.replay import ReplayResult, replay
from engine.resolution import Resolution, Values
from engine.run_rules import delete_variant_dir
from engine.strategies import trainer_for
from engine.training.callbacks import Callbacks, CancelEvent
from engine.training.session import TrainingSession
from engine.variants import Variant
from engine.verify import VerifyReport, verify_variant


class Workspace:
    def __init__(self, home: str | Path | None = None) -> None:
        self.home, origin = locate_home(home)  # HomeError: empty, too long, not a folder
        ensure_home(self.home, origin)
        self.registry = FamilyRegistry(self.home)

    def create_variant(
        self, family: str, params: Values = None, training: Values = None, **kwargs: Any
    ) -> Variant:
        return self.registry.create_variant(family, params, training, **kwargs)

    def resolve(
        self, family: str, domain: Values = None, training: Values = None, **kwargs: Any
    ) -> Resolution:
        """Effective defaults with their origin, per-field errors and the config if valid:
        synchronous and torch-free, so a form can call it on every edit."""
        return self.registry.resolve(family, domain, training, **kwargs)

    def variant(self, name: str, family: str | None = None) -> Variant:
        return self.registry.variant(name, family)

    def summary(self, name: str, family: str | None = None) -> VariantSummary:
        """A stored variant's status as its files and lock tell it now."""
        return summarise(self.variant(name, family).dir)

    def delete(self, name: str, family: str | None = None) -> None:
        """Delete a stored variant; refused (VariantError) while a run holds its lock."""
        delete_variant_dir(self.home, self.variant(name, family).dir)

    def discover_variants(self) -> list[VariantSummary]:
        return self.registry.discover_variants()

    # `trainer(variant, callbacks, cancel_event, **kwargs)`: the Trainer for any variant, built
    # by the strategy its config names (a distilled student trains, resumes and replays with its
    # distillation loss). See engine.strategies.trainer_for.
    trainer = trainer_for

    def train(
        self,
        variant: Variant,
        callbacks: Callbacks = None,
        cancel_event: CancelEvent = None,
        *,
        overwrite: bool = False,
    ) -> TrainingSession:
        return self.trainer(variant, callbacks, cancel_event).train(overwrite=overwrite)

    def resume(
        self, variant: Variant, callbacks: Callbacks = None, cancel_event: CancelEvent = None
    ) -> TrainingSession:
        return self.trainer(variant, callbacks, cancel_event).resume()

    def replay(
        self, variant: Variant, callbacks: Callbacks = None, cancel_event: CancelEvent = None
    ) -> ReplayResult:
        return replay(self, variant, callbacks, cancel_event)

    def verify(
        self,
        variant: Variant,
        cancel_event: CancelEvent = None,
        progress: Callable[[int, int], None] | None = None,
    ) -> VerifyReport:
        """Recompute every checkpoint's hashes and the chronicle's length; see engine.verify."""
        return verify_variant(variant, cancel_event=cancel_event, progress=progress)
