"""A Trainer that also writes a strategy's entries (the teacher) into metadata.extra."""

from __future__ import annotations

import threading
from typing import Any

from engine.families.base import ModelFamily
from engine.metadata import VariantMetadata
from engine.training.callbacks import Callback
from engine.training.session import TrainingSession
from engine.training.trainer import Objective, Trainer
from engine.variants import Variant


class StrategyTrainer(Trainer):
    def __init__(
        self,
        family: ModelFamily,
        variant: Variant,
        callbacks: list[Callback] | None = None,
        cancel_event: threading.Event | None = None,
        *,
        threads: int | None = None,
        objective: Objective | None = None,
        metadata_extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(
            family, variant, callbacks, cancel_event, threads=threads, objective=objective
        )
        self.metadata_extra = dict(metadata_extra or {})

    def _run(self, meta: VariantMetadata, *, resume: bool, threads: int) -> TrainingSession:
        # _run saves the metadata before the first step, so the entries are there even if
        # the process is killed mid-run.
        meta.extra.update(self.metadata_extra)
        return super()._run(meta, resume=resume, threads=threads)
