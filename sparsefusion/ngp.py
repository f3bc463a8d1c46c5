"""Instant-NGP field for distillation (torch-ngp / stable-dreamfusion ``NeRFNetwork``) on ``common.fields.HashGrid``.

Field over the box [-bound, bound]^3: h = MLP(HashGrid((x + bound) / (2 bound))) -> (s, a) with
    sigma(x) = trunc_exp(s + blob(x)),  blob(x) = blob_density * exp(-|x|^2 / (2 blob_radius^2))   (density blob)
    albedo(x) = sigmoid(a)
trunc_exp = exp with the exponent clamped at 15. Rendering: ``samples`` stratified (training) or midpoint
samples per ray between the ray's entry and exit of the box, alpha compositing (``common.render``), black
background. ``render`` returns rgb [R, 3] and the silhouette / opacity [R].
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from common.cameras import get_rays, scale_intrinsics
from common.fields.hashgrid import HashGrid
from common.render.aabb import ray_aabb_intersect
from common.render.composite import accumulated_opacity, composite
from common.render.weights import weights_from_density


def trunc_exp(x: Tensor) -> Tensor:
    return torch.exp(x.clamp(max=15.0))


class NGP(nn.Module):
    def __init__(
        self,
        bound: float = 1.5,
        levels: int = 16,
        log2_table: int = 16,
        max_resolution: int = 2048,
        mlp_width: int = 64,
        blob_density: float = 5.0,
        blob_radius: float = 0.2,
        samples: int = 128,
    ):
        super().__init__()
        self.bound, self.samples = bound, samples
        self.blob_density, self.blob_radius = blob_density, blob_radius
        self.grid = HashGrid(levels, 2, log2_table, 16, max_resolution)
        self.mlp = nn.Sequential(
            nn.Linear(self.grid.out_dim, mlp_width), nn.ReLU(),
            nn.Linear(mlp_width, mlp_width), nn.ReLU(),
            nn.Linear(mlp_width, 4),
        )  # fmt: skip

    def param_groups(self, lr: float, grid_mult: float) -> list[dict]:
        return [
            {"name": "grid", "params": self.grid.parameters(), "lr": lr * grid_mult},
            {"name": "mlp", "params": self.mlp.parameters(), "lr": lr},
        ]

    def blob(self, x: Tensor) -> Tensor:
        return self.blob_density * torch.exp(-(x**2).sum(-1) / (2 * self.blob_radius**2))

    def field(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """x [..., 3] world points -> (sigma [...], albedo [..., 3])."""
        h = self.mlp(self.grid((x + self.bound) / (2 * self.bound)))
        return trunc_exp(h[..., 0] + self.blob(x)), torch.sigmoid(h[..., 1:])

    def render(self, rays_o: Tensor, rays_d: Tensor, generator: torch.Generator | None = None) -> dict:
        """rays [R, 3] -> {"rgb": [R, 3], "opacity": [R]}; stratified samples when ``generator`` is given."""
        lo = torch.full((3,), -self.bound, dtype=rays_o.dtype, device=rays_o.device)
        t0, t1, hit = ray_aabb_intersect(rays_o, rays_d, lo, -lo, near=0.05)
        t0, t1 = torch.where(hit, t0, torch.zeros_like(t0)), torch.where(hit, t1, torch.zeros_like(t1))
        n = self.samples
        u = torch.arange(n, dtype=rays_o.dtype, device=rays_o.device)[None]
        jitter = torch.rand(rays_o.shape[0], n, generator=generator) if generator is not None else 0.5
        width = (t1 - t0)[:, None] / n
        t = t0[:, None] + (u + jitter) * width
        x = rays_o[:, None] + t[..., None] * rays_d[:, None]
        sigma, albedo = self.field(x)
        weights, final, _ = weights_from_density(sigma, width.expand_as(sigma))
        return {"rgb": composite(weights, albedo, final, background=None), "opacity": accumulated_opacity(weights)}

    def render_image(self, K: Tensor, c2w: Tensor, size: int, res: int, generator=None, chunk: int = 4096) -> dict:
        """Render res x res for a camera (K of a size x size image) -> rgb [3, res, res], opacity [res, res]."""
        o, d = get_rays(scale_intrinsics(K, res / size), c2w, res, res)
        o, d = o.reshape(-1, 3), d.reshape(-1, 3)
        outs = [self.render(o[i : i + chunk], d[i : i + chunk], generator) for i in range(0, len(o), chunk)]
        rgb = torch.cat([x["rgb"] for x in outs]).reshape(res, res, 3).permute(2, 0, 1)
        return {"rgb": rgb, "opacity": torch.cat([x["opacity"] for x in outs]).reshape(res, res)}
