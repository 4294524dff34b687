"""How many parameters a family's model has for some domain parameters, without its memory.

The model is built with every tensor that a module's `__init__` creates put on the meta
device: shapes only, no storage, no initialisation work, and no draw from the global random
generator (a run training on another thread seeds and draws from it, so a count must never
move it). Only tensors made inside a module's `__init__` go there: a family's `create_model`
may load its dataset first (the MLP reads a table to know its input width), and those tensors
must stay real, since the dataset loaders keep what they read in caches that later runs use.

Importing this module does not import torch.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from engine.errors import TrainwrightError
from engine.models.heads import head_name, in_module

if TYPE_CHECKING:
    from torch import nn


class ParameterCountError(TrainwrightError):
    """The model could not be built on the meta device for these parameters."""


@dataclass(frozen=True)
class ParameterCount:
    """A model's parameters: all of them, and those an optimizer would update."""

    total: int
    trainable: int

    def text(self) -> str:
        """ "272,474", or "8,458 trainable of 272,474" when some are frozen."""
        if self.trainable == self.total:
            return f"{self.total:,}"
        return f"{self.trainable:,} trainable of {self.total:,}"


def parameter_count(family: Any, params: dict[str, Any]) -> int:
    """The number of parameters of `family.create_model(params)` (validated domain values)."""
    return parameter_counts(family, params).total


def parameter_counts(family: Any, params: dict[str, Any], freeze: str = "none") -> ParameterCount:
    """All and trainable parameters of the family's model; `freeze="features"` counts only
    the head as trainable (as a transfer run with that setting trains it). Raises
    ParameterCountError when the model cannot be built without real tensors."""
    model = meta_model(family, params)
    total = trainable = 0
    frozen = _non_head_parameters(model) if freeze == "features" else set()
    for name, parameter in model.named_parameters():
        total += parameter.numel()
        if parameter.requires_grad and name not in frozen:
            trainable += parameter.numel()
    return ParameterCount(total, trainable)


def meta_model(family: Any, params: dict[str, Any]) -> nn.Module:
    """`family.create_model(params)` with the tensors of its modules on the meta device."""
    import torch

    try:
        with _meta_mode():
            model = family.create_model(params)
    except TrainwrightError:
        raise
    except Exception as exc:  # a model whose __init__ reads a tensor's values, a bad family
        raise ParameterCountError(
            f"the model cannot be built to count its parameters: {type(exc).__name__}: {exc}"
        ) from exc
    if not isinstance(model, torch.nn.Module):
        raise ParameterCountError(f"create_model returned {type(model).__name__}, not a module")
    return model


def _non_head_parameters(model: nn.Module) -> set[str]:
    head = head_name(model)
    return {name for name, _ in model.named_parameters() if not in_module(name, head)}


def _inside_module_init(frame: Any) -> bool:
    """Whether a call below `frame` comes from an nn.Module's `__init__`."""
    from torch import nn

    while frame is not None:
        if frame.f_code.co_name == "__init__" and isinstance(frame.f_locals.get("self"), nn.Module):
            return True
        frame = frame.f_back
    return False


def _mode_class() -> type:
    """The torch-function mode (made on first use: torch loads only then)."""
    import torch
    from torch.overrides import TorchFunctionMode
    from torch.utils._device import _device_constructors

    meta = torch.device("meta")

    class ModuleTensorsOnMeta(TorchFunctionMode):
        """Tensor factories called from a module's __init__ without a device make meta
        tensors. A torch-function mode is per thread: other threads are untouched."""

        def __torch_function__(
            self, func: Any, types: Any, args: Any = (), kwargs: Any = None
        ) -> Any:
            kwargs = kwargs or {}
            if (
                func in _device_constructors()
                and kwargs.get("device") is None
                and _inside_module_init(sys._getframe(1))
            ):
                kwargs["device"] = meta
            return func(*args, **kwargs)

    return ModuleTensorsOnMeta


_MODE: type | None = None


def _meta_mode() -> Any:
    global _MODE
    if _MODE is None:
        _MODE = _mode_class()
    return _MODE()


__all__ = [
    "ParameterCount",
    "ParameterCountError",
    "meta_model",
    "parameter_count",
    "parameter_counts",
]
