"""DVGO's total variation, applied as a gradient injection after ``backward()`` (not a loss term).

For a grid v [1, C, X, Y, Z] and weight w, every voxel gets
    grad(v) += w / 6 * sum_{n in 6-neighbourhood, same channel} clamp(v - v_n, -1, 1),
which is the gradient of the Huber-like energy E = w / 6 * sum_{neighbour pairs} huber(v_a - v_b),
huber(x) = x^2 / 2 for |x| <= 1 and |x| - 1/2 otherwise (``smooth_l1`` with beta 1).
The model scales w = weight_tv * world_size.max() / 128 / N_rand. In sparse mode the gradient is
added only where the loss already gave a non-zero gradient (voxels touched by this batch).
"""

from __future__ import annotations

import torch
from torch import Tensor


def tv_grad(v: Tensor, weight: float) -> Tensor:
    """[1, C, X, Y, Z] -> same shape: w / 6 * sum over the existing 6 neighbours of clamp(v - v_n, -1, 1)."""
    g = torch.zeros_like(v)
    for dim in (2, 3, 4):
        n = v.shape[dim]
        if n < 2:
            continue
        d = (v.narrow(dim, 1, n - 1) - v.narrow(dim, 0, n - 1)).clamp(-1, 1)
        g.narrow(dim, 1, n - 1).add_(d)
        g.narrow(dim, 0, n - 1).sub_(d)
    return g * (weight / 6)


@torch.no_grad()
def add_tv_grad_(param: Tensor, weight: float, dense: bool) -> None:
    """Add ``tv_grad(param, weight)`` into ``param.grad`` in place: everywhere when ``dense``, else only
    where ``param.grad != 0``. A parameter without a gradient gets one in dense mode only.

    Dense mode accumulates the three clamped neighbour differences straight into the gradient (no
    zero-filled buffer, one scaled difference tensor per axis)."""
    if weight == 0:
        return
    if param.grad is None:
        if dense:
            param.grad = tv_grad(param.detach(), weight)
        return
    if not dense:
        touched = param.grad != 0
        param.grad.add_(torch.where(touched, tv_grad(param.detach(), weight), torch.zeros(())))
        return
    v, grad, w = param.detach(), param.grad, weight / 6
    for dim in (2, 3, 4):
        n = v.shape[dim]
        if n < 2:
            continue
        d = (v.narrow(dim, 1, n - 1) - v.narrow(dim, 0, n - 1)).clamp_(-1, 1).mul_(w)
        grad.narrow(dim, 1, n - 1).add_(d)
        grad.narrow(dim, 0, n - 1).sub_(d)
