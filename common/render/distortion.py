"""mip-NeRF 360's distortion loss on packed samples, in O(N) with per-ray prefix sums.

For one ray with weights w_i, normalised sample positions s_i (ascending) and interval lengths
delta_i (in s units):
    L = sum_{i,j} w_i w_j |s_i - s_j| + 1/3 sum_i w_i^2 delta_i.
With W_i = sum_{j<i} w_j and S_i = sum_{j<i} w_j s_j, the double sum is 2 sum_i w_i (s_i W_i - S_i)
(DVGO's ``flatten_eff_distloss``).
"""

from __future__ import annotations

import torch
from torch import Tensor


def segment_exclusive_cumsum(values: Tensor, ray_indices: Tensor, n_rays: int) -> Tensor:
    """[N] sum of the earlier samples of the same ray (0 for a ray's first sample).

    values [N], ray_indices [N] int64 sorted. One global cumulative sum minus its value at the start of
    each ray's segment, in float64 so that long batches keep the per-ray sums exact to float32
    precision. Example: values [1, 2, 3, 4, 5], ray_indices [0, 0, 2, 2, 2] -> [0, 1, 0, 3, 7].
    """
    csum = torch.cumsum(values.double(), 0) - values.double()
    counts = torch.bincount(ray_indices, minlength=n_rays)
    starts = torch.cumsum(counts, 0) - counts
    return (csum - csum[starts[ray_indices]]).to(values.dtype)


def distortion_loss(weights: Tensor, s: Tensor, interval: Tensor | float, ray_indices: Tensor, n_rays: int) -> Tensor:
    """Distortion loss averaged over rays (0-d tensor), O(N).

    weights [N], s [N] (normalised sample position, e.g. the interval midpoint, ascending within each
    ray), interval: scalar or [N] (delta_i, the length of sample i's interval in s units),
    ray_indices [N] int64 sorted, n_rays R:
        L = (sum_i 2 w_i (s_i W_i - S_i) + 1/3 sum_i w_i^2 delta_i) / R.
    Example: one ray, w [0.5, 0.5], s [0, 1], delta 0 -> 2 * 0.25 * 1 = 0.5.
    """
    w_prefix = segment_exclusive_cumsum(weights, ray_indices, n_rays)
    ws_prefix = segment_exclusive_cumsum(weights * s, ray_indices, n_rays)
    loss_bi = 2 * weights * (s * w_prefix - ws_prefix)
    loss_uni = weights.pow(2) * interval / 3
    return (loss_bi.sum() + loss_uni.sum()) / n_rays
