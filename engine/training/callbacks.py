"""Plain callbacks through which a run reports events (named like Lightning's hooks)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from engine.training.session import EpochMetrics, TrainingSession


@dataclass(frozen=True, slots=True)
class StepInfo:
    """What a step hook sees: plain numbers, copies; nothing that can change the training.

    `step` counts from 1 and is the step being taken (before it) or just taken (after it);
    `batch_index` is its batch within the epoch, from 0. `lr` is the rate the step uses.
    `grad_norm` is the gradients' total norm before clipping, when the step computed it
    (logged steps, epoch ends, or gradient clipping on), else None.
    """

    epoch: int
    step: int
    batch_index: int
    loss: float
    lr: float
    grad_norm: float | None


class Callback:
    """Override what you need. Hooks run on the training thread: keep them short.

    The step hooks cost nothing unless a callback overrides them (the loop checks once).
    """

    def on_train_start(self, info: dict[str, Any]) -> None:
        """`info`: variant, family, total_epochs, start_epoch, steps_per_epoch, resumed."""

    def on_before_step(self, info: StepInfo) -> None:
        """Just before the optimizer step (Lightning's `on_before_optimizer_step`)."""

    def on_after_step(self, info: StepInfo) -> None:
        """Just after the step is taken and counted (Lightning's `on_train_batch_end`)."""

    def on_log(self, row: dict[str, Any]) -> None:
        """One chronicle line, as written to chronicle.jsonl."""

    def on_epoch_end(self, metrics: EpochMetrics) -> None: ...

    def on_checkpoint(self, entry: dict[str, Any]) -> None: ...

    def on_warning(self, message: str) -> None: ...

    def on_exception(self, error: BaseException) -> None: ...

    def on_train_end(self, session: TrainingSession) -> None: ...


# The two things every run API takes after what to run: who hears its events, and how to stop
# it (a Stop button, Ctrl+C). Named once so the signatures say it in one line.
Callbacks = list[Callback] | None
CancelEvent = threading.Event | None


class CallbackList(Callback):
    """Each hook calls the same hook of every callback, in order."""

    def __init__(self, callbacks: list[Callback] | None = None) -> None:
        self.callbacks = list(callbacks or [])

    def overrides(self, hook: str) -> bool:
        """True when some callback does something in `hook` (not Callback's empty default):
        the loop asks once per run, and skips a hook nobody overrides."""
        default = getattr(Callback, hook)
        for cb in self.callbacks:
            if isinstance(cb, CallbackList):
                if cb.overrides(hook):
                    return True
            elif (
                hook in getattr(cb, "__dict__", {})
                or getattr(type(cb), hook, default) is not default
            ):
                return True
        return False


HOOKS = tuple(name for name in vars(Callback) if name.startswith("on_"))


def _call_each(hook: str) -> Callable[..., None]:
    def call_each(self: CallbackList, *args: Any) -> None:
        for cb in self.callbacks:
            getattr(cb, hook)(*args)

    call_each.__name__ = hook
    call_each.__qualname__ = f"CallbackList.{hook}"
    return call_each


for _hook in HOOKS:
    setattr(CallbackList, _hook, _call_each(_hook))
