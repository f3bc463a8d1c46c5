"""Sample positions along rays: stratified bins, interval lengths, inverse-CDF (importance) sampling.

All functions work on batched tensors [R, ...] (any leading shape); t is the ray parameter
(distance along unit directions, or z-depth along z = 1 directions; see ``common.cameras.get_rays``).
Random numbers come only from the given ``torch.Generator`` (or the global one when None); a CPU
generator may be used with tensors on another device.
"""

from __future__ import annotations

import torch


def _uniform(shape: tuple[int, ...], like: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """U[0, 1) numbers drawn on the generator's device, returned on ``like``'s device and dtype."""
    device = generator.device if generator is not None else like.device
    return torch.rand(shape, generator=generator, device=device, dtype=like.dtype).to(like.device)


def stratified_samples(
    near: torch.Tensor,
    far: torch.Tensor,
    n_samples: int,
    perturb: bool = False,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """t [R, n_samples]: one sample in each of n_samples equal bins of [near, far].

    near, far: [R] (or broadcastable; a float is allowed for one of them). Bin i spans
    [near + (far - near) i / n, near + (far - near) (i + 1) / n]; without ``perturb`` the sample is
    the bin midpoint, t_i = near + (far - near) (i + 0.5) / n; with ``perturb`` it is
    near + (far - near) (i + u_i) / n with u_i ~ U[0, 1) drawn independently per ray and bin.
    Example: near 2, far 6, n 4 -> t = [2.5, 3.5, 4.5, 5.5].
    """
    if n_samples < 1:
        raise ValueError(f"n_samples must be >= 1, got {n_samples}")
    ref = near if isinstance(near, torch.Tensor) else far
    if not isinstance(ref, torch.Tensor):
        raise TypeError("stratified_samples: near or far must be a tensor [R]")
    dtype = ref.dtype if ref.is_floating_point() else torch.get_default_dtype()
    near, far = torch.broadcast_tensors(
        torch.as_tensor(near, dtype=dtype, device=ref.device), torch.as_tensor(far, dtype=dtype, device=ref.device)
    )
    shape = (*near.shape, n_samples)
    if perturb:
        offsets = _uniform(shape, near, generator)
    else:
        offsets = torch.full(shape, 0.5, dtype=dtype, device=near.device)
    s = (torch.arange(n_samples, dtype=dtype, device=near.device) + offsets) / n_samples
    return near[..., None] + (far - near)[..., None] * s


def intervals_from_t(
    t: torch.Tensor, far: torch.Tensor | float | None = None, last_delta: float = 1e10
) -> torch.Tensor:
    """Interval lengths deltas [R, S]: delta_i = t_{i+1} - t_i; the last is far - t_last if ``far`` is
    given ([R] or a float), else ``last_delta`` (NeRF's 1e10: the last sample absorbs what is left).

    Example: t [2.5, 3.5, 4.5, 5.5], far 6 -> deltas [1, 1, 1, 0.5]. With unit ray directions the
    deltas are metric lengths; for un-normalised directions multiply by ||d||.
    """
    if far is None:
        last = torch.full_like(t[..., :1], last_delta)
    else:
        last = torch.as_tensor(far, dtype=t.dtype, device=t.device).expand(t.shape[:-1])[..., None] - t[..., -1:]
    return torch.cat([t[..., 1:] - t[..., :-1], last], dim=-1)


def pdf_samples(
    bins: torch.Tensor,
    weights: torch.Tensor,
    n_samples: int,
    deterministic: bool = False,
    generator: torch.Generator | None = None,
    eps: float = 1e-5,
) -> torch.Tensor:
    """Inverse-CDF samples t [R, n_samples] from the piecewise-constant pdf given by bin weights.

    bins: [R, B + 1] sorted bin edges; weights: [R, B] >= 0 (e.g. coarse weights of bin midpoints).
    As NeRF's ``sample_pdf``: pdf = (w + eps) / sum(w + eps), cdf = [0, cumsum(pdf)]; u are
    ``linspace(0, 1, n)`` when ``deterministic`` else sorted U[0, 1) draws; for cdf_j <= u < cdf_{j+1}
    the sample is bins_j + (u - cdf_j) / (cdf_{j+1} - cdf_j) (bins_{j+1} - bins_j). Output is sorted
    along the last axis, lies in [bins_0, bins_B], and carries no gradient (into weights or bins).
    Example: bins [0, 1, 2], weights [1, 1] (eps 0), n 3, deterministic -> t = [0, 1, 2].
    """
    if bins.shape[-1] != weights.shape[-1] + 1:
        raise ValueError(
            f"bins [..., B+1] and weights [..., B] disagree: {tuple(bins.shape)} vs {tuple(weights.shape)}"
        )
    bins, weights = bins.detach(), weights.detach()
    w = weights.clamp_min(0) + eps
    cdf = torch.cumsum(w, dim=-1)
    cdf = torch.cat([torch.zeros_like(cdf[..., :1]), cdf / cdf[..., -1:]], dim=-1)  # [..., B + 1]
    shape = (*cdf.shape[:-1], n_samples)
    if deterministic:
        u = torch.linspace(0.0, 1.0, n_samples, dtype=cdf.dtype, device=cdf.device).expand(shape)
    else:
        u = torch.sort(_uniform(shape, cdf, generator), dim=-1).values
    u = u.contiguous()
    n_bins = weights.shape[-1]
    above = torch.searchsorted(cdf, u, right=True).clamp(1, n_bins)
    below = above - 1
    cdf_lo, cdf_hi = torch.gather(cdf, -1, below), torch.gather(cdf, -1, above)
    bin_lo, bin_hi = torch.gather(bins, -1, below), torch.gather(bins, -1, above)
    denom = cdf_hi - cdf_lo
    frac = ((u - cdf_lo) / torch.where(denom < eps, torch.ones_like(denom), denom)).clamp(0, 1)
    return bin_lo + frac * (bin_hi - bin_lo)


def points_from_t(origins: torch.Tensor, directions: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Sample points x = o + t d: origins, directions [R, 3], t [R, S] -> [R, S, 3]."""
    return origins[..., None, :] + t[..., :, None] * directions[..., None, :]
