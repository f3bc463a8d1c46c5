"""DirectVoxGO (Sun et al., CVPR 2022) in pure PyTorch: the shared voxel-grid radiance field and the
bounded model (coarse and fine stages).

Field: a density grid d(x) [1 channel] and a colour/feature grid k0(x), both trilinear (``DenseGrid``).
  * density -> alpha with the shifted softplus ("post-activation"):
        alpha = 1 - (1 + exp(d + b))^(-interval) = 1 - exp(-softplus(d + b) * interval),
        b = act_shift = log(1 / (1 - alpha_init) - 1), interval = stepsize * voxel_size / voxel_size_base,
    so alpha(d = 0) = alpha_init for interval 1.
  * colour: coarse stage (rgbnet_dim = 0) rgb = sigmoid(k0) with k0 3 channels; fine stage k0 has
    rgbnet_dim (12) channels and rgb = sigmoid(MLP([k0, v, sin(v 2^k), cos(v 2^k)], k < viewbase_pe)),
    MLP = Linear(39, 128)-ReLU-Linear(128, 128)-ReLU-Linear(128, 3) with the last bias 0.
Rendering (packed samples): sample, drop samples in known free space (mask cache), drop alpha <=
fast_color_thres, weights w_i = T_i alpha_i with T_i = exp(-sum_{j<i} tau_j), tau = -log(1 - alpha) =
softplus(d + b) * interval (``common.render.weights_from_optical_depth``), drop w_i <= fast_color_thres,
query colour only for the rest, rgb = sum_i w_i c_i + T_final * background.

Training protocol (``common.engine.trainer``; ``step`` is the trainer's 0-based iteration index and
the official 1-based ``global_step`` is step + 1, so e.g. pg_scale 1000 acts before the 1000th update):
``param_groups``, ``configure_optimizer`` (``MaskedAdam``), ``before_step`` (occupancy refresh at
(global_step + 500) % 1000 == 0, progressive grid scaling at ``pg_scale`` steps -> True = rebuild the
optimizer, fast_color_thres schedule), ``forward``, ``losses``, ``after_backward`` (TV gradient
injection). ``render_rays`` renders full images in eval mode.

View counts (bounded model, before training a stage): ``init_view_counts`` (official ``pervoxel_lr``:
density lr scaled per voxel by count / max count, nodes seen by <= 2 views leave the mask cache) and
``maskout_lt_nviews`` (mask cache keeps nodes seen by >= n views).

Config keys: see ``s3im.models.dvgo.build.DEFAULTS``. Not implemented: the near-clip loss and the
TensoRF-grid variant.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from common.fields import (
    DenseGrid,
    MaskGrid,
    grid_points,
    grid_resolution,
    normalize_to_grid,
    positional_encoding,
    sample_points,
)
from common.render import accumulate_along_rays, composite, distortion_loss, weights_from_optical_depth
from common.render.aabb import packed_uniform_steps, ray_aabb_intersect
from s3im.models.dvgo.losses import entropy_last, rgb_per_point
from s3im.models.dvgo.optim import MaskedAdam
from s3im.models.dvgo.tv import add_tv_grad_

# The official renderer (Alphas2Weights) stops a ray once its transmittance drops below 1e-3.
STOP_TRANSMITTANCE = 1e-3
# The official slab test replaces direction components equal to 0 by 1e-6.
ZERO_DIRECTION = 1e-6


def _schedule(value) -> dict[int, float]:
    """fast_color_thres as {step: value}; a plain number is {0: value}."""
    if isinstance(value, dict):
        return {int(k): float(v) for k, v in sorted(value.items(), key=lambda kv: int(kv[0]))}
    return {0: float(value)}


class VoxGOBase(nn.Module):
    """Grids, colour head, alpha activation, occupancy cache and the training hooks shared by the
    bounded (``DirectVoxGO``) and the contracted (``DirectContractedVoxGO``) models.

    Subclasses implement ``_sample(rays_o, rays_d) -> (pts [M,3], ray_indices [M], t_world [M],
    s [M], delta_s: float)`` with s the normalised distance and delta_s the step in s units used by
    the distortion loss.
    """

    def __init__(self, xyz_min: Tensor, xyz_max: Tensor, cfg: dict):
        super().__init__()
        self.cfg = dict(cfg)
        self.register_buffer("xyz_min", torch.as_tensor(xyz_min, dtype=torch.float32).clone())
        self.register_buffer("xyz_max", torch.as_tensor(xyz_max, dtype=torch.float32).clone())
        self.voxel_size_base = grid_resolution(self.xyz_min, self.xyz_max, cfg["num_voxels_base"])[0]
        self._set_grid_resolution(int(cfg["num_voxels"] / 2 ** len(cfg["pg_scale"])))
        self.register_buffer("act_shift", torch.tensor([math.log(1 / (1 - cfg["alpha_init"]) - 1)]))
        self.thres_schedule = _schedule(cfg["fast_color_thres"])
        self.fast_color_thres = self.thres_schedule[min(self.thres_schedule)]

        alpha0 = float(self.activate_density(torch.zeros(()), cfg["stepsize"] * self.voxel_size_ratio))
        if self.fast_color_thres >= alpha0:
            raise ValueError(
                f"DVGO config: fast_color_thres {self.fast_color_thres:g} >= the initial alpha {alpha0:g} "
                f"(alpha_init {cfg['alpha_init']:g}, stepsize {cfg['stepsize']:g}): every sample would be skipped; "
                "use about alpha_init * stepsize / 10"
            )
        self.density = DenseGrid(1, self.world_size, self.xyz_min, self.xyz_max)
        rgbnet_dim = int(cfg["rgbnet_dim"])
        self.k0 = DenseGrid(rgbnet_dim if rgbnet_dim > 0 else 3, self.world_size, self.xyz_min, self.xyz_max)
        self.rgbnet = None
        if rgbnet_dim > 0:
            pe, width, depth = int(cfg["viewbase_pe"]), int(cfg["rgbnet_width"]), int(cfg["rgbnet_depth"])
            self.rgbnet = nn.Sequential(
                nn.Linear(rgbnet_dim + 3 + 6 * pe, width),
                nn.ReLU(inplace=True),
                *[nn.Sequential(nn.Linear(width, width), nn.ReLU(inplace=True)) for _ in range(depth - 2)],
                nn.Linear(width, 3),
            )
            nn.init.constant_(self.rgbnet[-1].bias, 0)
        self.mask_cache = MaskGrid(torch.ones(self.world_size, dtype=torch.bool), self.xyz_min, self.xyz_max)
        self.per_lr: Tensor | None = None  # [1, 1, X, Y, Z] per-voxel lr factor of the density grid (pervoxel_lr)
        self._n_rays = 1

    # ----------------------------------------------------------------------------------- grids
    def _set_grid_resolution(self, num_voxels: int) -> None:
        self.num_voxels = int(num_voxels)
        self.voxel_size, self.world_size = grid_resolution(self.xyz_min, self.xyz_max, self.num_voxels)
        self.voxel_size_ratio = self.voxel_size / self.voxel_size_base

    def activate_density(self, density: Tensor, interval: float | None = None) -> Tensor:
        """alpha = 1 - exp(-softplus(density + act_shift) * interval); interval defaults to voxel_size_ratio."""
        interval = self.voxel_size_ratio if interval is None else interval
        return -torch.expm1(-F.softplus(density + self.act_shift) * interval)

    @torch.no_grad()
    def dense_alpha(self) -> Tensor:
        """[X, Y, Z] alpha of the density grid nodes (interval = voxel_size_ratio)."""
        return self.activate_density(self.density.grid)[0, 0]

    @torch.no_grad()
    def scale_volume_grid(self, num_voxels: int) -> None:
        """Trilinear upsampling of both grids to the resolution of ``num_voxels``; when the new grid has at
        most 256^3 nodes the mask cache is rebuilt at that resolution as
        old_mask(nodes) & (max_pool3d_3x3x3(alpha) > fast_color_thres)."""
        self._set_grid_resolution(num_voxels)
        self.density.scale_volume_grid(self.world_size)
        self.k0.scale_volume_grid(self.world_size)
        if math.prod(self.world_size) <= 256**3:
            alpha = F.max_pool3d(self.activate_density(self.density.grid), kernel_size=3, padding=1, stride=1)[0, 0]
            old = self.mask_cache(grid_points(self.xyz_min, self.xyz_max, self.world_size))
            self.mask_cache = MaskGrid(old & (alpha > self.fast_color_thres), self.xyz_min, self.xyz_max)

    @torch.no_grad()
    def update_occupancy_cache(self) -> None:
        """mask &= max_pool3d_3x3x3(alpha at the mask nodes) > fast_color_thres."""
        mask = self.mask_cache.mask
        alpha = self.activate_density(self.density(grid_points(self.xyz_min, self.xyz_max, mask.shape)))
        alpha = F.max_pool3d(alpha[None, None], kernel_size=3, padding=1, stride=1)[0, 0]
        self.mask_cache.mask &= alpha > self.fast_color_thres

    # ------------------------------------------------------------------------------- rendering
    def _sample(self, rays_o: Tensor, rays_d: Tensor):
        raise NotImplementedError

    def _color(self, pts: Tensor, viewdirs: Tensor, ray_indices: Tensor) -> Tensor:
        k0 = self.k0(pts)
        if self.rgbnet is None:
            return torch.sigmoid(k0)
        emb = positional_encoding(viewdirs, int(self.cfg["viewbase_pe"]), layout="dvgo")[ray_indices]
        return torch.sigmoid(self.rgbnet(torch.cat([k0, emb], -1)))

    def _sample_occupied(self, rays_o: Tensor, rays_d: Tensor):
        """``_sample`` restricted to the mask cache's occupied space -> (pts [M, 3], ray_indices [M],
        t [M], s [M], delta_s)."""
        pts, ray_indices, t, s, delta_s = self._sample(rays_o, rays_d)
        keep = torch.nonzero(self.mask_cache(pts)).squeeze(1)
        return pts[keep], ray_indices[keep], t[keep], s[keep], delta_s

    def render_packed(self, rays_o: Tensor, rays_d: Tensor, viewdirs: Tensor, background) -> dict[str, Tensor]:
        """Volume rendering of rays [R, 3]; background: float, [3] or [R, 3].

        Per sample: tau = softplus(density + act_shift) * interval (optical depth, alpha = 1 - exp(-tau));
        samples with alpha <= fast_color_thres are dropped, weights come from the exclusive transmittance
        exp(-sum of the earlier tau) with early termination at T < 1e-3 (``weights_from_optical_depth``),
        samples with weight <= fast_color_thres are dropped, and only the rest query the colour.
        Returns rgb [R, 3], depth [R] (sum_i w_i t_i, world units, not normalised), acc [R] = 1 - T_final,
        final_transmittance [R], and the kept packed samples: weights [M], raw_rgb [M, 3],
        ray_indices [M], s [M] and the 0-d delta_s for the losses.
        """
        n_rays = len(rays_o)
        pts, ray_indices, t, s, delta_s = self._sample_occupied(rays_o, rays_d)
        interval = self.cfg["stepsize"] * self.voxel_size_ratio
        tau = F.softplus(self.density(pts) + self.act_shift) * interval
        thres = self.fast_color_thres
        sel = None  # indices into the occupied samples of the samples still in play
        if thres > 0:
            sel = torch.nonzero(-torch.expm1(-tau.detach()) > thres).squeeze(1)
            tau, ray_indices = tau[sel], ray_indices[sel]
        weights, final_t, _ = weights_from_optical_depth(tau, ray_indices, n_rays, STOP_TRANSMITTANCE)
        if thres > 0:
            keep = torch.nonzero(weights.detach() > thres).squeeze(1)
            weights, ray_indices = weights[keep], ray_indices[keep]
            sel = sel[keep]
        if sel is not None:
            pts, t, s = pts[sel], t[sel], s[sel]
        rgb = self._color(pts, viewdirs, ray_indices)
        return {
            "rgb": composite(weights, rgb, final_t, background, ray_indices, n_rays),
            "depth": accumulate_along_rays(weights, t[:, None], ray_indices, n_rays)[:, 0],
            "acc": 1 - final_t,
            "final_transmittance": final_t,
            "weights": weights,
            "raw_rgb": rgb,
            "ray_indices": ray_indices,
            "s": s,
            "delta_s": torch.tensor(float(delta_s), device=rays_o.device),
        }

    def _background(self, n_rays: int, device) -> Tensor | float:
        if self.training and self.cfg["rand_bkgd"]:
            return torch.rand(n_rays, 3, device=device)
        return 1.0 if self.cfg["white_bkgd"] else 0.0

    def forward(self, batch: dict, step: int | None = None) -> dict[str, Tensor]:
        """batch: rays_o [R, 3], rays_d [R, 3], optional viewdirs [R, 3] (default: normalised rays_d)."""
        rays_o, rays_d = batch["rays_o"], batch["rays_d"]
        viewdirs = batch.get("viewdirs")
        if viewdirs is None:
            viewdirs = rays_d / rays_d.norm(dim=-1, keepdim=True)
        if self.training:
            self._n_rays = len(rays_o)
        return self.render_packed(rays_o, rays_d, viewdirs, self._background(len(rays_o), rays_o.device))

    @torch.no_grad()
    def render_rays(
        self, rays_o: Tensor, rays_d: Tensor, viewdirs: Tensor | None = None, chunk: int = 8192, background=None
    ) -> dict[str, Tensor]:
        """Eval-mode rendering in chunks -> dict(rgb [R, 3], depth [R], acc [R]). background None: white
        when ``white_bkgd`` else black."""
        was_training = self.training
        self.eval()
        if viewdirs is None:
            viewdirs = rays_d / rays_d.norm(dim=-1, keepdim=True)
        bg = background if background is not None else (1.0 if self.cfg["white_bkgd"] else 0.0)
        outs = []
        for i in range(0, len(rays_o), chunk):
            sl = slice(i, i + chunk)
            bg_i = bg[sl] if torch.is_tensor(bg) and bg.dim() == 2 else bg
            o = self.render_packed(rays_o[sl], rays_d[sl], viewdirs[sl], bg_i)
            outs.append({k: o[k] for k in ("rgb", "depth", "acc")})
        self.train(was_training)
        return {k: torch.cat([o[k] for o in outs]) for k in ("rgb", "depth", "acc")}

    def render(self, rays: dict, chunk: int = 8192) -> dict[str, Tensor]:
        """The driver's evaluation protocol: ``rays`` with "rays_o", "rays_d" [R, 3] (and optionally
        "viewdirs") -> ``render_rays`` (rgb [R, 3], depth [R], acc [R])."""
        return self.render_rays(rays["rays_o"], rays["rays_d"], rays.get("viewdirs"), chunk=chunk)

    # -------------------------------------------------------------------------------- training
    def losses(self, outputs: dict, batch: dict, step: int | None = None) -> dict[str, Tensor]:
        """Weighted loss terms: mse, entropy_last, rgbper, distortion (those with a non-zero weight)."""
        cfg, target = self.cfg, batch["rgb"]
        n_rays = len(target)
        out = {"mse": cfg["weight_main"] * F.mse_loss(outputs["rgb"], target)}
        if cfg["weight_entropy_last"] > 0:
            out["entropy_last"] = cfg["weight_entropy_last"] * entropy_last(outputs["final_transmittance"])
        if cfg["weight_rgbper"] > 0:
            out["rgbper"] = cfg["weight_rgbper"] * rgb_per_point(
                outputs["weights"], outputs["raw_rgb"], target, outputs["ray_indices"], n_rays
            )
        if cfg["weight_distortion"] > 0:
            out["distortion"] = cfg["weight_distortion"] * distortion_loss(
                outputs["weights"], outputs["s"], outputs["delta_s"], outputs["ray_indices"], n_rays
            )
        return out

    def param_groups(self) -> list[dict]:
        """Groups density / k0 / rgbnet with the official base lrs; a group with lr 0 is frozen. With view
        counts (``init_view_counts``) the density group carries "per_lr" [1, 1, X, Y, Z] (official
        ``set_pervoxel_lr``: density only, and only while the grid keeps the counted shape)."""
        groups = []
        for name in ("density", "k0", "rgbnet"):
            module, lr = getattr(self, name), float(self.cfg[f"lrate_{name}"])
            if module is None:
                continue
            params = list(module.parameters())
            if lr > 0:
                skip = name in self.cfg["skip_zero_grad_fields"]
                group = {"name": name, "params": params, "lr": lr, "skip_zero_grad": skip}
                if name == "density" and self.per_lr is not None and self.per_lr.shape == self.density.grid.shape:
                    group["per_lr"] = self.per_lr
                groups.append(group)
            else:
                for p in params:
                    p.requires_grad_(False)
        return groups

    def configure_optimizer(self, betas=(0.9, 0.99), eps: float = 1e-8) -> MaskedAdam:
        return MaskedAdam(self.param_groups(), betas=tuple(betas), eps=eps)

    def fast_color_thres_at(self, global_step: int) -> float:
        """The scheduled threshold: value of the largest schedule key <= global_step."""
        keys = [k for k in self.thres_schedule if k <= global_step]
        return self.thres_schedule[max(keys)] if keys else self.thres_schedule[min(self.thres_schedule)]

    @torch.no_grad()
    def before_step(self, step: int) -> bool:
        """Official start-of-iteration work (global_step = step + 1), in order: occupancy refresh when
        (global_step + 500) % 1000 == 0; progressive scaling when global_step is in pg_scale (grids
        upsampled to num_voxels / 2^(remaining scales), act_shift -= decay_after_scale); then the
        fast_color_thres schedule. Returns True when the parameters were replaced (the optimizer must
        be rebuilt, lrs reset to base)."""
        cfg, global_step = self.cfg, step + 1
        if (global_step + 500) % 1000 == 0:
            self.update_occupancy_cache()
        rebuilt = False
        if global_step in cfg["pg_scale"]:
            n_rest = len(cfg["pg_scale"]) - list(cfg["pg_scale"]).index(global_step) - 1
            self.scale_volume_grid(int(cfg["num_voxels"] / 2**n_rest))
            self.act_shift -= cfg["decay_after_scale"]
            rebuilt = True
        self.fast_color_thres = self.fast_color_thres_at(global_step)
        return rebuilt

    @torch.no_grad()
    def after_backward(self, step: int) -> None:
        """TV gradient injection for tv_after < global_step < tv_before, every tv_every steps:
        w = weight_tv * world_size.max() / 128 / N_rand, dense while global_step < tv_dense_before."""
        cfg, global_step = self.cfg, step + 1
        if not (cfg["tv_after"] < global_step < cfg["tv_before"] and global_step % cfg["tv_every"] == 0):
            return
        dense = global_step < cfg["tv_dense_before"]
        scale = max(self.world_size) / 128 / self._n_rays
        for name in ("density", "k0"):
            weight = cfg[f"weight_tv_{name}"]
            if weight > 0:
                add_tv_grad_(getattr(self, name).grid, weight * scale, dense)

    # ------------------------------------------------------------------------------ checkpoint
    def get_extra_state(self) -> dict:
        return {"num_voxels": self.num_voxels, "fast_color_thres": self.fast_color_thres, "per_lr": self.per_lr}

    def set_extra_state(self, state: dict) -> None:
        self._set_grid_resolution(int(state["num_voxels"]))
        self.fast_color_thres = float(state["fast_color_thres"])
        self.per_lr = state.get("per_lr")


class DirectVoxGO(VoxGOBase):
    """Bounded DVGO over the box [xyz_min, xyz_max] (coarse stage: rgbnet_dim 0; fine: rgbnet_dim 12).

    Samples: slab test against the box with t clamped to [near, 1e9] (the official far is ignored:
    rays stop at the box), uniform steps of stepsize * voxel_size, out-of-box samples dropped; the
    mask-cache lookup is fused into the same selection (one compaction for both tests).
    """

    def __init__(self, xyz_min: Tensor, xyz_max: Tensor, cfg: dict, near: float, mask: Tensor | None = None):
        super().__init__(xyz_min, xyz_max, cfg)
        self.near = float(near)
        if mask is not None:
            self.mask_cache = MaskGrid(mask, self.xyz_min, self.xyz_max)

    def _steps(self, rays_o: Tensor, rays_d: Tensor):
        """All uniform steps from the box entry: (pts [M, 3], ray_indices [M], t [M], inside [M] bool)."""
        rays_d = rays_d / rays_d.norm(dim=-1, keepdim=True)
        stepdist = self.cfg["stepsize"] * self.voxel_size
        t_near, t_far, _ = ray_aabb_intersect(
            rays_o, rays_d, self.xyz_min, self.xyz_max, self.near, 1e9, ZERO_DIRECTION
        )
        ray_indices, t = packed_uniform_steps(t_near, t_far, stepdist, min_steps=1)
        pts = rays_o[ray_indices] + rays_d[ray_indices] * t[:, None]
        inside = ((pts >= self.xyz_min) & (pts <= self.xyz_max)).all(-1)
        return pts, ray_indices, t, inside

    def _sample(self, rays_o: Tensor, rays_d: Tensor):
        pts, ray_indices, t, inside = self._steps(rays_o, rays_d)
        keep = torch.nonzero(inside).squeeze(1)
        return self._with_s(pts[keep], ray_indices[keep], t[keep])

    def _with_s(self, pts: Tensor, ray_indices: Tensor, t: Tensor):
        diag = float((self.xyz_max - self.xyz_min).norm())
        return pts, ray_indices, t, t / diag, self.cfg["stepsize"] * self.voxel_size / diag

    def _occupied(self, pts: Tensor, inside: Tensor) -> Tensor:
        """[M] bool: inside the box and on an occupied mask-cache node (nearest-node lookup; for in-box
        points the rounded index is always within the grid)."""
        mask = self.mask_cache.mask
        size = torch.tensor(mask.shape, device=pts.device)
        scale = (size - 1) / (self.mask_cache.xyz_max - self.mask_cache.xyz_min)
        ijk = torch.round((pts - self.mask_cache.xyz_min) * scale).long()
        ijk = torch.minimum(ijk.clamp(min=0), size - 1)
        flat = (ijk[:, 0] * mask.shape[1] + ijk[:, 1]) * mask.shape[2] + ijk[:, 2]
        return inside & mask.reshape(-1)[flat]

    def _sample_occupied(self, rays_o: Tensor, rays_d: Tensor):
        pts, ray_indices, t, inside = self._steps(rays_o, rays_d)
        keep = torch.nonzero(self._occupied(pts, inside)).squeeze(1)
        return self._with_s(pts[keep], ray_indices[keep], t[keep])

    @torch.no_grad()
    def maskout_near_cam_vox(self, cam_centers: Tensor, near: float) -> None:
        """density = -100 at grid nodes within distance ``near`` of any camera centre [N, 3]."""
        pts = grid_points(self.xyz_min, self.xyz_max, self.world_size).reshape(-1, 3)
        nearest = torch.cat([torch.cdist(p, cam_centers).amin(-1) for p in pts.split(65536)])
        self.density.grid[0, 0][nearest.reshape(self.world_size) <= near] = -100

    @torch.no_grad()
    def hit_mask_cache(self, rays_o: Tensor, rays_d: Tensor, chunk: int = 8192) -> Tensor:
        """[R] bool: the ray has a sample in occupied (mask-cache) space (official ``hit_coarse_geo``);
        the fine stage's ``in_maskcache`` ray sampler trains only on these rays."""
        hits = []
        for o, d in zip(rays_o.split(chunk), rays_d.split(chunk)):
            pts, ray_indices, _, inside = self._steps(o, d)
            hit = torch.zeros(len(o), dtype=torch.bool, device=o.device)
            hit[ray_indices[self._occupied(pts, inside)]] = True
            hits.append(hit)
        return torch.cat(hits)

    def _count_samples(self, rays_o: Tensor, rays_d: Tensor) -> Tensor:
        """Samples of the official ``voxel_count_views``: n = int(|world_size + 1| / stepsize) + 1 steps of
        stepsize * voxel_size from the box entry t_min (clamped to [near, 1e9]) along every ray, whether
        or not they are still in the box. Only points within one voxel of the box can touch a grid node
        (trilinear weights, zero padding), so the rest are dropped here. Returns pts [M, 3]."""
        rays_d = rays_d / rays_d.norm(dim=-1, keepdim=True)
        n = int(math.sqrt(sum((w + 1) ** 2 for w in self.world_size)) / self.cfg["stepsize"]) + 1
        vec = torch.where(rays_d == 0, torch.full_like(rays_d, ZERO_DIRECTION), rays_d)
        rate_a, rate_b = (self.xyz_max - rays_o) / vec, (self.xyz_min - rays_o) / vec
        t_min = torch.minimum(rate_a, rate_b).amax(-1).clamp(min=self.near, max=1e9)
        steps = torch.arange(n, device=rays_o.device, dtype=rays_o.dtype) * (self.cfg["stepsize"] * self.voxel_size)
        pts = (rays_o[:, None] + rays_d[:, None] * (t_min[:, None] + steps)[..., None]).reshape(-1, 3)
        cell = (self.xyz_max - self.xyz_min) / (torch.tensor(self.world_size, device=pts.device) - 1)
        near_box = ((pts > self.xyz_min - cell) & (pts < self.xyz_max + cell)).all(-1)
        return pts[near_box]

    @torch.no_grad()
    def voxel_count_views(self, views, samples: str = "official") -> Tensor:
        """[X, Y, Z] int: for each grid node, the number of views whose rays "see" it (official
        ``voxel_count_views``): per view, the sum over all its samples of the node's trilinear weight
        (the gradient of sum(grid(pts)) w.r.t. the grid) is > 1.

        views: iterable of (rays_o [P, 3], rays_d [P, 3]), one item per view. samples: "official" (the
        pervoxel-lr sampling, ``_count_samples``) or "render" (the in-box samples of rendering, as the
        official ``update_occupancy_cache_lt_nviews``).
        """
        count = torch.zeros(self.world_size, dtype=torch.long, device=self.xyz_min.device)
        for rays_o, rays_d in views:
            grid = torch.zeros(1, 1, *self.world_size, device=count.device, requires_grad=True)
            with torch.enable_grad():
                for o, d in zip(rays_o.split(8192), rays_d.split(8192)):
                    pts = self._count_samples(o, d) if samples == "official" else self._sample(o, d)[0]
                    ind = normalize_to_grid(pts.reshape(-1, 3), self.xyz_min, self.xyz_max)
                    sample_points(grid, ind).sum().backward()
            count += (grid.grad[0, 0] > 1).long()
        return count

    @torch.no_grad()
    def init_view_counts(self, views, maskout_nviews: int = 2) -> Tensor:
        """The official coarse-stage ``pervoxel_lr`` set-up: count = ``voxel_count_views``, the density
        grid's per-voxel lr factor = count / max(count) (used by ``configure_optimizer``), and nodes seen
        by <= ``maskout_nviews`` views leave the mask cache. Returns the count [X, Y, Z]."""
        count = self.voxel_count_views(views)
        self.per_lr = (count.float() / count.max().clamp(min=1))[None, None]
        self.mask_cache.mask &= count > maskout_nviews
        return count

    @torch.no_grad()
    def maskout_lt_nviews(self, views, n_views: int) -> Tensor:
        """Official ``update_occupancy_cache_lt_nviews``: mask &= (views seeing the node >= n_views),
        counted with the rendering samples. Returns the count [X, Y, Z]."""
        count = self.voxel_count_views(views, samples="render")
        self.mask_cache.mask &= count >= n_views
        return count
