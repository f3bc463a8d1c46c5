"""Tanks-and-Temples-like object-centric scenes: a large textured object on a ground disc.

The centrepiece is a real scanned/modelled mesh scaled to a few metres (the Spot cow, the
armadillo, the bunny or the teapot; a stack of boxes when the mesh files are absent), surrounded
by a few smaller objects (boxes, cylinders, spheres) on a textured ground disc. Rays that miss
everything see a white background, as in the masked NSVF Tanks-and-Temples release.
``bounds`` is the box around the objects (not the whole ground disc). World frame: z up, metres.
"""

from __future__ import annotations

import numpy as np

from common.data.synthetic.meshes import Light, Scene, box_geometry, cylinder_geometry, make_part, sphere_geometry
from common.data.synthetic.rooms import CLASS_ID, CLASSES, TEXTURE_SIZE, _bank, _Builder, _tex

CENTREPIECES = ("cow", "armadillo", "bunny", "teapot")


def build_object_scene(seed: int, name: str = "object", centrepiece: str | None = None) -> Scene:
    """A centrepiece of height 1.5-2.5 m at the origin, 3-6 props around it, ground disc radius 4.5 m."""
    rng = np.random.default_rng(seed)
    b = _Builder(rng)
    piece = centrepiece or CENTREPIECES[rng.integers(len(CENTREPIECES))]
    height = rng.uniform(1.5, 2.5)
    iid = b.new_instance("statue")
    if not b.add_real(piece, "statue", iid, height, rng.uniform(0, 2 * np.pi), (0.0, 0.0, 0.0)):
        for k in range(3):
            s = height / 3 * (1.2 - 0.25 * k)
            b.add(box_geometry((s, s, height / 3)), "statue", iid, k * 0.4, (0.0, 0.0, height / 6 + k * height / 3))
    extent = height * 0.6
    props = []
    for _ in range(int(rng.integers(3, 7))):
        ang, dist = rng.uniform(0, 2 * np.pi), rng.uniform(extent + 0.4, extent + 1.4)
        x, y = dist * np.cos(ang), dist * np.sin(ang)
        kind = ("box", "vase", "plant")[rng.integers(3)]
        pid = b.new_instance(kind)
        s = rng.uniform(0.25, 0.6)
        if kind == "box":
            geom, z = box_geometry((s, s, s), tile=0.4), s / 2
        elif kind == "vase":
            geom, z = cylinder_geometry(s / 2, 1.5 * s, 20), 0.0
        else:
            geom, z = sphere_geometry(s / 2), s / 2
        b.add(geom, kind, pid, rng.uniform(0, 2 * np.pi), (x, y, z))
        props.append(np.hypot(x, y) + s)
    ground = (_tex(("gravel", "grass", "brick")[rng.integers(3)]), rng.uniform(0.6, 0.9, 3))
    b.parts.append(make_part(_disc(4.5, 48, tile=0.8), *ground, CLASS_ID["floor"], b.new_instance("floor")))
    reach = max([extent, *props])
    bounds = np.array([[-reach, -reach, -0.05], [reach, reach, max(height, 0.9) + 0.1]])
    return Scene(
        name=name,
        parts=b.parts,
        textures=_bank(TEXTURE_SIZE),
        class_names=CLASSES,
        lights=[
            Light("directional", (0.4, -0.3, 0.86), 0.6, shadows=True),
            Light("directional", (-0.5, 0.6, 0.6), 0.2),
        ],
        ambient=0.35,
        background=(1.0, 1.0, 1.0),
        bounds=bounds,
        instances=b.instances,
        metadata={
            "generator": "common.data.synthetic.outdoor.build_object_scene",
            "seed": int(seed),
            "centrepiece": piece,
            "real_meshes": dict(sorted(b.sources.items())),
            "fallbacks": sorted(set(b.fallbacks)),
        },
    )


def _disc(radius: float, segments: int, tile: float):
    """Flat disc at z = 0 facing +z; planar texture coordinates (x, y) / tile."""
    ang = np.linspace(0, 2 * np.pi, segments, endpoint=False)
    verts = np.concatenate(
        [[[0.0, 0.0, 0.0]], np.stack([radius * np.cos(ang), radius * np.sin(ang), np.zeros(segments)], -1)]
    )
    i = np.arange(segments)
    faces = np.stack([np.zeros(segments, dtype=np.int64), 1 + i, 1 + (i + 1) % segments], -1)
    return verts, faces, (verts[faces][..., :2] / tile).astype(np.float32)
