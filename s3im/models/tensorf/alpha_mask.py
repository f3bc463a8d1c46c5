"""TensoRF's alpha mask (official ``AlphaGridMask`` + ``updateAlphaMask``'s thresholding).

A binary volume ``volume`` [Z, Y, X] (float 0/1) over the box ``aabb`` [2, 3] (the model's box when the
mask was made). ``sample(xyz)`` is its trilinear interpolation (align_corners=True, 0 outside the box),
so ``occupied(xyz) = sample(xyz) > 0`` is True iff a grid node of the cell around x with a non-zero
interpolation weight is set. Built by ``from_alpha``: alpha [Z, Y, X] at the grid nodes ->
max_pool3d(kernel 3, stride 1, padding 1) -> >= threshold.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from common.fields.grid import sample_points


class AlphaGridMask:
    """Binary occupancy volume [Z, Y, X] over ``aabb`` [2, 3]; see the module doc."""

    def __init__(self, aabb: Tensor, volume: Tensor):
        self.aabb = aabb.detach().float().clone()
        self.volume = volume.detach().float().reshape(volume.shape[-3:]).clone()
        self._inv = 2.0 / (self.aabb[1] - self.aabb[0])

    @classmethod
    def from_alpha(cls, aabb: Tensor, alpha: Tensor, threshold: float) -> AlphaGridMask:
        """Mask from node alphas [Z, Y, X]: clamp to [0, 1], max_pool3d 3x3x3, then >= threshold."""
        vol = alpha.clamp(0, 1)[None, None]
        vol = F.max_pool3d(vol, kernel_size=3, padding=1, stride=1)[0, 0]
        return cls(aabb, (vol >= threshold).float())

    @property
    def grid_size(self) -> list[int]:
        """[X, Y, Z] nodes of the mask."""
        z, y, x = self.volume.shape
        return [int(x), int(y), int(z)]

    def sample(self, xyz: Tensor, parts: int | None = None) -> Tensor:
        """[N] trilinear interpolation of the 0/1 volume at world points [N, 3] (0 outside the box); ``parts``
        as ``sample_points`` (1: one grid_sample batch, as the official ``sample_alpha``)."""
        coords = (xyz - self.aabb[0]) * self._inv - 1
        return sample_points(self.volume[None, None], coords, parts=parts).view(-1)

    def occupied(self, xyz: Tensor) -> Tensor:
        """[N] bool: sample(xyz) > 0."""
        return self.sample(xyz) > 0

    def bbox(self) -> Tensor | None:
        """[2, 3] min / max world position of the set nodes (None when no node is set); node k of an axis
        with n nodes is at aabb_min (1 - s_k) + aabb_max s_k, s = linspace(0, 1, n) (official dense grid)."""
        idx = self.volume.nonzero()  # [K, 3] as (z, y, x)
        if idx.numel() == 0:
            return None
        xyz_idx = idx.flip(1)
        lo, hi = xyz_idx.amin(0), xyz_idx.amax(0)
        out = torch.empty(2, 3)
        for axis, n in enumerate(self.grid_size):
            s = torch.linspace(0, 1, n)
            pos = self.aabb[0, axis] * (1 - s) + self.aabb[1, axis] * s
            out[0, axis], out[1, axis] = pos[lo[axis]], pos[hi[axis]]
        return out.to(self.aabb.device)

    def to(self, device) -> AlphaGridMask:
        return AlphaGridMask(self.aabb.to(device), self.volume.to(device))

    def state(self) -> dict:
        """Plain tensors for a checkpoint: aabb [2, 3] float32 and the volume [Z, Y, X] as bool."""
        return {"aabb": self.aabb.cpu(), "volume": self.volume.bool().cpu()}

    @classmethod
    def from_state(cls, state: dict) -> AlphaGridMask:
        return cls(state["aabb"], state["volume"].float())
