"""A deformable shape family with known point-to-point correspondences, in the Blender layout.

One template mesh (the Stanford bunny from the shared sample data, or a bumpy subdivided icosphere when
that file is absent), centred at the origin with bounding radius 0.9, and ``scenes`` instances made by
smooth parametric deformations of the template's vertices (same faces, so vertex k of every instance
corresponds to vertex k of the template). The deformation (`deform`) of a point x is

    x1 = scale * x                                              (anisotropic scaling, scale [3] in [0.8, 1.2])
    x2 = x1 + sum_k amp_k sin(freq_k . x1 + phase_k)            (low-frequency displacement field, K = 4)
    x3 = Rz(twist * x2_z) x2                                    (twist about +z)
    x4 = Rx(bend * x3_z) x3                                     (bend: rotation about +x growing with height)

with sum_k |amp_k| |freq_k| < 1, so x2 is a diffeomorphism of x1. Each instance carries its own per-vertex
texture colour (a photograph of `textures.PHOTOS` sampled at the template vertex's longitude / latitude
about the origin), and every vertex has a part label (the nearest of six axis directions: `PART_NAMES`).

Layout::

    out/shape_family.json                  template source, part names, instance names, V, F
    out/<name>/transforms_{train,val,test}.json   Blender format (camera_angle_x, frames with file_path and
                                           OpenGL transform_matrix); train views uniformly on the sphere band
                                           elevation -20..70 deg, val / test on a circle at 30 deg elevation,
                                           all at distance 4 looking at the origin
    out/<name>/{train,val,test}/r_<i>.png  RGBA, alpha 0 off the object; colours are the per-vertex colours
                                           interpolated barycentrically (unlit, so a vertex's colour in an
                                           image equals its stored colour)
    out/<name>/correspondence.npz          vertices [V, 3] float32 (instance, world frame), template_vertices
                                           [V, 3] float32, faces [F, 3] int32, labels [V] int32, colors [V, 3]
                                           float32 in [0, 1], template_colors [V, 3], and the deformation
                                           parameters scale [3], amp [K, 3], freq [K, 3], phase [K], twist, bend

``<name>`` is ``template`` (identity deformation, texture 0) then ``instance_000`` ... Views per instance:
``frames`` train, ``max(2, frames // 5)`` val and test each. Instances load with ``load_scene("blender", dir)``.
"""

from __future__ import annotations

import io
import math
from pathlib import Path

import numpy as np

from common.cameras import opengl_to_opencv
from common.data.synthetic import files
from common.data.synthetic.meshes import Part, Scene, load_real_mesh
from common.data.synthetic.raycast import Renderer, pixel_rays
from common.data.synthetic.seeds import scene_seed
from common.data.synthetic.textures import PHOTOS, photo_bank, sample_bilinear

PART_NAMES = ("+x", "-x", "+y", "-y", "+z", "-z")
WAVES = 4
RADIUS = 0.9
CAMERA_DISTANCE = 4.0
CAMERA_ANGLE_X = 0.6911112070083618  # the NeRF-synthetic / D-NeRF field of view
INSTANCE_PHOTOS = (
    "astronaut",
    "coffee",
    "chelsea",
    "rocket",
    "immunohistochemistry",
    "retina",
    "colorwheel",
    "hubble_deep_field",
)


def icosphere(level: int) -> tuple[np.ndarray, np.ndarray]:
    """Unit icosphere: vertices [V, 3] on the sphere, faces [F, 3] (outward winding), F = 20 * 4^level."""
    t = (1.0 + 5**0.5) / 2
    verts = np.array(
        [[-1, t, 0], [1, t, 0], [-1, -t, 0], [1, -t, 0], [0, -1, t], [0, 1, t], [0, -1, -t], [0, 1, -t],
         [t, 0, -1], [t, 0, 1], [-t, 0, -1], [-t, 0, 1]],
        dtype=np.float64,
    )  # fmt: skip
    faces = np.array(
        [[0, 11, 5], [0, 5, 1], [0, 1, 7], [0, 7, 10], [0, 10, 11], [1, 5, 9], [5, 11, 4], [11, 10, 2], [10, 7, 6],
         [7, 1, 8], [3, 9, 4], [3, 4, 2], [3, 2, 6], [3, 6, 8], [3, 8, 9], [4, 9, 5], [2, 4, 11], [6, 2, 10],
         [8, 6, 7], [9, 8, 1]],
        dtype=np.int64,
    )  # fmt: skip
    verts /= np.linalg.norm(verts, axis=-1, keepdims=True)
    for _ in range(level):
        edges = np.sort(np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]]), axis=1)
        uniq, inv = np.unique(edges, axis=0, return_inverse=True)
        mid = verts[uniq].mean(axis=1)
        mid /= np.linalg.norm(mid, axis=-1, keepdims=True)
        m = len(verts) + inv.reshape(3, -1)  # midpoint ids of edges (01, 12, 20) per face
        a, b, c = faces.T
        faces = np.concatenate(
            [np.stack([a, m[0], m[2]], 1), np.stack([b, m[1], m[0]], 1), np.stack([c, m[2], m[1]], 1), m.T]
        )
        verts = np.concatenate([verts, mid])
    return verts, faces


def blob(level: int = 4) -> tuple[np.ndarray, np.ndarray]:
    """A bumpy sphere: icosphere vertices scaled radially by 1 + 0.15 cos(3 x) cos(2 y) + 0.1 sin(2 z + 1)."""
    verts, faces = icosphere(level)
    x, y, z = verts.T
    return verts * (1 + 0.15 * np.cos(3 * x) * np.cos(2 * y) + 0.1 * np.sin(2 * z + 1))[:, None], faces


def template_mesh() -> tuple[np.ndarray, np.ndarray, str]:
    """(vertices [V, 3] centred at the origin with bounding radius `RADIUS`, faces [F, 3], source)."""
    real = load_real_mesh("bunny")
    if real is None:
        verts, faces, source = *blob(), "icosphere blob (bunny mesh absent)"
    else:  # weld corners that share a position (OBJ readers may split them)
        verts, inv = np.unique(np.round(real.vertices, 9), axis=0, return_inverse=True)
        faces = inv.reshape(-1)[real.faces]
        keep = (faces[:, 0] != faces[:, 1]) & (faces[:, 1] != faces[:, 2]) & (faces[:, 2] != faces[:, 0])
        faces, source = faces[keep], real.source
    verts = verts - (verts.min(axis=0) + verts.max(axis=0)) / 2
    return verts * (RADIUS / np.linalg.norm(verts, axis=-1).max()), faces, source


def identity_deformation() -> dict[str, np.ndarray]:
    return {
        "scale": np.ones(3),
        "amp": np.zeros((WAVES, 3)),
        "freq": np.zeros((WAVES, 3)),
        "phase": np.zeros(WAVES),
        "twist": np.zeros(()),
        "bend": np.zeros(()),
    }


def random_deformation(rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Parameters of `deform`: |freq_k| in [1.5, 3], |amp_k| in [0.02, 0.06], twist and bend in +-0.6 rad/unit."""

    def directions(n):
        d = rng.normal(size=(n, 3))
        return d / np.linalg.norm(d, axis=-1, keepdims=True)

    return {
        "scale": rng.uniform(0.8, 1.2, 3),
        "amp": directions(WAVES) * rng.uniform(0.02, 0.06, (WAVES, 1)),
        "freq": directions(WAVES) * rng.uniform(1.5, 3.0, (WAVES, 1)),
        "phase": rng.uniform(0, 2 * np.pi, WAVES),
        "twist": np.asarray(rng.uniform(-0.6, 0.6)),
        "bend": np.asarray(rng.uniform(-0.6, 0.6)),
    }


def deform(points: np.ndarray, params: dict[str, np.ndarray]) -> np.ndarray:
    """[N, 3] points -> [N, 3] deformed points (formula in the module docstring)."""
    x = np.asarray(points, dtype=np.float64) * params["scale"]
    x = x + np.sin(x @ params["freq"].T + params["phase"]) @ params["amp"]
    a = float(params["twist"]) * x[:, 2]
    x = np.stack([np.cos(a) * x[:, 0] - np.sin(a) * x[:, 1], np.sin(a) * x[:, 0] + np.cos(a) * x[:, 1], x[:, 2]], -1)
    b = float(params["bend"]) * x[:, 2]
    return np.stack([x[:, 0], np.cos(b) * x[:, 1] - np.sin(b) * x[:, 2], np.sin(b) * x[:, 1] + np.cos(b) * x[:, 2]], -1)


def part_labels(vertices: np.ndarray) -> np.ndarray:
    """[V] int32: index into `PART_NAMES` of the axis direction with the largest dot product."""
    dirs = np.concatenate([np.eye(3), -np.eye(3)])[[0, 3, 1, 4, 2, 5]]
    return np.argmax(vertices @ dirs.T, axis=-1).astype(np.int32)


def vertex_colours(vertices: np.ndarray, photo: str) -> np.ndarray:
    """[V, 3] float32: photograph ``photo`` sampled at (u, v) = (longitude / 2 pi + 0.5, colatitude / pi)."""
    _, bank = photo_bank(256)
    d = vertices / np.maximum(np.linalg.norm(vertices, axis=-1, keepdims=True), 1e-12)
    uv = np.stack([np.arctan2(d[:, 1], d[:, 0]) / (2 * np.pi) + 0.5, np.arccos(np.clip(d[:, 2], -1, 1)) / np.pi], -1)
    return sample_bilinear(bank, np.full(len(d), PHOTOS.index(photo)), np.clip(uv, 0.0, 0.999))


def opengl_look_at(eye: np.ndarray) -> np.ndarray:
    """OpenGL c2w [4, 4] at ``eye`` looking at the origin with +z up (x right, y up, looking along -z)."""
    back = eye / np.linalg.norm(eye)
    right = np.cross([0.0, 0.0, 1.0], back)
    right = right / np.linalg.norm(right) if np.linalg.norm(right) > 1e-9 else np.array([1.0, 0.0, 0.0])
    c2w = np.eye(4)
    c2w[:3, 0], c2w[:3, 1], c2w[:3, 2], c2w[:3, 3] = right, np.cross(back, right), back, eye
    return c2w


def sphere_cameras(rng: np.random.Generator, n: int, elevation=(-20.0, 70.0)) -> np.ndarray:
    """[n, 4, 4] OpenGL c2w at `CAMERA_DISTANCE`, uniform in area over the elevation band (degrees)."""
    lo, hi = np.sin(np.deg2rad(elevation))
    z = rng.uniform(lo, hi, n)
    az = rng.uniform(0, 2 * np.pi, n)
    r = np.sqrt(1 - z**2)
    eyes = CAMERA_DISTANCE * np.stack([r * np.cos(az), r * np.sin(az), z], -1)
    return np.stack([opengl_look_at(e) for e in eyes])


def circle_cameras(n: int, elevation: float = 30.0, start: float = 0.0) -> np.ndarray:
    """[n, 4, 4] OpenGL c2w on a circle at ``elevation`` degrees, azimuth start + 2 pi i / n."""
    el = np.deg2rad(elevation)
    az = start + 2 * np.pi * np.arange(n) / n
    eyes = CAMERA_DISTANCE * np.stack([np.cos(el) * np.cos(az), np.cos(el) * np.sin(az), np.full(n, np.sin(el))], -1)
    return np.stack([opengl_look_at(e) for e in eyes])


def split_sizes(frames: int) -> dict[str, int]:
    """Views per split of the Blender-layout kinds: ``frames`` train, max(2, frames // 5) val and test."""
    return {"train": frames, "val": max(2, frames // 5), "test": max(2, frames // 5)}


def intrinsics(res: int) -> np.ndarray:
    """K [3, 3] of a res x res image with `CAMERA_ANGLE_X` (as the Blender loader computes it)."""
    f = 0.5 * res / math.tan(0.5 * CAMERA_ANGLE_X)
    return np.array([[f, 0.0, res / 2], [0.0, f, res / 2], [0.0, 0.0, 1.0]])


def rgba(rgb: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """uint8 [H, W, 4]: rgb (zero where alpha is 0) and alpha 255 / 0."""
    out = np.zeros((*alpha.shape, 4), dtype=np.uint8)
    out[..., :3] = files.to_uint8(np.where(alpha[..., None], rgb, 0.0))
    out[..., 3] = alpha.astype(np.uint8) * 255
    return out


def write_transforms(root: Path, split: str, c2w_gl: np.ndarray, extra: list[dict] | None = None) -> None:
    frames = [
        {"file_path": f"./{split}/r_{i:03d}", **(extra[i] if extra else {}), "transform_matrix": c.tolist()}
        for i, c in enumerate(c2w_gl)
    ]
    files.write_json(root / f"transforms_{split}.json", {"camera_angle_x": CAMERA_ANGLE_X, "frames": frames})


class VertexColourRenderer:
    """Unlit ray-cast render of a mesh with per-vertex colours (barycentric interpolation)."""

    def __init__(self, vertices: np.ndarray, faces: np.ndarray, colours: np.ndarray):
        uvs = np.zeros((len(faces), 3, 2), dtype=np.float32)
        part = Part(vertices, faces, uvs, 0, np.ones(3, np.float32), 1, 1)
        scene = Scene(
            "shape", [part], np.zeros((1, 1, 1, 3), np.float32), ("void", "shape"), [], 1.0, (0, 0, 0), np.zeros((2, 3))
        )
        self._renderer = Renderer(scene)
        self.faces = faces
        self.colours = np.asarray(colours, dtype=np.float32)

    def render(self, K: np.ndarray, c2w_cv: np.ndarray, res: int) -> tuple[np.ndarray, np.ndarray]:
        """(rgb [res, res, 3] float32, z-depth [res, res] float32, 0 off the mesh)."""
        o, d = pixel_rays(K, c2w_cv, res, res)
        hit = self._renderer.cast(o.reshape(-1, 3), d.reshape(-1, 3))
        ok = np.isfinite(hit["t_hit"])
        f = np.where(ok, hit["primitive_ids"], 0).astype(np.int64)
        b = hit["primitive_uvs"].astype(np.float32)
        w = np.stack([1.0 - b[:, 0] - b[:, 1], b[:, 0], b[:, 1]], -1)
        rgb = np.einsum("nk,nkc->nc", w, self.colours[self.faces[f]]) * ok[:, None]
        depth = np.where(ok, hit["t_hit"], 0.0).astype(np.float32)
        return rgb.reshape(res, res, 3).astype(np.float32), depth.reshape(res, res)


def _write_instance(root: Path, verts, faces, colours, template, template_colours, labels, params, res, frames, seed):
    rng = np.random.default_rng(seed)
    sizes = split_sizes(frames)
    cams = {
        "train": sphere_cameras(rng, sizes["train"]),
        "val": circle_cameras(sizes["val"], 30.0, np.pi / sizes["val"]),
        "test": circle_cameras(sizes["test"], 30.0),
    }
    K = intrinsics(res)
    renderer = VertexColourRenderer(verts, faces, colours)
    for split, c2w in cams.items():
        for i, c in enumerate(c2w):
            rgb, depth = renderer.render(K, opengl_to_opencv(c), res)
            files.write_png(root / split / f"r_{i:03d}.png", rgba(rgb, depth > 0))
        write_transforms(root, split, c2w)
    buf = io.BytesIO()
    np.savez(
        buf,
        vertices=verts.astype(np.float32),
        template_vertices=template.astype(np.float32),
        faces=faces.astype(np.int32),
        labels=labels,
        colors=colours.astype(np.float32),
        template_colors=template_colours.astype(np.float32),
        **{k: np.asarray(v, dtype=np.float64) for k, v in params.items()},
    )
    files.write_bytes(root / "correspondence.npz", buf.getvalue())


def write_shapes(out: Path, scenes: int = 8, res: int = 64, seed: int = 0, frames: int = 24) -> list[Path]:
    """Template plus ``scenes`` deformed instances; returns [template dir, instance dirs...]."""
    out = Path(out)
    template, faces, source = template_mesh()
    labels = part_labels(template)
    template_colours = vertex_colours(template, INSTANCE_PHOTOS[0])
    names = ["template"] + [f"instance_{k:03d}" for k in range(scenes)]
    written = []
    for k, name in enumerate(names):
        if k == 0:
            params, colours = identity_deformation(), template_colours
        else:
            params = random_deformation(np.random.default_rng(scene_seed(seed, "shapes-deform", k)))
            colours = vertex_colours(template, INSTANCE_PHOTOS[k % len(INSTANCE_PHOTOS)])
        verts = deform(template, params)
        _write_instance(
            out / name, verts, faces, colours, template, template_colours, labels, params, res, frames,
            scene_seed(seed, "shapes-views", k),
        )  # fmt: skip
        written.append(out / name)
    files.write_json(
        out / "shape_family.json",
        {
            "template_source": source,
            "part_names": list(PART_NAMES),
            "instances": names,
            "num_vertices": int(len(template)),
            "num_faces": int(len(faces)),
            "seed": int(seed),
        },
    )
    return written
