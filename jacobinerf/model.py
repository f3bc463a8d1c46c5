"""The NeRF that JacobiNeRF shapes: vanilla coarse + fine NeRF (``common.fields.NeRFFields``) that also returns
what the Jacobian and the propagation need.

Per ray batch (R rays, S_c coarse and S_f fine samples, official settings in ``DEFAULTS`` comments):
  1. coarse t [R, S_c]: stratified in [near, far] (jittered in training); points x = o + t d are divided by
     ``pos_scale`` (official ``scalar_factor`` 10) before the positional encoding;
  2. fine t: S_f inverse-CDF samples of the coarse weights, merged with the coarse ones (sorted) -> S = S_c + S_f;
  3. the fine network gives, per sample i, the view-branch feature h_i [C] (C = W / 2, the input of
     ``rgb_linear``), the colour logits z_i = rgb_linear(h_i) [3], c_i = sigmoid(z_i) and the density;
     w_i = T_i alpha_i (density only), rgb = sum_i w_i c_i (+ T_final * background).
``render_rays(..., keep_samples=True)`` also returns ``h`` [R, S, C], ``logits`` [R, S, 3] and ``weights``
[R, S] of the fine pass (what ``jacobinerf.jacobian`` and ``jacobinerf.propagation`` read).
Nothing of the fine pass but the colours depends on ``fields.fine.rgb_linear``: a perturbation of that layer
changes ``logits`` only (samples, densities, weights and ``h`` stay fixed).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from common.fields.encoding import positional_encoding
from common.fields.mlp import apply_skip_linears
from common.fields.nerf import NeRF, NeRFFields
from common.render.composite import composite, expected_depth
from common.render.sampling import intervals_from_t, pdf_samples, points_from_t, stratified_samples
from common.render.weights import alpha_from_density, weights_from_alpha

DEFAULTS: dict = {
    "netdepth": 8,  # official D
    "netwidth": 256,  # official W (rgb_linear is Linear(W / 2, 3) = 3 x 128)
    "skips": [4],
    "multires": 10,
    "multires_views": 4,
    "pos_scale": 10.0,  # positions divided by this before PE (official scalar_factor)
    "n_samples": 64,
    "n_importance": 128,
    "perturb": True,
    "raw_noise_std": 1.0,
    "white_bkgd": False,
    "near": None,  # null: the scene's near (Replica 0.1)
    "far": None,  # null: the scene's far (Replica 10)
    "lrate": 5.0e-4,
    "netchunk": 16384,  # samples per network call (memory only)
}


def resolve_config(model_cfg: dict) -> dict:
    """DEFAULTS <- the ``model:`` subtree; keys that are not network keys (name, stage settings) are ignored."""
    return {**DEFAULTS, **{k: v for k, v in model_cfg.items() if k in DEFAULTS}}


def network_samples(net: NeRF, pe: Tensor, view_pe: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """(h [N, C], logits [N, 3], sigma_raw [N]) of ``net`` on encodings pe [N, C_x], view_pe [N, C_d].

    Same function as ``net(points, viewdirs)`` (``sigmoid(logits)`` is its rgb), also returning the input of
    ``rgb_linear`` and the pre-sigmoid colour.
    """
    trunk = apply_skip_linears(net.pts_linears, pe, net.skips)
    sigma_raw = net.alpha_linear(trunk)[..., 0]
    h = torch.cat([net.feature_linear(trunk), view_pe], -1)
    for layer in net.views_linears:
        h = F.relu(layer(h))
    return h, net.rgb_linear(h), sigma_raw


def trunk_features(net: NeRF, pe: Tensor) -> Tensor:
    """The trunk output [N, W] (input of alpha_linear / feature_linear): what the semantic / feature heads read."""
    return apply_skip_linears(net.pts_linears, pe, net.skips)


class ShapedNeRF(nn.Module):
    """Coarse + fine NeRF; ``forward`` / ``losses`` are the photometric (pretraining) step.

    cfg: ``model:`` keys of ``DEFAULTS``; near, far: the scene's bounds used where the config's are null.
    """

    def __init__(self, cfg: dict, near: float, far: float):
        super().__init__()
        self.cfg = resolve_config(cfg)
        c = self.cfg
        self.near = float(c["near"] if c["near"] is not None else near)
        self.far = float(c["far"] if c["far"] is not None else far)
        if not self.far > self.near >= 0:
            raise ValueError(f"NeRF needs 0 <= near < far, got near {self.near}, far {self.far}")
        self.n_samples, self.n_importance = int(c["n_samples"]), int(c["n_importance"])
        if self.n_importance < 1:
            raise ValueError("JacobiNeRF shapes the fine network: model.n_importance must be >= 1")
        self.fields = NeRFFields(
            with_fine=True,
            depth=int(c["netdepth"]),
            width=int(c["netwidth"]),
            pos_freqs=int(c["multires"]),
            view_freqs=int(c["multires_views"]),
            skips=tuple(c["skips"]),
            use_viewdirs=True,
        )

    @property
    def fine(self) -> NeRF:
        return self.fields.fine

    @property
    def rgb_layer(self) -> nn.Linear:
        """The shaped layer: the fine network's ``rgb_linear`` (weight [3, C])."""
        return self.fields.fine.rgb_linear

    # ------------------------------------------------------------------------------ rendering
    def encode_points(self, rays_o: Tensor, rays_d: Tensor, t: Tensor) -> Tensor:
        """PE of the sample points [R, S, C_x] (points divided by ``pos_scale``)."""
        pts = points_from_t(rays_o, rays_d, t) / float(self.cfg["pos_scale"])
        return positional_encoding(pts, self.fields.coarse.pos_freqs)

    def _run(self, net: NeRF, pe: Tensor, view_pe: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """``network_samples`` on [R, S, .], ``netchunk`` samples a call -> h [R,S,C], logits [R,S,3], sigma [R,S]."""
        R, S, _ = pe.shape
        step = max(1, int(self.cfg["netchunk"]) // S)
        outs = []
        for r0 in range(0, R, step):
            part = pe[r0 : r0 + step]
            n = part.shape[0]
            vp = view_pe[r0 : r0 + step, None, :].expand(n, S, view_pe.shape[-1])
            h, z, s = network_samples(net, part.reshape(n * S, -1), vp.reshape(n * S, -1))
            outs.append((h.view(n, S, -1), z.view(n, S, 3), s.view(n, S)))
        if len(outs) == 1:
            return outs[0]
        return tuple(torch.cat([o[k] for o in outs]) for k in range(3))

    def composite_samples(self, rgb: Tensor, sigma_raw: Tensor, t: Tensor) -> dict[str, Tensor]:
        """Volume rendering: rgb [R, S, 3], sigma_raw [R, S], t [R, S] -> rgb [R, 3], weights [R, S], acc, depth.
        Density noise N(0, raw_noise_std^2) in training only."""
        if self.training and float(self.cfg["raw_noise_std"]) > 0:
            sigma_raw = sigma_raw + torch.randn_like(sigma_raw) * float(self.cfg["raw_noise_std"])
        alpha = alpha_from_density(F.relu(sigma_raw), intervals_from_t(t))
        weights, final = weights_from_alpha(alpha)
        background = 1.0 if self.cfg["white_bkgd"] else None
        return {
            "rgb": composite(weights, rgb, final, background),
            "weights": weights,
            "acc": 1.0 - final,
            "depth": expected_depth(weights, t),
        }

    def render_rays(self, rays: dict, keep_samples: bool = False) -> dict[str, Tensor]:
        """Render a ray dict (rays_o, rays_d unit [R, 3], viewdirs optional). Outputs: rgb [R, 3] (fine),
        rgb_coarse [R, 3], depth [R], acc [R]; with ``keep_samples`` also t [R, S], h [R, S, C],
        logits [R, S, 3], weights [R, S] of the fine pass and trunk_pe [R, S, C_x] (the fine samples' PE)."""
        rays_o, rays_d = rays["rays_o"], rays["rays_d"]
        viewdirs = rays.get("viewdirs")
        if viewdirs is None:
            viewdirs = F.normalize(rays_d, dim=-1)
        perturb = self.training and bool(self.cfg["perturb"])
        view_pe = positional_encoding(viewdirs, self.fields.coarse.view_freqs)
        near = torch.full(rays_o.shape[:1], self.near, dtype=rays_o.dtype, device=rays_o.device)
        far = torch.full_like(near, self.far)

        t_c = stratified_samples(near, far, self.n_samples, perturb=perturb)
        _, z_c, s_c = self._run(self.fields.coarse, self.encode_points(rays_o, rays_d, t_c), view_pe)
        coarse = self.composite_samples(torch.sigmoid(z_c), s_c, t_c)
        mids = 0.5 * (t_c[:, 1:] + t_c[:, :-1])
        t_f = pdf_samples(mids, coarse["weights"][:, 1:-1], self.n_importance, deterministic=not perturb)
        t_all = torch.sort(torch.cat([t_c, t_f], -1), dim=-1).values
        pe = self.encode_points(rays_o, rays_d, t_all)
        h, z, s = self._run(self.fields.fine, pe, view_pe)
        fine = self.composite_samples(torch.sigmoid(z), s, t_all)
        out = {"rgb": fine["rgb"], "rgb_coarse": coarse["rgb"], "depth": fine["depth"], "acc": fine["acc"]}
        if keep_samples:
            out.update({"t": t_all, "h": h, "logits": z, "weights": fine["weights"], "pe": pe})
        return out

    def forward(self, batch: dict, step: int | None = None) -> dict[str, Tensor]:
        return self.render_rays(batch)

    @torch.no_grad()
    def render(self, rays: dict, chunk: int = 4096) -> dict[str, Tensor]:
        """Evaluation rendering (no jitter, no noise) in chunks: rgb [R, 3], depth [R], acc [R]."""
        was = self.training
        self.eval()
        outs = []
        for i in range(0, rays["rays_o"].shape[0], chunk):
            part = {k: rays[k][i : i + chunk] for k in ("rays_o", "rays_d", "viewdirs") if k in rays}
            outs.append(self.render_rays(part))
        self.train(was)
        return {k: torch.cat([o[k] for o in outs]) for k in ("rgb", "depth", "acc")}

    # ------------------------------------------------------------------------------- training
    def losses(self, outputs: dict, batch: dict, step: int | None = None) -> dict[str, Tensor]:
        """L_NeRF = mse(fine) + mse(coarse) (official weights 1, 1)."""
        target = batch["rgb"]
        return {"mse": F.mse_loss(outputs["rgb"], target), "mse_coarse": F.mse_loss(outputs["rgb_coarse"], target)}

    def param_groups(self) -> list[dict]:
        return [{"name": "nerf", "params": list(self.fields.parameters()), "lr": float(self.cfg["lrate"])}]

    def configure_optimizer(self, betas=None, eps=None) -> torch.optim.Adam:
        """Adam(0.9, 0.999) as nerf-pytorch / the official code."""
        return torch.optim.Adam(self.param_groups(), betas=(0.9, 0.999), eps=1e-8)
