"""Ray marching of DVGO's unbounded model: the fixed sample distances, the contraction
(``common.render.contraction``) and the thinning of oversampled outer points. The bounded model
samples with ``common.render.uniform_samples_in_aabb``.

Packed layout (as in ``common.render``): the samples of a batch of R rays are one flat tensor [M, ...]
with an int64 ``ray_indices`` [M], sorted ascending, and samples of one ray ordered near to far.
Ray directions are normalised on entry, so every ``t`` is a distance along the ray.
"""

from __future__ import annotations

import torch
from torch import Tensor

from common.render.contraction import contract_with_inner


def contracted_sample_distances(bg_len: float, world_len: int, stepsize: float, device=None) -> Tensor:
    """[S] sample distances of the contracted model (rays in the unit-radius frame).

    N_inner = int(2 / (2 + 2 bg_len) * world_len / stepsize) + 1 midpoints of linspace(0, 2, N_inner + 1),
    then N_outer = N_inner midpoints of 2 / linspace(1, 1/128, N_outer + 1) (distances 2 .. 256).
    """
    n_inner = int(2 / (2 + 2 * bg_len) * world_len / stepsize) + 1
    b_inner = torch.linspace(0, 2, n_inner + 1, device=device)
    b_outer = 2 / torch.linspace(1, 1 / 128, n_inner + 1, device=device)
    return torch.cat([(b_inner[1:] + b_inner[:-1]) * 0.5, (b_outer[1:] + b_outer[:-1]) * 0.5])


@torch.no_grad()
def cumdist_keep(dist: Tensor, thres: float) -> Tensor:
    """Keep-mask that thins oversampled points (official ``cumdist_thres``).

    dist [R, S]: distance between consecutive (contracted) samples. Along each ray, accumulate dist;
    a sample is kept when the running sum exceeds ``thres``, which then resets to 0. Loops over the S
    steps (vectorised over rays). Returns bool [R, S].
    """
    keep = torch.empty_like(dist, dtype=torch.bool)
    cum = torch.zeros_like(dist[:, 0])
    for i in range(dist.shape[1]):
        cum = cum + dist[:, i]
        keep[:, i] = cum > thres
        cum = torch.where(keep[:, i], torch.zeros_like(cum), cum)
    return keep


def sample_contracted(
    rays_o: Tensor, rays_d: Tensor, bg_len: float, world_len: int, stepsize: float, norm: str = "l2"
) -> tuple[Tensor, Tensor, Tensor, int]:
    """Samples of the unbounded model, packed, after skipping oversampled outer points.

    rays_o [R, 3] in the normalised frame (inner cube = [-1, 1]^3), rays_d [R, 3]. Every ray gets the
    distances of ``contracted_sample_distances``; points are contracted; a sample is kept if it is
    inside the unit ball or if ``cumdist_keep`` of the contracted step lengths (threshold
    (2 + 2 bg_len) / world_len * stepsize * 0.95, i.e. 0.95 of a step in grid units) keeps it.
    Returns (pts [M, 3] contracted, ray_indices [M], t [M], n_max = samples per ray before skipping).
    """
    rays_d = rays_d / rays_d.norm(dim=-1, keepdim=True)
    t = contracted_sample_distances(bg_len, world_len, stepsize, device=rays_o.device)
    pts, inner = contract_with_inner(rays_o[:, None, :] + rays_d[:, None, :] * t[None, :, None], norm, bg_len)
    keep = inner.clone()
    dist_thres = (2 + 2 * bg_len) / world_len * stepsize * 0.95
    keep[:, 1:] |= cumdist_keep((pts[:, 1:] - pts[:, :-1]).norm(dim=-1), dist_thres)
    flat = torch.nonzero(keep.flatten()).squeeze(1)
    ray_indices = torch.div(flat, len(t), rounding_mode="floor")
    return pts.reshape(-1, 3)[flat], ray_indices, t[flat % len(t)], len(t)
