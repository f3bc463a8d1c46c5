"""TensoRF's ray marching in the packed layout (official ``sample_ray`` + ``raw2alpha``, without the
dense [R, N_samples] tensors).

Official sampling: per ray, entry t_min = max_axis min((aabb_max - o) / d, (aabb_min - o) / d) (direction
components equal to 0 replaced by 1e-6) clamped to [near, far]; candidates z_k = t_min + step (k + u),
k = 0 .. n_samples - 1, with one u ~ U[0, 1) per ray while training (u = 0 otherwise); a candidate is kept
when its point lies in the box. Interval lengths: delta_k = z_{k+1} - z_k, and 0 for k = n_samples - 1.
Here only the candidates that can lie in the box are generated: k < min(n_samples, floor((t_exit - t_min) /
step - u) + 2) (one spare candidate against rounding), then the same coordinate test is applied, so
the kept samples equal the official ones.

Weights: alpha_i = 1 - exp(-sigma_i delta_i s) (s = distance_scale), T_i = exp(-sum_{j<i} sigma_j delta_j s)
(= prod_{j<i} (1 - alpha_j)), w_i = T_i alpha_i; the per-ray prefix sum is one float64 cumulative sum over
the packed samples (``common.render.distortion.segment_exclusive_cumsum``).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from common.render.aabb import ray_aabb_intersect
from common.render.weights import weights_from_optical_depth

ZERO_DIRECTION = 1e-6


def slab(rays_o: Tensor, rays_d: Tensor, aabb: Tensor) -> tuple[Tensor, Tensor]:
    """(t_enter [R], t_exit [R]) of rays [R, 3] against ``aabb`` [2, 3] (unclamped; a ray misses when
    t_exit <= t_enter). Zero direction components are replaced by 1e-6 as in the official code."""
    t_enter, t_exit, _ = ray_aabb_intersect(rays_o, rays_d, aabb[0], aabb[1], -math.inf, math.inf, ZERO_DIRECTION)
    return t_enter, t_exit


def bbox_hits(rays_o: Tensor, rays_d: Tensor, aabb: Tensor) -> Tensor:
    """[R] bool: the ray line crosses the box (official ``filtering_rays(bbox_only=True)``: t_exit > t_enter)."""
    t_enter, t_exit = slab(rays_o, rays_d, aabb)
    return t_exit > t_enter


def sample_packed(
    rays_o: Tensor,
    rays_d: Tensor,
    aabb: Tensor,
    near: float,
    far: float,
    step: float,
    n_samples: int,
    jitter: Tensor | None = None,
) -> dict[str, Tensor]:
    """Packed in-box samples of rays [R, 3] (see the module doc).

    jitter: [R] per-ray offsets u in [0, 1) (training) or None (u = 0). Returns pts [M, 3],
    ray_indices [M] int64 (sorted), z [M] (ray parameter), delta [M] (interval length), k [M] (step index).
    """
    n_rays = rays_o.shape[0]
    device = rays_o.device
    t_enter, t_exit = slab(rays_o, rays_d, aabb)
    t_min = t_enter.clamp(min=near, max=far)
    u = jitter if jitter is not None else torch.zeros(n_rays, device=device)
    count = torch.floor((t_exit - t_min) / step - u) + 2
    count = torch.where(t_exit > t_min, count, torch.zeros_like(count)).clamp(0, n_samples).long()
    ray_indices = torch.repeat_interleave(torch.arange(n_rays, device=device), count)
    starts = torch.cumsum(count, 0) - count
    k = torch.arange(ray_indices.shape[0], device=device) - starts[ray_indices]
    kf, u_s, t0 = k.to(rays_o.dtype), u[ray_indices], t_min[ray_indices]
    z = t0 + step * (kf + u_s)
    z_next = t0 + step * (kf + 1 + u_s)
    delta = torch.where(k == n_samples - 1, torch.zeros_like(z), z_next - z)
    pts = rays_o[ray_indices] + rays_d[ray_indices] * z[:, None]
    inside = ~((aabb[0] > pts) | (pts > aabb[1])).any(-1)
    keep = inside.nonzero().squeeze(1)
    return {"pts": pts[keep], "ray_indices": ray_indices[keep], "z": z[keep], "delta": delta[keep], "k": k[keep]}


def weights_packed(sigma: Tensor, delta: Tensor, ray_indices: Tensor, n_rays: int, distance_scale: float):
    """(alpha [M], weights [M]) of packed samples: alpha = 1 - exp(-sigma delta s), w = T alpha with
    T = exp(-exclusive per-ray sum of sigma delta s)."""
    weights, _, alpha = weights_from_optical_depth(sigma * delta * distance_scale, ray_indices, n_rays)
    return alpha, weights
