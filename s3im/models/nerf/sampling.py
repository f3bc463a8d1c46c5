"""Sample placement and volume rendering of vanilla NeRF (nerf-pytorch ``render_rays`` / ``raw2outputs``).

Coarse samples t [R, S] between near and far [R], two schemes (``coarse_sampling``):
  * "linspace" (nerf-pytorch, ``lindisp`` False): z_i = near + (far - near) i / (S - 1), i = 0 .. S - 1
    (near and far included); with ``perturb`` each z_i is drawn uniformly in [lower_i, upper_i], where
    mids_i = (z_i + z_{i+1}) / 2, lower = [z_0, mids], upper = [mids, z_{S-1}].
    Example: near 2, far 6, S 5 -> [2, 3, 4, 5, 6].
  * "bins" (``common.render.sampling.stratified_samples``): one sample per equal bin (midpoints without
    ``perturb``). Example: near 2, far 6, S 4 -> [2.5, 3.5, 4.5, 5.5].
Fine samples: S_f inverse-CDF samples of the coarse weights over the bins between coarse midpoints
(``pdf_samples(mids, w[:, 1:-1])``, deterministic at evaluation), no gradient.
Rendering: alpha_i = 1 - exp(-relu(sigma_i + n_i) delta_i), delta_i = t_{i+1} - t_i, delta_last = 1e10,
n_i ~ N(0, raw_noise_std^2) (training only), w_i = T_i alpha_i, rgb = sum_i w_i c_i + T_final * background.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from common.render.composite import composite, expected_depth
from common.render.sampling import intervals_from_t, pdf_samples, stratified_samples
from common.render.weights import alpha_from_density, weights_from_alpha

COARSE_SAMPLING = ("linspace", "bins")
LAST_DELTA = 1e10


def coarse_t(near: Tensor, far: Tensor, n_samples: int, perturb: bool, scheme: str = "linspace") -> Tensor:
    """Coarse samples t [R, n_samples] in [near, far] (near, far [R]), sorted; see the module doc.

    Random numbers (``perturb``) come from the global torch generator on the tensors' device.
    """
    if scheme == "bins":
        return stratified_samples(near, far, n_samples, perturb=perturb)
    if scheme != "linspace":
        raise ValueError(f"coarse_sampling must be one of {COARSE_SAMPLING}, got {scheme!r}")
    s = torch.linspace(0.0, 1.0, n_samples, dtype=near.dtype, device=near.device)
    z = near[:, None] * (1.0 - s) + far[:, None] * s
    if not perturb or n_samples < 2:
        return z
    mids = 0.5 * (z[:, 1:] + z[:, :-1])
    upper = torch.cat([mids, z[:, -1:]], -1)
    lower = torch.cat([z[:, :1], mids], -1)
    return lower + (upper - lower) * torch.rand(z.shape, dtype=z.dtype, device=z.device)


def fine_t(t_coarse: Tensor, weights_coarse: Tensor, n_samples: int, deterministic: bool) -> Tensor:
    """Importance samples [R, n_samples] (sorted, detached) from the coarse weights [R, S_c] over the bins
    between consecutive coarse midpoints (the two end weights are dropped, as nerf-pytorch)."""
    mids = 0.5 * (t_coarse[:, 1:] + t_coarse[:, :-1])
    return pdf_samples(mids, weights_coarse[:, 1:-1], n_samples, deterministic=deterministic)


def render_samples(
    rgb: Tensor, sigma_raw: Tensor, t: Tensor, raw_noise_std: float = 0.0, background: float | None = None
) -> dict[str, Tensor]:
    """Composite samples along rays (the module doc's formulas).

    rgb [R, S, 3], sigma_raw [R, S], t [R, S] sorted. Returns rgb [R, 3], weights [R, S], acc [R]
    (sum of weights), depth [R] (sum w_i t_i). background None: black (no term), else a float.
    """
    if raw_noise_std > 0:
        sigma_raw = sigma_raw + torch.randn(sigma_raw.shape, dtype=sigma_raw.dtype, device=sigma_raw.device) * (
            raw_noise_std
        )
    alpha = alpha_from_density(F.relu(sigma_raw), intervals_from_t(t, last_delta=LAST_DELTA))
    weights, final = weights_from_alpha(alpha)
    return {
        "rgb": composite(weights, rgb, final, background),
        "weights": weights,
        "acc": 1.0 - final,
        "depth": expected_depth(weights, t),
    }
