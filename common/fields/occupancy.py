"""Occupancy grid for empty-space skipping (nerfacc's ``OccGridEstimator``, one level).

The box [aabb_min, aabb_max] is split into R^3 cells (cell (i, j, k) covers
aabb_min + ([i, i + 1] x [j, j + 1] x [k, k + 1]) / R * extent). Each cell keeps an EMA of an
occupancy value (``occs``) and a binary flag (``binaries``):
  update (every ``update_every`` steps): evaluate ``occ_fn`` (e.g. density * step size) at one
  jittered point per selected cell, occs = max(occs * decay, occ), binaries = occs > min(mean(occs),
  threshold). Before ``warmup_steps`` all cells are selected; afterwards R^3 / 4 uniformly drawn cells
  plus up to as many occupied cells (duplicates evaluated once). Until the first update every cell
  is occupied. Random numbers come from the grid's own seeded ``torch.Generator`` (CPU), whose state
  is saved with the module.
``march`` walks rays in uniform steps inside the box and keeps the intervals whose midpoint lies in
an occupied cell.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn

from common.render.aabb import packed_uniform_steps, ray_aabb_intersect


class OccupancyGrid(nn.Module):
    """Binary occupancy grid over a box; see the module docstring."""

    def __init__(
        self,
        aabb_min: Tensor,
        aabb_max: Tensor,
        resolution: int = 128,
        decay: float = 0.95,
        threshold: float = 0.01,
        update_every: int = 16,
        warmup_steps: int = 256,
        seed: int = 0,
    ):
        super().__init__()
        self.resolution = int(resolution)
        self.decay, self.threshold = float(decay), float(threshold)
        self.update_every, self.warmup_steps = int(update_every), int(warmup_steps)
        self.register_buffer("aabb_min", torch.as_tensor(aabb_min, dtype=torch.float32).clone())
        self.register_buffer("aabb_max", torch.as_tensor(aabb_max, dtype=torch.float32).clone())
        shape = (self.resolution,) * 3
        self.register_buffer("occs", torch.zeros(shape))
        self.register_buffer("binaries", torch.ones(shape, dtype=torch.bool))
        self.generator = torch.Generator().manual_seed(int(seed))

    @property
    def n_cells(self) -> int:
        return self.resolution**3

    def cell_coords(self, cells: Tensor) -> Tensor:
        """Integer (i, j, k) [M, 3] of flat cell indices [M] (i major)."""
        r = self.resolution
        return torch.stack([cells // (r * r), (cells // r) % r, cells % r], -1)

    def _select_cells(self, step: int) -> Tensor:
        if step < self.warmup_steps:
            return torch.arange(self.n_cells)
        n = self.n_cells // 4
        uniform = torch.randint(self.n_cells, (n,), generator=self.generator)
        occupied = torch.nonzero(self.binaries.flatten().cpu())[:, 0]
        if n < len(occupied):
            occupied = occupied[torch.randint(len(occupied), (n,), generator=self.generator)]
        return torch.unique(torch.cat([uniform, occupied]))

    @torch.no_grad()
    def update(self, occ_fn: Callable[[Tensor], Tensor], step: int) -> bool:
        """Refresh the grid when step % update_every == 0 -> whether it did.

        occ_fn: world points [M, 3] -> occupancy [M] (or [M, 1]), e.g. sigma(x) * step size.
        """
        if step % self.update_every != 0:
            return False
        cells = self._select_cells(step)
        jitter = torch.rand(len(cells), 3, generator=self.generator)
        x01 = (self.cell_coords(cells).float() + jitter) / self.resolution
        device = self.occs.device
        x = self.aabb_min + x01.to(device) * (self.aabb_max - self.aabb_min)
        occ = occ_fn(x).reshape(-1).to(self.occs.dtype)
        flat = self.occs.view(-1)
        cells = cells.to(device)
        flat[cells] = torch.maximum(flat[cells] * self.decay, occ)
        thres = min(float(flat.mean()), self.threshold)
        self.binaries.copy_(self.occs > thres)
        return True

    def query(self, points: Tensor) -> Tensor:
        """[...] bool: the point [..., 3] lies in an occupied cell (False outside the box)."""
        u = (points - self.aabb_min) / (self.aabb_max - self.aabb_min) * self.resolution
        ijk = u.floor().long()
        inside = ((ijk >= 0) & (ijk < self.resolution)).all(-1)
        ijk = ijk.clamp(0, self.resolution - 1)
        return self.binaries[ijk[..., 0], ijk[..., 1], ijk[..., 2]] & inside

    @torch.no_grad()
    def march(
        self, rays_o: Tensor, rays_d: Tensor, near: float | Tensor, far: float | Tensor, step: float
    ) -> tuple[Tensor, Tensor, Tensor]:
        """Packed intervals along rays [R, 3] in occupied space.

        With [t0, t1] the part of [near, far] inside the box (``ray_aabb_intersect``), ray r gets the
        intervals [t0 + k step, min(t0 + (k + 1) step, t1)], k < ceil((t1 - t0) / step); an interval is
        kept when ``query`` of its midpoint is True. t is the ray parameter of rays_d as given.
        Returns (ray_indices [M] int64 sorted, t_starts [M], t_ends [M]).
        """
        t0, t1, hit = ray_aabb_intersect(rays_o, rays_d, self.aabb_min, self.aabb_max, near, far)
        t1 = torch.where(hit, t1, t0)
        ray_indices, t_starts = packed_uniform_steps(t0, t1, step)
        t_ends = torch.minimum(t_starts + step, t1[ray_indices])
        mid = rays_o[ray_indices] + rays_d[ray_indices] * ((t_starts + t_ends) * 0.5)[:, None]
        keep = torch.nonzero(self.query(mid)).squeeze(1)
        return ray_indices[keep], t_starts[keep], t_ends[keep]

    def get_extra_state(self) -> dict:
        return {"generator": self.generator.get_state()}

    def set_extra_state(self, state: dict) -> None:
        self.generator.set_state(state["generator"])

    def extra_repr(self) -> str:
        return f"resolution={self.resolution}, occupied={self.binaries.float().mean().item():.4f}"
