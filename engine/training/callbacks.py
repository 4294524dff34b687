"""Plain callbacks through which a run reports events (named like Lightning's hooks)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from engine.training.session import EpochMetrics, TrainingSession


class Callback:
    """Override what you need. Hooks run on the training thread: keep them short."""

    def on_train_start(self, info: dict[str, Any]) -> None:
        """`info`: variant, family, total_epochs, start_epoch, steps_per_epoch, resumed."""

    def on_log(self, row: dict[str, Any]) -> None:
        """One chronicle line, as written to chronicle.jsonl."""

    def on_epoch_end(self, metrics: EpochMetrics) -> None: ...

    def on_checkpoint(self, entry: dict[str, Any]) -> None: ...

    def on_warning(self, message: str) -> None: ...

    def on_exception(self, error: BaseException) -> None: ...

    def on_train_end(self, session: TrainingSession) -> None: ...


class CallbackList(Callback):
    def __init__(self, callbacks: list[Callback] | None = None) -> None:
        self.callbacks = list(callbacks or [])

    def on_train_start(self, info: dict[str, Any]) -> None:
        for cb in self.callbacks:
            cb.on_train_start(info)

    def on_log(self, row: dict[str, Any]) -> None:
        for cb in self.callbacks:
            cb.on_log(row)

    def on_epoch_end(self, metrics: EpochMetrics) -> None:
        for cb in self.callbacks:
            cb.on_epoch_end(metrics)

    def on_checkpoint(self, entry: dict[str, Any]) -> None:
        for cb in self.callbacks:
            cb.on_checkpoint(entry)

    def on_warning(self, message: str) -> None:
        for cb in self.callbacks:
            cb.on_warning(message)

    def on_exception(self, error: BaseException) -> None:
        for cb in self.callbacks:
            cb.on_exception(error)

    def on_train_end(self, session: TrainingSession) -> None:
        for cb in self.callbacks:
            cb.on_train_end(session)
