"""The `stagnation_patience` warning: how many evaluated epochs the loss has not improved.

Shared by the torch trainer and the tensorflow backend's run, so both warn at the same epoch
with the same words; its two numbers are part of every full checkpoint (`state_dict`), so a
resumed run warns where an uninterrupted one would.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any


@dataclass
class Stagnation:
    """The best loss so far and the epochs since it; `patience` 0 turns the check off."""

    patience: int
    best_loss: float = math.inf
    since_best: int = 0

    def update(self, stats: dict[str, float], epoch: int) -> str | None:
        """The warning when `patience` epochs have passed without a lower loss (the test
        loss where the epoch was evaluated, else the training loss); the count starts again
        after each warning."""
        if not self.patience:
            return None
        loss = stats.get("test_loss", stats["train_loss"])
        if loss < self.best_loss:
            self.best_loss, self.since_best = loss, 0
            return None
        self.since_best += 1
        if self.since_best < self.patience:
            return None
        self.since_best = 0
        return f"no improvement in loss for {self.patience} epochs (epoch {epoch})"

    def state_dict(self) -> dict[str, Any]:
        return {"best_loss": self.best_loss, "since_best": self.since_best}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.best_loss = float(state["best_loss"])
        self.since_best = int(state["since_best"])
