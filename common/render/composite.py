"""Per-ray sums of weighted sample values: colour, opacity, depth.

Layouts as in ``common.render.weights``: batched weights [R, S] (any [..., S]) with values
[R, S, C], or packed weights [N] with values [N, C], ``ray_indices`` [N] and ``n_rays``
(rays without samples get 0 from the sums). Packed sums use ``index_add`` (differentiable).

Worked example (one ray): weights [0.5, 0.25, 0.125], final T 0.125, colours [[1,0,0],[0,1,0],[0,0,1]],
background [1, 1, 1] -> composite = [0.5, 0.25, 0.125] + 0.125 = [0.625, 0.375, 0.25];
with t = [1, 2, 3]: opacity 0.875, depth 0.5 + 0.5 + 0.375 = 1.375, normalised depth 1.375 / 0.875.
"""

from __future__ import annotations

import torch


def accumulate_along_rays(
    weights: torch.Tensor,
    values: torch.Tensor | None,
    ray_indices: torch.Tensor | None = None,
    n_rays: int | None = None,
) -> torch.Tensor:
    """sum_i w_i v_i per ray -> [R, C].

    Batched: weights [R, S], values [R, S, C]. Packed: weights [N], values [N, C], ray_indices [N].
    values None accumulates the weights alone -> [R, 1] (opacity).
    """
    v = weights[..., None] if values is None else weights[..., None] * values
    if ray_indices is None:
        return v.sum(dim=-2)
    if weights.dim() != 1 or ray_indices.shape != weights.shape:
        raise ValueError(
            "packed layout needs weights [N] and ray_indices [N], "
            f"got {tuple(weights.shape)} and {tuple(ray_indices.shape)}"
        )
    if n_rays is None:
        n_rays = int(ray_indices.max()) + 1 if ray_indices.numel() > 0 else 0
    out = v.new_zeros(n_rays, v.shape[-1])
    return out.index_add(0, ray_indices.long(), v)


def composite(
    weights: torch.Tensor,
    values: torch.Tensor,
    final_transmittance: torch.Tensor | None = None,
    background: torch.Tensor | float | None = None,
    ray_indices: torch.Tensor | None = None,
    n_rays: int | None = None,
) -> torch.Tensor:
    """Rendered values [R, C] = sum_i w_i v_i + T_final * background.

    final_transmittance: [R]; when None, 1 - sum_i w_i is used. background: None (black, no term),
    a float, [C] or [R, C]. Shapes of weights / values / ray_indices as in ``accumulate_along_rays``.
    """
    out = accumulate_along_rays(weights, values, ray_indices, n_rays)
    if background is None:
        return out
    if final_transmittance is None:
        final_transmittance = 1.0 - accumulated_opacity(weights, ray_indices, out.shape[0])
    bg = torch.as_tensor(background, dtype=out.dtype, device=out.device)
    return out + final_transmittance[..., None] * bg


def accumulated_opacity(
    weights: torch.Tensor, ray_indices: torch.Tensor | None = None, n_rays: int | None = None
) -> torch.Tensor:
    """Opacity sum_i w_i per ray -> [R] (= 1 - final transmittance)."""
    return accumulate_along_rays(weights, None, ray_indices, n_rays)[..., 0]


def expected_depth(
    weights: torch.Tensor,
    t: torch.Tensor,
    ray_indices: torch.Tensor | None = None,
    n_rays: int | None = None,
    normalize: bool = False,
    eps: float = 1e-10,
) -> torch.Tensor:
    """Expected ray parameter sum_i w_i t_i per ray -> [R] (t: sample positions, e.g. interval midpoints).

    With ``normalize`` it is divided by max(sum_i w_i, eps): the depth of the visible surface
    regardless of how much of the ray is transparent.
    """
    depth = accumulate_along_rays(weights, t[..., None], ray_indices, n_rays)[..., 0]
    if normalize:
        depth = depth / accumulated_opacity(weights, ray_indices, depth.shape[0]).clamp_min(eps)
    return depth
