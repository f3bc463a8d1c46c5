"""DVGO's Adam with masked updates (``skip_zero_grad``) and per-voxel learning rates, in plain PyTorch.

Update of one element with gradient g at step t (official ``adam_upd`` kernel; note eps is added to
sqrt(v) without bias correction, unlike ``torch.optim.Adam``):
    m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2
    p -= lr * r * sqrt(1 - b2^t) / (1 - b1^t) * m / (sqrt(v) + eps)
with r = 1, or r = the group's "per_lr" tensor (same shape as the parameter; official
``adam_upd_with_perlr``, every element updated). In a param group with ``skip_zero_grad=True`` (and no
per_lr) the update (m, v and p) happens only where g != 0, so voxels no ray touched this step keep their
moments and values; t still counts every step. The masked update works on the flat indices of the
non-zero gradients only (one pass over g to find them, then gathers / scatters of the touched entries),
instead of full-grid ``where`` passes.
"""

from __future__ import annotations

import math

import torch
from torch.optim import Optimizer


class MaskedAdam(Optimizer):
    """Adam with optional per-group ``skip_zero_grad`` (default False) and ``per_lr`` (default None)."""

    def __init__(self, params, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.99), eps: float = 1e-8):
        if lr < 0 or eps < 0 or not (0 <= betas[0] < 1 and 0 <= betas[1] < 1):
            raise ValueError(f"MaskedAdam: invalid lr={lr}, betas={betas} or eps={eps}")
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps, skip_zero_grad=False, per_lr=None))

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
                per_lr = group.get("per_lr")
                if per_lr is not None and per_lr.shape == p.shape:
                    m.mul_(beta1).add_(g, alpha=1 - beta1)
                    v.mul_(beta2).addcmul_(g, g, value=1 - beta2)
                    p.sub_(m / (v.sqrt() + group["eps"]) * per_lr * step_size)
                elif group["skip_zero_grad"]:
                    _masked_update(p, g, m, v, beta1, beta2, step_size, group["eps"])
                else:
                    m.mul_(beta1).add_(g, alpha=1 - beta1)
                    v.mul_(beta2).addcmul_(g, g, value=1 - beta2)
                    p.addcdiv_(m, v.sqrt().add_(group["eps"]), value=-step_size)
        return loss


def _masked_update(p, g, m, v, beta1: float, beta2: float, step_size: float, eps: float) -> None:
    """The Adam update restricted to the entries with g != 0 (flat index gather / scatter)."""
    flat_g = g.reshape(-1)
    idx = torch.nonzero(flat_g).squeeze(1)
    if idx.numel() == 0:
        return
    if idx.numel() > flat_g.numel() // 2:  # mostly dense: full-tensor passes are cheaper than gathers
        nz = g != 0
        m.copy_(torch.where(nz, m * beta1 + g * (1 - beta1), m))
        v.copy_(torch.where(nz, v * beta2 + g * g * (1 - beta2), v))
        p.sub_(torch.where(nz, m / (v.sqrt() + eps) * step_size, torch.zeros_like(p)))
        return
    gi = flat_g[idx]
    mi = m.view(-1)[idx].mul_(beta1).add_(gi, alpha=1 - beta1)
    vi = v.view(-1)[idx].mul_(beta2).addcmul_(gi, gi, value=1 - beta2)
    m.view(-1)[idx] = mi
    v.view(-1)[idx] = vi
    p.data.view(-1).index_add_(0, idx, mi / (vi.sqrt() + eps), alpha=-step_size)
