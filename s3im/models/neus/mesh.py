"""Mesh extraction from an SDF by marching cubes (PyMCubes), as the official ``extract_geometry``.

The field is sampled on a resolution^3 grid over [bound_min, bound_max] (the normalised frame; NeuS uses
[-1.01, 1.01]^3) in blocks of 64^3 points; ``mcubes.marching_cubes(-sdf, threshold)`` gives vertices in grid
units, mapped to v / (resolution - 1) * (max - min) + min, and then to world units by the scene's
normalisation inverse (``Normalization.inverse_points``; NeuS applies ``scale_mat`` the same way).
"""

from __future__ import annotations

from collections.abc import Callable

import mcubes
import numpy as np
import torch

from common.geometry import Normalization

BLOCK = 64


@torch.no_grad()
def sample_grid(
    fn: Callable[[torch.Tensor], torch.Tensor], bound_min, bound_max, resolution: int, device="cpu"
) -> np.ndarray:
    """[res, res, res] float32 values fn(points [N, 3]) -> [N] on the grid (index order x, y, z)."""
    lo, hi = np.asarray(bound_min, dtype=np.float64), np.asarray(bound_max, dtype=np.float64)
    axes = [torch.linspace(float(lo[i]), float(hi[i]), resolution, dtype=torch.float32) for i in range(3)]
    out = np.zeros((resolution, resolution, resolution), dtype=np.float32)
    for xi in range(0, resolution, BLOCK):
        for yi in range(0, resolution, BLOCK):
            for zi in range(0, resolution, BLOCK):
                xs, ys, zs = axes[0][xi : xi + BLOCK], axes[1][yi : yi + BLOCK], axes[2][zi : zi + BLOCK]
                grid = torch.stack(torch.meshgrid(xs, ys, zs, indexing="ij"), -1)
                vals = fn(grid.reshape(-1, 3).to(device)).reshape(grid.shape[:3])
                out[xi : xi + len(xs), yi : yi + len(ys), zi : zi + len(zs)] = vals.float().cpu().numpy()
    return out


def extract_mesh(
    sdf_fn: Callable[[torch.Tensor], torch.Tensor],
    resolution: int,
    bound_min=(-1.01, -1.01, -1.01),
    bound_max=(1.01, 1.01, 1.01),
    threshold: float = 0.0,
    normalization: Normalization | None = None,
    device="cpu",
) -> tuple[np.ndarray, np.ndarray]:
    """(vertices [V, 3] float64, faces [F, 3] int64) of the level set sdf = -threshold, in world units when
    ``normalization`` is given (else in the normalised frame). Empty arrays when the field has no crossing."""
    u = sample_grid(lambda p: -sdf_fn(p), bound_min, bound_max, resolution, device)
    vertices, faces = mcubes.marching_cubes(u, threshold)
    lo, hi = np.asarray(bound_min, dtype=np.float64), np.asarray(bound_max, dtype=np.float64)
    vertices = vertices / (resolution - 1.0) * (hi - lo)[None] + lo[None]
    if normalization is not None:
        vertices = normalization.inverse_points(vertices)
    return np.asarray(vertices, dtype=np.float64), np.asarray(faces, dtype=np.int64)


def render_mesh(vertices: np.ndarray, faces: np.ndarray, K: np.ndarray, c2w: np.ndarray, width: int, height: int):
    """[H, W, 3] float32 grey shading of a mesh seen by one pinhole camera (OpenCV c2w, same units as the mesh).

    Each pixel's ray (through the pixel centre) is cast with Open3D's RaycastingScene; a hit is shaded
    0.2 + 0.8 |n . d| (n the face normal, d the unit ray), a miss is white.
    """
    from common.o3d import import_open3d

    o3d = import_open3d()
    scene = o3d.t.geometry.RaycastingScene()
    if len(faces):
        scene.add_triangles(
            o3d.core.Tensor(np.asarray(vertices, dtype=np.float32)), o3d.core.Tensor(np.asarray(faces, dtype=np.uint32))
        )
    u, v = np.meshgrid(np.arange(width) + 0.5, np.arange(height) + 0.5)
    pix = np.stack([u, v, np.ones_like(u)], -1).reshape(-1, 3)
    d = pix @ np.linalg.inv(K).T @ np.asarray(c2w)[:3, :3].T
    d /= np.linalg.norm(d, axis=1, keepdims=True)
    o = np.broadcast_to(np.asarray(c2w)[:3, 3], d.shape)
    hits = scene.cast_rays(o3d.core.Tensor(np.concatenate([o, d], 1).astype(np.float32)))
    hit = np.isfinite(hits["t_hit"].numpy())
    shade = 0.2 + 0.8 * np.abs((hits["primitive_normals"].numpy() * d).sum(1))
    img = np.where(hit, shade, 1.0).reshape(height, width)
    return np.repeat(img[..., None], 3, -1).astype(np.float32)
