"""DVGO's Adam with masked updates (``skip_zero_grad``) and per-voxel learning rates, in plain PyTorch.

Update of one element with gradient g at step t (official ``adam_upd`` kernel; note eps is added to
sqrt(v) without bias correction, unlike ``torch.optim.Adam``):
    m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2
    p -= lr * r * sqrt(1 - b2^t) / (1 - b1^t) * m / (sqrt(v) + eps)
with r = 1, or r = the group's "per_lr" tensor (same shape as the parameter; official
``adam_upd_with_perlr``, every element updated). In a param group with ``skip_zero_grad=True`` (and no
per_lr) the update (m, v and p) happens only where g != 0, so voxels no ray touched this step keep their
moments and values; t still counts every step. The masked update works on the flat indices of the
non-zero gradients only (one pass over g to find them, then gathers / scatters of the touched entries) while
few entries are touched, and in place over the whole tensor (factor 1 and a zero step where g == 0) when many are.
"""

from __future__ import annotations

import math

import torch
from torch.optim import Optimizer

# Above this fraction of touched entries the full-tensor passes are cheaper than the gathers. Measured on one CPU
# thread over 12 x 96^3 entries, gathers vs full-tensor passes: 134 vs 246 ms at 20 % touched, 256 vs 238 ms at 40 %;
# at 70 % the former torch.where passes took 889 ms, these 256 ms. DVGO's fine grids of the Blender quick profile have
# 40-45 % of their entries touched per step at 96^3, 60-65 % at 48^3.
DENSE_FRACTION = 0.4


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
    """The Adam update restricted to the entries with g != 0: flat index gather / scatter of the touched
    entries when at most DENSE_FRACTION of them are touched, else in-place full-tensor passes in which the
    untouched entries get the factor 1 (m, v) and a zero step (p)."""
    flat_g = g.reshape(-1)
    n_touched = int(torch.count_nonzero(flat_g))
    if n_touched == 0:
        return
    if n_touched > DENSE_FRACTION * flat_g.numel():
        nz = g != 0
        m.mul_(nz.to(m.dtype).mul_(beta1 - 1).add_(1)).add_(g, alpha=1 - beta1)
        v.mul_(nz.to(v.dtype).mul_(beta2 - 1).add_(1)).addcmul_(g, g, value=1 - beta2)
        step = v.sqrt().add_(eps)
        torch.div(m, step, out=step).mul_(step_size)  # a tensor product: an absurd lr overflows to inf, not an error
        p.sub_(step.masked_fill_(~nz, 0))
        return
    idx = torch.nonzero(flat_g).squeeze(1)
    gi = flat_g[idx]
    mi = m.view(-1)[idx].mul_(beta1).add_(gi, alpha=1 - beta1)
    vi = v.view(-1)[idx].mul_(beta2).addcmul_(gi, gi, value=1 - beta2)
    m.view(-1)[idx] = mi
    v.view(-1)[idx] = vi
    p.data.view(-1).index_add_(0, idx, mi / (vi.sqrt() + eps) * -step_size)
