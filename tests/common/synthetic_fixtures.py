"""Independent checks for generated data sets: multi-view reprojection through loaded SceneData,
PLY face labels parsed straight from the file, directory hashing."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from common.o3d import import_open3d


def backproject(depth: np.ndarray, K: np.ndarray, c2w: np.ndarray, step: int = 1):
    """World points [M, 3] and their pixel indices (rows, cols) of valid depth, every ``step`` pixels."""
    rows, cols = np.nonzero(depth[::step, ::step] > 0)
    rows, cols = rows * step, cols * step
    z = depth[rows, cols].astype(np.float64)
    cam = np.stack([(cols + 0.5 - K[0, 2]) / K[0, 0] * z, (rows + 0.5 - K[1, 2]) / K[1, 1] * z, z], axis=-1)
    return cam @ c2w[:3, :3].T + c2w[:3, 3], rows, cols


def reprojection_colour_error(images, depth, K, c2w, i: int, j: int, rel_tol: float = 0.03):
    """Median |rgb_i - rgb_j| over pixels of view i that are visible in view j (depth test), and their count.

    Points are back-projected with view i's depth/K/c2w and projected with view j's K/c2w (pixel centres at
    u + 0.5); visible when inside image j and the projected z agrees with depth_j within ``rel_tol``.
    """
    pts, rows, cols = backproject(depth[i], K[i], c2w[i])
    w2c = np.linalg.inv(c2w[j].astype(np.float64))
    cam = pts @ w2c[:3, :3].T + w2c[:3, 3]
    z = cam[:, 2]
    front = z > 1e-6
    u = K[j][0, 0] * cam[:, 0] / np.where(front, z, 1) + K[j][0, 2]
    v = K[j][1, 1] * cam[:, 1] / np.where(front, z, 1) + K[j][1, 2]
    h, w = depth[j].shape
    uc, vc = np.floor(u).astype(int), np.floor(v).astype(int)
    inside = front & (uc >= 0) & (uc < w) & (vc >= 0) & (vc < h)
    uc, vc = np.clip(uc, 0, w - 1), np.clip(vc, 0, h - 1)
    dj = depth[j][vc, uc]
    vis = inside & (dj > 0) & (np.abs(dj - z) < rel_tol * z)
    err = np.abs(images[i][rows[vis], cols[vis]] - images[j][vc[vis], uc[vis]]).mean(axis=-1)
    return float(np.median(err)) if vis.any() else float("inf"), int(vis.sum())


def read_ply_faces(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(object_id [F], class_id [F]) parsed from a binary PLY written with face properties
    'list uchar int vertex_indices; ushort object_id; uchar class_id' (header read to find offsets)."""
    data = Path(path).read_bytes()
    end = data.index(b"end_header\n") + len(b"end_header\n")
    header = data[:end].decode().splitlines()
    n_v = int(next(h for h in header if h.startswith("element vertex")).split()[-1])
    n_f = int(next(h for h in header if h.startswith("element face")).split()[-1])
    assert "property list uchar int vertex_indices" in header
    vdt = np.dtype([("x", "<f4"), ("y", "<f4"), ("z", "<f4"), ("r", "u1"), ("g", "u1"), ("b", "u1")])
    fdt = np.dtype([("n", "u1"), ("v", "<i4", (3,)), ("object_id", "<u2"), ("class_id", "u1")])
    faces = np.frombuffer(data, dtype=fdt, count=n_f, offset=end + n_v * vdt.itemsize)
    return faces["object_id"].astype(np.int64), faces["class_id"].astype(np.int64)


def raycast_mesh_file(path: Path, K: np.ndarray, c2w: np.ndarray, h: int, w: int, transform=None):
    """(z-depth [h, w], triangle id [h, w]) from casting the pixel-centre rays of a camera against the mesh file
    read by Open3D; ``transform`` (4x4) maps the file's vertices into the camera's world frame first."""
    o3d = import_open3d()
    mesh = o3d.io.read_triangle_mesh(str(path))
    verts = np.asarray(mesh.vertices)
    if transform is not None:
        verts = verts @ transform[:3, :3].T + transform[:3, 3]
    scene = o3d.t.geometry.RaycastingScene()
    scene.add_triangles(
        o3d.core.Tensor(verts.astype(np.float32)), o3d.core.Tensor(np.asarray(mesh.triangles).astype(np.uint32))
    )
    u, v = np.meshgrid(np.arange(w) + 0.5, np.arange(h) + 0.5)
    d_cam = np.stack([(u - K[0, 2]) / K[0, 0], (v - K[1, 2]) / K[1, 1], np.ones_like(u)], -1)
    d = d_cam @ np.asarray(c2w, np.float64)[:3, :3].T
    o = np.broadcast_to(np.asarray(c2w, np.float64)[:3, 3], d.shape)
    rays = np.concatenate([o, d], -1).reshape(-1, 6).astype(np.float32)
    hit = scene.cast_rays(o3d.core.Tensor(rays))
    t = hit["t_hit"].numpy().reshape(h, w)
    prim = hit["primitive_ids"].numpy().astype(np.int64).reshape(h, w)
    ok = np.isfinite(t)
    return np.where(ok, t, 0.0), np.where(ok, prim, -1)


def tree_digest(root: Path) -> str:
    """SHA-256 over (relative path, bytes) of every file under root, in sorted order."""
    h = hashlib.sha256()
    for p in sorted(Path(root).rglob("*")):
        if p.is_file():
            h.update(str(p.relative_to(root)).encode())
            h.update(p.read_bytes())
    return h.hexdigest()
