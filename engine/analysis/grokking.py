"""The grokking readout: when train, and much later test, accuracy first reach 99%."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from engine.analysis.checkpoints import VariantRef
from engine.analysis.curves import epoch_curves

GROKKED_ACCURACY = 0.99


@dataclass(frozen=True)
class GrokkingReadout:
    """First epochs at which accuracy reached the threshold (None: never)."""

    train_epoch: int | None
    test_epoch: int | None
    threshold: float = GROKKED_ACCURACY

    @property
    def delay(self) -> int | None:
        """Epochs from memorisation (train) to generalisation (test), when both happened."""
        if self.train_epoch is None or self.test_epoch is None:
            return None
        return self.test_epoch - self.train_epoch

    def describe(self) -> str:
        """One line for people, e.g. "train ≥ 99% at epoch 140; test ≥ 99% never"."""
        pct = f"{self.threshold:.0%}"

        def when(epoch: int | None) -> str:
            return f"at epoch {epoch}" if epoch is not None else "not reached"

        return f"train ≥ {pct} {when(self.train_epoch)}; test ≥ {pct} {when(self.test_epoch)}"


def first_epoch_at_least(epochs: np.ndarray, values: np.ndarray, threshold: float) -> int | None:
    """The first epoch whose value is >= threshold (NaN never counts), or None."""
    hits = np.flatnonzero(np.nan_to_num(values, nan=-np.inf) >= threshold)
    return int(epochs[hits[0]]) if hits.size else None


def grokking_readout(
    source: VariantRef | Mapping[str, np.ndarray], threshold: float = GROKKED_ACCURACY
) -> GrokkingReadout:
    """The readout from a variant's chronicle (a variant, its directory, a .jsonl path) or curves."""
    curves = source if isinstance(source, Mapping) else epoch_curves(source)
    epochs = curves["epoch"]
    return GrokkingReadout(
        train_epoch=first_epoch_at_least(epochs, curves["train_accuracy"], threshold),
        test_epoch=first_epoch_at_least(epochs, curves["test_accuracy"], threshold),
        threshold=threshold,
    )
