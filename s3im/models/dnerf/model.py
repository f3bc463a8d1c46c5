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

Speed options (all off by default = the official D-NeRF; the quick profile turns them on):
  * ``reuse_coarse``: the fine pass evaluates only the n_importance new samples and reuses the coarse
    pass's (rgb, sigma, dx) at the n_samples coarse points (the official fine pass re-evaluates them with
    the same network at the same points and time: the same values, so the outputs and the gradients are
    the same up to float rounding); fine cost n_importance instead of n_samples + n_importance points.
  * ``fine_skip_acc`` (> 0): rays whose coarse opacity acc_c = sum_i w_i <= fine_skip_acc skip the fine
    pass (no fine samples, no network evaluation): their fine rgb = the background colour (white, or 0
    without ``white_bkgd``), depth = acc = dx_norm = 0. For the white-background objects most rays miss
    the object once the empty space has zero density. The coarse pass (and its loss) is unchanged.
  * ``bbox_mask``: samples outside the scene's box (``bbox`` [2, 3], the loader's region of interest,
    blender / dnerf [-1.5, 1.5]^3) are not evaluated: rgb = 0, sigma_raw = 0 there (zero density, so they
    add nothing to the composite; ``raw_noise_std`` noise is added to sigma_raw after the mask). The
    object must lie in the box at every time (observation space, before the deformation).

Short-run training options (off / None by default = the official D-NeRF; the quick profile turns them on;
they change the method, unlike the speed options; see README.md):
  * ``deform_zero_init``: the deformation's output layer starts at zero weights and bias, so dx = 0 at every
    time at init (training starts from a static scene; the official random init warps every t > 0 randomly).
  * ``deform_anneal_steps`` (> 0): Nerfies' coarse-to-fine window on the deformation's PE bands (x and t),
    band k weighted by (1 - cos(pi clamp(a - k, 0, 1))) / 2, a = n_freqs * step / deform_anneal_steps
    (``band_window``); the step is the one passed to ``forward`` in training; full bands after it / in eval.
  * ``time_curriculum_steps`` (> 0): in training, the mse terms average only over the rays with time <=
    h = time_curriculum_start + (1 - time_curriculum_start) * step / time_curriculum_steps (then all rays), so
    the canonical (time 0) scene is fitted first from the early frames and the motion is extended in time
    progressively. Every ray is still rendered (and seen by the driver's S3IM term in multiplex runs).
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
    # speed options, off = official (module doc)
    "reuse_coarse": False,
    "fine_skip_acc": 0.0,
    "bbox_mask": False,
    # short-run training options, off / None = official (module doc)
    "deform_zero_init": False,  # zero weights + bias of the deformation's output layer (dx = 0 at init)
    "deform_anneal_steps": 0,  # > 0: coarse-to-fine window on the deformation's PE bands over these steps
    "time_curriculum_steps": 0,  # > 0: the losses count only rays with time <= a horizon growing to 1 (module doc)
    "time_curriculum_start": 0.05,  # horizon at step 0 (linear to 1 at time_curriculum_steps)
}


def resolve_config(model_cfg: dict) -> dict:
    cfg = {k: v for k, v in model_cfg.items() if k != "name"}
    unknown = sorted(set(cfg) - set(DEFAULTS))
    if unknown:
        raise ValueError(f"unknown D-NeRF config key(s) {unknown}; valid keys: {sorted(DEFAULTS)}")
    return {**DEFAULTS, **cfg}


def band_window(dim: int, n_freqs: int, progress: float) -> Tensor:
    """[dim (1 + 2 n_freqs)] weights of the nerf-layout PE channels (Nerfies' coarse-to-fine window):
    band k gets w_k = (1 - cos(pi clamp(a - k, 0, 1))) / 2 with a = progress * n_freqs; the identity channels 1.
    progress 0: only x itself; progress 1: every band (w = 1)."""
    a = float(progress) * n_freqs
    k = torch.arange(n_freqs, dtype=torch.float64)
    w = (1.0 - torch.cos(torch.pi * (a - k).clamp(0.0, 1.0))) / 2.0  # [L]
    return torch.cat([torch.ones(dim, dtype=torch.float64), w.repeat_interleave(2 * dim)]).float()


class DeformationNet(nn.Module):
    """dx [N, 3] = T(PE(x), PE(t)); see the module doc. ``zero_init``: the output layer starts at 0 (dx = 0)."""

    def __init__(
        self,
        depth: int = 8,
        width: int = 256,
        multires: int = 10,
        multires_time: int = 10,
        skips=(4,),
        zero_init: bool = False,
    ):
        super().__init__()
        self.multires, self.multires_time, self.skips = int(multires), int(multires_time), tuple(skips)
        d_x, d_t = encoding_dim(3, self.multires), encoding_dim(1, self.multires_time)
        self.layers = nn.ModuleList(
            [nn.Linear(d_x + d_t, width)]
            + [nn.Linear(width + d_x if i in self.skips else width, width) for i in range(depth - 1)]
        )
        self.out = nn.Linear(width, 3)
        if zero_init:
            nn.init.zeros_(self.out.weight)
            nn.init.zeros_(self.out.bias)

    def forward(self, x: Tensor, t: Tensor, progress: float | None = None) -> Tensor:
        """``progress`` in [0, 1] (None: 1): coarse-to-fine window on the PE bands (``band_window``)."""
        pe = positional_encoding(x, self.multires)
        pe_t = positional_encoding(t, self.multires_time)
        if progress is not None and progress < 1.0:
            pe = pe * band_window(3, self.multires, progress).to(pe)
            pe_t = pe_t * band_window(1, self.multires_time, progress).to(pe_t)
        h = torch.cat([pe, pe_t], -1)
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

    def __init__(self, cfg: dict, near: float, far: float, bbox=None):
        super().__init__()
        self.cfg = c = resolve_config(cfg)
        self.near, self.far = float(near), float(far)
        self.step: int | None = None  # the last training step seen by forward (deform_anneal_steps)
        if c["bbox_mask"] and bbox is None:
            raise ValueError("D-NeRF bbox_mask needs the scene's bbox [2, 3] (min corner, max corner)")
        self.register_buffer(
            "bbox", None if bbox is None else torch.as_tensor(bbox, dtype=torch.float32).reshape(2, 3), persistent=False
        )
        self.deform = DeformationNet(
            int(c["netdepth"]),
            int(c["netwidth"]),
            int(c["multires"]),
            int(c["multires_time"]),
            tuple(c["skips"]),
            zero_init=bool(c["deform_zero_init"]),
        )
        self.canonical = NeRF(
            int(c["netdepth"]), int(c["netwidth"]), int(c["multires"]), int(c["multires_views"]), tuple(c["skips"])
        )

    def param_groups(self) -> list[dict]:
        return [{"name": "dnerf", "params": list(self.parameters()), "lr": float(self.cfg["lrate"])}]

    def _evaluate(self, x: Tensor, t: Tensor, d: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """(rgb [N, 3], sigma_raw [N], dx [N, 3]) at points x [N, 3], times t [N, 1], view dirs d [N, 3]:
        dx = T(x, t) (0 where t = 0 with ``zero_canonical``), (rgb, sigma_raw) = NeRF(x + dx, d)."""
        step = max(1, int(self.cfg["netchunk"]))
        rgbs, sigmas, dxs = [], [], []
        for i in range(0, len(x), step):  # chunks of netchunk samples (memory only)
            xi, ti = x[i : i + step], t[i : i + step]
            dx = self.deform(xi, ti, self.deform_progress())
            if self.cfg["zero_canonical"]:
                dx = torch.where(ti == 0, torch.zeros_like(dx), dx)
            rgb, sigma = self.canonical(xi + dx, d[i : i + step])
            rgbs.append(rgb)
            sigmas.append(sigma)
            dxs.append(dx)
        if not rgbs:
            return x.new_zeros(0, 3), x.new_zeros(0), x.new_zeros(0, 3)
        return torch.cat(rgbs), torch.cat(sigmas), torch.cat(dxs)

    def query(
        self, pts: Tensor, times: Tensor, viewdirs: Tensor, mask: Tensor | None = None
    ) -> tuple[Tensor, Tensor, Tensor]:
        """(rgb [R, S, 3], sigma_raw [R, S], dx [R, S, 3]) at points [R, S, 3] of rays with times [R].

        mask [R, S] bool (optional): only these samples are evaluated; the others get rgb = 0,
        sigma_raw = 0, dx = 0 (no gradient).
        """
        R, S, _ = pts.shape
        x = pts.reshape(-1, 3)
        t = times[:, None, None].expand(R, S, 1).reshape(-1, 1).to(x.dtype)
        d = viewdirs[:, None, :].expand(R, S, 3).reshape(-1, 3)
        if mask is None:
            rgb, sigma, dx = self._evaluate(x, t, d)
            return rgb.view(R, S, 3), sigma.view(R, S), dx.view(R, S, 3)
        idx = mask.reshape(-1).nonzero().squeeze(1)
        rgb_m, sigma_m, dx_m = self._evaluate(x[idx], t[idx], d[idx])
        rgb = x.new_zeros(R * S, 3).index_copy(0, idx, rgb_m.to(x.dtype))
        sigma = x.new_zeros(R * S).index_copy(0, idx, sigma_m.to(x.dtype))
        dx = x.new_zeros(R * S, 3).index_copy(0, idx, dx_m.to(x.dtype))
        return rgb.view(R, S, 3), sigma.view(R, S), dx.view(R, S, 3)

    def inside_bbox(self, pts: Tensor) -> Tensor | None:
        """[...] bool: pts [..., 3] inside the scene box (``bbox_mask``), else None (evaluate everything)."""
        if not self.cfg["bbox_mask"]:
            return None
        lo, hi = self.bbox.to(pts.dtype)
        return ((pts >= lo) & (pts <= hi)).all(-1)

    def render_rays(self, rays: dict) -> dict[str, Tensor]:
        """Coarse + fine rendering of R rays (rays_o, rays_d [R, 3], time [R], optional viewdirs / dir_norm).

        Returns rgb [R, 3] (fine), rgb_coarse [R, 3], depth [R], acc [R], dx_norm [R] = sum_i w_i |dx_i|
        (only rgb, depth, acc with n_importance = 0). The speed options of the module doc apply here.
        """
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
        pts_c = points_from_t(o, d, t_c)
        rgb_c, sig_c, dx_c = self.query(pts_c, times, viewdirs, self.inside_bbox(pts_c))
        coarse = render_samples(rgb_c, sig_c, t_c, noise, bg)
        if int(c["n_importance"]) == 0:
            return {"rgb": coarse["rgb"], "depth": coarse["depth"], "acc": coarse["acc"]}
        R = o.shape[0]
        # fine pass on the rays kept by fine_skip_acc (all rays when off): index k [K]
        skip = float(c["fine_skip_acc"]) > 0
        k = (coarse["acc"].detach() > float(c["fine_skip_acc"])).nonzero().squeeze(1) if skip else None

        def sel(x: Tensor) -> Tensor:
            return x if k is None else x[k]

        o_k, d_k, t_ck, times_k, views_k = sel(o), sel(d), sel(t_c), sel(times), sel(viewdirs)
        t_f = fine_t(t_ck, sel(coarse["weights"]), int(c["n_importance"]), deterministic=not perturb)
        if c["reuse_coarse"]:  # evaluate the new samples only; merge with the coarse ones in t order
            pts_f = points_from_t(o_k, d_k, t_f)
            rgb_n, sig_n, dx_n = self.query(pts_f, times_k, views_k, self.inside_bbox(pts_f))
            t_all, order = torch.sort(torch.cat([t_ck, t_f], -1), -1)
            rgb_f = torch.cat([sel(rgb_c), rgb_n], 1).gather(1, order[..., None].expand(-1, -1, 3))
            sig_f = torch.cat([sel(sig_c), sig_n], 1).gather(1, order)
            dx = torch.cat([sel(dx_c), dx_n], 1).gather(1, order[..., None].expand(-1, -1, 3))
        else:
            t_all = torch.sort(torch.cat([t_ck, t_f], -1), -1).values
            pts_f = points_from_t(o_k, d_k, t_all)
            rgb_f, sig_f, dx = self.query(pts_f, times_k, views_k, self.inside_bbox(pts_f))
        fine = render_samples(rgb_f, sig_f, t_all, noise, bg)
        out = {
            "rgb": fine["rgb"],
            "depth": fine["depth"],
            "acc": fine["acc"],
            "dx_norm": (torch.linalg.norm(dx, dim=-1) * fine["weights"]).sum(-1),
        }
        if k is not None:  # skipped rays: the background colour, depth = acc = dx_norm = 0
            full = {
                "rgb": torch.full((R, 3), 1.0 if bg is not None else 0.0, dtype=o.dtype, device=o.device),
                "depth": o.new_zeros(R),
                "acc": o.new_zeros(R),
                "dx_norm": o.new_zeros(R),
            }
            out = {key: full[key].index_copy(0, k, v.to(o.dtype)) for key, v in out.items()}
        out["rgb_coarse"] = coarse["rgb"]
        return out

    def deform_progress(self) -> float | None:
        """Coarse-to-fine progress of the deformation PE (``deform_anneal_steps``; None: off / finished)."""
        n = int(self.cfg["deform_anneal_steps"])
        if n <= 0 or self.step is None or self.step >= n:
            return None
        return self.step / n

    def forward(self, batch: dict, step: int | None = None) -> dict[str, Tensor]:
        if step is not None:
            self.step = int(step)
        return self.render_rays(batch)

    def time_horizon(self, step: int | None) -> float | None:
        """Latest time whose rays count in the losses at ``step`` (``time_curriculum_steps``; None: all)."""
        n = int(self.cfg["time_curriculum_steps"])
        if n <= 0 or step is None or step >= n:
            return None
        t0 = float(self.cfg["time_curriculum_start"])
        return t0 + (1.0 - t0) * step / n

    def losses(self, outputs: dict, batch: dict, step: int | None = None) -> dict[str, Tensor]:
        horizon = self.time_horizon(step) if self.training else None
        if horizon is None:
            terms = {"mse": F.mse_loss(outputs["rgb"], batch["rgb"])}
            if "rgb_coarse" in outputs:
                terms["mse_coarse"] = F.mse_loss(outputs["rgb_coarse"], batch["rgb"])
            return terms
        # time curriculum: the mean squared error over the rays with time <= horizon only
        w = (batch["time"] <= horizon).to(batch["rgb"].dtype)[:, None]
        norm = 3.0 * w.sum().clamp(min=1.0)
        terms = {"mse": (w * (outputs["rgb"] - batch["rgb"]) ** 2).sum() / norm}
        if "rgb_coarse" in outputs:
            terms["mse_coarse"] = (w * (outputs["rgb_coarse"] - batch["rgb"]) ** 2).sum() / norm
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
