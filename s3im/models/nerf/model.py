"""Vanilla NeRF with hierarchical sampling (nerf-pytorch ``render_rays``) under the trainer's model protocol.

Per ray batch (R rays, S_c = n_samples coarse, S_f = n_importance fine samples):
  1. coarse t [R, S_c] in [near, far] (``sampling.coarse_t``; jittered in training), coarse network on
     them -> coarse rgb [R, 3] and weights [R, S_c];
  2. fine t [R, S_f] from the coarse weights (``sampling.fine_t``; deterministic at evaluation), the fine
     network on all S_c + S_f samples sorted by t -> fine rgb [R, 3] (the "rgb" output, the one S3IM sees);
  3. loss = mse(fine rgb, target) + mse(coarse rgb, target).
Density noise N(0, raw_noise_std^2) is added before the ReLU in training only; white background
(rgb + (1 - acc)) with ``white_bkgd``. Without a fine network (``n_importance`` 0) the coarse output is "rgb".

The fine pass evaluates the fine network on the coarse samples' encodings (computed once, in the coarse
pass) concatenated with the new samples' encodings, in that unsorted order; the network is per-sample, so
sorting its outputs (rgb, sigma) by t afterwards gives what evaluating the sorted samples gives.

Near / far: the scene's (or the config's) values; ``near_far: z_depth`` (nerf-pytorch, whose rays have
camera-z = 1 directions) treats them as camera z-depths, i.e. t_near = near * dir_norm along the unit ray
(``dir_norm`` = ||K^-1 [u, v, 1]|| from the ray dict; a dict without it is read as distances);
``distance`` uses them as distances along the ray. ``clip_bbox`` (off in nerf-pytorch; a speed option of
the quick profiles) then clips each ray's [near, far] to its slab-test interval with the scene's ``bbox``
[2, 3] (``common.render.aabb.ray_aabb_intersect``): all S_c coarse samples fall inside the region of interest
instead of spreading over [near, far], and a ray that misses the box is not evaluated at all (rgb = the
background, acc = depth = 0, its t rows = its near bound).

The networks run ``netchunk`` samples per call (whole rays), which bounds the size of every temporary:
at 8192 samples a [8192, 256] float32 block is 8 MiB, below glibc's largest mmap threshold, so freed
blocks are reused by the allocator instead of being mapped and page-faulted anew each step (a plain
full-batch step at 256 rays x (32 + 64) samples takes ~31k minor page faults per step, this one ~0).
``precision`` (``common.engine.precision``): ``bf16`` runs the networks under bfloat16 autocast (fp32
weights, compositing and losses), ``auto`` does so where the device has native bf16 matmuls (AMX /
AVX512-BF16 CPUs, bf16 GPUs), ``fp32`` never; default fp32 (nerf-pytorch).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from common.engine.precision import PRECISIONS, autocast
from common.fields.encoding import positional_encoding
from common.fields.nerf import NeRF, NeRFFields
from common.render.aabb import ray_aabb_intersect
from common.render.sampling import points_from_t
from s3im.models.nerf.network import evaluate_nerf
from s3im.models.nerf.sampling import COARSE_SAMPLING, coarse_t, fine_t, render_samples

# nerf-pytorch defaults (run_nerf.py config_parser + configs/lego.txt); the presets set every key.
DEFAULTS: dict = {
    "netdepth": 8,  # trunk layers (coarse and fine)
    "netwidth": 256,  # trunk width
    "skips": [4],  # input re-injected after this layer
    "multires": 10,  # xyz positional-encoding frequencies
    "multires_views": 4,  # view-direction frequencies
    "use_viewdirs": True,  # view-dependent colour branch
    "n_samples": 64,  # coarse samples per ray (N_samples)
    "n_importance": 128,  # fine samples per ray (N_importance); 0 = no fine network
    "perturb": True,  # jitter the coarse samples and draw random fine samples in training
    "coarse_sampling": "linspace",  # linspace (nerf-pytorch) | bins (common stratified_samples)
    "raw_noise_std": 0.0,  # density noise std in training (nerf-pytorch: 0 blender, 1 LLFF)
    "white_bkgd": True,  # composite on white
    "near": None,  # null = the scene's near
    "far": None,  # null = the scene's far
    "near_far": "z_depth",  # z_depth (nerf-pytorch planes) | distance (along the unit ray)
    "clip_bbox": False,  # clip each ray's [near, far] to the scene's bbox; rays that miss it are background
    "lrate": 5e-4,  # Adam learning rate
    "adam_betas": [0.9, 0.999],  # nerf-pytorch's Adam betas (torch defaults)
    "adam_eps": 1e-8,
    "precision": "fp32",  # fp32 | bf16 autocast | auto (bf16 where matmuls are native bf16: AMX / AVX512-BF16 / GPU)
    "netchunk": 8192,  # samples per network call (nerf-pytorch netchunk: 65536)
    "precrop_iters": 0,  # steps drawing rays from the central crop of the images (read by the family's sampler)
    "precrop_frac": 0.5,  # side of that crop / image side
}
NEAR_FAR = ("z_depth", "distance")


def resolve_config(model_cfg: dict) -> dict:
    """DEFAULTS <- the ``model:`` subtree (minus ``name``), validated."""
    cfg = {k: v for k, v in model_cfg.items() if k != "name"}
    unknown = sorted(set(cfg) - set(DEFAULTS))
    if unknown:
        raise ValueError(f"unknown NeRF config key(s) {unknown}; valid keys: {sorted(DEFAULTS)}")
    out = {**DEFAULTS, **cfg}
    for key, allowed in (("coarse_sampling", COARSE_SAMPLING), ("near_far", NEAR_FAR), ("precision", PRECISIONS)):
        if out[key] not in allowed:
            raise ValueError(f"NeRF {key} must be one of {allowed}, got {out[key]!r}")
    if int(out["n_samples"]) < 2:
        raise ValueError(f"NeRF n_samples must be >= 2, got {out['n_samples']}")
    return out


class VanillaNeRF(nn.Module):
    """Coarse + fine NeRF (``common.fields.NeRFFields``) with nerf-pytorch's sampling and losses.

    cfg: the model config (keys of ``DEFAULTS``); near, far: the scene's bounds, used where the config's
    are null; bbox [2, 3]: the scene's box (needed by ``clip_bbox``). forward(batch, step) -> dict rgb [R, 3]
    (fine), rgb_coarse [R, 3] (when there is a fine pass), depth [R], acc [R], t_coarse [R, S_c] (coarse
    samples) and t [R, S_c + S_f] (all samples of the last pass, sorted); render(rays, chunk) -> rgb, depth,
    acc in eval mode (no noise, no jitter).
    """

    def __init__(self, cfg: dict, near: float, far: float, bbox=None):
        super().__init__()
        self.cfg = resolve_config(cfg)
        c = self.cfg
        if c["clip_bbox"] and bbox is None:
            raise ValueError("NeRF clip_bbox needs the scene's bbox [2, 3] (min corner, max corner)")
        box = torch.as_tensor(bbox if bbox is not None else [[0.0] * 3] * 2, dtype=torch.float32).reshape(2, 3)
        self.register_buffer("bbox", box, persistent=False)
        self.near = float(c["near"] if c["near"] is not None else near)
        self.far = float(c["far"] if c["far"] is not None else far)
        if not self.far > self.near >= 0:
            raise ValueError(f"NeRF needs 0 <= near < far, got near {self.near}, far {self.far}")
        self.n_samples, self.n_importance = int(c["n_samples"]), int(c["n_importance"])
        self.fields = NeRFFields(
            with_fine=self.n_importance > 0,
            depth=int(c["netdepth"]),
            width=int(c["netwidth"]),
            pos_freqs=int(c["multires"]),
            view_freqs=int(c["multires_views"]),
            skips=tuple(c["skips"]),
            use_viewdirs=bool(c["use_viewdirs"]),
        )

    # ------------------------------------------------------------------------------- rendering
    def _network(self, net: NeRF, pe: Tensor, view_pe: Tensor | None) -> tuple[Tensor, Tensor]:
        """(rgb [R, S, 3], sigma_raw [R, S]) of ``net`` on encodings pe [R, S, C], ``netchunk`` points at a time."""
        n_rays, n_samples, width = pe.shape
        step = max(1, int(self.cfg["netchunk"]) // n_samples)  # rays per network call
        rgbs, sigmas = [], []
        with autocast(self.cfg["precision"], pe.device):
            for r0 in range(0, n_rays, step):
                part = pe[r0 : r0 + step]
                views = view_pe[r0 : r0 + step] if view_pe is not None else None
                rgb, sigma = evaluate_nerf(net, part.reshape(-1, width), views, part.shape[0], n_samples)
                rgbs.append(rgb)
                sigmas.append(sigma)
        rgb, sigma = (rgbs[0], sigmas[0]) if len(rgbs) == 1 else (torch.cat(rgbs), torch.cat(sigmas))
        return rgb.to(pe.dtype), sigma.to(pe.dtype)

    def near_far(self, rays: dict) -> tuple[Tensor, Tensor, Tensor | None]:
        """Per-ray t bounds (near [R], far [R], hit [R] bool or None without ``clip_bbox``); see the module doc."""
        o = rays["rays_o"]
        near = torch.full(o.shape[:1], self.near, dtype=o.dtype, device=o.device)
        far = torch.full(o.shape[:1], self.far, dtype=o.dtype, device=o.device)
        if self.cfg["near_far"] == "z_depth" and "dir_norm" in rays:
            scale = rays["dir_norm"].to(o.dtype)
            near, far = near * scale, far * scale
        if not self.cfg["clip_bbox"]:
            return near, far, None
        box = self.bbox.to(o.dtype)
        t0, t1, hit = ray_aabb_intersect(o, rays["rays_d"], box[0], box[1], near, far)
        return t0, t1, hit & (t1 > t0)

    def render_rays(self, rays: dict) -> dict[str, Tensor]:
        """Render a ray dict (rays_o, rays_d unit [R, 3]; viewdirs, dir_norm optional); training-mode
        jitter and noise follow ``self.training``. With ``clip_bbox`` only the rays that cross the box are
        evaluated; the others get the background colour."""
        near, far, hit = self.near_far(rays)
        if hit is None or bool(hit.all()):
            return self._render_bounded(rays, near, far)
        idx = hit.nonzero().squeeze(1)
        keys = ("rays_o", "rays_d", "viewdirs", "dir_norm")
        part = self._render_bounded({k: rays[k][idx] for k in keys if k in rays}, near[idx], far[idx])
        n, o = hit.shape[0], rays["rays_o"]
        background = 1.0 if self.cfg["white_bkgd"] else 0.0
        out = {}
        for key, value in part.items():
            if key.startswith("rgb"):
                full = torch.full((n, 3), background, dtype=value.dtype, device=o.device)
            elif key in ("t", "t_coarse"):
                full = near[:, None].expand(n, value.shape[1]).clone()
            else:
                full = torch.zeros((n, *value.shape[1:]), dtype=value.dtype, device=o.device)
            out[key] = full.index_copy(0, idx, value)
        return out

    def _render_bounded(self, rays: dict, near: Tensor, far: Tensor) -> dict[str, Tensor]:
        """``render_rays`` on rays with their t bounds near, far [R]."""
        c, train = self.cfg, self.training
        rays_o, rays_d = rays["rays_o"], rays["rays_d"]
        viewdirs = rays.get("viewdirs")
        if viewdirs is None:
            viewdirs = F.normalize(rays_d, dim=-1)
        perturb = train and bool(c["perturb"])
        noise = float(c["raw_noise_std"]) if train else 0.0
        background = 1.0 if c["white_bkgd"] else None
        pos_freqs = self.fields.coarse.pos_freqs
        view_pe = positional_encoding(viewdirs, self.fields.coarse.view_freqs) if c["use_viewdirs"] else None

        t_c = coarse_t(near, far, self.n_samples, perturb, c["coarse_sampling"])
        pe_c = positional_encoding(points_from_t(rays_o, rays_d, t_c), pos_freqs)  # [R, S_c, C]
        rgb_c, sigma_c = self._network(self.fields.coarse, pe_c, view_pe)
        coarse = render_samples(rgb_c, sigma_c, t_c, noise, background)
        if self.n_importance == 0:
            return {"rgb": coarse["rgb"], "depth": coarse["depth"], "acc": coarse["acc"], "t_coarse": t_c, "t": t_c}

        t_f = fine_t(t_c, coarse["weights"], self.n_importance, deterministic=not perturb)
        pe_f = positional_encoding(points_from_t(rays_o, rays_d, t_f), pos_freqs)
        pe = torch.cat([pe_c, pe_f], 1)  # [R, S_c + S_f, C], unsorted
        rgb_u, sigma_u = self._network(self.fields.network("fine"), pe, view_pe)
        t_all, order = torch.sort(torch.cat([t_c, t_f], -1), dim=-1)
        rgb_f = torch.gather(rgb_u, 1, order[..., None].expand(-1, -1, 3))
        sigma_f = torch.gather(sigma_u, 1, order)
        fine = render_samples(rgb_f, sigma_f, t_all, noise, background)
        return {
            "rgb": fine["rgb"],
            "rgb_coarse": coarse["rgb"],
            "depth": fine["depth"],
            "acc": fine["acc"],
            "t_coarse": t_c,
            "t": t_all,
        }

    def forward(self, batch: dict, step: int | None = None) -> dict[str, Tensor]:
        """Training outputs of a ray batch (see ``render_rays``)."""
        return self.render_rays(batch)

    @torch.no_grad()
    def render(self, rays: dict, chunk: int = 8192) -> dict[str, Tensor]:
        """Evaluation rendering in chunks of ``chunk`` rays: rgb [R, 3], depth [R], acc [R]."""
        was_training = self.training
        self.eval()
        n = rays["rays_o"].shape[0]
        keys = ("rays_o", "rays_d", "viewdirs", "dir_norm")
        outs = []
        for i in range(0, n, chunk):
            part = {k: rays[k][i : i + chunk] for k in keys if k in rays}
            out = self.render_rays(part)
            outs.append({k: out[k] for k in ("rgb", "depth", "acc")})
        self.train(was_training)
        return {k: torch.cat([o[k] for o in outs]) for k in ("rgb", "depth", "acc")}

    # -------------------------------------------------------------------------------- training
    def losses(self, outputs: dict, batch: dict, step: int | None = None) -> dict[str, Tensor]:
        """mse (fine, or coarse without a fine pass) and mse_coarse (with a fine pass), unweighted."""
        target = batch["rgb"]
        out = {"mse": F.mse_loss(outputs["rgb"], target)}
        if "rgb_coarse" in outputs:
            out["mse_coarse"] = F.mse_loss(outputs["rgb_coarse"], target)
        return out

    def param_groups(self) -> list[dict]:
        """One group: every network parameter at ``lrate``."""
        return [{"name": "nerf", "params": list(self.fields.parameters()), "lr": float(self.cfg["lrate"])}]

    def configure_optimizer(self, betas=None, eps=None) -> torch.optim.Adam:
        """Adam with the config's ``adam_betas`` / ``adam_eps`` (nerf-pytorch: torch defaults 0.9, 0.999,
        1e-8); the trainer's betas / eps are ignored."""
        c = self.cfg
        return torch.optim.Adam(self.param_groups(), betas=tuple(c["adam_betas"]), eps=float(c["adam_eps"]))
