"""Optimizers and learning-rate schedules built from a TrainingConfig."""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch

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


def build_scheduler(
    optimizer: torch.optim.Optimizer, cfg: TrainingConfig, steps_per_epoch: int
) -> torch.optim.lr_scheduler.LambdaLR:
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: lr_factor(step, cfg, steps_per_epoch)
    )
