"""Camera geometry of SparseFusion: ray encodings, projection, frames, the circular camera prior.

Conventions: OpenCV cameras (x right, y down, z forward), ``K`` [..., 3, 3] in pixels with pixel centres at
u + 0.5, ``c2w`` [..., 4, 4] camera-to-world (as everywhere in ``common``).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from common.cameras import get_rays, scale_intrinsics


def harmonic_embedding(x: Tensor, n_freqs: int = 6, omega0: float = 1.0, append_input: bool = True) -> Tensor:
    """PyTorch3D-style harmonic embedding: [..., D] -> [..., 2 D n_freqs (+ D)].

    ``[sin(x_d w_k) for d, k] ++ [cos(x_d w_k) for d, k] ++ x`` with w_k = omega0 2^k, k = 0 .. n_freqs - 1
    (d-major order inside each of the sin and cos blocks). Plücker 6-d -> 78-d, depth 1-d -> 13-d.
    """
    freqs = omega0 * (2.0 ** torch.arange(n_freqs, dtype=x.dtype, device=x.device))
    arg = (x[..., None] * freqs).flatten(-2)
    parts = [arg.sin(), arg.cos()] + ([x] if append_input else [])
    return torch.cat(parts, dim=-1)


def embedding_dim(in_dim: int, n_freqs: int = 6, append_input: bool = True) -> int:
    return 2 * in_dim * n_freqs + (in_dim if append_input else 0)


def plucker(origins: Tensor, directions: Tensor) -> Tensor:
    """Plücker coordinates [..., 6] = (d, o x d) of the line o + t d, d normalised to unit length."""
    d = torch.nn.functional.normalize(directions, dim=-1)
    return torch.cat([d, torch.cross(origins, d, dim=-1)], dim=-1)


def project(points: Tensor, K: Tensor, c2w: Tensor) -> tuple[Tensor, Tensor]:
    """Pixel coordinates and z-depth of world points in cameras.

    points [..., P, 3]; K [..., 3, 3]; c2w [..., 4, 4] (leading dims broadcast). Returns uv [..., P, 2]
    (continuous pixel coordinates, pixel centres at integer + 0.5) and z [..., P]:
    X_cam = R^T (X - t), uv = (K X_cam)_{xy} / z.
    """
    R, t = c2w[..., :3, :3], c2w[..., :3, 3]
    cam = torch.einsum("...ji,...pj->...pi", R, points - t[..., None, :])
    z = cam[..., 2]
    pix = torch.einsum("...ij,...pj->...pi", K, cam)
    uv = pix[..., :2] / z.clamp(min=1e-6)[..., None]
    return uv, z


def grid_rays(K: Tensor, c2w: Tensor, height: int, width: int, res: int) -> tuple[Tensor, Tensor]:
    """Rays through the pixel centres of a res x res grid covering an H x W image.

    K [..., 3, 3], c2w [..., 4, 4] -> origins, unit directions [..., res, res, 3].
    """
    Ks = scale_intrinsics(K, res / width, res / height)
    return get_rays(Ks, c2w, res, res)


def relative_to(c2w: Tensor, reference: Tensor) -> Tensor:
    """Cameras ``c2w`` [..., V, 4, 4] expressed in the frame of ``reference`` [..., 4, 4]: inv(ref) @ c2w."""
    return torch.linalg.inv(reference)[..., None, :, :] @ c2w


def look_at(centres: Tensor, target: Tensor, up: Tensor) -> Tensor:
    """OpenCV c2w [N, 4, 4] of cameras at ``centres`` [N, 3] looking at ``target`` [3] with image up ~ ``up``."""
    z = torch.nn.functional.normalize(target - centres, dim=-1)
    x = torch.nn.functional.normalize(torch.cross(z, -up.expand_as(z), dim=-1), dim=-1)
    y = torch.cross(z, x, dim=-1)
    c2w = torch.eye(4, dtype=centres.dtype).repeat(len(centres), 1, 1)
    c2w[:, :3, 0], c2w[:, :3, 1], c2w[:, :3, 2], c2w[:, :3, 3] = x, y, z, centres
    return c2w


def circle_cameras(c2w: Tensor, n: int) -> Tensor:
    """SparseFusion's prior camera distribution: ``n`` cameras on a circle looking at the origin.

    The circle lies in the best-fit plane of the given camera centres (c2w [M, 4, 4], M >= 3; the scene is
    assumed centred at the origin), at their mean height above the plane through the origin and their mean
    distance from its axis; the image up vector follows the cameras' mean up (-y) direction.
    """
    centres = c2w[:, :3, 3]
    mean = centres.mean(0)
    normal = torch.linalg.svd(centres - mean, full_matrices=False).Vh[-1]
    up = -c2w[:, :3, 1].mean(0)
    if torch.dot(normal, up) < 0:
        normal = -normal
    height = (centres @ normal).mean()
    in_plane = centres - (centres @ normal)[:, None] * normal
    radius = in_plane.norm(dim=-1).mean()
    e1 = torch.nn.functional.normalize(in_plane[0], dim=0)
    e2 = torch.cross(normal, e1, dim=0)
    theta = torch.arange(n, dtype=c2w.dtype) * (2 * math.pi / n)
    ring = radius * (theta.cos()[:, None] * e1 + theta.sin()[:, None] * e2) + height * normal
    return look_at(ring, torch.zeros(3, dtype=c2w.dtype), normal)


def view_angle_deg(c2w_a: Tensor, c2w_b: Tensor) -> Tensor:
    """Angle in degrees between the directions from the origin (object centre) to camera centres:
    c2w_a [A, 4, 4], c2w_b [B, 4, 4] -> [A, B]."""
    a = torch.nn.functional.normalize(c2w_a[:, :3, 3], dim=-1)
    b = torch.nn.functional.normalize(c2w_b[:, :3, 3], dim=-1)
    return torch.rad2deg(torch.acos((a @ b.T).clamp(-1, 1)))
