"""NeuS (official Totoro97/NeuS ``exp_runner.py`` + ``renderer.py``) under the trainer's model protocol.

Per batch of R rays (unit directions, scene normalised so that the region of interest is the unit sphere):
  1. near, far = mid -/+ 1 (``near_far_from_sphere``); S = n_samples uniform t in [near, far], jittered in
     training by one shared offset per ray, (u - 0.5) * 2 / S;
  2. up-sampling without gradients: sdf at the S samples, then ``up_sample_steps`` rounds of
     n_importance / steps new samples from the fixed-sharpness weights with inv_s = 64 * 2^i, the sdf of the
     new samples evaluated except after the last round;
     (``grid_coarse_to_fine`` = [k0, n]: the grid levels >= k0 + step // n read 0 in training, Neuralangelo)
  3. optional NeRF++ background (``n_outside`` > 0): inverse-depth samples outside the sphere;
  4. render core on all S + n_importance samples at the section mid-points t + dist / 2: sdf, feature and
     gradient from ONE SDF-network pass (``SDFNetwork.sdf_and_gradient``; the official code runs the network
     twice, once for the values and once inside ``gradient``: same values), colour network, alpha from sdf
     (``renderer.sdf_alpha``, cos annealing r = min(1, step / anneal_end); with ``inv_s_floor`` = [s0, s1] the
     sharpness is max(learned inv_s, s0 (s1 / s0)^min(1, step / inv_s_floor_steps)), s1 in evaluation; off by
     default, the official learned inv_s), background blended outside the
     sphere, weights w_i = alpha_i prod (1 - alpha_j + 1e-7);
  5. losses: colour = sum |(c - c_gt) m| / (sum m + 1e-5) (L1 summed over channels, divided by the rays);
     eikonal = igr_weight * mean over samples with |x| < 1.2 of (|grad| - 1)^2; mask = mask_weight *
     BCE(clip(sum w, 1e-3, 1 - 1e-3), m) (m = the foreground mask when mask_weight > 0, else 1).
     Multiplex training adds lambda * S3IM on "rgb" (the driver's extra loss, as sdfstudio's hook).
Quick-profile options (defaults official / off; models/neus/README.md "Quick profile"): ``grid_box`` (the grid's
box, "scene" = the normalised scene box), ``color_normal`` ("detach": the colour's normal input carries no gradient
into the SDF).

Speed: the networks run on ``netchunk`` points at a time (whole rays), so every [points, 256] temporary
stays below glibc's mmap threshold and is reused instead of page-faulted anew each step; on the CPU their
matrix products go through NumPy's OpenBLAS (``matmul: numpy``, see ``s3im.models.neus.blas``). The SDF gradient
is explicit (``SDFNetwork.sdf_and_gradient``: a hand-differentiated forward + reverse sweep, first-order backward
only, no double backward) and the up-sampling sdf evaluates only the output layer's sdf row.
``render`` evaluates deterministically (no jitter) with gradients for the normals but no graph.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from s3im.models.neus.grid_encoding import MultiResDenseGrid
from s3im.models.neus.network import (
    GRADIENTS,
    BackgroundNeRF,
    ColorNetwork,
    SDFNetwork,
    SingleVariance,
    set_backend,
)
from s3im.models.neus.renderer import (
    background_t,
    merge_sorted,
    near_far_from_sphere,
    sdf_alpha,
    section_lengths,
    up_sample,
    weights_from_alpha,
)

# official confs/wmask.conf (womask.conf: n_outside 32, anneal_end 50000, mask_weight 0)
DEFAULTS: dict = {
    "d_feature": 256,  # SDF feature width
    "sdf_hidden": 256,  # SDF network width
    "sdf_layers": 8,  # SDF network hidden layers
    "skip_in": [4],  # layers that re-inject the encoded input
    "multires": 6,  # SDF positional-encoding frequencies
    "bias": 0.5,  # geometric-init sphere radius
    "scale": 1.0,  # SDF input scale
    "sdf_encoding": "pe",  # pe: the official PE + MLP | grid: multi-resolution dense grid + small MLP
    "grid_levels": 4,  # grid encoding: levels, R_min..R_max nodes per axis (geometric), features per level
    "grid_min_res": 16,
    "grid_max_res": 128,
    "grid_features": 2,
    "grid_init_std": 1e-4,  # grid features ~ U(-std, std)
    "grid_box": None,  # the grid box [[lo x, y, z], [hi x, y, z]] (normalised frame); None / []: [-1, 1]^3;
    # "scene": the normalised scene box (resolved by the family, s3im.models.neus.family)
    "grid_coarse_to_fine": [],  # [k0, n]: levels 0..k0-1 active at step 0, one more every n steps; []: all
    "grid_lrate": 1e-2,  # Adam learning rate of the grid features (own param group "grid")
    "variance_lrate": 0.0,  # Adam learning rate of the variance (own group "variance"); 0: lrate, in "neus"
    "sdf_gradient": "analytic",  # d sdf / d x: analytic (autograd) | numerical (central differences)
    "fd_eps": 0.0,  # numerical-gradient step; 0: the finest grid cell (grid) or 1e-3 (pe)
    "geometric_init": True,
    "weight_norm": True,
    "inside_outside": False,  # True for rooms seen from inside (sdf > 0 inside the sphere at init)
    "color_normal": "input",  # the colour network's normal input: input (official) | detach (no colour gradient into
    # the geometry through the normal; the SDF learns from alpha only) | none (zeros)
    "color_hidden": 256,
    "color_layers": 4,
    "multires_view": 4,
    "init_variance": 0.3,  # inv_s = exp(10 * variance)
    "inv_s_floor": [],  # [s0, s1]: inv_s >= s0 (s1 / s0)^min(1, step / inv_s_floor_steps); []: off (official)
    "inv_s_floor_steps": 0,  # steps of the floor's geometric rise (evaluation, step None: s1)
    "n_samples": 64,
    "n_importance": 64,
    "up_sample_steps": 4,
    "n_outside": 0,  # NeRF++ background samples (womask: 32)
    "perturb": True,
    "anneal_end": 0,  # cos-anneal steps (womask: 50000)
    "igr_weight": 0.1,  # eikonal weight
    "mask_weight": 0.1,  # mask BCE weight (womask: 0)
    "white_bkgd": False,
    "lrate": 5e-4,  # Adam learning rate (schedule: train.lr_schedule warmup_cosine)
    "netchunk": 8192,  # points per network call (speed only)
    "matmul": "numpy",  # CPU matrix products of the SDF / colour networks: numpy (OpenBLAS) | torch (speed only)
    "mesh_resolution": 512,  # marching-cubes grid for the final mesh (official validate_mesh)
    "mesh_threshold": 0.0,
}


ENCODINGS = ("pe", "grid")
COLOR_NORMAL = ("input", "detach", "none")


def build_grid(c: dict) -> MultiResDenseGrid | None:
    """The SDF input grid of the config (``sdf_encoding: grid``), else None."""
    if c["sdf_encoding"] != "grid":
        return None
    return MultiResDenseGrid(
        n_levels=int(c["grid_levels"]),
        n_features=int(c["grid_features"]),
        min_res=int(c["grid_min_res"]),
        max_res=int(c["grid_max_res"]),
        init_std=float(c["grid_init_std"]),
        box=grid_box(c["grid_box"]),
    )


def grid_box(box) -> tuple[list[float], list[float]] | None:
    """``grid_box`` as (lo [3], hi [3]), None for [] (the cube [-1, 1]^3)."""
    if box is None or (isinstance(box, (list, tuple)) and len(box) == 0):
        return None
    if isinstance(box, str):
        raise ValueError(
            f"NeuS grid_box {box!r} must be resolved to [[lo], [hi]] before building the model (the family "
            "resolves 'scene' to the normalised scene box)"
        )
    try:
        lo, hi = ([float(v) for v in b] for b in box)
    except (TypeError, ValueError):
        raise ValueError(f"NeuS grid_box must be [] or [[lo x, y, z], [hi x, y, z]], got {box!r}") from None
    if len(lo) != 3 or len(hi) != 3 or any(h <= low for low, h in zip(lo, hi)):
        raise ValueError(f"NeuS grid_box must be [] or [[lo x, y, z], [hi x, y, z]] with hi > lo, got {box!r}")
    return lo, hi


def resolve_config(model_cfg: dict) -> dict:
    """DEFAULTS <- the ``model:`` subtree (minus ``name``), validated."""
    cfg = {k: v for k, v in model_cfg.items() if k != "name"}
    unknown = sorted(set(cfg) - set(DEFAULTS))
    if unknown:
        raise ValueError(f"unknown NeuS config key(s) {unknown}; valid keys: {sorted(DEFAULTS)}")
    out = {**DEFAULTS, **cfg}
    if out["sdf_encoding"] not in ENCODINGS:
        raise ValueError(f"NeuS sdf_encoding must be one of {ENCODINGS}, got {out['sdf_encoding']!r}")
    if out["sdf_gradient"] not in GRADIENTS:
        raise ValueError(f"NeuS sdf_gradient must be one of {GRADIENTS}, got {out['sdf_gradient']!r}")
    if int(out["n_samples"]) < 2:
        raise ValueError(f"NeuS n_samples must be >= 2, got {out['n_samples']}")
    steps, imp = int(out["up_sample_steps"]), int(out["n_importance"])
    if imp > 0 and (steps < 1 or imp % steps):
        raise ValueError(f"NeuS n_importance ({imp}) must be a multiple of up_sample_steps ({steps})")
    floor = out["inv_s_floor"]
    if floor is None or floor == 0:
        floor = out["inv_s_floor"] = []
    if not isinstance(floor, (list, tuple)) or len(floor) not in (0, 2):
        raise ValueError(f"NeuS inv_s_floor must be [] (off) or [start, end], got {floor!r}")
    if floor:
        s0, s1 = (float(v) for v in floor)
        if not (0 < s0 <= s1) or int(out["inv_s_floor_steps"]) < 0:
            raise ValueError(
                f"NeuS inv_s_floor needs 0 < start <= end and inv_s_floor_steps >= 0, got {list(floor)}, "
                f"{out['inv_s_floor_steps']}"
            )
    if not isinstance(out["grid_box"], str):
        grid_box(out["grid_box"])
    elif out["grid_box"] != "scene":
        raise ValueError(f"NeuS grid_box must be [], 'scene' or [[lo], [hi]], got {out['grid_box']!r}")
    if out["color_normal"] not in COLOR_NORMAL:
        raise ValueError(f"NeuS color_normal must be one of {COLOR_NORMAL}, got {out['color_normal']!r}")
    c2f = out["grid_coarse_to_fine"]
    if c2f is None or c2f == 0:
        c2f = out["grid_coarse_to_fine"] = []
    if not isinstance(c2f, (list, tuple)) or len(c2f) not in (0, 2) or (c2f and (int(c2f[0]) < 1 or int(c2f[1]) < 1)):
        raise ValueError(f"NeuS grid_coarse_to_fine must be [] (off) or [start_levels >= 1, steps >= 1], got {c2f!r}")
    return out


def active_levels(c2f, n_levels: int, step: int | None) -> int | None:
    """Grid levels in use at ``step`` under ``grid_coarse_to_fine`` = [k0, n]: min(L, k0 + step // n); None (all)
    when off or in evaluation (``step`` None)."""
    if not c2f or step is None:
        return None
    k0, every = int(c2f[0]), int(c2f[1])
    return min(int(n_levels), k0 + int(step) // every)


def inv_s_floor(floor, steps: int, step: int | None) -> float:
    """The sharpness floor at ``step``: s0 (s1 / s0)^min(1, step / steps) (geometric rise); s1 when ``step`` is None
    (evaluation) or ``steps`` is 0; 0 when ``floor`` is empty (off)."""
    if not floor:
        return 0.0
    s0, s1 = float(floor[0]), float(floor[1])
    if step is None or steps <= 0:
        return s1
    return s0 * (s1 / s0) ** min(1.0, step / steps)


class NeuS(nn.Module):
    """SDF + colour + variance (+ background) networks with NeuS rendering; see the module doc.

    forward(batch, step) -> rgb [R, 3], weight_sum [R], gradient_error (scalar), depth [R];
    losses(outputs, batch, step) -> {"color", "eikonal", "mask"}; render(rays, chunk) -> rgb, depth, acc, normal.
    """

    def __init__(self, cfg: dict):
        super().__init__()
        self.cfg = c = resolve_config(cfg)
        grid = build_grid(c)
        fd_eps = float(c["fd_eps"]) or (grid.finest_cell if grid is not None else 1e-3)
        self.sdf_network = SDFNetwork(
            d_feature=int(c["d_feature"]),
            d_hidden=int(c["sdf_hidden"]),
            n_layers=int(c["sdf_layers"]),
            skip_in=tuple(c["skip_in"]),
            multires=int(c["multires"]),
            bias=float(c["bias"]),
            scale=float(c["scale"]),
            geometric_init=bool(c["geometric_init"]),
            weight_norm=bool(c["weight_norm"]),
            inside_outside=bool(c["inside_outside"]),
            grid=grid,
            gradient=str(c["sdf_gradient"]),
            fd_eps=fd_eps,
        )
        self.deviation_network = SingleVariance(float(c["init_variance"]))
        self.color_network = ColorNetwork(
            d_feature=int(c["d_feature"]),
            d_hidden=int(c["color_hidden"]),
            n_layers=int(c["color_layers"]),
            multires_view=int(c["multires_view"]),
            weight_norm=bool(c["weight_norm"]),
        )
        set_backend(self, str(c["matmul"]))
        self.n_outside = int(c["n_outside"])
        self.nerf_outside = BackgroundNeRF() if self.n_outside > 0 else None
        self.n_samples, self.n_importance = int(c["n_samples"]), int(c["n_importance"])
        self.up_sample_steps = int(c["up_sample_steps"])

    def param_groups(self) -> list[dict]:
        """Groups "neus" (networks, ``lrate``), "grid" (the grid features, ``grid_lrate``; grid encoding only) and
        "variance" (the learned sharpness, ``variance_lrate``; only when > 0)."""
        grid = self.sdf_network.grid
        table = [grid.table] if grid is not None else []
        variance = [self.deviation_network.variance] if float(self.cfg["variance_lrate"]) > 0 else []
        own = table + variance
        groups = [
            {
                "name": "neus",
                "params": [p for p in self.parameters() if p.requires_grad and all(p is not q for q in own)],
                "lr": float(self.cfg["lrate"]),
            }
        ]
        if variance:
            groups.append({"name": "variance", "params": variance, "lr": float(self.cfg["variance_lrate"])})
        if table:
            # fused Adam: one pass over the dense table (the per-op Adam costs ~8 passes over millions of features)
            fused = table[0].device.type in ("cpu", "cuda")
            groups.append({"name": "grid", "params": table, "lr": float(self.cfg["grid_lrate"]), "fused": fused})
        return groups

    def cos_anneal_ratio(self, step: int | None) -> float:
        end = float(self.cfg["anneal_end"])
        if end <= 0 or step is None:
            return 1.0
        return min(1.0, step / end)

    # ------------------------------------------------------------------------------------ sampling
    @torch.no_grad()
    def sample_t(self, rays_o: Tensor, rays_d: Tensor, perturb: bool) -> tuple[Tensor, Tensor]:
        """(t [R, S + n_importance] sorted, far [R, 1]) after the up-sampling rounds (steps 1-2 of the module doc)."""
        near, far = near_far_from_sphere(rays_o, rays_d)
        s = torch.linspace(0.0, 1.0, self.n_samples, dtype=rays_o.dtype, device=rays_o.device)
        t = near + (far - near) * s[None, :]
        if perturb:
            t = t + (torch.rand(t.shape[0], 1, dtype=t.dtype).to(t.device) - 0.5) * 2.0 / self.n_samples
        if self.n_importance > 0:
            sdf = self._sdf_of(rays_o, rays_d, t)
            per = self.n_importance // self.up_sample_steps
            for i in range(self.up_sample_steps):
                t_new = up_sample(rays_o, rays_d, t, sdf, per, 64.0 * 2**i)
                last = i + 1 == self.up_sample_steps
                new_sdf = None if last else self._sdf_of(rays_o, rays_d, t_new)
                t, sdf = merge_sorted(t, t_new, None if last else sdf, new_sdf)
        return t, far

    def _sdf_of(self, rays_o: Tensor, rays_d: Tensor, t: Tensor) -> Tensor:
        pts = (rays_o[:, None, :] + rays_d[:, None, :] * t[..., None]).reshape(-1, 3)
        step = max(1, int(self.cfg["netchunk"]))
        sdf = torch.cat([self.sdf_network.sdf(pts[i : i + step]) for i in range(0, len(pts), step)])
        return sdf.reshape(t.shape)

    # ----------------------------------------------------------------------------------- rendering
    def render_rays(self, rays_o: Tensor, rays_d: Tensor, step: int | None, create_graph: bool) -> dict[str, Tensor]:
        """Render R rays (all per-ray outputs plus the per-sample eikonal terms for the loss)."""
        perturb = self.training and bool(self.cfg["perturb"])
        grid = self.sdf_network.grid
        if grid is not None:
            grid.active_levels = active_levels(self.cfg["grid_coarse_to_fine"], grid.n_levels, step)
        t, far = self.sample_t(rays_o, rays_d, perturb)
        R, S = t.shape
        sample_dist = 2.0 / self.n_samples
        dists = section_lengths(t, sample_dist)
        mid_t = t + dists * 0.5
        pts = rays_o[:, None, :] + rays_d[:, None, :] * mid_t[..., None]  # [R, S, 3]
        dirs = rays_d[:, None, :].expand(R, S, 3)
        sdf, feature, grad = self.sdf_network.sdf_and_gradient(pts.reshape(-1, 3), create_graph=create_graph)
        mode = self.cfg["color_normal"]
        normal_in = grad if mode == "input" else grad.detach() if mode == "detach" else torch.zeros_like(grad)
        view = self.color_network.encode_view(rays_d)  # once per ray (the same values as per sample)
        view = view[:, None, :].expand(R, S, view.shape[-1]).reshape(R * S, -1)
        color = self.color_network(pts.reshape(-1, 3), normal_in, view, feature, view_encoded=True).reshape(R, S, 3)
        grad = grad.reshape(R, S, 3)
        inv_s = self.deviation_network.inv_s()
        floor = inv_s_floor(self.cfg["inv_s_floor"], int(self.cfg["inv_s_floor_steps"]), step)
        if floor > 0:
            inv_s = inv_s.clamp_min(floor)  # the learned value keeps its gradient while above the floor
        alpha = sdf_alpha(sdf.reshape(R, S), grad, dirs, dists, inv_s, self.cos_anneal_ratio(step))
        pts_norm = torch.linalg.norm(pts, dim=-1)
        if self.nerf_outside is not None:
            inside = (pts_norm < 1.0).to(alpha.dtype)
            t_out = background_t(far, self.n_outside, self.n_samples, perturb)
            bg_alpha, bg_color = self._background(rays_o, rays_d, torch.sort(torch.cat([t, t_out], -1), -1).values)
            alpha = torch.cat([alpha * inside + bg_alpha[:, :S] * (1 - inside), bg_alpha[:, S:]], -1)
            color = torch.cat(
                [color * inside[..., None] + bg_color[:, :S] * (1 - inside[..., None]), bg_color[:, S:]], 1
            )
        weights = weights_from_alpha(alpha)
        weight_sum = weights.sum(-1)
        rgb = (color * weights[..., None]).sum(1)
        if self.cfg["white_bkgd"]:
            rgb = rgb + (1.0 - weight_sum[:, None])
        relax = (pts_norm < 1.2).to(alpha.dtype)
        eik = (torch.linalg.norm(grad, dim=-1) - 1.0) ** 2
        normal = (F.normalize(grad, dim=-1) * weights[:, :S, None]).sum(1)
        return {
            "rgb": rgb,
            "weight_sum": weight_sum,
            "depth": (mid_t * weights[:, :S]).sum(-1),
            "normal": normal,
            "eikonal_sum": (relax * eik).sum(),
            "eikonal_count": relax.sum(),
        }

    def _background(self, rays_o: Tensor, rays_d: Tensor, t: Tensor) -> tuple[Tensor, Tensor]:
        """(alpha [R, S'], rgb [R, S', 3]) of the NeRF++ model at t [R, S'] (official ``render_core_outside``)."""
        R, S = t.shape
        dists = section_lengths(t, 2.0 / self.n_samples)
        pts = rays_o[:, None, :] + rays_d[:, None, :] * (t + dists * 0.5)[..., None]
        r = torch.linalg.norm(pts, dim=-1, keepdim=True).clip(1.0, 1e10)
        x4 = torch.cat([pts / r, 1.0 / r], -1).reshape(-1, 4)
        density, logits = self.nerf_outside(x4, rays_d[:, None, :].expand(R, S, 3).reshape(-1, 3))
        alpha = 1.0 - torch.exp(-F.softplus(density.reshape(R, S)) * dists)
        return alpha, torch.sigmoid(logits).reshape(R, S, 3)

    def _chunked(self, rays_o: Tensor, rays_d: Tensor, step, create_graph: bool) -> dict[str, Tensor]:
        """``render_rays`` over groups of whole rays holding about ``netchunk`` samples each."""
        per_ray = self.n_samples + self.n_importance + self.n_outside
        n = max(1, int(self.cfg["netchunk"]) // per_ray)
        outs = [
            self.render_rays(rays_o[i : i + n], rays_d[i : i + n], step, create_graph) for i in range(0, len(rays_o), n)
        ]
        if len(outs) == 1:
            return outs[0]
        merged = {}
        for k in outs[0]:
            vals = [o[k] for o in outs]
            merged[k] = torch.stack(vals).sum() if vals[0].dim() == 0 else torch.cat(vals)
        return merged

    def forward(self, batch: dict, step: int | None = None) -> dict[str, Tensor]:
        out = self._chunked(batch["rays_o"], batch["rays_d"], step, create_graph=True)
        out["gradient_error"] = out.pop("eikonal_sum") / (out.pop("eikonal_count") + 1e-5)
        return out

    def losses(self, outputs: dict, batch: dict, step: int | None = None) -> dict[str, Tensor]:
        rgb, target = outputs["rgb"], batch["rgb"]
        mask_weight = float(self.cfg["mask_weight"])
        if mask_weight > 0:
            if "mask" not in batch:
                raise ValueError("NeuS mask_weight > 0 needs foreground masks in the data (set model.mask_weight=0)")
            mask = (batch["mask"] > 0.5).to(rgb.dtype)[:, None]
        else:
            mask = torch.ones_like(rgb[:, :1])
        mask_sum = mask.sum() + 1e-5
        terms = {
            "color": ((rgb - target) * mask).abs().sum() / mask_sum,
            "eikonal": float(self.cfg["igr_weight"]) * outputs["gradient_error"],
        }
        if mask_weight > 0:
            ws = outputs["weight_sum"].clip(1e-3, 1.0 - 1e-3)
            terms["mask"] = mask_weight * F.binary_cross_entropy(ws, mask[:, 0])
        return terms

    @torch.no_grad()
    def render(self, rays: dict, chunk: int = 8192) -> dict[str, Tensor]:
        """Evaluation rendering (no jitter): rgb [R, 3], depth [R], acc [R], normal [R, 3] (weighted unit normals)."""
        was_training = self.training
        self.eval()
        keys = ("rgb", "depth", "weight_sum", "normal")
        outs = []
        o, d = rays["rays_o"], rays["rays_d"]
        for i in range(0, len(o), chunk):
            out = self._chunked(o[i : i + chunk], d[i : i + chunk], None, create_graph=False)
            outs.append({k: out[k].detach() for k in keys})
        self.train(was_training)
        merged = {k: torch.cat([x[k] for x in outs]) for k in keys}
        merged["acc"] = merged.pop("weight_sum")
        return merged

    @torch.no_grad()
    def sdf(self, pts: Tensor) -> Tensor:
        """[N] signed distances of points [N, 3] (normalised frame, all grid levels), ``netchunk`` at a time."""
        if self.sdf_network.grid is not None:
            self.sdf_network.grid.active_levels = None
        step = max(1, int(self.cfg["netchunk"]))
        return torch.cat([self.sdf_network.sdf(pts[i : i + step])[:, 0] for i in range(0, len(pts), step)])
