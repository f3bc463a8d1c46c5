"""pi-GAN cameras and volume rendering with hierarchical sampling.

Camera (pi-GAN): on a sphere of radius r around the origin, yaw theta and pitch phi give the origin
``r (sin(phi) cos(theta), cos(phi), sin(phi) sin(theta))`` (y up); it looks at the origin. Pixel rays in camera
space: x, y on linspace(-1, 1) (y downwards from +1), z = -1 / tan(fov / 2), normalised; camera-to-world
R = [-left, up, -forward] with forward = -origin / |origin|, left = up0 x forward, up = forward x left.

Rendering (pi-GAN ``fancy_integration``): S stratified depths in [near, far] (one uniform jitter per bin when
``perturb``), then S more from the pdf of the coarse weights (``common.render.pdf_samples``), merged and sorted
(2 S samples, both passes carry gradients, as the official generator). alpha_i = 1 - exp(-delta_i relu(sigma_i
+ n_i)) with n_i ~ N(0, noise_std^2), last delta 1e10; weights w_i = T_i alpha_i with T_i = prod_{j<i} (1 -
alpha_j) (``common.render.transmittance_from_alpha``); pixel = sum_i w_i c_i (+ T_final where ``white_back``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from common.render import pdf_samples, stratified_samples, transmittance_from_alpha


def sample_camera_angles(
    n: int, mode: str, h_mean: float, v_mean: float, h_std: float, v_std: float, generator: torch.Generator | None
) -> tuple[Tensor, Tensor]:
    """(pitch phi [n], yaw theta [n]) from pi-GAN's pose distributions.

    gaussian: theta ~ N(h_mean, h_std^2), phi ~ N(v_mean, v_std^2); uniform: theta ~ U(h_mean +- h_std),
    phi ~ U(v_mean +- v_std). phi is clamped to [1e-5, pi - 1e-5].
    """
    if mode == "gaussian":
        theta = torch.randn(n, generator=generator) * h_std + h_mean
        phi = torch.randn(n, generator=generator) * v_std + v_mean
    elif mode == "uniform":
        theta = (torch.rand(n, generator=generator) * 2 - 1) * h_std + h_mean
        phi = (torch.rand(n, generator=generator) * 2 - 1) * v_std + v_mean
    else:
        raise ValueError(f"camera sampling mode must be gaussian or uniform, got {mode!r}")
    return phi.clamp(1e-5, math.pi - 1e-5), theta


def camera_origins(pitch: Tensor, yaw: Tensor, radius: float = 1.0) -> Tensor:
    """[n, 3] origins r (sin(phi) cos(theta), cos(phi), sin(phi) sin(theta))."""
    return radius * torch.stack(
        [torch.sin(pitch) * torch.cos(yaw), torch.cos(pitch), torch.sin(pitch) * torch.sin(yaw)], -1
    )


def look_at_rotation(origins: Tensor, up: tuple[float, float, float] = (0.0, 1.0, 0.0)) -> Tensor:
    """[n, 3, 3] camera-to-world rotations (columns -left, up, -forward) of cameras at ``origins`` looking at 0."""
    forward = torch.nn.functional.normalize(-origins, dim=-1)
    up0 = torch.tensor(up, dtype=origins.dtype).expand_as(forward)
    left = torch.nn.functional.normalize(torch.cross(up0, forward, dim=-1), dim=-1)
    upv = torch.nn.functional.normalize(torch.cross(forward, left, dim=-1), dim=-1)
    return torch.stack([-left, upv, -forward], -1)


def camera_space_directions(resolution: int, fov_degrees: float) -> Tensor:
    """[res * res, 3] unit ray directions in camera space (row-major pixels, first row at the top)."""
    lin = torch.linspace(-1.0, 1.0, resolution)
    y, x = torch.meshgrid(-lin, lin, indexing="ij")
    z = torch.full_like(x, -1.0 / math.tan(math.radians(fov_degrees) / 2))
    return torch.nn.functional.normalize(torch.stack([x, y, z], -1).reshape(-1, 3), dim=-1)


def camera_rays(origins: Tensor, resolution: int, fov_degrees: float, up=(0.0, 1.0, 0.0)) -> tuple[Tensor, Tensor]:
    """(origins [n, 3], world directions [n, res * res, 3]) of cameras at ``origins`` looking at the origin."""
    rot = look_at_rotation(origins, up)
    dirs = camera_space_directions(resolution, fov_degrees).to(origins)
    return origins, torch.einsum("nij,rj->nri", rot, dirs)


Field = Callable[[Tensor, Tensor], tuple[Tensor, Tensor]]  # (points [B, N, 3], dirs [B, N, 3]) -> sigma, rgb


@dataclass
class RenderOutput:
    """rgb [B, R, 3] in [0, 1]; depth [B, R]; opacity [B, R]; t [B, R, S'] sorted sample depths of the final
    pass; weights, transmittance [B, R, S'] at those samples; points [B, R, S', 3]."""

    rgb: Tensor
    depth: Tensor
    opacity: Tensor
    t: Tensor
    weights: Tensor
    transmittance: Tensor
    points: Tensor


def integrate(sigma: Tensor, rgb: Tensor, t: Tensor, noise_std: float = 0.0, generator=None, white_back=False):
    """(pixel rgb [..., 3], weights [..., S], transmittance [..., S], final T [...]) of samples at depths t."""
    deltas = torch.cat([t[..., 1:] - t[..., :-1], torch.full_like(t[..., :1], 1e10)], -1)
    if noise_std > 0:
        sigma = sigma + torch.randn(sigma.shape, generator=generator).to(sigma) * noise_std
    alpha = -torch.expm1(-deltas * torch.relu(sigma))
    trans = transmittance_from_alpha(alpha)
    weights = trans * alpha
    final = trans[..., -1] * (1 - alpha[..., -1])
    color = (weights[..., None] * rgb).sum(-2)
    if white_back:
        color = color + final[..., None]
    return color, weights, trans, final


def render_rays(
    field: Field,
    origins: Tensor,
    dirs: Tensor,
    near: float,
    far: float,
    num_steps: int,
    hierarchical: bool = True,
    perturb: bool = True,
    noise_std: float = 0.0,
    white_back: bool = False,
    generator: torch.Generator | None = None,
) -> RenderOutput:
    """Render rays origins [B, 3] (or [B, R, 3]) + t dirs [B, R, 3] through ``field``; see the module docstring."""
    b, r, _ = dirs.shape
    o = origins[:, None, :].expand(b, r, 3) if origins.dim() == 2 else origins
    near_t = torch.full((b, r), float(near))
    t = stratified_samples(near_t, torch.full((b, r), float(far)), num_steps, perturb=perturb, generator=generator)
    t = t.to(dirs)
    pts = o[..., None, :] + t[..., None] * dirs[..., None, :]
    view = dirs[..., None, :].expand_as(pts)
    sigma, rgb = field(pts.reshape(b, -1, 3), view.reshape(b, -1, 3))
    sigma, rgb = sigma.reshape(b, r, num_steps), rgb.reshape(b, r, num_steps, 3)
    if hierarchical:
        with torch.no_grad():
            _, w, _, _ = integrate(sigma.detach(), rgb.detach(), t, noise_std, generator)
            mids = 0.5 * (t[..., 1:] + t[..., :-1])
            t_fine = pdf_samples(mids.reshape(-1, num_steps - 1), w[..., 1:-1].reshape(-1, num_steps - 2), num_steps,
                                 deterministic=not perturb, generator=generator).reshape(b, r, num_steps)  # fmt: skip
        pts_f = o[..., None, :] + t_fine[..., None] * dirs[..., None, :]
        sigma_f, rgb_f = field(pts_f.reshape(b, -1, 3), view.reshape(b, -1, 3))
        t = torch.cat([t, t_fine], -1)
        order = torch.argsort(t, -1)
        t = torch.gather(t, -1, order)
        sigma = torch.gather(torch.cat([sigma, sigma_f.reshape(b, r, num_steps)], -1), -1, order)
        rgb = torch.gather(torch.cat([rgb, rgb_f.reshape(b, r, num_steps, 3)], -2), -2, order[..., None].expand(
            b, r, 2 * num_steps, 3))  # fmt: skip
        pts = o[..., None, :] + t[..., None] * dirs[..., None, :]
    color, weights, trans, final = integrate(sigma, rgb, t, noise_std, generator, white_back)
    depth = (weights * t).sum(-1) + final * far
    return RenderOutput(color, depth, 1 - final, t, weights, trans, pts)
