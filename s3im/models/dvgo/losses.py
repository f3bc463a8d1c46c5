"""DVGO's regularisers on packed samples (flat [M] samples with sorted int64 ``ray_indices``).

* entropy of the final transmittance: pushes every ray to be either fully background or fully opaque;
* per-point rgb loss: sum_i stopgrad(w_i) ||c_i - gt_ray(i)||^2 / N_rays.
The distortion loss is ``common.render.distortion_loss``.
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
