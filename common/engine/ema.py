"""Exponential moving average of a model's parameters (checkpointed; used for evaluation).

After every optimizer step: ``shadow = decay * shadow + (1 - decay) * param`` for every floating
parameter. A parameter whose shape changed (a progressive grid that was upsampled) restarts its
average from the current value. ``applied(model)`` swaps the averages in for evaluation and restores
the trained values afterwards.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch


class ParameterEMA:
    """EMA of the named parameters of a module; ``decay`` in [0, 1)."""

    def __init__(self, decay: float):
        if not 0.0 <= decay < 1.0:
            raise ValueError(f"train.ema_decay must lie in [0, 1), got {decay}")
        self.decay = float(decay)
        self.shadow: dict[str, torch.Tensor] = {}

    @torch.no_grad()
    def update(self, model: torch.nn.Module) -> None:
        """shadow <- decay * shadow + (1 - decay) * param (new or resized parameters start at param)."""
        names = set()
        for name, p in model.named_parameters():
            if not p.dtype.is_floating_point:
                continue
            names.add(name)
            s = self.shadow.get(name)
            if s is None or s.shape != p.shape or s.device != p.device:
                self.shadow[name] = p.detach().clone()
            else:
                s.lerp_(p.detach(), 1.0 - self.decay)
        for stale in set(self.shadow) - names:
            del self.shadow[stale]

    @contextmanager
    def applied(self, model: torch.nn.Module) -> Iterator[None]:
        """Within the block the model's parameters hold the averages; trained values are restored after."""
        saved = {}
        with torch.no_grad():
            for name, p in model.named_parameters():
                if name in self.shadow and self.shadow[name].shape == p.shape:
                    saved[name] = p.detach().clone()
                    p.copy_(self.shadow[name])
        try:
            yield
        finally:
            with torch.no_grad():
                params = dict(model.named_parameters())
                for name, value in saved.items():
                    params[name].copy_(value)

    def state_dict(self) -> dict:
        return {"decay": self.decay, "shadow": {k: v.clone() for k, v in self.shadow.items()}}

    def load_state_dict(self, state: dict) -> None:
        self.decay = float(state["decay"])
        self.shadow = {k: v.clone() for k, v in state["shadow"].items()}
