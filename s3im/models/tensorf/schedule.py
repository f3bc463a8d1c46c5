"""TensoRF's resolution schedule (official ``utils.py`` / ``train.py``), as pure functions.

* ``n_to_reso(n_voxels, aabb)``: voxel side v = (prod(extent) / n_voxels)^(1/3), resolution
  floor(extent / v) per axis, computed in float32 like the official ``N_to_reso``.
  Example: n_voxels 64^3, aabb [-1.5, 1.5]^3 -> [64, 64, 64] (up to float32 rounding of v).
* ``cal_n_samples(reso, step_ratio)`` = int(||reso||_2 / step_ratio): the training sample budget
  per ray (``nSamples = min(n_samples_cap, cal_n_samples(reso_cur))``).
* ``voxel_schedule(n_init, n_final, n_upsamples)``: the voxel counts after each upsampling,
  round(exp(linspace(log n_init, log n_final, n_upsamples + 1)))[1:] (geometric progression).
  Example: 64^3 -> 128^3 with 5 upsamplings -> [397336, 602249, 912838, 1383604, 2097151]
  (float32, as the official code computes it).
* ``lr_scale(step, ...)``: the lr factor of the optimizer rebuilt after an upsampling at iteration
  ``step``: 1 with ``lr_upsample_reset`` (official default), else target_ratio^(step / n_iters).
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor


def n_to_reso(n_voxels: int, aabb: Tensor) -> list[int]:
    """[X, Y, Z] grid resolution for ``n_voxels`` voxels in the box ``aabb`` [2, 3] (float32 arithmetic)."""
    aabb = torch.as_tensor(aabb, dtype=torch.float32)
    extent = aabb[1] - aabb[0]
    voxel_size = (extent.prod() / n_voxels).pow(1 / 3)
    return (extent / voxel_size).long().tolist()


def cal_n_samples(reso, step_ratio: float = 0.5) -> int:
    """int(||reso||_2 / step_ratio): samples per ray that cross the grid diagonal at step_ratio voxels."""
    return int(np.linalg.norm(np.asarray(reso, dtype=np.float64)) / step_ratio)


def voxel_schedule(n_init: int, n_final: int, n_upsamples: int) -> list[int]:
    """Voxel counts [n_upsamples] reached at the successive upsamplings (geometric from n_init to n_final)."""
    values = torch.exp(torch.linspace(math.log(n_init), math.log(n_final), n_upsamples + 1))
    return torch.round(values).long().tolist()[1:]


def lr_scale(step: int, n_iters: int, upsample_reset: bool, target_ratio: float = 0.1) -> float:
    """lr factor of the optimizer rebuilt after the upsampling at 0-based iteration ``step``."""
    return 1.0 if upsample_reset else target_ratio ** (step / n_iters)
