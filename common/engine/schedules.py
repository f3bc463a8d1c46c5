"""Learning-rate schedules as configuration: the lr factor at an iteration, and the torch scheduler.

``train.lr_schedule`` names the kind; its parameters are flat ``train.lr_*`` keys (so a profile can
switch kinds without inheriting another kind's nested keys):

=============== ============================================================ ======================
kind            lr(step) / base lr                                           keys
=============== ============================================================ ======================
constant        1                                                            -
exponential     0.1 ** (step / decay_steps)  (DVGO: x0.1 per decay_steps)    lr_decay_steps
warmup_cosine   step / warmup        for step < warmup  (NeuS)               lr_warmup_steps,
                a + (1 - a) (1 + cos(pi p)) / 2,  p = (step - warmup) /       lr_final_factor (a)
                (total - warmup), after it
step            gamma ** (number of milestones <= step)                      lr_milestones, lr_gamma
=============== ============================================================ ======================

``exponential`` is applied multiplicatively each step (``torch.optim.lr_scheduler.ExponentialLR``),
as DVGO's training loop does, so its rounding equals the official code's; the other kinds are
``LambdaLR`` over ``lr_factor``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import torch

KINDS = ("constant", "exponential", "warmup_cosine", "step")


@dataclass(frozen=True)
class LrSchedule:
    """A validated schedule; ``total`` is the number of iterations of the stage (for warmup_cosine)."""

    kind: str = "constant"
    decay_steps: float | None = None
    warmup_steps: int = 0
    final_factor: float = 0.0
    milestones: tuple[int, ...] = field(default_factory=tuple)
    gamma: float = 0.1
    total: int = 1

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"train.lr_schedule: unknown kind {self.kind!r}; expected one of {', '.join(KINDS)}")
        if self.kind == "exponential" and not (self.decay_steps and self.decay_steps > 0):
            raise ValueError(f"train.lr_decay_steps must be > 0 for the exponential schedule, got {self.decay_steps}")
        if self.kind == "warmup_cosine" and not (0 <= self.warmup_steps < max(self.total, 1)):
            raise ValueError(f"train.lr_warmup_steps must lie in [0, iters), got {self.warmup_steps}")
        if not (math.isfinite(self.final_factor) and math.isfinite(self.gamma)):
            raise ValueError("train.lr_final_factor and train.lr_gamma must be finite numbers")

    @classmethod
    def from_config(cls, train: Mapping[str, Any], total: int) -> LrSchedule:
        """From the ``train`` config section (missing keys take the defaults above)."""
        return cls(
            kind=str(train.get("lr_schedule", "constant")),
            decay_steps=train.get("lr_decay_steps"),
            warmup_steps=int(train.get("lr_warmup_steps", 0) or 0),
            final_factor=float(train.get("lr_final_factor", 0.0) or 0.0),
            milestones=tuple(int(m) for m in (train.get("lr_milestones") or ())),
            gamma=float(train.get("lr_gamma", 0.1)),
            total=int(total),
        )


def lr_factor(schedule: LrSchedule, step: int) -> float:
    """lr(step) / base lr of ``schedule`` at 0-based iteration ``step`` (see the module table)."""
    if schedule.kind == "constant":
        return 1.0
    if schedule.kind == "exponential":
        return 0.1 ** (step / schedule.decay_steps)
    if schedule.kind == "step":
        return schedule.gamma ** sum(1 for m in schedule.milestones if m <= step)
    warm = schedule.warmup_steps
    if step < warm:
        return step / warm
    progress = (step - warm) / max(schedule.total - warm, 1)
    a = schedule.final_factor
    return (math.cos(math.pi * min(progress, 1.0)) + 1.0) * 0.5 * (1 - a) + a


def make_scheduler(
    optimizer: torch.optim.Optimizer, schedule: LrSchedule, start: int = 0
) -> torch.optim.lr_scheduler.LRScheduler:
    """The torch scheduler of ``schedule`` for ``optimizer`` whose group lrs are the base lrs.

    ``start`` > 0 positions the schedule at iteration ``start`` (an optimizer rebuilt mid-run that
    keeps its place in the schedule): the group lrs become base * lr_factor(start).
    """
    if schedule.kind == "exponential" and start == 0:
        return torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=0.1 ** (1.0 / schedule.decay_steps))
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: lr_factor(schedule, step + start))
    return scheduler
