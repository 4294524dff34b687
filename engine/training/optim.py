"""Optimizers and learning-rate schedules built from a TrainingConfig."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import torch

from engine.hashing import config_hash
from engine.training.config import TrainingConfig


def build_optimizer(
    params: Iterable[torch.nn.Parameter], cfg: TrainingConfig
) -> torch.optim.Optimizer:
    params = list(params)
    if cfg.optimizer == "adam":
        return torch.optim.Adam(
            params, lr=cfg.lr, betas=(cfg.beta1, cfg.beta2), weight_decay=cfg.weight_decay
        )
    if cfg.optimizer == "adamw":
        return torch.optim.AdamW(
            params, lr=cfg.lr, betas=(cfg.beta1, cfg.beta2), weight_decay=cfg.weight_decay
        )
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(
            params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay
        )
    return torch.optim.RMSprop(
        params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay
    )


def lr_factor(step: int, cfg: TrainingConfig, steps_per_epoch: int) -> float:
    """Multiplier of the peak lr before optimizer step `step` (0-based)."""
    if cfg.warmup_steps and step < cfg.warmup_steps:
        return (step + 1) / cfg.warmup_steps
    if cfg.scheduler == "constant":
        return 1.0
    if cfg.scheduler == "step":
        epoch = step // steps_per_epoch + 1
        return cfg.gamma ** sum(1 for m in cfg.milestones if epoch > m)
    total = max(1, cfg.epochs * steps_per_epoch - cfg.warmup_steps)
    progress = min(1.0, (step - cfg.warmup_steps) / total)
    if cfg.scheduler == "linear":
        return 1.0 - progress
    return 0.5 * (1.0 + math.cos(math.pi * progress))


class ScheduledLR(torch.optim.lr_scheduler.LambdaLR):
    """`LambdaLR` over `lr_factor` that can say which schedule it follows.

    `serialize()` is the schedule's canonical description (its kind and every parameter its
    learning rates depend on) and `sha256()` that description's hash: a full checkpoint stores
    both, and a resume under another schedule is refused (`schedule_changes`). The description
    is not part of `state_dict()`, which stays what `LambdaLR` writes.
    """

    def __init__(
        self, optimizer: torch.optim.Optimizer, cfg: TrainingConfig, steps_per_epoch: int
    ) -> None:
        self._description = describe_schedule(cfg, steps_per_epoch)
        super().__init__(optimizer, lambda step: lr_factor(step, cfg, steps_per_epoch))

    def serialize(self) -> dict[str, Any]:
        return dict(self._description)

    def sha256(self) -> str:
        return config_hash(self._description)

    def state_dict(self) -> dict[str, Any]:
        state = super().state_dict()
        state.pop("_description", None)
        return state


def describe_schedule(cfg: TrainingConfig, steps_per_epoch: int) -> dict[str, Any]:
    """The canonical description of the learning-rate schedule `lr_factor` follows."""
    description: dict[str, Any] = {
        "kind": cfg.scheduler,
        "lr": float(cfg.lr),
        "warmup_steps": int(cfg.warmup_steps),
        "steps_per_epoch": int(steps_per_epoch),
        "total_steps": int(cfg.epochs * steps_per_epoch),
    }
    if cfg.scheduler == "step":
        description["milestones"] = sorted(int(m) for m in cfg.milestones)
        description["gamma"] = float(cfg.gamma)
    return description


def schedule_changes(saved: dict[str, Any], current: dict[str, Any]) -> list[str]:
    """What differs between two schedule descriptions, as `name old → new`, in name order."""
    missing = object()
    changes = []
    for name in sorted(set(saved) | set(current)):
        old, new = saved.get(name, missing), current.get(name, missing)
        if old != new:
            before = "(none)" if old is missing else _show(old)
            after = "(none)" if new is missing else _show(new)
            changes.append(f"{name} {before} → {after}")
    return changes


def _show(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def build_scheduler(
    optimizer: torch.optim.Optimizer, cfg: TrainingConfig, steps_per_epoch: int
) -> ScheduledLR:
    return ScheduledLR(optimizer, cfg, steps_per_epoch)
