"""Ray marching for DVGO: ray/AABB slab test, uniform steps in a bounded box, the contracted sampling
of the unbounded model, and packed-sample filtering.

Packed layout (as in ``common.render``): the samples of a batch of R rays are one flat tensor [M, ...]
with an int64 ``ray_indices`` [M], sorted ascending, and samples of one ray ordered near to far.
Ray directions are normalised on entry, so every ``t`` is a distance along the ray.
"""

from __future__ import annotations

import torch
from torch import Tensor


def ray_aabb(
    rays_o: Tensor, rays_d: Tensor, xyz_min: Tensor, xyz_max: Tensor, near: float, far: float
) -> tuple[Tensor, Tensor]:
    """Slab test of rays [R, 3] against the box, clamped to [near, far].

    With a = (xyz_max - o) / d and b = (xyz_min - o) / d per axis (d == 0 replaced by 1e-6):
    t_min = clamp(max_axis min(a, b), near, far), t_max = clamp(min_axis max(a, b), near, far).
    A ray that misses the box gets t_min >= t_max. Returns (t_min [R], t_max [R]).
    """
    vec = torch.where(rays_d == 0, torch.full_like(rays_d, 1e-6), rays_d)
    rate_a = (xyz_max - rays_o) / vec
    rate_b = (xyz_min - rays_o) / vec
    t_min = torch.minimum(rate_a, rate_b).amax(-1).clamp(min=near, max=far)
    t_max = torch.maximum(rate_a, rate_b).amin(-1).clamp(min=near, max=far)
    return t_min, t_max


def sample_in_box(
    rays_o: Tensor, rays_d: Tensor, xyz_min: Tensor, xyz_max: Tensor, near: float, far: float, stepdist: float
) -> tuple[Tensor, Tensor, Tensor]:
    """Uniform samples inside the box (official ``sample_pts_on_rays``), packed.

    Ray r gets n_r = max(ceil((t_max - t_min) / stepdist), 1) samples at t = t_min + k * stepdist,
    k = 0..n_r-1; samples outside [xyz_min, xyz_max] are dropped.
    Returns (pts [M, 3], ray_indices [M] int64 sorted, t [M]).
    """
    rays_d = rays_d / rays_d.norm(dim=-1, keepdim=True)
    t_min, t_max = ray_aabb(rays_o, rays_d, xyz_min, xyz_max, near, far)
    n_steps = torch.ceil((t_max - t_min) / stepdist).clamp(min=1).long()
    ray_indices = torch.repeat_interleave(torch.arange(len(rays_o), device=rays_o.device), n_steps)
    starts = torch.cumsum(n_steps, 0) - n_steps
    step_id = torch.arange(len(ray_indices), device=rays_o.device) - starts[ray_indices]
    t = t_min[ray_indices] + step_id.to(t_min.dtype) * stepdist
    pts = rays_o[ray_indices] + rays_d[ray_indices] * t[:, None]
    inside = torch.nonzero(((pts >= xyz_min) & (pts <= xyz_max)).all(-1)).squeeze(1)
    return pts[inside], ray_indices[inside], t[inside]


def contract(pts: Tensor, bg_len: float, norm: str = "l2") -> tuple[Tensor, Tensor]:
    """Unbounded-scene contraction of normalised points [..., 3].

    p -> p for |p| <= 1, else p / |p| * ((1 + bg_len) - bg_len / |p|), with |.| the l2 or inf norm,
    so R^3 maps into the ball (norm) of radius 1 + bg_len, inside the box [-1 - bg_len, 1 + bg_len]^3.
    Returns (contracted points [..., 3], inner mask [...] = |p| <= 1).
    """
    if norm == "l2":
        n = pts.norm(dim=-1, keepdim=True)
    elif norm == "inf":
        n = pts.abs().amax(dim=-1, keepdim=True)
    else:
        raise ValueError(f"contracted_norm must be 'l2' or 'inf', got {norm!r}")
    inner = n <= 1
    out = torch.where(inner, pts, pts / n.clamp(min=1) * ((1 + bg_len) - bg_len / n.clamp(min=1)))
    return out, inner.squeeze(-1)


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
    pts, inner = contract(rays_o[:, None, :] + rays_d[:, None, :] * t[None, :, None], bg_len, norm)
    keep = inner.clone()
    dist_thres = (2 + 2 * bg_len) / world_len * stepsize * 0.95
    keep[:, 1:] |= cumdist_keep((pts[:, 1:] - pts[:, :-1]).norm(dim=-1), dist_thres)
    flat = torch.nonzero(keep.flatten()).squeeze(1)
    ray_indices = torch.div(flat, len(t), rounding_mode="floor")
    return pts.reshape(-1, 3)[flat], ray_indices, t[flat % len(t)], len(t)
