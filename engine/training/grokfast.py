"""Grokfast (Lee et al. 2024): amplify the slow component of the gradients before the step."""

from __future__ import annotations

from typing import Any

import torch

from engine.training.config import TrainingConfig


class GrokfastFilter:
    """EMA: mu <- alpha*mu + (1-alpha)*g, g <- g + lambda*mu (mu starts at the first gradient).
    MA: g <- g + lambda * mean of the last `window` gradients."""

    def __init__(self, params: list[torch.nn.Parameter], cfg: TrainingConfig) -> None:
        self.params = [p for p in params if p.requires_grad]
        self.mode, self.alpha, self.lamb = cfg.grokfast, cfg.grokfast_alpha, cfg.grokfast_lambda
        self.window = cfg.grokfast_window
        self.ema: list[torch.Tensor] | None = None
        self.history: list[list[torch.Tensor]] = []

    @torch.no_grad()
    def apply(self) -> None:
        grads = [p.grad for p in self.params if p.grad is not None]
        if len(grads) != len(self.params):
            return
        if self.mode == "ema":
            if self.ema is None:
                self.ema = [g.clone() for g in grads]
            else:
                torch._foreach_lerp_(self.ema, grads, 1 - self.alpha)
            torch._foreach_add_(grads, self.ema, alpha=self.lamb)
        elif self.mode == "ma":
            self.history.append([g.clone() for g in grads])
            if len(self.history) > self.window:
                self.history.pop(0)
            if len(self.history) == self.window:
                for i, g in enumerate(grads):
                    g.add_(torch.stack([h[i] for h in self.history]).mean(0), alpha=self.lamb)

    def state_dict(self) -> dict[str, Any]:
        return {"ema": self.ema, "history": self.history}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.ema = state["ema"]
        self.history = state["history"]
