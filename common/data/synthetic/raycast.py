"""Ray-cast rendering of a `Scene` with Open3D's CPU `RaycastingScene`.

For a pinhole camera (K [3,3] in the SceneData convention: pixel (u, v) has its centre at
(u + 0.5, v + 0.5)) and an OpenCV camera-to-world c2w [4,4], the ray of pixel (u, v) is
``o = c2w[:3, 3]``, ``d = R K^-1 [u + 0.5, v + 0.5, 1]^T`` (not normalised: its camera-z component
is 1), so the hit distance ``t`` along ``d`` IS the z-depth. Shading is Lambertian and
view-independent:

    rgb = albedo * (ambient + sum_l I_l * max(0, n . l_hat) * visible_l),
    albedo = texture(uv) * tint,  uv = (1 - b1 - b2) uv_0 + b1 uv_1 + b2 uv_2,

with (b1, b2) Open3D's barycentric ``primitive_uvs`` and n the face normal turned towards the
camera (two-sided). Textures are mip-mapped so that distant or grazing surfaces do not alias (which
would make a point's colour depend on the view): level = log2(S * rho * |d| t / f / sqrt|cos|), with S the
texture size, rho the face's texture-coordinate density (uv units per metre, sqrt of the uv / world area
ratio), |d| t / f the pixel footprint at distance |d| t (f = mean focal length) and cos = n . d_hat.
Shadows (visible_l) come from occlusion rays for lights with ``shadows=True``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from common.data.synthetic.meshes import MergedMesh, Scene
from common.data.synthetic.textures import mip_pyramid, sample_trilinear
from common.o3d import import_open3d


@dataclass
class View:
    """rgb [H, W, 3] float32 in [0, 1]; depth [H, W] float32 z-depth (0 where no hit); normal [H, W, 3]
    world-space, facing the camera; semantic [H, W] / instance [H, W] int32 (0 where no hit);
    face [H, W] int64 triangle index (-1 where no hit)."""

    rgb: np.ndarray
    depth: np.ndarray
    normal: np.ndarray
    semantic: np.ndarray
    instance: np.ndarray
    face: np.ndarray


def pixel_rays(K: np.ndarray, c2w: np.ndarray, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Ray origins and directions [H, W, 3] (float64) with unit camera-z component (see module doc)."""
    u, v = np.meshgrid(np.arange(width) + 0.5, np.arange(height) + 0.5)
    pix = np.stack([u, v, np.ones_like(u)], axis=-1)
    dirs_cam = pix @ np.linalg.inv(np.asarray(K, dtype=np.float64)).T
    dirs = dirs_cam @ np.asarray(c2w, dtype=np.float64)[:3, :3].T
    origins = np.broadcast_to(np.asarray(c2w, dtype=np.float64)[:3, 3], dirs.shape)
    return origins, dirs


def uv_density(mesh: MergedMesh) -> np.ndarray:
    """[F] texture-coordinate units per metre of each face: sqrt(uv area / world area)."""
    tri = mesh.vertices[mesh.faces]
    area = 0.5 * np.linalg.norm(np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]), axis=-1)
    uv = mesh.uvs.astype(np.float64)
    e1, e2 = uv[:, 1] - uv[:, 0], uv[:, 2] - uv[:, 0]
    uv_area = 0.5 * np.abs(e1[:, 0] * e2[:, 1] - e1[:, 1] * e2[:, 0])
    return np.sqrt(uv_area / np.maximum(area, 1e-12))


class Renderer:
    """Builds the BVH of a scene once; `render(K, c2w, H, W)` returns a `View`."""

    def __init__(self, scene: Scene):
        o3d = import_open3d()
        self.scene = scene
        self.mesh: MergedMesh = scene.merged()
        self._o3d = o3d
        self._pyramid = mip_pyramid(scene.textures)
        self._density = uv_density(self.mesh)
        self._rc = o3d.t.geometry.RaycastingScene()
        self._rc.add_triangles(
            o3d.core.Tensor(self.mesh.vertices.astype(np.float32)),
            o3d.core.Tensor(self.mesh.faces.astype(np.uint32)),
        )

    def cast(self, origins: np.ndarray, dirs: np.ndarray) -> dict[str, np.ndarray]:
        """Open3D ``cast_rays`` on [N, 3] origins/directions -> numpy dict (t_hit, primitive_ids, ...)."""
        rays = np.concatenate([origins, dirs], axis=-1).astype(np.float32)
        out = self._rc.cast_rays(self._o3d.core.Tensor(rays))
        return {k: v.numpy() for k, v in out.items()}

    def render(self, K: np.ndarray, c2w: np.ndarray, height: int, width: int) -> View:
        origins, dirs = pixel_rays(K, c2w, height, width)
        o, d = origins.reshape(-1, 3), dirs.reshape(-1, 3)
        hit = self.cast(o, d)
        face = hit["primitive_ids"].astype(np.int64)
        ok = np.isfinite(hit["t_hit"]) & (face != self._rc.INVALID_ID)
        face = np.where(ok, face, -1)
        idx = np.nonzero(ok)[0]
        f = face[idx]
        t = hit["t_hit"][idx].astype(np.float64)
        m = self.mesh

        normal = hit["primitive_normals"][idx].astype(np.float64)
        flip = np.sum(normal * d[idx], axis=-1) > 0
        normal[flip] *= -1.0
        bary = hit["primitive_uvs"][idx].astype(np.float32)
        w = np.stack([1.0 - bary[:, 0] - bary[:, 1], bary[:, 0], bary[:, 1]], axis=-1)
        uv = np.einsum("nk,nkc->nc", w, m.uvs[f])
        ray_len = np.linalg.norm(d[idx], axis=-1)
        cos = np.abs(np.sum(normal * d[idx], axis=-1)) / ray_len
        focal = 0.5 * (K[0, 0] + K[1, 1])
        footprint = ray_len * t / focal / np.sqrt(np.maximum(cos, 0.05))
        level = np.log2(np.maximum(footprint * self._density[f] * self.scene.textures.shape[1], 1e-12))
        albedo = sample_trilinear(self._pyramid, m.texture[f], uv, level) * m.tint[f]

        points = o[idx] + t[:, None] * d[idx]
        shade = np.full(len(idx), self.scene.ambient, dtype=np.float64)
        for light in self.scene.lights:
            vec = np.asarray(light.vector, dtype=np.float64)
            to_light = vec - points if light.kind == "point" else np.broadcast_to(vec, points.shape)
            l_hat = to_light / np.linalg.norm(to_light, axis=-1, keepdims=True)
            lam = np.clip(np.sum(normal * l_hat, axis=-1), 0.0, None)
            if light.shadows:
                start = points + 1e-3 * normal
                reach = to_light if light.kind == "point" else l_hat * 1e3
                rays = self._o3d.core.Tensor(np.concatenate([start, reach], axis=-1).astype(np.float32))
                blocked = self._rc.test_occlusions(rays, tnear=1e-4, tfar=0.999).numpy()
                lam = lam * (~blocked)
            shade += light.intensity * lam

        n_px = height * width
        rgb = np.tile(np.asarray(self.scene.background, dtype=np.float32), (n_px, 1))
        rgb[idx] = np.clip(albedo * shade[:, None].astype(np.float32), 0.0, 1.0)
        depth = np.zeros(n_px, dtype=np.float32)
        depth[idx] = t
        normals = np.zeros((n_px, 3), dtype=np.float32)
        normals[idx] = normal
        semantic = np.zeros(n_px, dtype=np.int32)
        semantic[idx] = m.class_id[f]
        instance = np.zeros(n_px, dtype=np.int32)
        instance[idx] = m.instance_id[f]
        return View(
            rgb.reshape(height, width, 3),
            depth.reshape(height, width),
            normals.reshape(height, width, 3),
            semantic.reshape(height, width),
            instance.reshape(height, width),
            face.reshape(height, width),
        )
