"""DirectContractedVoxGO: DVGO for unbounded / inward-facing scenes (``tt_default``, the model S3IM
trains on Replica).

The foreground cube [scene_center - scene_radius, scene_center + scene_radius] (from the camera
centres, see ``build.unbounded_inner_cube``) is normalised to [-1, 1]^3; space beyond the unit ball is
contracted, p -> p / |p| * ((1 + bg_len) - bg_len / |p|) (``common.render.contract``), into a shell
of width bg_len, and the grids cover [-1 - bg_len, 1 + bg_len]^3. Every ray gets the same distances
(``contracted_sample_distances``: uniform on [0, 2], then 2 / linspace(1, 1/128)), oversampled outer
points are thinned, and the rest follows the shared DVGO rendering. The distortion loss uses
s = 1 - 1 / (1 + t) with delta_s = 1 / n_max (n_max = samples per ray before skipping), and depth is
t * scene_radius (world units).
"""

from __future__ import annotations

import torch
from torch import Tensor

from s3im.models.dvgo.marching import sample_contracted
from s3im.models.dvgo.model import VoxGOBase


class DirectContractedVoxGO(VoxGOBase):
    """``VoxGOBase`` over the contracted box; ``inner_min`` / ``inner_max`` [3] bound the foreground cube."""

    def __init__(self, inner_min: Tensor, inner_max: Tensor, cfg: dict):
        bg_len = float(cfg["bg_len"])
        super().__init__(torch.full((3,), -1 - bg_len), torch.full((3,), 1 + bg_len), cfg)
        inner_min = torch.as_tensor(inner_min, dtype=torch.float32)
        inner_max = torch.as_tensor(inner_max, dtype=torch.float32)
        self.register_buffer("scene_center", (inner_min + inner_max) * 0.5)
        self.register_buffer("scene_radius", (inner_max - inner_min) * 0.5)

    def _sample(self, rays_o: Tensor, rays_d: Tensor):
        bg_len, stepsize = float(self.cfg["bg_len"]), float(self.cfg["stepsize"])
        world_len = self.world_size[0]
        rays_o = (rays_o - self.scene_center) / self.scene_radius
        norm = self.cfg["contracted_norm"]
        pts, ray_indices, t, n_max = sample_contracted(rays_o, rays_d, bg_len, world_len, stepsize, norm)
        s = 1 - 1 / (1 + t)
        return pts, ray_indices, t * self.scene_radius[0], s, 1.0 / n_max
