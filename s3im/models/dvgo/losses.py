"""DVGO's regularisers on packed samples (flat [M] samples with sorted int64 ``ray_indices``).

* entropy of the final transmittance: pushes every ray to be either fully background or fully opaque;
* per-point rgb loss: sum_i stopgrad(w_i) ||c_i - gt_ray(i)||^2 / N_rays;
* distortion loss of mip-NeRF 360, L_dist = sum_{i,j} w_i w_j |s_i - s_j| + 1/3 sum_i w_i^2 delta_i,
  in the O(M) form with per-ray prefix sums (the official ``flatten_eff_distloss``).
"""

from __future__ import annotations

import torch
from torch import Tensor


def entropy_last(final_transmittance: Tensor, eps: float = 1e-6) -> Tensor:
    """mean over rays of H(p) = -(p log p + (1 - p) log(1 - p)), p = clamp(T_final [R], eps, 1 - eps)."""
    p = final_transmittance.clamp(eps, 1 - eps)
    return -(p * torch.log(p) + (1 - p) * torch.log(1 - p)).mean()


def rgb_per_point(weights: Tensor, rgb: Tensor, target: Tensor, ray_indices: Tensor, n_rays: int) -> Tensor:
    """sum_i stopgrad(w_i) * ||rgb_i - target[ray_i]||^2 / n_rays; weights [M], rgb [M, 3], target [R, 3]."""
    per_point = (rgb - target[ray_indices]).pow(2).sum(-1)
    return (per_point * weights.detach()).sum() / n_rays


def segment_exclusive_cumsum(values: Tensor, ray_indices: Tensor, n_rays: int) -> Tensor:
    """[M] sum of the earlier samples of the same ray (0 for a ray's first sample).

    One global cumulative sum minus its value at the start of each ray's segment, in float64 so that
    long batches keep the per-ray sums exact to float32 precision.
    """
    csum = torch.cumsum(values.double(), 0) - values.double()
    counts = torch.bincount(ray_indices, minlength=n_rays)
    starts = torch.cumsum(counts, 0) - counts
    return (csum - csum[starts[ray_indices]]).to(values.dtype)


def distortion_loss(weights: Tensor, s: Tensor, interval: Tensor | float, ray_indices: Tensor, n_rays: int) -> Tensor:
    """Distortion loss averaged over rays, O(M).

    weights [M], s [M] (normalised sample distance, ascending within each ray), interval: scalar or [M]
    (delta_i, the length of sample i's interval in s units). With W_i = sum_{j<i} w_j and
    S_i = sum_{j<i} w_j s_j over the same ray:
        sum_{i,j} w_i w_j |s_i - s_j| = 2 sum_i w_i (s_i W_i - S_i),
    so L = (sum_i 2 w_i (s_i W_i - S_i) + 1/3 sum_i w_i^2 delta_i) / n_rays.
    The official unbounded model uses delta_i = 1 / n_max (n_max = samples per ray before skipping).
    """
    w_prefix = segment_exclusive_cumsum(weights, ray_indices, n_rays)
    ws_prefix = segment_exclusive_cumsum(weights * s, ray_indices, n_rays)
    loss_bi = 2 * weights * (s * w_prefix - ws_prefix)
    loss_uni = weights.pow(2) * interval / 3
    return (loss_bi.sum() + loss_uni.sum()) / n_rays
