"""D-NeRF-like animated objects written in the D-NeRF Blender layout (read by `common.data.dnerf`).

Scenes (the first ``scenes`` of `SCENES`, cycling): ``bouncingballs`` (three textured balls bouncing on a
plate), ``jumpingjacks`` (a box-and-cylinder figure swinging its arms and legs while hopping), ``windmill``
(a tower whose four sails turn), ``bendingbunny`` (the bunny template of `shapes.py` bending and twisting
back and forth with `shapes.deform`). Everything stays inside [-1.2, 1.2]^3, z up; textures are the
``skimage.data`` photographs, Lambertian shading with two directional lights.

Layout per scene::

    <scene>/transforms_{train,val,test}.json   {"camera_angle_x": 0.6911..., "frames": [{"file_path":
                                               "./train/r_000", "rotation": 2 pi / n, "time": t,
                                               "transform_matrix": OpenGL c2w}, ...]}
    <scene>/{train,val,test}/r_<i>.png         RGBA, transparent background (alpha 0 where no surface)

Each split's times run evenly over [0, 1] in frame order (t_i = i / (n - 1)); train cameras are random on
the sphere band 5..75 deg elevation at distance 4 looking at the origin (one view per time, as in D-NeRF),
val / test cameras go round a 30 deg circle. ``frames`` train views, ``max(2, frames // 5)`` val and test.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from common.cameras import opengl_to_opencv
from common.data.synthetic import files
from common.data.synthetic.meshes import (
    Light,
    Part,
    Scene,
    box_geometry,
    cylinder_geometry,
    cylindrical_uvs,
    make_part,
    sphere_geometry,
)
from common.data.synthetic.objects import lathe_geometry, place, rot_x, rot_y, tex
from common.data.synthetic.outdoor import _disc
from common.data.synthetic.raycast import Renderer
from common.data.synthetic.rooms import TEXTURE_SIZE, _bank
from common.data.synthetic.seeds import scene_seed
from common.data.synthetic.shapes import (
    circle_cameras,
    deform,
    intrinsics,
    random_deformation,
    rgba,
    sphere_cameras,
    split_sizes,
    template_mesh,
    write_transforms,
)

SCENES = ("bouncingballs", "jumpingjacks", "windmill", "bendingbunny")


def _part(geometry, texture: str, tint, instance: int) -> Part:
    return make_part(geometry, tex(texture), np.asarray(tint, dtype=np.float32), instance, instance)


def bouncing_balls(t: float, rng_seed: int) -> list[Part]:
    rng = np.random.default_rng(rng_seed)
    parts = [_part(place(_disc(1.1, 48, 0.5), offset=(0, 0, -0.9)), "gravel", rng.uniform(0.6, 0.9, 3), 1)]
    for k, name in enumerate(("checkerboard", "colorwheel", "coins")):
        r, phase, ang = rng.uniform(0.2, 0.3), rng.uniform(0, 1), 2 * np.pi * k / 3 + rng.uniform(-0.3, 0.3)
        z = -0.9 + r + 1.1 * abs(np.sin(np.pi * (2 * t + phase)))
        centre = (0.55 * np.cos(ang), 0.55 * np.sin(ang), z)
        parts.append(
            _part(place(sphere_geometry(r, 12, 18, 0.3), offset=centre), name, rng.uniform(0.7, 1.0, 3), k + 2)
        )
    return parts


def jumping_jacks(t: float, rng_seed: int) -> list[Part]:
    rng = np.random.default_rng(rng_seed)
    cloth, skin = (rng.uniform(0.4, 1.0, 3), rng.uniform(0.8, 1.0, 3))
    swing = 0.5 - 0.5 * np.cos(4 * np.pi * t)
    hop = 0.15 * abs(np.sin(4 * np.pi * t))
    hip = np.array([0.0, 0.0, -0.35 + hop])
    parts = [
        _part(place(box_geometry((0.4, 0.22, 0.6), 0.3), offset=hip + [0, 0, 0.3]), "brick", cloth, 1),
        _part(place(sphere_geometry(0.16, 10, 16, 0.3), offset=hip + [0, 0, 0.8]), "astronaut", skin, 2),
    ]
    for side in (-1, 1):
        arm = rot_y(-side * (0.3 + 2.2 * swing))  # rotation about y swings the arm in the x-z plane
        shoulder = hip + [side * 0.22, 0.0, 0.55]
        parts.append(
            _part(place(cylinder_geometry(0.05, 0.55, 10), arm @ np.diag([1, 1, -1.0]), shoulder), "gravel", skin, 3)
        )
        leg = rot_y(-side * (0.1 + 0.35 * swing))
        parts.append(
            _part(
                place(cylinder_geometry(0.07, 0.6, 10), leg @ np.diag([1, 1, -1.0]), hip + [side * 0.12, 0, 0]),
                "grass",
                cloth,
                4,
            )
        )
    return parts


def windmill(t: float, rng_seed: int) -> list[Part]:
    rng = np.random.default_rng(rng_seed)
    tower = lathe_geometry([0.0, 0.4, 0.25, 0.3, 0.0], [0.0, 0.0, 1.5, 1.5, 1.85], 24)
    parts = [_part(place(tower, offset=(0, 0, -1.1)), "brick", rng.uniform(0.7, 1.0, 3), 1)]
    hub = np.array([0.0, -0.3, 0.45])
    spin = 2 * np.pi * (1.5 * t + rng.uniform(0, 1))
    parts.append(_part(place(cylinder_geometry(0.07, 0.12, 12), rot_x(np.pi / 2), hub), "camera", [0.3] * 3, 2))
    for k in range(4):
        r = rot_y(spin + k * np.pi / 2)  # sails in the x-z plane turning about the hub's y axis
        sail = place(box_geometry((0.16, 0.02, 0.75), None), r, hub + r @ [0.0, -0.08, 0.45])
        parts.append(_part(sail, "immunohistochemistry", rng.uniform(0.8, 1.0, 3), 3))
    return parts


def bending_bunny(t: float, rng_seed: int) -> list[Part]:
    verts, faces, _ = template_mesh()
    params = random_deformation(np.random.default_rng(rng_seed))
    wave = np.sin(2 * np.pi * t)
    params["scale"] = 1 + (params["scale"] - 1) * wave
    params["amp"] = params["amp"] * wave
    params["twist"], params["bend"] = 0.6 * wave, 0.8 * np.sin(2 * np.pi * t + 1.0)
    geometry = (deform(verts * 1.2, params), faces, cylindrical_uvs(verts, faces, repeats=1.0))
    return [_part(geometry, "coffee", [1.0, 0.9, 0.8], 1)]


BUILDERS = {
    "bouncingballs": bouncing_balls,
    "jumpingjacks": jumping_jacks,
    "windmill": windmill,
    "bendingbunny": bending_bunny,
}


def scene_at(name: str, t: float, seed: int) -> Scene:
    """The animated scene ``name`` at time ``t`` in [0, 1] (geometry only depends on (name, t, seed))."""
    return Scene(
        name=name,
        parts=BUILDERS[name](t, seed),
        textures=_bank(TEXTURE_SIZE),
        class_names=("void", "object"),
        lights=[Light("directional", (0.4, -0.3, 0.86), 0.6), Light("directional", (-0.5, 0.6, 0.3), 0.25)],
        ambient=0.35,
        background=(0.0, 0.0, 0.0),
        bounds=np.array([[-1.2, -1.2, -1.2], [1.2, 1.2, 1.2]]),
    )


def write_dnerf(out: Path, scenes: int = 4, res: int = 128, seed: int = 0, frames: int = 50) -> list[Path]:
    """Write ``scenes`` animated scenes (names from `SCENES`, numbered after the first cycle)."""
    out = Path(out)
    K = intrinsics(res)
    written = []
    for k in range(scenes):
        kind = SCENES[k % len(SCENES)]
        name = kind if k < len(SCENES) else f"{kind}{k // len(SCENES)}"
        geo_seed = scene_seed(seed, f"dnerf-{kind}", k)
        rng = np.random.default_rng(scene_seed(seed, "dnerf-views", k))
        sizes = split_sizes(frames)
        cams = {
            "train": sphere_cameras(rng, sizes["train"], (5.0, 75.0)),
            "val": circle_cameras(sizes["val"], 30.0, np.pi / sizes["val"]),
            "test": circle_cameras(sizes["test"], 30.0),
        }
        for split, c2w in cams.items():
            n = len(c2w)
            times = np.arange(n) / max(n - 1, 1)
            for i, (c, t) in enumerate(zip(c2w, times)):
                view = Renderer(scene_at(kind, float(t), geo_seed)).render(K, opengl_to_opencv(c), res, res)
                files.write_png(out / name / split / f"r_{i:03d}.png", rgba(view.rgb, view.depth > 0))
            extra = [{"rotation": 2 * np.pi / n, "time": float(t)} for t in times]
            write_transforms(out / name, split, c2w, extra)
        written.append(out / name)
    return written
