"""Generator features of 3D points and the point sets BDF trains on.

Feature of a point x in the NeRF with modulations (gamma, beta) (paper, Sec. 3.4 and App. C): the FiLM
activations of several layers, concatenated, from the middle of the trunk on (``layers``; the paper starts
at layer 4 of 8) up to the colour sine layer, i.e. including the layer after the view direction enters::

    f(x) = [h_l(x) for l in layers]    [..., W * len(layers)]       (layer index L = the colour sine layer)

Point sets (paper, Sec. 3.5 and App. A): rays of a few random views are rendered with hierarchical sampling;
rays whose accumulated opacity is below ``mask_threshold`` are dropped (the depth mask as a sampling hint), and
``n_points`` samples are drawn from the remaining samples with probability proportional to their rendering
weight (importance sampling). Each point carries its ray direction and its weight w_x = T(t_x), the
transmittance at its depth (Eq. 5).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from nerf_correspondence.rendering import render_rays
from nerf_correspondence.siren import FiLMSiren


def paper_feature_layers(depth: int, start: int = 4) -> tuple[int, ...]:
    """Layers ``start`` .. ``depth`` (the last one is the colour sine layer); ``start`` is clipped to depth - 1."""
    return tuple(range(min(start, depth - 1), depth + 1))


def point_features(siren: FiLMSiren, points: Tensor, dirs: Tensor, gamma: Tensor, beta: Tensor,
                   layers: tuple[int, ...]) -> tuple[Tensor, Tensor]:  # fmt: skip
    """(features [B, N, W * len(layers)], raw density [B, N]) of points [B, N, 3] seen along dirs [B, N, 3]."""
    sigma, _, feats = siren.forward_with_modulations(points, gamma, beta, dirs, tuple(layers))
    return torch.cat(feats, -1), sigma


@dataclass
class PointSet:
    """points, dirs [B, N, 3]; transmittance T(t_x) [B, N]."""

    points: Tensor
    dirs: Tensor
    transmittance: Tensor


Cameras = Callable[[int, torch.Generator | None], tuple[Tensor, Tensor]]  # n views -> (origins [n, 3], dirs [n, R, 3])


@torch.no_grad()
def sample_point_set(siren: FiLMSiren, gamma: Tensor, beta: Tensor, cameras: Cameras, views: int, n_points: int,
                     near: float, far: float, num_steps: int, mask_threshold: float = 0.5,
                     generator: torch.Generator | None = None) -> PointSet:  # fmt: skip
    """A point set of each of the B NeRFs (gamma, beta [B, M]) from ``views`` random views each."""
    b = gamma.shape[0]
    pts, dirs, trans = [], [], []
    for i in range(b):
        origins, d = cameras(views, generator)
        g_i, b_i = gamma[i : i + 1].expand(views, -1), beta[i : i + 1].expand(views, -1)

        def field(p, v, g_i=g_i, b_i=b_i):
            s, c, _ = siren.forward_with_modulations(p, g_i, b_i, v)
            return s, c

        out = render_rays(field, origins, d, near, far, num_steps, True, True, 0.0, False, generator)
        s = out.t.shape[-1]
        keep = (out.opacity >= mask_threshold).float()[..., None]
        prob = (out.weights * keep).reshape(-1)
        if prob.sum() <= 0:  # nothing opaque: fall back to all rendering weights
            prob = out.weights.reshape(-1) + 1e-12
        idx = torch.multinomial(prob, n_points, replacement=True, generator=generator)
        pts.append(out.points.reshape(-1, 3)[idx])
        dirs.append(d[..., None, :].expand(-1, -1, s, -1).reshape(-1, 3)[idx])
        trans.append(out.transmittance.reshape(-1)[idx])
    return PointSet(torch.stack(pts), torch.stack(dirs), torch.stack(trans))


@torch.no_grad()
def surface_features(siren: FiLMSiren, gamma: Tensor, beta: Tensor, origins: Tensor, dirs: Tensor, near: float,
                     far: float, num_steps: int, layers: tuple[int, ...]) -> tuple[Tensor, Tensor, Tensor]:  # fmt: skip
    """Generator features at each pixel's surface (paper Fig. 1).

    Rays origins [1, 3], dirs [1, R, 3] of one NeRF (gamma, beta [1, M]) are rendered without jitter; the surface
    point of ray r is x_r = o + d_r * depth_r / max(opacity_r, 1e-6) (the expected termination depth, normalised
    by the opacity). Returns (features [R, C], points [R, 3], opacity [R]).
    """

    def field(p, v):
        s, c, _ = siren.forward_with_modulations(p, gamma, beta, v)
        return s, c

    out = render_rays(field, origins, dirs, near, far, num_steps, True, False, 0.0, False)
    depth = out.depth[0] / out.opacity[0].clamp_min(1e-6)
    points = origins[0] + dirs[0] * depth[:, None]
    feats, _ = point_features(siren, points[None], dirs, gamma, beta, layers)
    return feats[0], points, out.opacity[0]


def similarity_maps(queries: Tensor, targets: Tensor, target_opacity: Tensor, threshold: float = 0.5) -> Tensor:
    """Cosine similarity [K, R] of query features [K, C] with target pixel features [R, C]; NaN where the target
    pixel's opacity is below ``threshold`` (background)."""
    sim = torch.nn.functional.normalize(queries, dim=-1) @ torch.nn.functional.normalize(targets, dim=-1).T
    return torch.where(target_opacity[None] >= threshold, sim, torch.full_like(sim, float("nan")))
