"""Textured triangle parts (boxes, cylinders, spheres, real scanned meshes) and scene containers.

A `Part` is a triangle mesh with per-corner texture coordinates, one texture of the scene's bank,
a colour tint, a semantic class and an instance id. A `Scene` is a list of parts plus lights;
`Scene.merged()` concatenates the parts into one mesh with per-face attribute arrays, which is what
the ray caster and the PLY writer consume. World frame: z up, metres.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np

from common.data.synthetic.textures import to_texture


@dataclass
class Part:
    """vertices [V, 3] float64, faces [F, 3] int64, uvs [F, 3, 2] float32 (per corner),
    texture (index into the scene bank), tint [3] (albedo = texture * tint), class_id, instance_id."""

    vertices: np.ndarray
    faces: np.ndarray
    uvs: np.ndarray
    texture: int
    tint: np.ndarray
    class_id: int
    instance_id: int

    def transformed(self, yaw: float = 0.0, offset=(0.0, 0.0, 0.0)) -> Part:
        """Rotated by ``yaw`` radians about +z, then translated by ``offset``."""
        c, s = np.cos(yaw), np.sin(yaw)
        rot = np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])
        verts = self.vertices @ rot.T + np.asarray(offset, dtype=np.float64)
        return Part(verts, self.faces, self.uvs, self.texture, self.tint, self.class_id, self.instance_id)


@dataclass
class Light:
    """``kind`` 'point' (``vector`` = position) or 'directional' (``vector`` = direction towards the light)."""

    kind: str
    vector: tuple[float, float, float]
    intensity: float
    shadows: bool = False


@dataclass
class MergedMesh:
    """All parts in one mesh: vertices [V, 3], faces [F, 3] and per-face uvs [F, 3, 2], texture [F],
    tint [F, 3], class_id [F], instance_id [F]."""

    vertices: np.ndarray
    faces: np.ndarray
    uvs: np.ndarray
    texture: np.ndarray
    tint: np.ndarray
    class_id: np.ndarray
    instance_id: np.ndarray


@dataclass
class Scene:
    """Parts + shading setup. ``bounds`` [2, 3]: region of interest (room interior or object + ground).

    ``obstacles``: (x, y, radius) footprints of floor objects; ``instances``: instance id -> class id;
    ``metadata``: plain JSON-able facts (sources of real meshes, fallbacks used).
    """

    name: str
    parts: list[Part]
    textures: np.ndarray
    class_names: tuple[str, ...]
    lights: list[Light]
    ambient: float
    background: tuple[float, float, float]
    bounds: np.ndarray
    obstacles: list[tuple[float, float, float]] = field(default_factory=list)
    instances: dict[int, int] = field(default_factory=dict)
    metadata: dict = field(default_factory=dict)

    def merged(self) -> MergedMesh:
        verts, faces, uvs, tex, tint, cls, inst = [], [], [], [], [], [], []
        base = 0
        for p in self.parts:
            n_f = len(p.faces)
            verts.append(p.vertices)
            faces.append(p.faces + base)
            uvs.append(p.uvs)
            tex.append(np.full(n_f, p.texture, dtype=np.int32))
            tint.append(np.broadcast_to(np.asarray(p.tint, dtype=np.float32), (n_f, 3)))
            cls.append(np.full(n_f, p.class_id, dtype=np.int32))
            inst.append(np.full(n_f, p.instance_id, dtype=np.int32))
            base += len(p.vertices)
        return MergedMesh(
            np.concatenate(verts).astype(np.float64),
            np.concatenate(faces).astype(np.int64),
            np.concatenate(uvs).astype(np.float32),
            np.concatenate(tex),
            np.concatenate(tint).astype(np.float32),
            np.concatenate(cls),
            np.concatenate(inst),
        )


def quad(p0, eu, ev, outward, uv_size: tuple[float, float]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Parallelogram p0, p0+eu, p0+eu+ev, p0+ev: (vertices [4,3], faces [2,3], uvs [2,3,2]).

    Texture coordinates run from (0, 0) at p0 to ``uv_size`` at the opposite corner (u along eu,
    v along ev). Winding is chosen so the face normal points along ``outward``.
    """
    p0, eu, ev = (np.asarray(a, dtype=np.float64) for a in (p0, eu, ev))
    verts = np.stack([p0, p0 + eu, p0 + eu + ev, p0 + ev])
    su, sv = uv_size
    corner_uv = np.array([[0.0, 0.0], [su, 0.0], [su, sv], [0.0, sv]], dtype=np.float32)
    tris = np.array([[0, 1, 2], [0, 2, 3]])
    if np.dot(np.cross(eu, ev), np.asarray(outward, dtype=np.float64)) < 0:
        tris = tris[:, ::-1]
    return verts, tris, corner_uv[tris]


def _join(pieces) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    verts, faces, uvs, base = [], [], [], 0
    for v, f, uv in pieces:
        verts.append(v)
        faces.append(f + base)
        uvs.append(uv)
        base += len(v)
    return np.concatenate(verts), np.concatenate(faces), np.concatenate(uvs)


def box_geometry(size, tile: float | None = 0.5) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Axis-aligned box centred at the origin, outward normals (12 triangles).

    ``tile``: metres per texture repeat; None maps every face onto the whole texture once.
    Vertical faces have v growing downwards (images appear upright).
    """
    sx, sy, sz = (float(s) for s in size)
    hx, hy, hz = sx / 2, sy / 2, sz / 2

    def uv(a, b):
        return (1.0, 1.0) if tile is None else (a / tile, b / tile)

    faces = [
        quad((-hx, -hy, hz), (sx, 0, 0), (0, 0, -sz), (0, -1, 0), uv(sx, sz)),
        quad((hx, hy, hz), (-sx, 0, 0), (0, 0, -sz), (0, 1, 0), uv(sx, sz)),
        quad((hx, -hy, hz), (0, sy, 0), (0, 0, -sz), (1, 0, 0), uv(sy, sz)),
        quad((-hx, hy, hz), (0, -sy, 0), (0, 0, -sz), (-1, 0, 0), uv(sy, sz)),
        quad((-hx, hy, hz), (sx, 0, 0), (0, -sy, 0), (0, 0, 1), uv(sx, sy)),
        quad((-hx, -hy, -hz), (sx, 0, 0), (0, sy, 0), (0, 0, -1), uv(sx, sy)),
    ]
    return _join(faces)


def cylinder_geometry(radius: float, height: float, segments: int = 24, tile: float = 0.5):
    """Vertical cylinder, base centred at the origin (z in [0, height]), with caps.

    Side: cylindrical mapping u = arc length / tile, v = (height - z) / tile; caps: planar (x, y) / tile.
    """
    ang = np.linspace(0.0, 2 * np.pi, segments + 1)
    ring = np.stack([radius * np.cos(ang), radius * np.sin(ang)], axis=-1)
    top = np.concatenate([ring, np.full((segments + 1, 1), height)], axis=1)
    bot = np.concatenate([ring, np.zeros((segments + 1, 1))], axis=1)
    verts = np.concatenate([top, bot, [[0.0, 0.0, height], [0.0, 0.0, 0.0]]])
    n1 = segments + 1
    i = np.arange(segments)
    side = np.concatenate([np.stack([i, i + n1, i + n1 + 1], 1), np.stack([i, i + n1 + 1, i + 1], 1)])
    ct, cb = 2 * n1, 2 * n1 + 1
    caps = np.concatenate(
        [np.stack([np.full(segments, ct), i, i + 1], 1), np.stack([np.full(segments, cb), i + n1 + 1, i + n1], 1)]
    )
    faces = np.concatenate([side, caps])
    vert_uv = np.stack([ang * radius / tile, np.zeros_like(ang)], axis=-1)
    side_uv_v = np.concatenate([vert_uv, vert_uv + [0.0, height / tile], [[0, 0], [0, 0]]]).astype(np.float32)
    uvs = side_uv_v[faces]
    n_side = len(side)
    uvs[n_side:] = (verts[faces[n_side:]][..., :2] / tile).astype(np.float32)
    return verts, faces, uvs


def sphere_geometry(radius: float, rings: int = 10, segments: int = 16, tile: float = 0.5):
    """UV sphere centred at the origin; u = longitude arc / tile, v = latitude arc / tile."""
    theta = np.linspace(0.0, np.pi, rings + 1)
    phi = np.linspace(0.0, 2 * np.pi, segments + 1)
    th, ph = np.meshgrid(theta, phi, indexing="ij")
    verts = radius * np.stack([np.sin(th) * np.cos(ph), np.sin(th) * np.sin(ph), np.cos(th)], -1).reshape(-1, 3)
    uv = np.stack([ph * radius / tile, th * radius / tile], -1).reshape(-1, 2).astype(np.float32)
    r, s = np.meshgrid(np.arange(rings), np.arange(segments), indexing="ij")
    a = (r * (segments + 1) + s).ravel()
    b, c, d = a + segments + 1, a + segments + 2, a + 1
    faces = np.concatenate([np.stack([a, b, c], 1), np.stack([a, c, d], 1)])
    return verts, faces, uv[faces]


def make_part(geometry, texture: int, tint, class_id: int, instance_id: int, yaw=0.0, offset=(0, 0, 0)) -> Part:
    verts, faces, uvs = geometry
    part = Part(verts, faces, uvs.astype(np.float32), texture, np.asarray(tint, np.float32), class_id, instance_id)
    return part.transformed(yaw, offset)


# ---------------------------------------------------------------------------------------------
# Real meshes from the shared sample data (read at run time, never copied into the project)


def shared_data_root() -> Path:
    """``$NF_SHARED_DATA`` or ``<repo>/../shared/data``."""
    env = os.environ.get("NF_SHARED_DATA")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[3].parent / "shared" / "data"


REAL_MESHES: dict[str, str] = {
    "cow": "meshes-pytorch3d/cow_mesh/cow.obj",
    "teapot": "meshes-pytorch3d/teapot.obj",
    "bunny": "meshes-stanford-instant-ngp/bunny.obj",
    "armadillo": "meshes-stanford-instant-ngp/armadillo.obj",
}
MAX_REAL_FACES = 20000


@dataclass(frozen=True)
class RealMesh:
    """A real mesh normalised to z-up, unit height, base at z = 0, centred in x/y.

    vertices [V, 3], faces [F, 3], uvs [F, 3, 2] (its own atlas, or cylindrical when it has none),
    texture [S, S, 3] float32 or None, source: its path relative to the shared data root.
    """

    vertices: np.ndarray
    faces: np.ndarray
    uvs: np.ndarray
    texture: np.ndarray | None
    source: str


def cylindrical_uvs(vertices: np.ndarray, faces: np.ndarray, repeats: float = 2.0) -> np.ndarray:
    """Per-corner [F, 3, 2] cylindrical texture coordinates about the z axis; faces crossing the
    seam get u + 1 on their low corners so interpolation does not sweep the whole texture."""
    u = (np.arctan2(vertices[:, 1], vertices[:, 0]) / (2 * np.pi) + 0.5)[faces]
    low = (u.max(axis=1, keepdims=True) - u > 0.5) & (u < 0.5)
    u = np.where(low, u + 1.0, u) * repeats
    v = (1.0 - vertices[:, 2])[faces] * repeats
    return np.stack([u, v], axis=-1).astype(np.float32)


@lru_cache(maxsize=8)
def load_real_mesh(name: str, texture_size: int = 256) -> RealMesh | None:
    """The named mesh of `REAL_MESHES` from `shared_data_root()`, or None when the file is absent.

    OBJ files are y-up: (x, y, z) -> (x, -z, y). Meshes above `MAX_REAL_FACES` are decimated
    (quadric decimation, deterministic).
    """
    from common.o3d import import_open3d

    path = shared_data_root() / REAL_MESHES[name]
    if not path.is_file():
        return None
    o3d = import_open3d()
    mesh = o3d.io.read_triangle_mesh(str(path), True)
    if len(mesh.triangles) == 0:
        return None
    has_uv = len(mesh.triangle_uvs) == 3 * len(mesh.triangles) and len(mesh.textures) > 0
    if not has_uv and len(mesh.triangles) > MAX_REAL_FACES:
        plain = o3d.geometry.TriangleMesh(mesh.vertices, mesh.triangles)
        mesh = plain.remove_duplicated_vertices().simplify_quadric_decimation(MAX_REAL_FACES)
    verts = np.asarray(mesh.vertices, dtype=np.float64)
    faces = np.asarray(mesh.triangles, dtype=np.int64)
    verts = np.stack([verts[:, 0], -verts[:, 2], verts[:, 1]], axis=-1)
    lo, hi = verts.min(axis=0), verts.max(axis=0)
    verts = (verts - [(lo[0] + hi[0]) / 2, (lo[1] + hi[1]) / 2, lo[2]]) / (hi[2] - lo[2])
    if has_uv:
        uvs = np.asarray(mesh.triangle_uvs, dtype=np.float32).reshape(-1, 3, 2)
        texture = to_texture(np.asarray(mesh.textures[0]), texture_size)
    else:
        uvs = cylindrical_uvs(verts, faces)
        texture = None
    verts.setflags(write=False)
    return RealMesh(verts, faces, uvs, texture, REAL_MESHES[name])
