"""D-NeRF (official albertpumarola/D-NeRF ``DirectTemporalNeRF``) under the trainer's model protocol.

Per sample x at time t (t in [0, 1], from the ray dict's "time"):
  deformation  dx = T(gamma(x), gamma(t)): an 8 x 256 ReLU MLP on cat([PE_10(x) (63), PE_10(t) (21)]), the
               position encoding re-injected after layer 4 (``skips``), Linear(256, 3) out; dx = 0 at t = 0
               (``zero_canonical``: the canonical space is the scene at time 0);
  canonical    (rgb, sigma) = NeRF(gamma(x + dx), gamma(d)): the vanilla NeRF MLP (``common.fields.NeRF``).
Rendering is nerf-pytorch's (``s3im.models.nerf.sampling``): n_samples stratified samples in [near, far],
n_importance more from the coarse weights, the SAME network for both passes (D-NeRF's default
``use_two_models_for_fine=False``), white background; loss = mse(fine) + mse(coarse). S3IM (multiplex)
is added by the driver on the fine "rgb".
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from common.fields.encoding import encoding_dim, positional_encoding
from common.fields.nerf import NeRF
from common.render.sampling import points_from_t
from s3im.models.nerf.sampling import coarse_t, fine_t, render_samples

# D-NeRF configs/{lego,mutant}.txt + run_dnerf.py defaults
DEFAULTS: dict = {
    "netdepth": 8,
    "netwidth": 256,
    "skips": [4],
    "multires": 10,  # xyz (and time) PE frequencies
    "multires_time": 10,  # D-NeRF embeds time with the same multires as xyz
    "multires_views": 4,
    "n_samples": 64,
    "n_importance": 128,
    "perturb": True,
    "raw_noise_std": 0.0,
    "white_bkgd": True,
    "zero_canonical": True,
    "lrate": 5e-4,
    "netchunk": 8192,  # samples per network call (speed only)
}


def resolve_config(model_cfg: dict) -> dict:
    cfg = {k: v for k, v in model_cfg.items() if k != "name"}
    unknown = sorted(set(cfg) - set(DEFAULTS))
    if unknown:
        raise ValueError(f"unknown D-NeRF config key(s) {unknown}; valid keys: {sorted(DEFAULTS)}")
    return {**DEFAULTS, **cfg}


class DeformationNet(nn.Module):
    """dx [N, 3] = T(PE(x), PE(t)); see the module doc."""

    def __init__(self, depth: int = 8, width: int = 256, multires: int = 10, multires_time: int = 10, skips=(4,)):
        super().__init__()
        self.multires, self.multires_time, self.skips = int(multires), int(multires_time), tuple(skips)
        d_x, d_t = encoding_dim(3, self.multires), encoding_dim(1, self.multires_time)
        self.layers = nn.ModuleList(
            [nn.Linear(d_x + d_t, width)]
            + [nn.Linear(width + d_x if i in self.skips else width, width) for i in range(depth - 1)]
        )
        self.out = nn.Linear(width, 3)

    def forward(self, x: Tensor, t: Tensor) -> Tensor:
        pe = positional_encoding(x, self.multires)
        h = torch.cat([pe, positional_encoding(t, self.multires_time)], -1)
        for i, layer in enumerate(self.layers):
            h = F.relu(layer(h))
            if i in self.skips:
                h = torch.cat([pe, h], -1)
        return self.out(h)


class DNeRF(nn.Module):
    """Deformation + canonical NeRF.

    forward(batch, step) -> rgb, rgb_coarse, depth, acc, dx_norm (weighted |dx|);
    render(rays, chunk) -> rgb, depth, acc.
    """

    def __init__(self, cfg: dict, near: float, far: float):
        super().__init__()
        self.cfg = c = resolve_config(cfg)
        self.near, self.far = float(near), float(far)
        self.deform = DeformationNet(
            int(c["netdepth"]), int(c["netwidth"]), int(c["multires"]), int(c["multires_time"]), tuple(c["skips"])
        )
        self.canonical = NeRF(
            int(c["netdepth"]), int(c["netwidth"]), int(c["multires"]), int(c["multires_views"]), tuple(c["skips"])
        )

    def param_groups(self) -> list[dict]:
        return [{"name": "dnerf", "params": list(self.parameters()), "lr": float(self.cfg["lrate"])}]

    def query(self, pts: Tensor, times: Tensor, viewdirs: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """(rgb [R, S, 3], sigma_raw [R, S], dx [R, S, 3]) at points [R, S, 3] of rays with times [R]."""
        R, S, _ = pts.shape
        x = pts.reshape(-1, 3)
        t = times[:, None, None].expand(R, S, 1).reshape(-1, 1).to(x.dtype)
        d = viewdirs[:, None, :].expand(R, S, 3).reshape(-1, 3)
        step = max(1, int(self.cfg["netchunk"]))
        rgbs, sigmas, dxs = [], [], []
        for i in range(0, len(x), step):
            xi, ti = x[i : i + step], t[i : i + step]
            dx = self.deform(xi, ti)
            if self.cfg["zero_canonical"]:
                dx = torch.where(ti == 0, torch.zeros_like(dx), dx)
            rgb, sigma = self.canonical(xi + dx, d[i : i + step])
            rgbs.append(rgb)
            sigmas.append(sigma)
            dxs.append(dx)
        return torch.cat(rgbs).view(R, S, 3), torch.cat(sigmas).view(R, S), torch.cat(dxs).view(R, S, 3)

    def render_rays(self, rays: dict) -> dict[str, Tensor]:
        if "time" not in rays:
            raise ValueError("D-NeRF needs per-ray times: the scene has no 'times' (use a dnerf-format data set)")
        c, train = self.cfg, self.training
        o, d = rays["rays_o"], rays["rays_d"]
        viewdirs = rays.get("viewdirs", F.normalize(d, dim=-1))
        times = rays["time"]
        near = torch.full(o.shape[:1], self.near, dtype=o.dtype, device=o.device)
        far = torch.full(o.shape[:1], self.far, dtype=o.dtype, device=o.device)
        if "dir_norm" in rays:  # nerf-pytorch's near / far are camera z-depths (blender 2 / 6)
            near, far = near * rays["dir_norm"], far * rays["dir_norm"]
        perturb = train and bool(c["perturb"])
        noise = float(c["raw_noise_std"]) if train else 0.0
        bg = 1.0 if c["white_bkgd"] else None
        t_c = coarse_t(near, far, int(c["n_samples"]), perturb)
        rgb_c, sig_c, _ = self.query(points_from_t(o, d, t_c), times, viewdirs)
        coarse = render_samples(rgb_c, sig_c, t_c, noise, bg)
        if int(c["n_importance"]) == 0:
            return {"rgb": coarse["rgb"], "depth": coarse["depth"], "acc": coarse["acc"]}
        t_f = fine_t(t_c, coarse["weights"], int(c["n_importance"]), deterministic=not perturb)
        t_all = torch.sort(torch.cat([t_c, t_f], -1), -1).values
        rgb_f, sig_f, dx = self.query(points_from_t(o, d, t_all), times, viewdirs)
        fine = render_samples(rgb_f, sig_f, t_all, noise, bg)
        return {
            "rgb": fine["rgb"],
            "rgb_coarse": coarse["rgb"],
            "depth": fine["depth"],
            "acc": fine["acc"],
            "dx_norm": (torch.linalg.norm(dx, dim=-1) * fine["weights"]).sum(-1),
        }

    def forward(self, batch: dict, step: int | None = None) -> dict[str, Tensor]:
        return self.render_rays(batch)

    def losses(self, outputs: dict, batch: dict, step: int | None = None) -> dict[str, Tensor]:
        terms = {"mse": F.mse_loss(outputs["rgb"], batch["rgb"])}
        if "rgb_coarse" in outputs:
            terms["mse_coarse"] = F.mse_loss(outputs["rgb_coarse"], batch["rgb"])
        return terms

    @torch.no_grad()
    def render(self, rays: dict, chunk: int = 4096) -> dict[str, Tensor]:
        was = self.training
        self.eval()
        keys = ("rays_o", "rays_d", "viewdirs", "dir_norm", "time")
        outs = []
        for i in range(0, rays["rays_o"].shape[0], chunk):
            out = self.render_rays({k: rays[k][i : i + chunk] for k in keys if k in rays})
            outs.append({k: out[k] for k in ("rgb", "depth", "acc")})
        self.train(was)
        return {k: torch.cat([o[k] for o in outs]) for k in ("rgb", "depth", "acc")}
