"""TensoRF (Chen et al., ECCV 2022), VM decomposition, in pure PyTorch: the model of the training driver.

Field (``s3im.models.tensorf.vm``): density sigma = softplus(f(x) + density_shift) (``fea2dense_act``
softplus; relu: relu(f(x))), colour = MLP head (``shading``) of the appearance feature a(x) and the view
direction. Points are normalised to [-1, 1]^3 over the current box ``aabb``.

Rendering of rays [R] (``marching``): packed samples inside the box at step = mean(aabb extent /
(grid - 1)) * step_ratio from the box entry (one random offset per ray while training), n_samples per ray
at most (training: min(n_samples, int(||reso_cur|| / step_ratio)); evaluation: int(diag / step) + 1);
samples where the alpha mask is empty are dropped; w_i = T_i alpha_i with alpha_i = 1 - exp(-sigma_i delta_i
distance_scale); colour only for samples with w_i > rm_weight_mask_thre; rgb = sum_i w_i c_i
+ (1 - sum_i w_i) * background, clamped to [0, 1]. Background: white with ``white_bkgd``; otherwise
black, except while training, where each batch is composited on white with probability 1/2 (official).

Training schedule (official ``train.py``; ``u`` = an iteration index, 0-based; the official code acts at
the end of iteration u, i.e. here in the callback of step u or in ``before_step(u + 1)``):
  * alpha mask (callback, u in update_AlphaMask_list): dense alpha 1 - exp(-sigma step_size) on
    the ``reso_mask`` nodes (reso_cur while it has < 256^3 nodes) -> max_pool3d 3^3 -> >= alpha_mask_thre.
    First update: ``shrink`` the box and the grids to the occupied nodes (the L1 weight switches from
    L1_weight_inital to L1_weight_rest); second update: keep only the training rays that meet the mask
    (``sampler.set_bank(sampler.bank.restrict(...))``).
  * upsampling (``before_step(u + 1)``, u in upsamp_list): reso_cur = n_to_reso(voxel_schedule[j], aabb),
    planes / lines resampled; returns "reset" (lr_upsample_reset: base lrs, the exponential decay restarts)
    or "keep".
  * the shrink swaps the cropped grids into the trainer's optimizer in place (fresh Adam state for
    them, the lr schedule untouched); the official code keeps stepping the replaced grids' stale
    parameters until the next upsampling rebuilds its optimizer (its configs shrink and upsample
    after the same iteration, where both agree).
  * TV weights decay with the lr factor: w_tv(u) = w_tv * lr_decay^(u + 1).

Speed (same values as the official algorithm up to float rounding): samples are packed (only in-box,
mask-valid ones exist), transmittance is one float64 prefix sum, the density comes from the node volume
D = sum P (x) L (one trilinear lookup per sample, ``vm.density_feature_dense``), the appearance from the
node volume A while colour samples outnumber the grid nodes (``dense_app_ratio``), else per plane and line
(``vm``: ``grid_sample``, or row gathers where the points per plane node are few).

Checkpoints: grid shapes follow the saved parameters (``load_state_dict`` resizes them); the box is a
buffer; reso_cur, reso_mask and the alpha mask are the extra state.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from s3im.models.tensorf.alpha_mask import AlphaGridMask
from s3im.models.tensorf.marching import bbox_hits, sample_packed, slab, weights_packed
from s3im.models.tensorf.schedule import cal_n_samples, n_to_reso, voxel_schedule
from s3im.models.tensorf.shading import MLPRender
from s3im.models.tensorf.vm import TensorVMSplit

# Official defaults (opt.py, TensorBase) for the keys of the ``model:`` config section.
DEFAULTS: dict = {
    "n_lamb_sigma": [16, 16, 16],  # density components per plane
    "n_lamb_sh": [48, 48, 48],  # appearance components per plane
    "data_dim_color": 27,  # app_dim: output of basis_mat
    "shading_mode": "MLP_Fea",  # MLP_Fea | MLP_PE | MLP
    "view_pe": 2,
    "fea_pe": 2,
    "pos_pe": 6,
    "featureC": 128,  # colour MLP width
    "fea2dense_act": "softplus",  # softplus | relu
    "density_shift": -10.0,
    "distance_scale": 25.0,
    "alpha_mask_thre": 1e-4,
    "rm_weight_mask_thre": 1e-4,  # colour only where the weight exceeds this
    "step_ratio": 0.5,
    "n_samples": 1000000,  # cap of the training samples per ray (nSamples)
    "N_voxel_init": 128**3,
    "N_voxel_final": 300**3,
    "upsamp_list": [2000, 3000, 4000, 5500, 7000],
    "update_AlphaMask_list": [2000, 4000],
    "lr_init": 0.02,  # planes and lines
    "lr_basis": 1e-3,  # basis_mat and the colour MLP
    "lr_upsample_reset": True,
    "L1_weight_inital": 0.0,
    "L1_weight_rest": 0.0,
    "Ortho_weight": 0.0,
    "TV_weight_density": 0.0,
    "TV_weight_app": 0.0,
    "white_bkgd": False,
    "aabb": None,  # [[xmin, ymin, zmin], [xmax, ymax, zmax]]; None: the scene's bbox * aabb_scale
    "aabb_scale": 1.0,  # about the origin (the S3IM Replica loader uses scene_box.aabb * 1.2)
    "alpha_mask_max_voxels": 256**3,  # reso_mask follows reso_cur while it has fewer nodes
    "filter_n_samples": 256,  # samples per ray of the alpha-mask ray filter
    "dense_density_max_voxels": 256**3,  # density by the node volume (same values) up to this grid size; 0: off
    "dense_app_ratio": 1.0,  # appearance by the node volume when colour samples > ratio * grid nodes; 0: off
}
LIST_KEYS = ("n_lamb_sigma", "n_lamb_sh", "upsamp_list", "update_AlphaMask_list")


def resolve_config(model_cfg: dict) -> dict:
    """DEFAULTS <- ``model_cfg`` (without ``name``), with unknown keys refused."""
    cfg = {k: v for k, v in model_cfg.items() if k != "name"}
    unknown = sorted(set(cfg) - set(DEFAULTS))
    if unknown:
        raise ValueError(f"unknown TensoRF config key(s) {unknown}; valid keys: {sorted(DEFAULTS)}")
    out = {**DEFAULTS, **{k: v for k, v in cfg.items() if v is not None or k == "aabb"}}
    for key in LIST_KEYS:
        out[key] = [int(v) for v in out[key]]
    if len(out["n_lamb_sigma"]) != 3 or len(out["n_lamb_sh"]) != 3:
        raise ValueError("n_lamb_sigma and n_lamb_sh need 3 entries (one per plane)")
    if out["fea2dense_act"] not in ("softplus", "relu"):
        raise ValueError(f"fea2dense_act must be softplus or relu, got {out['fea2dense_act']!r}")
    return out


class TensoRF(nn.Module):
    """TensoRF-VM over the box ``aabb`` [2, 3] with ray bounds near / far; see the module doc.

    ``tv_decay``: the per-iteration lr decay factor of the training schedule (TV weights follow it).
    """

    def __init__(self, cfg: dict, aabb: Tensor, near: float, far: float, tv_decay: float = 1.0):
        super().__init__()
        self.cfg = resolve_config(cfg)
        c = self.cfg
        self.near, self.far, self.tv_decay = float(near), float(far), float(tv_decay)
        self.register_buffer("aabb", torch.as_tensor(aabb, dtype=torch.float32).reshape(2, 3).clone())
        self.reso_cur = n_to_reso(c["N_voxel_init"], self.aabb.cpu())
        self.reso_mask: list[int] | None = None
        self.voxel_list = voxel_schedule(c["N_voxel_init"], c["N_voxel_final"], len(c["upsamp_list"]))
        self.field = TensorVMSplit(c["n_lamb_sigma"], c["n_lamb_sh"], self.reso_cur, c["data_dim_color"])
        self.render_module = MLPRender(
            c["shading_mode"], c["data_dim_color"], c["view_pe"], c["fea_pe"], c["pos_pe"], c["featureC"]
        )
        self.alpha_mask: AlphaGridMask | None = None
        self._volume: Tensor | None = None  # density node volume held during an evaluation pass
        self.update_step_size()

    # ----------------------------------------------------------------------------------- geometry
    @torch.no_grad()
    def update_step_size(self) -> None:
        """step = mean(extent / (grid - 1)) * step_ratio; eval samples per ray int(diag / step) + 1."""
        size = self.aabb[1] - self.aabb[0]
        grid = torch.tensor(self.field.grid_size, dtype=torch.float32, device=self.aabb.device)
        self.units = size / (grid - 1)
        self.step_size = float(torch.mean(self.units) * self.cfg["step_ratio"])
        self.aabb_diag = float(torch.sqrt(torch.sum(size**2)))
        self.n_samples_eval = int(self.aabb_diag / self.step_size) + 1

    @property
    def n_samples_train(self) -> int:
        """min(n_samples, int(||reso_cur|| / step_ratio)) (official nSamples)."""
        return min(int(self.cfg["n_samples"]), cal_n_samples(self.reso_cur, self.cfg["step_ratio"]))

    def normalize(self, xyz: Tensor) -> Tensor:
        """World points [N, 3] -> [-1, 1]^3 over the box."""
        return (xyz - self.aabb[0]) * (2.0 / (self.aabb[1] - self.aabb[0])) - 1

    def _mask(self) -> AlphaGridMask | None:
        if self.alpha_mask is not None and self.alpha_mask.volume.device != self.aabb.device:
            self.alpha_mask = self.alpha_mask.to(self.aabb.device)
        return self.alpha_mask

    def density(self, xyz_n: Tensor) -> Tensor:
        """sigma [N] at normalised points [N, 3]; the feature comes from the node volume
        (``density_feature_dense``) while the grid has at most dense_density_max_voxels nodes."""
        if self._volume is not None:
            feature = self.field.density_feature_dense(xyz_n, self._volume)
        elif math.prod(self.field.grid_size) <= self.cfg["dense_density_max_voxels"]:
            feature = self.field.density_feature_dense(xyz_n)
        else:
            feature = self.field.density_feature(xyz_n)
        if self.cfg["fea2dense_act"] == "relu":
            return F.relu(feature)
        return F.softplus(feature + self.cfg["density_shift"])

    def app_feature(self, xyz_n: Tensor) -> Tensor:
        """a(x) [N, app_dim] at normalised points; through the node volume when N > dense_app_ratio * nodes."""
        ratio = self.cfg["dense_app_ratio"]
        if ratio and xyz_n.shape[0] > ratio * math.prod(self.field.grid_size):
            return self.field.app_feature_dense(xyz_n)
        return self.field.app_feature(xyz_n)

    # ---------------------------------------------------------------------------------- rendering
    def march(self, rays_o: Tensor, rays_d: Tensor, viewdirs: Tensor, n_samples: int, jitter: Tensor | None):
        """Volume rendering without background: dict rgb [R, 3] (sum w c), acc [R], depth [R] (sum w z), and
        the counts n_samples (density evaluations) and n_app (colour evaluations, w > rm_weight_mask_thre)."""
        n_rays = rays_o.shape[0]
        with torch.no_grad():
            s = sample_packed(rays_o, rays_d, self.aabb, self.near, self.far, self.step_size, n_samples, jitter)
            mask = self._mask()
            if mask is not None and s["pts"].shape[0] > 0:
                keep = mask.occupied(s["pts"]).nonzero().squeeze(1)
                s = {k: v[keep] for k, v in s.items()}
            xyz_n = self.normalize(s["pts"])
        ray_indices = s["ray_indices"]
        sigma = self.density(xyz_n)
        _, weights = weights_packed(sigma, s["delta"], ray_indices, n_rays, self.cfg["distance_scale"])
        app = (weights.detach() > self.cfg["rm_weight_mask_thre"]).nonzero().squeeze(1)
        rgb = rays_o.new_zeros(n_rays, 3)
        if app.numel() > 0:
            xyz_a, rays_a = xyz_n[app], ray_indices[app]
            colour = self.render_module(self.app_feature(xyz_a), viewdirs[rays_a], xyz_a)
            rgb = rgb.index_add(0, rays_a, weights[app, None] * colour)
        acc = rays_o.new_zeros(n_rays).index_add(0, ray_indices, weights)
        depth = rays_o.new_zeros(n_rays).index_add(0, ray_indices, weights.detach() * s["z"])
        return {"rgb": rgb, "acc": acc, "depth": depth, "n_samples": ray_indices.shape[0], "n_app": app.shape[0]}

    def forward(self, batch: dict, step: int | None = None) -> dict[str, Tensor]:
        """Training rendering of batch rays (rays_o, rays_d unit, optional viewdirs) -> rgb [R, 3], acc, depth."""
        rays_o, rays_d = batch["rays_o"], batch["rays_d"]
        viewdirs = batch.get("viewdirs", rays_d)
        jitter = torch.rand(rays_o.shape[0], 1, device=rays_o.device)[:, 0] if self.training else None
        n_samples = self.n_samples_train if self.training else self.n_samples_eval
        out = self.march(rays_o, rays_d, viewdirs, n_samples, jitter)
        white = self.cfg["white_bkgd"] or (self.training and bool(torch.rand((1,)) < 0.5))
        rgb = out["rgb"] + (1.0 - out["acc"])[:, None] if white else out["rgb"]
        return {**out, "rgb": rgb.clamp(0, 1)}

    @torch.no_grad()
    def render(self, rays: dict, chunk: int = 8192) -> dict[str, Tensor]:
        """Evaluation (no jitter, eval sample count, white background iff white_bkgd): rgb [R, 3], depth, acc."""
        was_training = self.training
        self.eval()
        if math.prod(self.field.grid_size) <= self.cfg["dense_density_max_voxels"]:
            self._volume = self.field.density_volume()
        try:
            n = rays["rays_o"].shape[0]
            outs = []
            for i in range(0, n, chunk):
                part = {k: rays[k][i : i + chunk] for k in ("rays_o", "rays_d") if k in rays}
                if "viewdirs" in rays:
                    part["viewdirs"] = rays["viewdirs"][i : i + chunk]
                o = self.forward(part)
                outs.append({k: o[k] for k in ("rgb", "depth", "acc")})
        finally:
            self.train(was_training)
            self._volume = None
        return {k: torch.cat([o[k] for o in outs]) for k in ("rgb", "depth", "acc")}

    # ----------------------------------------------------------------------------------- training
    def param_groups(self) -> list[dict]:
        """Official groups: lines and planes at lr_init, basis_mat and the colour MLP at lr_basis."""
        f, lr, lr_net = self.field, float(self.cfg["lr_init"]), float(self.cfg["lr_basis"])
        return [
            {"name": "density_line", "params": list(f.density_line), "lr": lr},
            {"name": "density_plane", "params": list(f.density_plane), "lr": lr},
            {"name": "app_line", "params": list(f.app_line), "lr": lr},
            {"name": "app_plane", "params": list(f.app_plane), "lr": lr},
            {"name": "basis_mat", "params": list(f.basis_mat.parameters()), "lr": lr_net},
            {"name": "render_module", "params": list(self.render_module.parameters()), "lr": lr_net},
        ]

    def l1_weight(self, step: int) -> float:
        """L1_weight_inital up to the first alpha-mask update (included), L1_weight_rest after it."""
        updates = self.cfg["update_AlphaMask_list"]
        return self.cfg["L1_weight_rest"] if updates and step > updates[0] else self.cfg["L1_weight_inital"]

    def losses(self, outputs: dict, batch: dict, step: int = 0) -> dict[str, Tensor]:
        """mse = mean (rgb - target)^2, plus (where weighted) ortho, l1 (density grids), tv_density, tv_app."""
        c = self.cfg
        out = {"mse": torch.mean((outputs["rgb"] - batch["rgb"]) ** 2)}
        if c["Ortho_weight"] > 0:
            out["ortho"] = c["Ortho_weight"] * self.field.ortho()
        l1 = self.l1_weight(step)
        if l1 > 0:
            out["l1"] = l1 * self.field.density_l1()
        decay = self.tv_decay ** (step + 1)
        if c["TV_weight_density"] > 0:
            out["tv_density"] = c["TV_weight_density"] * decay * self.field.tv_density()
        if c["TV_weight_app"] > 0:
            out["tv_app"] = c["TV_weight_app"] * decay * self.field.tv_app()
        return out

    @torch.no_grad()
    def before_step(self, step: int) -> bool | str:
        """Upsampling after iteration step - 1 (see the module doc); "reset" / "keep" / False."""
        c = self.cfg
        rebuild: bool | str = False
        if step - 1 in c["upsamp_list"]:
            n_voxels = self.voxel_list[c["upsamp_list"].index(step - 1)]
            self.reso_cur = n_to_reso(n_voxels, self.aabb.cpu())
            self.field.upsample(self.reso_cur)
            self.update_step_size()
            rebuild = "reset" if c["lr_upsample_reset"] else "keep"
        return rebuild

    def callbacks(self) -> list:
        """[alpha-mask update at update_AlphaMask_list, with the shrink and the training-ray filter]."""
        return [self._alpha_mask_callback]

    @torch.no_grad()
    def _alpha_mask_callback(self, trainer, step: int) -> None:
        updates = self.cfg["update_AlphaMask_list"]
        if step not in updates:
            return
        if math.prod(self.reso_cur) < self.cfg["alpha_mask_max_voxels"] or self.reso_mask is None:
            self.reso_mask = list(self.reso_cur)
        new_aabb = self.update_alpha_mask(self.reso_mask)
        if step == updates[0]:
            if new_aabb is None:
                print("tensorf: the alpha mask is empty; the box is not shrunk")
            else:
                self.shrink(new_aabb)
                self.refresh_optimizers(getattr(trainer, "optimizers", {}))
        if len(updates) > 1 and step == updates[1]:
            if self.alpha_mask is None:
                print("tensorf: no alpha mask yet; the training rays are kept")
                return
            bank = trainer.sampler.bank
            keep = self.filter_rays(bank)
            if keep.numel() == 0:
                print("tensorf: no training ray meets the alpha mask; the training rays are kept")
            else:
                print(f"tensorf: training on the {keep.numel()} of {len(bank)} rays that meet the alpha mask")
                trainer.sampler.set_bank(bank.restrict(keep))

    def refresh_optimizers(self, optimizers: dict) -> None:
        """Point the optimizers' groups (matched by name) at the current parameters; replaced parameters
        lose their optimizer state, the groups keep their lr."""
        current = {g["name"]: g["params"] for g in self.param_groups()}
        for opt in optimizers.values():
            for group in opt.param_groups:
                params = current.get(group.get("name"))
                if params is None:
                    continue
                keep = {id(p) for p in params}
                for old in group["params"]:
                    if id(old) not in keep:
                        opt.state.pop(old, None)
                group["params"] = list(params)

    # ------------------------------------------------------------------------- alpha mask / shrink
    @torch.no_grad()
    def dense_alpha(self, grid_size, chunk: int = 65536) -> tuple[Tensor, Tensor]:
        """(alpha [Z, Y, X], points [Z, Y, X, 3]) on grid_size [X, Y, Z] nodes of the box, alpha = 1 -
        exp(-sigma step_size), 0 where the current alpha mask is empty (official ``getDenseAlpha``:
        ``compute_alpha(xyz, self.stepSize)``; no distance_scale)."""
        gx, gy, gz = (int(v) for v in grid_size)
        dev = self.aabb.device
        lin = [torch.linspace(0, 1, n, device=dev) for n in (gx, gy, gz)]
        samples = torch.stack(torch.meshgrid(*lin, indexing="ij"), -1)
        dense = (self.aabb[0] * (1 - samples) + self.aabb[1] * samples).transpose(0, 2).contiguous()
        pts = dense.view(-1, 3)
        length = self.step_size
        alpha = torch.zeros(pts.shape[0], device=dev)
        mask = self._mask()
        held = self._volume
        if held is None and math.prod(self.field.grid_size) <= self.cfg["dense_density_max_voxels"]:
            self._volume = self.field.density_volume()
        for i in range(0, pts.shape[0], chunk):
            p = pts[i : i + chunk]
            valid = mask.occupied(p) if mask is not None else torch.ones(p.shape[0], dtype=torch.bool, device=dev)
            idx = valid.nonzero().squeeze(1)
            if idx.numel():
                sigma = self.density(self.normalize(p[idx]))
                alpha[i + idx] = 1 - torch.exp(-sigma * length)
        self._volume = held
        return alpha.view(gz, gy, gx), dense

    @torch.no_grad()
    def update_alpha_mask(self, grid_size) -> Tensor | None:
        """New alpha mask over the current box; returns the box [2, 3] of its set nodes. An empty mask (nothing
        dense yet, e.g. a very short run) is not installed and None is returned: the official code would drop every
        sample from then on (and fail on the empty box)."""
        alpha, _ = self.dense_alpha(grid_size)
        mask = AlphaGridMask.from_alpha(self.aabb, alpha, self.cfg["alpha_mask_thre"])
        kept = float(mask.volume.mean())
        print(f"tensorf: alpha mask {list(grid_size)}, {100 * kept:.1f}% of the nodes kept")
        if kept == 0:
            print("tensorf: the alpha mask is empty and is not applied")
            return None
        self.alpha_mask = mask
        return mask.bbox()

    @torch.no_grad()
    def shrink(self, new_aabb: Tensor) -> None:
        """Crop the grids to the nodes of ``new_aabb`` [2, 3] and make it the box (official ``shrink``)."""
        new_aabb = new_aabb.to(self.aabb)
        grid = torch.tensor(self.field.grid_size, device=self.aabb.device)
        lo = torch.round((new_aabb[0] - self.aabb[0]) / self.units).long()
        hi = torch.round((new_aabb[1] - self.aabb[0]) / self.units).long() + 1
        hi = torch.minimum(hi, grid)
        self.field.shrink(lo.tolist(), hi.tolist())
        if self.alpha_mask is not None and self.alpha_mask.grid_size != grid.tolist():
            lo_r, hi_r = lo / (grid - 1), (hi - 1) / (grid - 1)
            new_aabb = torch.stack(
                [(1 - lo_r) * self.aabb[0] + lo_r * self.aabb[1], (1 - hi_r) * self.aabb[0] + hi_r * self.aabb[1]]
            )
        self.aabb.copy_(new_aabb)
        self.update_step_size()
        box = [[round(v, 3) for v in r] for r in self.aabb.tolist()]
        print(f"tensorf: box shrunk to {box}, grid {self.field.grid_size}")

    @torch.no_grad()
    def hits_bbox(self, rays_o: Tensor, rays_d: Tensor) -> Tensor:
        """[R] bool: the ray line crosses the current box (the initial training-ray filter)."""
        return bbox_hits(rays_o, rays_d, self.aabb)

    @torch.no_grad()
    def meets_alpha_mask(self, rays_o: Tensor, rays_d: Tensor) -> Tensor:
        """[R] bool: one of the filter_n_samples points t_min + k step (k < filter_n_samples, t_min the box
        entry clamped to [near, far]) has a non-zero alpha-mask value (official ``filtering_rays``). Only the
        points inside the mask's box grown by one mask cell are tested (the interpolated mask is 0 beyond)."""
        mask = self._mask()
        n = int(self.cfg["filter_n_samples"])
        t_enter, _ = slab(rays_o, rays_d, self.aabb)
        t_min = t_enter.clamp(min=self.near, max=self.far)
        cell = (mask.aabb[1] - mask.aabb[0]) / (torch.tensor(mask.grid_size, device=mask.aabb.device) - 1).clamp(min=1)
        m_enter, m_exit = slab(rays_o, rays_d, torch.stack([mask.aabb[0] - cell, mask.aabb[1] + cell]))
        first = torch.floor((m_enter - t_min) / self.step_size).clamp(0, n)
        last = torch.floor((m_exit - t_min) / self.step_size + 1).clamp(-1, n - 1)
        count = torch.where(m_exit > m_enter, last - first + 1, torch.zeros_like(first)).clamp(min=0).long()
        rays = torch.repeat_interleave(torch.arange(rays_o.shape[0], device=rays_o.device), count)
        starts = torch.cumsum(count, 0) - count
        k = first[rays] + (torch.arange(rays.shape[0], device=rays_o.device) - starts[rays])
        z = t_min[rays] + self.step_size * k
        pts = rays_o[rays] + rays_d[rays] * z[:, None]
        hit = torch.zeros(rays_o.shape[0], dtype=torch.bool, device=rays_o.device)
        hit[rays[mask.occupied(pts)]] = True
        return hit

    @torch.no_grad()
    def filter_rays(self, bank, chunk: int = 16384) -> Tensor:
        """Positions [K] of the rays of ``bank`` that meet the alpha mask (``meets_alpha_mask``)."""
        hits = [self.meets_alpha_mask(c["rays_o"], c["rays_d"]) for c in bank.chunks(chunk)]
        return torch.cat(hits).nonzero().squeeze(1)

    # ---------------------------------------------------------------------------------- checkpoint
    def get_extra_state(self) -> dict:
        return {
            "reso_cur": list(self.reso_cur),
            "reso_mask": None if self.reso_mask is None else list(self.reso_mask),
            "alpha_mask": None if self.alpha_mask is None else self.alpha_mask.state(),
        }

    def set_extra_state(self, state: dict) -> None:
        self.reso_cur = [int(v) for v in state["reso_cur"]]
        self.reso_mask = None if state["reso_mask"] is None else [int(v) for v in state["reso_mask"]]
        mask = state["alpha_mask"]
        self.alpha_mask = None if mask is None else AlphaGridMask.from_state(mask).to(self.aabb.device)

    def load_state_dict(self, state_dict, strict: bool = True, assign: bool = False):
        """Resize the planes / lines to the saved shapes, then load (the box and step follow)."""
        self.field.resize_like(state_dict, "field.")
        result = super().load_state_dict(state_dict, strict=strict, assign=assign)
        self.update_step_size()
        return result
