"""DVGO's Adam with masked updates (``skip_zero_grad``), in plain PyTorch.

Update of one element with gradient g at step t (official ``adam_upd`` kernel; note eps is added to
sqrt(v) without bias correction, unlike ``torch.optim.Adam``):
    m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2
    p -= lr * sqrt(1 - b2^t) / (1 - b1^t) * m / (sqrt(v) + eps)
In a param group with ``skip_zero_grad=True`` the update (m, v and p) happens only where g != 0, so
voxels no ray touched this step keep their moments and values; t still counts every step.
"""

from __future__ import annotations

import math

import torch
from torch.optim import Optimizer


class MaskedAdam(Optimizer):
    """Adam with an optional per-group ``skip_zero_grad`` flag (default False)."""

    def __init__(self, params, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.99), eps: float = 1e-8):
        if lr < 0 or eps < 0 or not (0 <= betas[0] < 1 and 0 <= betas[1] < 1):
            raise ValueError(f"MaskedAdam: invalid lr={lr}, betas={betas} or eps={eps}")
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps, skip_zero_grad=False))

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            beta1, beta2 = group["betas"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if len(state) == 0:
                    state["step"] = 0
                    state["exp_avg"] = torch.zeros_like(p)
                    state["exp_avg_sq"] = torch.zeros_like(p)
                state["step"] += 1
                t = state["step"]
                step_size = group["lr"] * math.sqrt(1 - beta2**t) / (1 - beta1**t)
                g, m, v = p.grad, state["exp_avg"], state["exp_avg_sq"]
                if group["skip_zero_grad"]:
                    nz = g != 0
                    m.copy_(torch.where(nz, m * beta1 + g * (1 - beta1), m))
                    v.copy_(torch.where(nz, v * beta2 + g * g * (1 - beta2), v))
                    p.sub_(torch.where(nz, m / (v.sqrt() + group["eps"]) * step_size, torch.zeros_like(p)))
                else:
                    m.mul_(beta1).add_(g, alpha=1 - beta1)
                    v.mul_(beta2).addcmul_(g, g, value=1 - beta2)
                    p.addcdiv_(m, v.sqrt().add_(group["eps"]), value=-step_size)
        return loss
