"""Training with the tensorflow backend in tests: skipped where the extra is not installed."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from engine.backends import tensorflow_available
from engine.training.callbacks import Callback

needs_tensorflow = pytest.mark.skipif(
    not tensorflow_available(),
    reason="the tensorflow backend needs the extra: pip install 'trainwright[tensorflow]'",
)
TF = {"backend": "tensorflow", "threads": 1}
SMALL = {"hidden_dim": 32}


def train(
    workspace: Any,
    domain: dict | None = None,
    training: dict | None = None,
    *,
    family: str = "mlp",
    **kwargs: Any,
):
    """(variant, session) of a model trained with the tensorflow backend on one thread (a
    process of its own: 6 to 9 s), `domain` and `training` over the family's defaults (for
    the mlp, a 32-unit default)."""
    small = SMALL if family == "mlp" else {}
    variant = workspace.create_variant(
        family, {**small, **(domain or {})}, {**TF, **(training or {})}
    )
    return variant, workspace.train(variant, **kwargs)


class StopAfterEpoch(Callback):
    """Sets `cancel` once epoch `epoch` has ended: a Stop at an epoch's end."""

    def __init__(self, cancel: threading.Event, epoch: int) -> None:
        self.cancel, self.epoch = cancel, epoch

    def on_epoch_end(self, metrics: Any) -> None:
        if metrics.epoch >= self.epoch:
            self.cancel.set()
