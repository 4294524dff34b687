"""The devices a run can use: the names the schema allows, and those this machine has.

The names are the `device` training parameter's choices (declared once, in the training
schema); which of them work here needs torch, so `available_devices` imports it (cached).
"""

from __future__ import annotations

import functools

from engine.errors import ParameterError
from engine.training.config import TRAINING_PARAMETERS

DEVICES: tuple[str, ...] = tuple(
    next(p.choices for p in TRAINING_PARAMETERS if p.name == "device") or ("cpu",)
)


@functools.cache
def _detect() -> tuple[str, ...]:
    import torch

    found = ["cpu"]
    if torch.cuda.is_available():
        found.append("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        found.append("mps")
    return tuple(found)


def available_devices() -> list[str]:
    """cpu, plus cuda/mps where torch sees them (imports torch; cached for the process)."""
    return list(_detect())


def check_device(name: str) -> None:
    """Raise ParameterError naming the devices this machine has if `name` is not one."""
    available = available_devices()
    if name not in available:
        allowed = ", ".join(available)
        raise ParameterError(
            "device", f"{name} is not available on this machine; allowed: {allowed}"
        )
