"""Dynamic NeRF (Gao et al., ICCV 2021; official gaochen315/DynamicNeRF) under the trainer's model protocol.

Two fields on the same samples of a ray, in normalised device coordinates (NDC, forward-facing scenes):
  static   (c_s, sigma_s) = F_s(gamma(x), gamma(d))   8 x 256 MLP, PE 10 (xyz) / 4 (view dirs), skip after layer 4
  dynamic  (c_d, sigma_d, s_b, s_f, b) = F_d(gamma(x, t))   PE 10 of (x, y, z, t) (84 inputs), no view dirs by
           default; scene flow s_b, s_f = tanh(.) [3] each (NDC is bounded), blending b = sigmoid(.) in [0, 1]
(t = 2 time - 1 with time = i / N, so t in [-1, 1); neighbouring frames are Delta = 2 / N apart.)

Rays (``ndc_rays``, near plane 1): o' = o + t_n d with t_n = -(1 + o_z) / d_z, then
  o_ndc = (-2 f_x / W o'_x / o'_z, -2 f_y / H o'_y / o'_z, 1 + 2 / o'_z),
  d_ndc = (-2 f_x / W (d_x / d_z - o'_x / o'_z), -2 f_y / H (d_y / d_z - o'_y / o'_z), -2 / o'_z);
samples z_i on [0, 1] (``n_samples``, stratified in training), x_i = o_ndc + z_i d_ndc, delta_i =
(z_{i+1} - z_i) |d_ndc| (last 1e10). alpha = 1 - exp(-relu(sigma + n) delta), n ~ N(0, raw_noise_std^2) in
training (the same n for both fields). Per field T_i = prod_{j<i} (1 - alpha_j + 1e-10), w_i = T_i alpha_i,
C = sum w_i c_i. Composite (``composite_blend``, the official ``raw2outputs``):
  T^full_i = prod_{j<i} [(1 - b_j alpha^d_j)(1 - (1 - b_j) alpha^s_j) + 1e-10]
  C^full   = sum_i T^full_i (b_i alpha^d_i c^d_i + (1 - b_i) alpha^s_i c^s_i),
  w^full_i = T^full_i (b_i alpha^d_i + (1 - b_i) alpha^s_i), dynamicness = sum_i w^full_i b_i.
Depths are sum_i w_i z_i (NDC, = 1 - 1 / depth: a negative disparity up to a shift).

Scene flow warping: x_i^f = x_i + s_f(x_i, t) at t + Delta and x_i^b = x_i + s_b(x_i, t) at t - Delta; the
dynamic field there gives the rendered colours C^d_f, C^d_b (with the original z / delta) and the flows
s_b(x^f, t + Delta), s_f(x^b, t - Delta) for the cycle consistency; x^ff = x^f + s_f(x^f), x^bb = x^b + s_b(x^b)
feed the temporal smoothness and, after 2 decay periods, colours at t +- 2 Delta (``chain_5frames``).
Induced optical flow (``induced_flow``): the weighted warped point sum_i w^d_i x^f_i, back to world
(``ndc_to_world``) and projected by the neighbour frame's camera, minus the pixel centre.

Training (``pretrain``, the official Balloon1 config): stage "static" fits F_s alone on static pixels
(``phase="static"``: loss = mse(C^s, target)); stage "" then freezes F_s and trains F_d with every loss of
``s3im.models.dynamic_nerf.losses``; "rgb" is the composite C^full, the colour S3IM (multiplex) sees.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from common.fields.encoding import encoding_dim, positional_encoding
from s3im.models.nerf.sampling import coarse_t

# official run_nerf.py defaults + configs/config_Balloon1.txt
DEFAULTS: dict = {
    "netdepth": 8,
    "netwidth": 256,
    "skips": [4],
    "multires": 10,  # PE frequencies of (x, y, z) and (x, y, z, t)
    "multires_views": 4,
    "use_viewdirs": True,  # static field is view dependent
    "use_viewdirs_dyn": False,  # dynamic field is not (use_viewdirsDyn = False)
    "n_samples": 64,  # N_samples (N_importance = 0: one pass)
    "perturb": True,
    "raw_noise_std": 1.0,
    "dynerf_blending": True,  # blending from the dynamic field (DyNeRF_blending)
    "pretrain": True,  # pre-train the static field, then freeze it
    "pretrain_iters": 300000,  # the official pre-training loop runs N_iters steps
    "lrate": 5.0e-4,
    "adam_betas": [0.9, 0.999],
    "lambda_decay_steps": None,  # null: official decay_iteration * 1000 = max(25, N) * 1000
    "full_loss_lambda": 3.0,
    "static_loss_lambda": 1.0,
    "dynamic_loss_lambda": 1.0,
    "depth_loss_lambda": 0.04,
    "order_loss_lambda": 0.1,
    "flow_loss_lambda": 0.02,
    "slow_loss_lambda": 0.01,
    "smooth_loss_lambda": 0.1,
    "consistency_loss_lambda": 1.0,
    "mask_loss_lambda": 0.1,
    "sparse_loss_lambda": 0.001,
    "netchunk": 65536,  # samples per network call (speed / memory only)
    "zero_init_flow": False,  # True: the scene-flow head starts at 0 (official: torch's default init)
}
LAST_DELTA = 1e10
EPS_T = 1e-10


def resolve_config(model_cfg: dict) -> dict:
    cfg = {k: v for k, v in model_cfg.items() if k != "name"}
    unknown = sorted(set(cfg) - set(DEFAULTS))
    if unknown:
        raise ValueError(f"unknown Dynamic NeRF config key(s) {unknown}; valid keys: {sorted(DEFAULTS)}")
    return {**DEFAULTS, **cfg}


# ------------------------------------------------------------------------------------------ geometry
def ndc_rays(o: Tensor, d: Tensor, H: int, W: int, fx: float, fy: float, near: float = 1.0) -> tuple[Tensor, Tensor]:
    """NDC origins and directions [R, 3] of world rays o, d [R, 3] (module doc; any norm of d)."""
    t = -(near + o[..., 2]) / d[..., 2]
    o = o + t[..., None] * d
    ax, ay = -2.0 * fx / W, -2.0 * fy / H
    o_ndc = torch.stack([ax * o[..., 0] / o[..., 2], ay * o[..., 1] / o[..., 2], 1.0 + 2.0 * near / o[..., 2]], -1)
    d_ndc = torch.stack(
        [
            ax * (d[..., 0] / d[..., 2] - o[..., 0] / o[..., 2]),
            ay * (d[..., 1] / d[..., 2] - o[..., 1] / o[..., 2]),
            -2.0 * near / o[..., 2],
        ],
        -1,
    )
    return o_ndc, d_ndc


def ndc_to_world(p: Tensor, H: int, W: int, fx: float, fy: float) -> Tensor:
    """World points [..., 3] of NDC points [..., 3] (near plane 1): z = 2 / (clamp(p_z, -1, 1 - 1e-3) - 1),
    x = -p_x z W / (2 f_x), y = -p_y z H / (2 f_y) (the official ``NDC2world``)."""
    z = 2.0 / (torch.clamp(p[..., 2:], -1.0, 1.0 - 1e-3) - 1.0)
    return torch.cat([-p[..., 0:1] * z * W / (2.0 * fx), -p[..., 1:2] * z * H / (2.0 * fy), z], -1)


def project(points: Tensor, K: Tensor, c2w: Tensor) -> Tensor:
    """Pixel coordinates [R, 2] (pixel centres at u + 0.5) of world points [R, 3] seen by OpenCV cameras
    K [R | 1, 3, 3], c2w [R | 1, 4, 4]: x_c = R^T (X - t), (u, v) = (K x_c)_{xy} / z_c."""
    cam = ((points - c2w[..., :3, 3])[..., None, :] @ c2w[..., :3, :3])[..., 0, :]
    pix = (cam[..., None, :] @ K.transpose(-1, -2))[..., 0, :]
    return pix[..., :2] / pix[..., 2:3]


def induced_flow(
    weights: Tensor, pts_nb: Tensor, K: Tensor, c2w: Tensor, pixel: Tensor, hwf: tuple[int, int, float, float]
) -> Tensor:
    """Optical flow [R, 2] induced by scene flow: project(ndc_to_world(sum_i w_i x^nb_i)) - pixel.

    weights [R, S] (of the dynamic field at time t), pts_nb [R, S, 3] NDC points warped to the neighbour time,
    K / c2w of the neighbour frame's camera, pixel [R, 2] the ray's pixel centre (u + 0.5, v + 0.5).
    """
    H, W, fx, fy = hwf
    p = torch.sum(weights[..., None] * pts_nb, -2)
    return project(ndc_to_world(p, H, W, fx, fy), K, c2w) - pixel


# ------------------------------------------------------------------------------------------ rendering
def sample_deltas(z: Tensor, d_ndc: Tensor) -> Tensor:
    """delta [R, S] = (z_{i+1} - z_i) |d| with 1e10 after the last sample."""
    dz = torch.cat([z[:, 1:] - z[:, :-1], torch.full_like(z[:, :1], LAST_DELTA)], -1)
    return dz * torch.linalg.norm(d_ndc, dim=-1, keepdim=True)


def alpha_of(sigma_raw: Tensor, delta: Tensor) -> Tensor:
    return 1.0 - torch.exp(-F.relu(sigma_raw) * delta)


def transmittance(keep: Tensor) -> Tensor:
    """T_i = prod_{j<i} (keep_j + 1e-10) [R, S] (the official cumprod with its 1e-10)."""
    ones = torch.ones_like(keep[:, :1])
    return torch.cumprod(torch.cat([ones, keep + EPS_T], -1), -1)[:, :-1]


def composite_single(rgb: Tensor, alpha: Tensor, z: Tensor) -> dict[str, Tensor]:
    """One field: rgb [R, 3] = sum w c, weights [R, S], depth [R] = sum w z, acc [R] (black background)."""
    w = alpha * transmittance(1.0 - alpha)
    return {"rgb": torch.sum(w[..., None] * rgb, -2), "weights": w, "depth": torch.sum(w * z, -1), "acc": w.sum(-1)}


def composite_blend(
    rgb_s: Tensor, alpha_s: Tensor, rgb_d: Tensor, alpha_d: Tensor, blending: Tensor, z: Tensor
) -> dict[str, Tensor]:
    """The static / dynamic composite of the module doc. rgb_* [R, S, 3], alpha_* / blending / z [R, S].

    Returns rgb_full / rgb_s / rgb_d [R, 3], weights_full / weights_s / weights_d [R, S], depth_* and acc_* [R],
    dynamicness [R].
    """
    s, d = composite_single(rgb_s, alpha_s, z), composite_single(rgb_d, alpha_d, z)
    t_full = transmittance((1.0 - alpha_d * blending) * (1.0 - alpha_s * (1.0 - blending)))
    w_full = (alpha_d * blending + alpha_s * (1.0 - blending)) * t_full
    rgb_full = torch.sum(
        (t_full * alpha_d * blending)[..., None] * rgb_d + (t_full * alpha_s * (1.0 - blending))[..., None] * rgb_s,
        -2,
    )
    return {
        "rgb_full": rgb_full,
        "weights_full": w_full,
        "depth_full": torch.sum(w_full * z, -1),
        "acc_full": w_full.sum(-1),
        "dynamicness": torch.sum(w_full * blending, -1),
        **{f"{k}_s": v for k, v in s.items()},
        **{f"{k}_d": v for k, v in d.items()},
    }


# ------------------------------------------------------------------------------------------ networks
class Trunk(nn.Module):
    """depth x width ReLU MLP; the input is concatenated back after the layers listed in ``skips``."""

    def __init__(self, in_dim: int, depth: int, width: int, skips=(4,)):
        super().__init__()
        self.skips = tuple(int(s) for s in skips)
        self.layers = nn.ModuleList(
            [nn.Linear(in_dim, width)]
            + [nn.Linear(width + in_dim if i in self.skips else width, width) for i in range(depth - 1)]
        )

    def forward(self, x: Tensor) -> Tensor:
        h = x
        for i, layer in enumerate(self.layers):
            h = F.relu(layer(h))
            if i in self.skips:
                h = torch.cat([x, h], -1)
        return h


class ColourHead(nn.Module):
    """(rgb_raw [P, 3], sigma_raw [P]) from trunk features: view dependent (sigma head, feature, 1 layer of
    width / 2 on [feature, gamma(d)]) or not (one linear layer to 4)."""

    def __init__(self, width: int, views_dim: int | None):
        super().__init__()
        self.views = views_dim is not None
        if self.views:
            self.alpha = nn.Linear(width, 1)
            self.feature = nn.Linear(width, width)
            self.view_layer = nn.Linear(width + views_dim, width // 2)
            self.rgb = nn.Linear(width // 2, 3)
        else:
            self.out = nn.Linear(width, 4)

    def forward(self, h: Tensor, views: Tensor | None) -> tuple[Tensor, Tensor]:
        if not self.views:
            out = self.out(h)
            return out[..., :3], out[..., 3]
        v = F.relu(self.view_layer(torch.cat([self.feature(h), views], -1)))
        return self.rgb(v), self.alpha(h)[..., 0]


class StaticField(nn.Module):
    """F_s: x [P, 3], d [P, 3] -> rgb_raw [P, 3], sigma_raw [P], blending [P] (sigmoid; used only when the
    blending does not come from the dynamic field)."""

    def __init__(self, depth, width, multires, multires_views, skips, use_viewdirs: bool):
        super().__init__()
        self.multires, self.multires_views, self.use_viewdirs = int(multires), int(multires_views), bool(use_viewdirs)
        self.trunk = Trunk(encoding_dim(3, self.multires), depth, width, skips)
        self.head = ColourHead(width, encoding_dim(3, self.multires_views) if self.use_viewdirs else None)
        self.blend = nn.Linear(width, 1)

    def forward(self, x: Tensor, d: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        h = self.trunk(positional_encoding(x, self.multires))
        views = positional_encoding(d, self.multires_views) if self.use_viewdirs else None
        rgb, sigma = self.head(h, views)
        return rgb, sigma, torch.sigmoid(self.blend(h))[..., 0]


class DynamicField(nn.Module):
    """F_d: x [P, 3], t [P, 1], d [P, 3] -> rgb_raw [P, 3], sigma_raw [P], s_b [P, 3], s_f [P, 3] (tanh),
    blending [P] (sigmoid). ``zero_init_flow``: the scene-flow layer starts at weight = bias = 0, so s_b = s_f = 0
    at initialisation (the field starts static; the official layer has torch's default init)."""

    def __init__(self, depth, width, multires, multires_views, skips, use_viewdirs: bool, zero_init_flow=False):
        super().__init__()
        self.multires, self.multires_views, self.use_viewdirs = int(multires), int(multires_views), bool(use_viewdirs)
        self.trunk = Trunk(encoding_dim(4, self.multires), depth, width, skips)
        self.head = ColourHead(width, encoding_dim(3, self.multires_views) if self.use_viewdirs else None)
        self.flow = nn.Linear(width, 6)
        if zero_init_flow:
            nn.init.zeros_(self.flow.weight)
            nn.init.zeros_(self.flow.bias)
        self.blend = nn.Linear(width, 1)

    def forward(self, x: Tensor, t: Tensor, d: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
        h = self.trunk(positional_encoding(torch.cat([x, t], -1), self.multires))
        views = positional_encoding(d, self.multires_views) if self.use_viewdirs else None
        rgb, sigma = self.head(h, views)
        sf = torch.tanh(self.flow(h))
        return rgb, sigma, sf[..., :3], sf[..., 3:], torch.sigmoid(self.blend(h))[..., 0]


def _chunked(fn, chunk: int, *inputs: Tensor) -> tuple[Tensor, ...]:
    n = inputs[0].shape[0]
    if n <= chunk:
        return fn(*inputs)
    parts = [fn(*(x[i : i + chunk] for x in inputs)) for i in range(0, n, chunk)]
    return tuple(torch.cat(p) for p in zip(*parts))


# ------------------------------------------------------------------------------------------ model
class DynamicNeRF(nn.Module):
    """Static + dynamic NeRF with scene flow and blending (module doc).

    Built from the training frames' cameras: ``c2w`` [N, 4, 4] (OpenCV, world frame of the loader), ``K``
    [N, 3, 3] and the image size (the NDC map uses H, W, f_x, f_y). ``phase``: "static" (pre-training) or
    "dynamic"; the family's stages set it.

    forward(batch, step) -> in phase "static": rgb (= C^s); in phase "dynamic": rgb (= C^full), rgb_s, rgb_d,
    rgb_d_f, rgb_d_b (+ rgb_d_ff, rgb_d_bb after 2 decay periods), depth_s, depth_d, weights_d, blending,
    dynamicness, sf_f, sf_b, sf_f_b, sf_b_f, pts, pts_f, pts_b, pts_ff, pts_bb [R, S, 3], induced_flow_f / _b.
    render(rays, chunk) -> rgb (composite), depth (NDC), acc, rgb_static, rgb_dynamic, dynamicness.
    """

    def __init__(self, cfg: dict, c2w: Tensor, K: Tensor, height: int, width: int, ndc_near: float = 1.0):
        super().__init__()
        self.cfg = c = resolve_config(cfg)
        K = torch.as_tensor(K, dtype=torch.float32)
        self.register_buffer("c2w_frames", torch.as_tensor(c2w, dtype=torch.float32), persistent=False)
        self.register_buffer("K_frames", K, persistent=False)
        self.num_frames = int(self.c2w_frames.shape[0])
        self.hwf = (int(height), int(width), float(K[0, 0, 0]), float(K[0, 1, 1]))
        self.ndc_near = float(ndc_near)
        args = (int(c["netdepth"]), int(c["netwidth"]), int(c["multires"]), int(c["multires_views"]), c["skips"])
        self.static = StaticField(*args, bool(c["use_viewdirs"]))
        self.dynamic = DynamicField(*args, bool(c["use_viewdirs_dyn"]), bool(c["zero_init_flow"]))
        decay = c["lambda_decay_steps"]
        self.decay_steps = int(decay) if decay else max(25, self.num_frames) * 1000
        self.set_phase("static" if c["pretrain"] else "dynamic")

    # -- optimisation
    def set_phase(self, phase: str) -> None:
        """ "static": train F_s alone; "dynamic": train F_d (F_s frozen when pre-trained) or both."""
        if phase not in ("static", "dynamic"):
            raise ValueError(f"phase must be 'static' or 'dynamic', got {phase!r}")
        self.phase = phase
        frozen = phase == "dynamic" and bool(self.cfg["pretrain"])
        self.static.requires_grad_(not frozen)
        self.dynamic.requires_grad_(phase == "dynamic")

    def trained_parameters(self) -> list[Tensor]:
        if self.phase == "static":
            return list(self.static.parameters())
        if self.cfg["pretrain"]:
            return list(self.dynamic.parameters())
        return list(self.parameters())

    def configure_optimizer(self, betas, eps) -> torch.optim.Optimizer:
        """Adam over the parameters of the phase with the official betas (0.9, 0.999) (``adam_betas``)."""
        b = tuple(float(x) for x in self.cfg["adam_betas"])
        return torch.optim.Adam(
            [{"name": self.phase, "params": self.trained_parameters(), "lr": float(self.cfg["lrate"])}],
            betas=b,
            eps=eps,
        )

    def lambda_scale(self, step: int) -> float:
        """Temp = 10^-(step // decay_steps): the decay of the depth and flow weights."""
        return 1.0 / (10 ** (int(step) // self.decay_steps))

    # -- fields on samples
    def _static(self, pts: Tensor, viewdirs: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        R, S, _ = pts.shape
        d = viewdirs[:, None, :].expand(R, S, 3).reshape(-1, 3)
        fn = self.static
        if not any(p.requires_grad for p in self.static.parameters()):
            with torch.no_grad():
                rgb, sig, b = _chunked(fn, int(self.cfg["netchunk"]), pts.reshape(-1, 3), d)
        else:
            rgb, sig, b = _chunked(fn, int(self.cfg["netchunk"]), pts.reshape(-1, 3), d)
        return torch.sigmoid(rgb).view(R, S, 3), sig.view(R, S), b.view(R, S)

    def _dynamic(self, pts: Tensor, t: Tensor, viewdirs: Tensor) -> dict[str, Tensor]:
        """Dynamic field at points [R, S, 3] (NDC) and times t [R] (official units)."""
        R, S, _ = pts.shape
        tt = t[:, None, None].expand(R, S, 1).reshape(-1, 1).to(pts.dtype)
        d = viewdirs[:, None, :].expand(R, S, 3).reshape(-1, 3)
        rgb, sig, sf_b, sf_f, b = _chunked(self.dynamic, int(self.cfg["netchunk"]), pts.reshape(-1, 3), tt, d)
        return {
            "rgb": torch.sigmoid(rgb).view(R, S, 3),
            "sigma": sig.view(R, S),
            "sf_b": sf_b.view(R, S, 3),
            "sf_f": sf_f.view(R, S, 3),
            "blending": b.view(R, S),
        }

    def _samples(self, rays: dict) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
        """(pts [R, S, 3], z [R, S], delta [R, S], viewdirs [R, 3], t [R]) in NDC / official time."""
        if "time" not in rays:
            raise ValueError("Dynamic NeRF needs per-ray times: the scene has no 'times' (format nvidia_dynamic)")
        o, d = rays["rays_o"], rays["rays_d"]
        viewdirs = F.normalize(d, dim=-1)
        H, W, fx, fy = self.hwf
        o_n, d_n = ndc_rays(o, d, H, W, fx, fy, self.ndc_near)
        zeros = torch.zeros(o.shape[0], dtype=o.dtype, device=o.device)
        z = coarse_t(zeros, zeros + 1.0, int(self.cfg["n_samples"]), self.training and bool(self.cfg["perturb"]))
        pts = o_n[:, None, :] + d_n[:, None, :] * z[..., None]
        t = 2.0 * rays["time"].to(o.dtype) - 1.0
        return pts, z, sample_deltas(z, d_n), viewdirs, t

    def _noise(self, like: Tensor) -> Tensor | float:
        std = float(self.cfg["raw_noise_std"]) if self.training else 0.0
        return torch.randn(like.shape, dtype=like.dtype, device=like.device) * std if std > 0 else 0.0

    def render_rays(self, rays: dict, step: int = 0, inference: bool = False) -> dict[str, Tensor]:
        pts, z, delta, viewdirs, t = self._samples(rays)
        rgb_s, sig_s, blend_s = self._static(pts, viewdirs)
        if self.phase == "static":
            out = composite_single(rgb_s, alpha_of(sig_s + self._noise(sig_s), delta), z)
            return {"rgb": out["rgb"], "depth": out["depth"], "acc": out["acc"]}
        dyn = self._dynamic(pts, t, viewdirs)
        blending = dyn["blending"] if self.cfg["dynerf_blending"] else blend_s
        noise = self._noise(sig_s)
        comp = composite_blend(
            rgb_s, alpha_of(sig_s + noise, delta), dyn["rgb"], alpha_of(dyn["sigma"] + noise, delta), blending, z
        )
        out = {
            "rgb": comp["rgb_full"],
            "depth": comp["depth_full"],
            "acc": comp["acc_full"],
            "rgb_s": comp["rgb_s"],
            "rgb_d": comp["rgb_d"],
            "depth_s": comp["depth_s"],
            "depth_d": comp["depth_d"],
            "weights_d": comp["weights_d"],
            "dynamicness": comp["dynamicness"],
            "blending": blending,
        }
        if inference:
            return out
        delta_t = 2.0 / self.num_frames
        pts_f, pts_b = pts + dyn["sf_f"], pts + dyn["sf_b"]
        dyn_f = self._dynamic(pts_f, t + delta_t, viewdirs)
        dyn_b = self._dynamic(pts_b, t - delta_t, viewdirs)
        out["rgb_d_f"] = composite_single(dyn_f["rgb"], alpha_of(dyn_f["sigma"] + self._noise(z), delta), z)["rgb"]
        out["rgb_d_b"] = composite_single(dyn_b["rgb"], alpha_of(dyn_b["sigma"] + self._noise(z), delta), z)["rgb"]
        pts_ff, pts_bb = pts_f + dyn_f["sf_f"], pts_b + dyn_b["sf_b"]
        if int(step) >= 2 * self.decay_steps:  # chain_5frames: also render at t +- 2 Delta
            for key, p, tt in (("rgb_d_ff", pts_ff, t + 2 * delta_t), ("rgb_d_bb", pts_bb, t - 2 * delta_t)):
                far = self._dynamic(p, tt, viewdirs)
                out[key] = composite_single(far["rgb"], alpha_of(far["sigma"] + self._noise(z), delta), z)["rgb"]
        out.update(
            sf_f=dyn["sf_f"],
            sf_b=dyn["sf_b"],
            sf_f_b=dyn_f["sf_b"],
            sf_b_f=dyn_b["sf_f"],
            pts=pts,
            pts_f=pts_f,
            pts_b=pts_b,
            pts_ff=pts_ff,
            pts_bb=pts_bb,
        )
        if "frame" in rays and "pixel" in rays:
            frame = rays["frame"].long()
            pixel = rays["pixel"].to(pts.dtype) + 0.5
            nb_f = torch.clamp(frame + 1, max=self.num_frames - 1)
            nb_b = torch.clamp(frame - 1, min=0)
            w = comp["weights_d"]
            out["induced_flow_f"] = induced_flow(w, pts_f, self.K_frames[nb_f], self.c2w_frames[nb_f], pixel, self.hwf)
            out["induced_flow_b"] = induced_flow(w, pts_b, self.K_frames[nb_b], self.c2w_frames[nb_b], pixel, self.hwf)
        return out

    def forward(self, batch: dict, step: int | None = None) -> dict[str, Tensor]:
        return self.render_rays(batch, int(step or 0))

    def losses(self, outputs: dict, batch: dict, step: int | None = None) -> dict[str, Tensor]:
        from s3im.models.dynamic_nerf.losses import dynamic_nerf_losses

        if self.phase == "static":
            return {"static": float(self.cfg["static_loss_lambda"]) * F.mse_loss(outputs["rgb"], batch["rgb"])}
        return dynamic_nerf_losses(outputs, batch, self.cfg, int(step or 0), self.decay_steps, self.hwf)

    @torch.no_grad()
    def render(self, rays: dict, chunk: int = 4096) -> dict[str, Tensor]:
        was = self.training
        self.eval()
        keys = ("rays_o", "rays_d", "time")
        names = {"rgb": "rgb", "depth": "depth", "acc": "acc", "rgb_s": "rgb_static", "rgb_d": "rgb_dynamic"}
        names["dynamicness"] = "dynamicness"
        outs = []
        for i in range(0, rays["rays_o"].shape[0], chunk):
            out = self.render_rays({k: rays[k][i : i + chunk] for k in keys if k in rays}, inference=True)
            outs.append({new: out[old] for old, new in names.items() if old in out})
        self.train(was)
        return {k: torch.cat([o[k] for o in outs]) for k in outs[0]}
