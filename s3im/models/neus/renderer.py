"""NeuS rendering formulas (official ``models/renderer.py``) as pure functions on ray batches.

Rays: origins o [R, 3], unit directions d [R, 3]; t [R, S] sorted sample distances; the region of interest
is the unit sphere.

* ``near_far_from_sphere``: mid = -(o . d) / (d . d) (closest approach to the origin); near = mid - 1, far = mid + 1,
  near clamped at 0 (the same as the official bounds for cameras outside the sphere; for cameras inside it, as in
  a room, no sample lies behind the camera).
* ``up_sample_weights`` (fixed sharpness inv_s, no network gradient): per section [t_i, t_{i+1}] with
  mid sdf m_i = (f_i + f_{i+1}) / 2 and slope c_i = (f_{i+1} - f_i) / (t_{i+1} - t_i + 1e-5), the cosine
  estimate is min(c_{i-1}, c_i) (c_{-1} = 0) clipped to [-1e3, 0] and zeroed where neither end is inside the
  unit sphere; the sdf at the section ends is m_i -/+ c dist / 2 and
      alpha_i = (Phi(prev) - Phi(next) + 1e-5) / (Phi(prev) + 1e-5),  Phi = sigmoid(inv_s x).
* ``sdf_alpha`` (render_core): with the sdf f and gradient g at the section mid-points,
      cos = d . g,  iter_cos = -(relu(-cos / 2 + 1/2) (1 - r) + relu(-cos) r)   (r = cos_anneal_ratio),
      prev = f - iter_cos dist / 2,  next = f + iter_cos dist / 2,
      alpha = clip((Phi(prev) - Phi(next) + 1e-5) / (Phi(prev) + 1e-5), 0, 1).
* ``weights_from_alpha``: w_i = alpha_i prod_{j<i} (1 - alpha_j + 1e-7).
* ``sample_pdf``: NeuS's inverse-CDF sampler (weights + 1e-5; deterministic u = linspace(0.5/n, 1 - 0.5/n, n)).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def near_far_from_sphere(rays_o: Tensor, rays_d: Tensor) -> tuple[Tensor, Tensor]:
    """(near [R, 1], far [R, 1]) = mid -/+ 1 around the closest approach ``mid`` to the origin, near >= 0."""
    a = (rays_d**2).sum(-1, keepdim=True)
    b = 2.0 * (rays_o * rays_d).sum(-1, keepdim=True)
    mid = 0.5 * (-b) / a
    return (mid - 1.0).clamp_min(0.0), mid + 1.0


def weights_from_alpha(alpha: Tensor) -> Tensor:
    """w [R, S] = alpha_i * prod_{j<i} (1 - alpha_j + 1e-7) (the official transmittance with its 1e-7)."""
    trans = torch.cumprod(torch.cat([torch.ones_like(alpha[:, :1]), 1.0 - alpha + 1e-7], -1), -1)[:, :-1]
    return alpha * trans


def sample_pdf(bins: Tensor, weights: Tensor, n_samples: int, det: bool = True, generator=None) -> Tensor:
    """[R, n_samples] samples of the piecewise-constant pdf ``weights`` [R, B] over ``bins`` [R, B + 1]."""
    weights = weights + 1e-5
    pdf = weights / weights.sum(-1, keepdim=True)
    cdf = torch.cat([torch.zeros_like(pdf[..., :1]), torch.cumsum(pdf, -1)], -1)
    if det:
        u = torch.linspace(0.5 / n_samples, 1.0 - 0.5 / n_samples, n_samples, dtype=cdf.dtype, device=cdf.device)
        u = u.expand(*cdf.shape[:-1], n_samples).contiguous()
    else:
        u = torch.rand(*cdf.shape[:-1], n_samples, generator=generator, dtype=cdf.dtype).to(cdf.device)
    inds = torch.searchsorted(cdf, u, right=True)
    below = (inds - 1).clamp_min(0)
    above = inds.clamp_max(cdf.shape[-1] - 1)
    cdf_lo, cdf_hi = cdf.gather(-1, below), cdf.gather(-1, above)
    bin_lo, bin_hi = bins.gather(-1, below), bins.gather(-1, above)
    denom = cdf_hi - cdf_lo
    denom = torch.where(denom < 1e-5, torch.ones_like(denom), denom)
    return bin_lo + (u - cdf_lo) / denom * (bin_hi - bin_lo)


def up_sample_weights(rays_o: Tensor, rays_d: Tensor, t: Tensor, sdf: Tensor, inv_s: float) -> Tensor:
    """Section weights [R, S - 1] of the up-sampling step with fixed ``inv_s`` (module doc)."""
    pts = rays_o[:, None, :] + rays_d[:, None, :] * t[..., None]
    radius = torch.linalg.norm(pts, dim=-1)
    inside = (radius[:, :-1] < 1.0) | (radius[:, 1:] < 1.0)
    prev_sdf, next_sdf = sdf[:, :-1], sdf[:, 1:]
    prev_t, next_t = t[:, :-1], t[:, 1:]
    mid_sdf = (prev_sdf + next_sdf) * 0.5
    cos_val = (next_sdf - prev_sdf) / (next_t - prev_t + 1e-5)
    prev_cos = torch.cat([torch.zeros_like(cos_val[:, :1]), cos_val[:, :-1]], -1)
    cos_val = torch.minimum(prev_cos, cos_val).clip(-1e3, 0.0) * inside
    dist = next_t - prev_t
    prev_cdf = torch.sigmoid((mid_sdf - cos_val * dist * 0.5) * inv_s)
    next_cdf = torch.sigmoid((mid_sdf + cos_val * dist * 0.5) * inv_s)
    alpha = (prev_cdf - next_cdf + 1e-5) / (prev_cdf + 1e-5)
    return weights_from_alpha(alpha)


def up_sample(rays_o: Tensor, rays_d: Tensor, t: Tensor, sdf: Tensor, n_importance: int, inv_s: float) -> Tensor:
    """[R, n_importance] new distances drawn (deterministically) from the up-sampling weights."""
    return sample_pdf(t, up_sample_weights(rays_o, rays_d, t, sdf, inv_s), n_importance, det=True).detach()


def merge_sorted(t: Tensor, t_new: Tensor, values: Tensor | None = None, new_values: Tensor | None = None):
    """(t sorted [R, S + S'], values gathered the same way or None) of the concatenation (``cat_z_vals``)."""
    t_all, index = torch.sort(torch.cat([t, t_new], -1), -1)
    if values is None:
        return t_all, None
    return t_all, torch.cat([values, new_values], -1).gather(-1, index)


def section_lengths(t: Tensor, sample_dist: float) -> Tensor:
    """dists [R, S]: t_{i+1} - t_i, the last one ``sample_dist`` (2 / n_samples in NeuS)."""
    return torch.cat([t[..., 1:] - t[..., :-1], torch.full_like(t[..., :1], sample_dist)], -1)


def sdf_alpha(sdf: Tensor, gradients: Tensor, dirs: Tensor, dists: Tensor, inv_s: Tensor, cos_anneal_ratio: float):
    """alpha [...] from sdf [...], gradients / dirs [..., 3] and section lengths dists [...] (module doc)."""
    true_cos = (dirs * gradients).sum(-1)
    r = float(cos_anneal_ratio)
    iter_cos = -(F.relu(-true_cos * 0.5 + 0.5) * (1.0 - r) + F.relu(-true_cos) * r)
    prev_cdf = torch.sigmoid((sdf - iter_cos * dists * 0.5) * inv_s)
    next_cdf = torch.sigmoid((sdf + iter_cos * dists * 0.5) * inv_s)
    return ((prev_cdf - next_cdf + 1e-5) / (prev_cdf + 1e-5)).clip(0.0, 1.0)


def background_t(far: Tensor, n_outside: int, n_samples: int, perturb: bool, generator=None) -> Tensor:
    """[R, n_outside] distances of the NeRF++ samples outside the sphere: far / s + 1 / n_samples with s in
    linspace(1e-3, 1 - 1 / (n_outside + 1)), jittered inside their bins in training, flipped to increasing t."""
    s = torch.linspace(1e-3, 1.0 - 1.0 / (n_outside + 1.0), n_outside, dtype=far.dtype, device=far.device)
    s = s.expand(far.shape[0], n_outside)
    if perturb:
        mids = 0.5 * (s[..., 1:] + s[..., :-1])
        upper = torch.cat([mids, s[..., -1:]], -1)
        lower = torch.cat([s[..., :1], mids], -1)
        u = torch.rand(s.shape, generator=generator, dtype=s.dtype).to(s.device)
        s = lower + (upper - lower) * u
    return far / torch.flip(s, dims=[-1]) + 1.0 / n_samples
