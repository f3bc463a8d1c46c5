"""Volume-rendering weights: alpha from density, transmittance, w_i = T_i alpha_i.

Two layouts, as in nerfacc:
  * batched: tensors [..., S] (S samples per ray, usually [R, S]);
  * packed: tensors [N] of all samples of all rays, with ``ray_indices`` [N] int64 sorted ascending
    (the samples of one ray are contiguous and in front-to-back order) and ``n_rays``; a ray may
    have no sample at all.
Functions taking ``ray_indices=None, n_rays=None`` use the packed layout when ``ray_indices`` is
given (``n_rays`` defaults to ``ray_indices.max() + 1``).

Worked example (one ray): alpha = [0.5, 0.5, 0.5] -> T = [1, 0.5, 0.25],
weights = [0.5, 0.25, 0.125], final transmittance = 0.125, and sum(weights) + final T = 1.
"""

from __future__ import annotations

import torch

from common.render.distortion import segment_exclusive_cumsum


def alpha_from_density(sigma: torch.Tensor, deltas: torch.Tensor) -> torch.Tensor:
    """alpha = 1 - exp(-sigma * delta), elementwise (any matching shapes; deltas in ray-length units).

    Example: sigma = [1, ln 2], delta = [0, 1] -> alpha = [0, 0.5].
    """
    return -torch.expm1(-sigma * deltas)


def pack_info(ray_indices: torch.Tensor, n_rays: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Segment table of a packed layout.

    ray_indices: [N] int64 sorted ascending. Returns (starts [n_rays], counts [n_rays], position [N]):
    the first sample index and the number of samples of each ray, and each sample's rank inside its
    ray (0 for the first). Example: ray_indices [0, 0, 2], n_rays 3 -> starts [0, 2, 2],
    counts [2, 0, 1], position [0, 1, 0].
    """
    if ray_indices.dim() != 1:
        raise ValueError(f"ray_indices must be 1-D [N], got shape {tuple(ray_indices.shape)}")
    ray_indices = ray_indices.long()
    if ray_indices.numel() > 0:
        if bool((ray_indices[1:] < ray_indices[:-1]).any()):
            raise ValueError("ray_indices must be sorted ascending (the samples of each ray contiguous)")
        if int(ray_indices[0]) < 0 or int(ray_indices[-1]) >= n_rays:
            raise ValueError(f"ray_indices must lie in [0, n_rays={n_rays})")
    counts = torch.bincount(ray_indices, minlength=n_rays)
    starts = torch.cumsum(counts, 0) - counts
    position = torch.arange(ray_indices.numel(), device=ray_indices.device) - starts[ray_indices]
    return starts, counts, position


def _n_rays(ray_indices: torch.Tensor, n_rays: int | None) -> int:
    if n_rays is not None:
        return int(n_rays)
    return int(ray_indices.max()) + 1 if ray_indices.numel() > 0 else 0


def _segmented_inclusive_prod(x: torch.Tensor, position: torch.Tensor, max_count: int) -> torch.Tensor:
    """Inclusive product of x [N] inside each segment (Hillis-Steele scan, ceil(log2 max_count) steps).

    After the step with offset k, out_i = prod of x over the last 2k samples of i's segment up to i.
    Only products are used, so the result is exact where factors are 0 and autograd gives the exact
    gradient (no division by the factors).
    """
    out = x
    one = x.new_ones(())
    offset = 1
    while offset < max_count:
        prev = torch.where(position[offset:] >= offset, out[:-offset], one)
        out = torch.cat([out[:offset], out[offset:] * prev])
        offset *= 2
    return out


def _transmittances(alpha: torch.Tensor, ray_indices: torch.Tensor | None, n_rays: int | None):
    """(exclusive T with alpha's shape, final transmittance [R])."""
    keep = 1.0 - alpha
    if ray_indices is None:
        if alpha.shape[-1] == 0:
            return torch.ones_like(alpha), alpha.new_ones(alpha.shape[:-1])
        inclusive = torch.cumprod(keep, dim=-1)
        trans = torch.cat([torch.ones_like(keep[..., :1]), inclusive[..., :-1]], dim=-1)
        return trans, inclusive[..., -1]
    if alpha.dim() != 1 or alpha.shape != ray_indices.shape:
        raise ValueError(
            "packed layout needs alpha [N] and ray_indices [N], "
            f"got {tuple(alpha.shape)} and {tuple(ray_indices.shape)}"
        )
    n_rays = _n_rays(ray_indices, n_rays)
    starts, counts, position = pack_info(ray_indices, n_rays)
    max_count = int(counts.max()) if n_rays > 0 else 0
    inclusive = _segmented_inclusive_prod(keep, position, max_count)
    shifted = torch.cat([keep.new_ones(1), inclusive])[:-1]
    trans = torch.where(position > 0, shifted, torch.ones_like(shifted))
    has = counts > 0
    last = (starts + counts - 1)[has]
    final = alpha.new_ones(n_rays).index_put((has.nonzero()[:, 0],), inclusive[last])
    return trans, final


def transmittance_from_alpha(
    alpha: torch.Tensor, ray_indices: torch.Tensor | None = None, n_rays: int | None = None
) -> torch.Tensor:
    """Exclusive transmittance T_i = prod_{j < i} (1 - alpha_j) along each ray (T_0 = 1).

    alpha: batched [..., S] or packed [N] (with ray_indices [N]); returns T of the same shape.
    Exact and differentiable also where alpha == 1 (T = 0 behind it). Example: alpha
    [0.4, 0.8, 0.8, 0.8] -> T [1, 0.6, 0.12, 0.024].
    """
    return _transmittances(alpha, ray_indices, n_rays)[0]


def weights_from_alpha(
    alpha: torch.Tensor,
    ray_indices: torch.Tensor | None = None,
    n_rays: int | None = None,
    stop_transmittance: float | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Weights w_i = T_i alpha_i and final transmittance T_final = prod_all (1 - alpha_j) per ray.

    alpha: batched [R, S] (any [..., S]) -> weights [R, S], final [R]; packed [N] with ray_indices [N]
    and n_rays -> weights [N], final [n_rays] (1 for rays without samples).
    sum_i w_i + T_final = 1 for every ray. Example: alpha [0.5, 0.5, 0.5] -> weights
    [0.5, 0.25, 0.125], final 0.125.

    Early ray termination (``stop_transmittance`` = eps, as DVGO's renderer with eps = 1e-3): a ray
    stops after the first sample whose update brings T below eps; later samples get weight 0 and
    T_final is the transmittance at the stop (still sum w + T_final = 1). Example: alpha
    [0.9, 0.9, 0.9, 0.9], eps 0.05 -> weights [0.9, 0.09, 0.009, 0], final 0.001.
    """
    trans, final = _transmittances(alpha, ray_indices, n_rays)
    if stop_transmittance is None:
        return trans * alpha, final
    keep = trans >= stop_transmittance  # T before the sample: the ray has not stopped yet
    weights = torch.where(keep, trans * alpha, torch.zeros_like(alpha))
    after = trans * (1 - alpha)  # T after each sample
    # T_final is T after the last kept sample, picked by index: every factor (1 - alpha_j) of that
    # product gets its full derivative, also where later samples repeat the same T (alpha = 0).
    if ray_indices is None:
        if alpha.shape[-1] == 0:
            return weights, final
        position = torch.arange(alpha.shape[-1], device=alpha.device)
        last = torch.where(keep, position, torch.full_like(position, -1)).amax(-1, keepdim=True)
        at_last = after.gather(-1, last.clamp(min=0))[..., 0]
        return weights, torch.where(last[..., 0] >= 0, at_last, torch.ones_like(at_last))
    n_rays = _n_rays(ray_indices, n_rays)
    index = torch.arange(alpha.shape[0], device=alpha.device)
    last = torch.full((n_rays,), -1, dtype=torch.long, device=alpha.device)
    last = last.scatter_reduce(0, ray_indices[keep], index[keep], reduce="amax", include_self=True)
    has = last >= 0
    final = alpha.new_ones(n_rays).index_put((has.nonzero()[:, 0],), after[last[has]])
    return weights, final


def weights_from_density(
    sigma: torch.Tensor,
    deltas: torch.Tensor,
    ray_indices: torch.Tensor | None = None,
    n_rays: int | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(weights, final transmittance, alpha) from densities and interval lengths.

    sigma, deltas: batched [R, S] or packed [N]; alpha_i = 1 - exp(-sigma_i delta_i), then
    ``weights_from_alpha``. Example: sigma [ln 2, ln 2, ln 2], deltas [1, 1, 1] -> alpha 0.5 each,
    weights [0.5, 0.25, 0.125], final 0.125.
    """
    alpha = alpha_from_density(sigma, deltas)
    weights, final = weights_from_alpha(alpha, ray_indices, n_rays)
    return weights, final, alpha


def weights_from_optical_depth(
    tau: torch.Tensor, ray_indices: torch.Tensor, n_rays: int, stop_transmittance: float | None = None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Packed volume-rendering weights from per-sample optical depths tau_i = sigma_i delta_i >= 0.

    tau [M], ray_indices [M] sorted. alpha_i = 1 - exp(-tau_i); exclusive transmittance
    T_i = exp(-sum_{j < i, same ray} tau_j) from one float64 cumulative sum (``segment_exclusive_cumsum``;
    one O(M) pass, exact also where alpha_i = 1). Early termination as DVGO's renderer: a sample is kept
    while T_i >= stop_transmittance (a prefix of each ray). Returns (weights [M] = T_i alpha_i on kept
    samples and 0 after, final transmittance [n_rays] = exp(-sum of tau over the kept samples), alpha [M]);
    sum_i w_i + T_final = 1 for every ray (1 for rays without samples).
    Example: tau [ln 2, ln 2] on one ray -> alpha [0.5, 0.5], weights [0.5, 0.25], final 0.25.
    """
    alpha = -torch.expm1(-tau)
    if tau.numel() == 0:
        return tau.clone(), tau.new_ones(n_rays), alpha
    trans = torch.exp(-segment_exclusive_cumsum(tau, ray_indices, n_rays))
    weights = trans * alpha
    kept_tau = tau
    if stop_transmittance is not None:
        keep = trans >= stop_transmittance
        weights = torch.where(keep, weights, torch.zeros_like(weights))
        kept_tau = torch.where(keep, tau, torch.zeros_like(tau))
    final = torch.exp(-tau.new_zeros(n_rays).index_add(0, ray_indices, kept_tau))
    return weights, final, alpha
