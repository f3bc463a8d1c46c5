"""Textured composite objects in the NeRF-synthetic (Blender) layout: a stand-in for "lego" at 100 x 100.

Each scene is one composite object centred on the origin (z up), built from

* a plinth: a cylinder of radius 0.95..1.15, top at z = -0.55, 0.15..0.25 thick;
* a core: a closed surface of revolution (`objects.lathe_geometry`) standing on the plinth, radius
  0.3..0.48 over its height 1.0..1.35;
* an ornament on the core's top (a sphere) and 0..2 horizontal arms (cylinders with spheres at their ends);
* 3..6 satellites standing on the plinth round the core: objects of the CO3D-like categories
  (`objects.build_object`, including the real bunny / cow / armadillo / teapot meshes of the shared data
  when present), scaled to bounding radius 0.25..0.38.

The whole object is then shifted along z by dz (centring its z range, clipped to keep the origin at least
`CORE_BALL` = 0.3 inside the core's caps) and scaled about the origin by f so that its largest |coordinate| is
`EXTENT` = 1.3 (the Blender loader's bbox is [-1.5, 1.5]^3). The core then contains the ball of radius 0.3 f
(f ~ 1) about the origin, so every ray from a camera through the origin hits the object.

Every part carries a ``skimage.data`` photograph (`textures.PHOTOS`, or the cow's own texture) with a
random tint; shading is Lambertian (`raycast.Renderer`) with a shadowing key light and a fill light, so
colours are view-independent.

Cameras (OpenGL c2w, `shapes.opengl_look_at`) sit at distance `shapes.CAMERA_DISTANCE` = 4 looking at
the origin with ``camera_angle_x`` = `shapes.CAMERA_ANGLE_X` (lego's 0.6911 rad), on a Fibonacci lattice
of ``frames`` points over the band of elevations `ELEVATION` (-15..80 deg), uniform in area: point k has
``z_k = sin(lo) + (sin(hi) - sin(lo)) (k + 0.5) / frames`` and azimuth ``phi_0 + k * pi (3 - sqrt 5)``.
Every ``frames // n_test``-th point (from a random start) is a test view, ``n_test = max(1, frames // 10)``;
the others are the train views in a random order. ``transforms_val.json`` is a copy of
``transforms_test.json`` (as the lego100 anchor set was made), so val frames name the test images.

Layout per scene (``object_<k>``)::

    <scene>/transforms_{train,val,test}.json   {"camera_angle_x": 0.6911..., "frames": [{"file_path":
                                               "./train/r_000", "transform_matrix": OpenGL c2w}, ...]}
    <scene>/{train,test}/r_<i>.png             RGBA 8 bit, straight alpha = object coverage of the pixel
    <scene>/synthetic_scene.json               generator facts (seed, satellite categories, real meshes)

Pixels are rendered with `SUPERSAMPLE` x `SUPERSAMPLE` rays each (pixel-centre grid of the finer image);
a pixel's alpha is the fraction of its rays that hit the object and its colour the mean colour of those
rays, so compositing on a background ``bg`` gives ``rgb * a + bg (1 - a)`` = the mean over the rays of
(hit ? colour : bg), like an anti-aliased render.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from common.cameras import opengl_to_opencv
from common.data.synthetic import files
from common.data.synthetic.meshes import Light, Part, Scene, cylinder_geometry, make_part, sphere_geometry
from common.data.synthetic.objects import CATEGORIES, build_object, lathe_geometry, place, rot_y, rot_z
from common.data.synthetic.raycast import Renderer
from common.data.synthetic.rooms import TEXTURE_SIZE, _bank
from common.data.synthetic.seeds import scene_seed
from common.data.synthetic.shapes import CAMERA_DISTANCE, intrinsics, opengl_look_at, write_transforms
from common.data.synthetic.textures import PHOTOS

ELEVATION = (-15.0, 80.0)
SUPERSAMPLE = 2
PLINTH_TOP = -0.55
EXTENT = 1.3
CORE_BALL = 0.3


def _photo(rng: np.random.Generator) -> int:
    return int(rng.integers(len(PHOTOS)))


def _tint(rng: np.random.Generator) -> np.ndarray:
    return rng.uniform(0.55, 1.0, 3)


def build_composite(seed: int, name: str = "object") -> Scene:
    """The composite object of ``seed`` (see the module docstring); identical for identical seeds.

    Instance ids: 1 plinth, 2 core, 3 ornament and arms, 4.. satellites; class ids equal instance ids.
    """
    rng = np.random.default_rng(seed)
    parts: list[Part] = []

    def add(geometry, instance: int, texture: int | None = None, tint=None) -> None:
        texture = _photo(rng) if texture is None else texture
        tint = _tint(rng) if tint is None else tint
        parts.append(make_part(geometry, texture, np.clip(tint, 0.0, 1.0), instance, instance))

    plinth_r, thick = rng.uniform(0.95, 1.15), rng.uniform(0.15, 0.25)
    add(place(cylinder_geometry(plinth_r, thick, 48, tile=0.4), offset=(0, 0, PLINTH_TOP - thick)), 1)

    height = rng.uniform(1.0, 1.35)
    rings = rng.uniform(0.3, 0.48, 7)
    profile_r = np.concatenate([[0.0], rings, [0.0]])  # flat bottom and top: a closed solid
    profile_z = PLINTH_TOP + height * np.concatenate([[0.0], np.linspace(0.0, 1.0, 7), [1.0]])
    add(lathe_geometry(profile_r, profile_z, 40, (3.0, 2.0)), 2)
    top = PLINTH_TOP + height

    orn_r = rng.uniform(0.14, 0.22)
    add(place(sphere_geometry(orn_r, 12, 20, tile=0.3), offset=(0, 0, top + 0.6 * orn_r)), 3)
    for _ in range(int(rng.integers(0, 3))):
        yaw, za = rng.uniform(0, np.pi), rng.uniform(PLINTH_TOP + 0.45, top - 0.2)
        length, arm_r = rng.uniform(1.2, 1.6), rng.uniform(0.04, 0.07)
        axis = rot_z(yaw) @ rot_y(np.pi / 2)  # the cylinder's +z turned horizontal
        start = np.array([0.0, 0.0, za]) - axis @ [0.0, 0.0, length / 2]
        add(place(cylinder_geometry(arm_r, length, 12, tile=0.3), axis, start), 3)
        for end in (-1, 1):
            tip = np.array([0.0, 0.0, za]) + end * axis @ [0.0, 0.0, length / 2]
            add(place(sphere_geometry(2 * arm_r, 8, 12, tile=0.2), offset=tip), 3)

    n_sat = int(rng.integers(3, 7))
    cats = rng.choice(len(CATEGORIES), n_sat, replace=False)
    a0 = rng.uniform(0, 2 * np.pi)
    sources, fallbacks, categories = {}, [], []
    for k, c in enumerate(cats):
        obj = build_object(CATEGORIES[c], int(rng.integers(2**31)), int(rng.integers(3)))
        categories.append(obj.category)
        sources.update(obj.sources)
        fallbacks += obj.fallbacks
        s = rng.uniform(0.25, 0.38)
        ang = a0 + 2 * np.pi * k / n_sat + rng.uniform(-0.2, 0.2)
        dist = max(rings.max() + 0.8 * s, plinth_r - 0.9 * s)
        offset = (dist * np.cos(ang), dist * np.sin(ang), PLINTH_TOP)
        for p in obj.parts:
            geometry = place((p.vertices, p.faces, p.uvs), rot_z(rng.uniform(0, 2 * np.pi)), offset, s)
            parts.append(make_part(geometry, p.texture, p.tint, 4 + k, 4 + k))

    verts = np.concatenate([p.vertices for p in parts])
    dz = np.clip(-(verts[:, 2].min() + verts[:, 2].max()) / 2, CORE_BALL - top, -PLINTH_TOP - CORE_BALL)
    f = EXTENT / np.abs(verts + [0.0, 0.0, dz]).max()
    parts = [
        Part(f * (p.vertices + [0.0, 0.0, dz]), p.faces, p.uvs, p.texture, p.tint, p.class_id, p.instance_id)
        for p in parts
    ]
    az, el = rng.uniform(0, 2 * np.pi), rng.uniform(0.6, 1.1)
    sun = (float(np.cos(el) * np.cos(az)), float(np.cos(el) * np.sin(az)), float(np.sin(el)))
    return Scene(
        name=name,
        parts=parts,
        textures=_bank(TEXTURE_SIZE),
        class_names=("void", "plinth", "core", "ornament", *(f"satellite_{k}" for k in range(n_sat))),
        lights=[Light("directional", sun, 0.6, shadows=True), Light("directional", (-sun[0], -sun[1], 0.3), 0.25)],
        ambient=0.45,
        background=(0.0, 0.0, 0.0),
        bounds=np.array([[-EXTENT] * 3, [EXTENT] * 3]),
        metadata={
            "generator": "common.data.synthetic.write_blender_objects.build_composite",
            "seed": int(seed),
            "satellites": categories,
            "real_meshes": dict(sorted(sources.items())),
            "fallbacks": sorted(set(fallbacks)),
        },
    )


def fibonacci_cameras(n: int, seed: int, elevation=ELEVATION) -> np.ndarray:
    """[n, 4, 4] OpenGL c2w on the Fibonacci lattice of the elevation band (degrees), azimuth offset from ``seed``."""
    phi0 = np.random.default_rng(seed).uniform(0, 2 * np.pi)
    lo, hi = np.sin(np.deg2rad(elevation))
    z = lo + (hi - lo) * (np.arange(n) + 0.5) / n
    az = phi0 + np.arange(n) * np.pi * (3.0 - np.sqrt(5.0))
    r = np.sqrt(1.0 - z**2)
    eyes = CAMERA_DISTANCE * np.stack([r * np.cos(az), r * np.sin(az), z], axis=-1)
    return np.stack([opengl_look_at(e) for e in eyes])


def split_views(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(train indices, test indices) of ``n`` lattice points: every (n // n_test)-th point from a random start is a
    test view (n_test = max(1, n // 10)); train indices in a random order."""
    rng = np.random.default_rng(seed)
    n_test = max(1, n // 10)
    step = n // n_test
    test = int(rng.integers(step)) + step * np.arange(n_test)
    train = rng.permutation(np.setdiff1d(np.arange(n), test))
    return train, test


def render_rgba(renderer: Renderer, c2w_gl: np.ndarray, res: int, supersample: int = SUPERSAMPLE) -> np.ndarray:
    """uint8 [res, res, 4]: straight-alpha RGBA of a `supersample`^2-ray-per-pixel render (module docstring)."""
    fine = res * supersample
    view = renderer.render(intrinsics(fine), opengl_to_opencv(c2w_gl), fine, fine)
    hit = (view.depth > 0).reshape(res, supersample, res, supersample).astype(np.float64)
    rgb = view.rgb.reshape(res, supersample, res, supersample, 3).astype(np.float64)
    cover = hit.sum(axis=(1, 3))
    colour = (rgb * hit[..., None]).sum(axis=(1, 3)) / np.maximum(cover, 1.0)[..., None]
    out = np.empty((res, res, 4), dtype=np.uint8)
    out[..., :3] = files.to_uint8(colour)
    out[..., 3] = files.to_uint8(cover / supersample**2)
    return out


def write_blender_objects(out: Path, scenes: int = 4, res: int = 100, seed: int = 0, frames: int = 100) -> list[Path]:
    """Write ``scenes`` composite objects ``object_<k>`` with ``frames`` views each (train + test, see module doc)."""
    out = Path(out)
    written = []
    for k in range(scenes):
        root = out / f"object_{k}"
        scene = build_composite(scene_seed(seed, "blender-objects", k), root.name)
        renderer = Renderer(scene)
        view_seed = scene_seed(seed, "blender-objects-views", k)
        cams = fibonacci_cameras(frames, view_seed)
        train, test = split_views(frames, view_seed)
        for split, idx in (("train", train), ("test", test)):
            for i, c in enumerate(cams[idx]):
                files.write_png(root / split / f"r_{i:03d}.png", render_rgba(renderer, c, res))
            write_transforms(root, split, cams[idx])
        files.write_bytes(root / "transforms_val.json", (root / "transforms_test.json").read_bytes())
        files.write_scene_info(root / "synthetic_scene.json", scene, {"res": int(res), "frames": int(frames)})
        written.append(root)
    return written
