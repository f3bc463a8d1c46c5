"""Rays against an axis-aligned box: slab-test intersection and uniform packed steps inside the box.

Packed layout (as in ``common.render.weights``): the samples of R rays are one flat tensor [M, ...]
with int64 ``ray_indices`` [M] sorted ascending, the samples of one ray ordered near to far.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor


def ray_aabb_intersect(
    rays_o: Tensor,
    rays_d: Tensor,
    aabb_min: Tensor,
    aabb_max: Tensor,
    near: float | Tensor = 0.0,
    far: float | Tensor = math.inf,
    zero_direction: float | None = None,
) -> tuple[Tensor, Tensor, Tensor]:
    """Slab test of rays o + t d against the box [aabb_min, aabb_max], clipped to [near, far].

    rays_o, rays_d: [R, 3] (any [..., 3]); aabb_min, aabb_max: [3]; near, far: floats or [R].
    Per axis a = (aabb_max - o) / d and b = (aabb_min - o) / d; the box is crossed for
    t in [max_axis min(a, b), min_axis max(a, b)]. An axis with d == 0 constrains nothing when
    aabb_min <= o <= aabb_max on it and empties the interval otherwise; with ``zero_direction`` = eps
    such components are instead replaced by eps before the division (DVGO's official slab test
    uses 1e-6). A ray that starts inside the box has a negative entry and gets t_near = near.
    Returns (t_near [R], t_far [R], hit [R] bool): t_near, t_far clamped to [near, far] (for a ray
    that misses, t_near >= t_far); hit = the box interval meets [near, far].
    Example: o = (-2, 0, 0), d = (1, 0, 0), box [-1, 1]^3 -> t_near 1, t_far 3, hit True.
    """
    if zero_direction is not None:
        vec = torch.where(rays_d == 0, torch.full_like(rays_d, zero_direction), rays_d)
        rate_a = (aabb_max - rays_o) / vec
        rate_b = (aabb_min - rays_o) / vec
        lo, hi = torch.minimum(rate_a, rate_b), torch.maximum(rate_a, rate_b)
    else:
        parallel = rays_d == 0
        vec = torch.where(parallel, torch.ones_like(rays_d), rays_d)
        rate_a = (aabb_max - rays_o) / vec
        rate_b = (aabb_min - rays_o) / vec
        inside = (rays_o >= aabb_min) & (rays_o <= aabb_max)
        inf = torch.full_like(rate_a, math.inf)
        lo = torch.where(parallel, torch.where(inside, -inf, inf), torch.minimum(rate_a, rate_b))
        hi = torch.where(parallel, torch.where(inside, inf, -inf), torch.maximum(rate_a, rate_b))
    t_enter, t_exit = lo.amax(-1), hi.amin(-1)
    hit = (t_enter <= t_exit) & (t_exit >= near) & (t_enter <= far)
    if torch.is_tensor(near) or torch.is_tensor(far):
        near_t = torch.as_tensor(near, dtype=t_enter.dtype, device=t_enter.device)
        far_t = torch.as_tensor(far, dtype=t_enter.dtype, device=t_enter.device)
        return (
            torch.minimum(torch.maximum(t_enter, near_t), far_t),
            torch.minimum(torch.maximum(t_exit, near_t), far_t),
            hit,
        )
    return t_enter.clamp(min=near, max=far), t_exit.clamp(min=near, max=far), hit


def packed_uniform_steps(t_start: Tensor, t_end: Tensor, step: float, min_steps: int = 0) -> tuple[Tensor, Tensor]:
    """Packed uniform steps t = t_start + k * step, k = 0 .. n_r - 1, per ray.

    t_start, t_end: [R]; n_r = max(ceil((t_end - t_start) / step), min_steps, 0).
    Returns (ray_indices [M] int64 sorted, t [M]). Example: t_start [0, 1], t_end [0.25, 1], step 0.1,
    min_steps 1 -> ray_indices [0, 0, 0, 1], t [0, 0.1, 0.2, 1].
    """
    n_steps = torch.ceil((t_end - t_start) / step).clamp(min=max(min_steps, 0)).long()
    ray_indices = torch.repeat_interleave(torch.arange(len(t_start), device=t_start.device), n_steps)
    starts = torch.cumsum(n_steps, 0) - n_steps
    step_id = torch.arange(len(ray_indices), device=t_start.device) - starts[ray_indices]
    return ray_indices, t_start[ray_indices] + step_id.to(t_start.dtype) * step


def uniform_samples_in_aabb(
    rays_o: Tensor,
    rays_d: Tensor,
    aabb_min: Tensor,
    aabb_max: Tensor,
    near: float,
    far: float,
    step: float,
    zero_direction: float | None = None,
) -> tuple[Tensor, Tensor, Tensor]:
    """Uniform samples inside the box, packed (DVGO's ``sample_pts_on_rays``).

    rays_o, rays_d [R, 3]; directions are normalised first, so t is a distance. With [t_near, t_far]
    from ``ray_aabb_intersect`` (clipped to [near, far]), ray r gets
    n_r = max(ceil((t_far - t_near) / step), 1) samples at t = t_near + k * step; samples outside
    [aabb_min, aabb_max] are dropped (so a missing ray usually keeps none).
    Returns (pts [M, 3], ray_indices [M] int64 sorted, t [M]).
    """
    rays_d = rays_d / rays_d.norm(dim=-1, keepdim=True)
    t_near, t_far, _ = ray_aabb_intersect(rays_o, rays_d, aabb_min, aabb_max, near, far, zero_direction)
    ray_indices, t = packed_uniform_steps(t_near, t_far, step, min_steps=1)
    pts = rays_o[ray_indices] + rays_d[ray_indices] * t[:, None]
    inside = torch.nonzero(((pts >= aabb_min) & (pts <= aabb_max)).all(-1)).squeeze(1)
    return pts[inside], ray_indices[inside], t[inside]
