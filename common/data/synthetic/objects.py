"""Object categories for CO3D-like sequences: textured objects built from primitives and real meshes.

Every category is built in an object frame (z up, base on z = 0, centred in x / y) and scaled so that
its bounding sphere about ``(0, 0, height / 2)`` has radius 1. Geometry comes from boxes, cylinders
and spheres (`meshes.py`), surfaces of revolution (`lathe_geometry`: apples, bowls, cups, vases,
hydrants, flower pots) and tori (donuts, cup handles), plus real meshes read at run time from the
shared sample data: teddybear sequences cycle through the Stanford bunny, the Spot cow and the
armadillo (plush-toy stand-ins), odd cup sequences use the Utah teapot. When a mesh file is absent a
primitive model replaces it and ``metadata["fallbacks"]`` names it. Surfaces are textured with the
``skimage.data`` photographs of `textures.PHOTOS` (tinted) or the cow's own texture.

`build_object_scene` puts one object on a textured ground disc inside a textured backdrop cylinder,
lit by a directional light with shadows: a CO3D-like turntable-free capture setting. Instance ids:
1 object, 2 ground, 3 backdrop (the object's foreground mask is ``instance == 1``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from common.data.synthetic.meshes import (
    Light,
    Part,
    Scene,
    box_geometry,
    cylinder_geometry,
    load_real_mesh,
    make_part,
    sphere_geometry,
)
from common.data.synthetic.outdoor import _disc
from common.data.synthetic.rooms import COW_TEXTURE, TEXTURE_SIZE, _bank
from common.data.synthetic.textures import PHOTOS

# The ten categories SparseFusion trains and evaluates on (CO3D_ALL_TEN) come first.
CATEGORIES: tuple[str, ...] = (
    "donut",
    "apple",
    "hydrant",
    "vase",
    "cake",
    "ball",
    "bench",
    "suitcase",
    "teddybear",
    "plant",
    "book",
    "bowl",
    "chair",
    "cup",
)
OBJECT_ID, GROUND_ID, BACKDROP_ID = 1, 2, 3
TEDDY_MESHES = ("bunny", "cow", "armadillo")

Geometry = tuple[np.ndarray, np.ndarray, np.ndarray]


def tex(name: str) -> int:
    """Texture id of a `textures.PHOTOS` photograph in the bank of `_bank`."""
    return PHOTOS.index(name)


def rot_x(a: float) -> np.ndarray:
    c, s = np.cos(a), np.sin(a)
    return np.array([[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]])


def rot_y(a: float) -> np.ndarray:
    c, s = np.cos(a), np.sin(a)
    return np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])


def rot_z(a: float) -> np.ndarray:
    c, s = np.cos(a), np.sin(a)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def place(geometry: Geometry, rotation=None, offset=(0.0, 0.0, 0.0), scale=1.0) -> Geometry:
    """Vertices mapped x -> R (scale * x) + offset (``scale`` scalar or per axis [3]); faces / uvs kept."""
    verts, faces, uvs = geometry
    rot = np.eye(3) if rotation is None else np.asarray(rotation, dtype=np.float64)
    out = (np.asarray(verts, dtype=np.float64) * np.asarray(scale, dtype=np.float64)) @ rot.T + np.asarray(offset)
    return out, faces, uvs


def lathe_geometry(radius, z, segments: int = 32, repeats: tuple[float, float] = (2.0, 1.0)) -> Geometry:
    """Surface of revolution about +z of the profile polyline (radius[k], z[k]), k = 0..P-1.

    Vertices [P * (S + 1), 3]: ring k at angle a_s = 2 pi s / S, s = 0..S (the seam column is doubled
    so texture coordinates do not wrap): (r_k cos a_s, r_k sin a_s, z_k). Texture coordinates
    u = repeats[0] a_s / (2 pi), v = repeats[1] * (arc length along the profile up to k) / (total length).
    Faces [2 (P - 1) S, 3]; uvs [F, 3, 2] per corner.
    """
    r = np.asarray(radius, dtype=np.float64)
    zz = np.asarray(z, dtype=np.float64)
    if r.shape != zz.shape or r.ndim != 1 or len(r) < 2:
        raise ValueError(f"lathe profile needs two equal-length 1-D arrays of >= 2 points, got {r.shape}, {zz.shape}")
    ang = np.linspace(0.0, 2 * np.pi, segments + 1)
    verts = np.stack(
        [
            r[:, None] * np.cos(ang)[None],
            r[:, None] * np.sin(ang)[None],
            np.broadcast_to(zz[:, None], (len(r), len(ang))),
        ],
        axis=-1,
    ).reshape(-1, 3)
    arc = np.concatenate([[0.0], np.cumsum(np.hypot(np.diff(r), np.diff(zz)))])
    v = repeats[1] * arc / max(arc[-1], 1e-12)
    uv = np.stack(np.broadcast_arrays(repeats[0] * ang[None] / (2 * np.pi), v[:, None]), axis=-1).reshape(-1, 2)
    k, s = np.meshgrid(np.arange(len(r) - 1), np.arange(segments), indexing="ij")
    a = (k * (segments + 1) + s).ravel()
    b, c, d = a + segments + 1, a + segments + 2, a + 1
    faces = np.concatenate([np.stack([a, b, c], 1), np.stack([a, c, d], 1)])
    return verts, faces, uv[faces].astype(np.float32)


def torus_geometry(major: float, minor: float, rings: int = 16, segments: int = 32, repeats=(3.0, 1.0)) -> Geometry:
    """Torus about +z, tube radius ``minor`` around the circle of radius ``major``, resting on z = 0."""
    phi = np.linspace(-np.pi, np.pi, rings + 1)
    return lathe_geometry(major + minor * np.cos(phi), minor + minor * np.sin(phi), segments, repeats)


@dataclass
class ObjectModel:
    """One object in its frame: ``parts`` (instance `OBJECT_ID`), ``height``, ``anchor`` [3] (a point inside
    the object's solid or its enclosed cavity, or a surface vertex of a real mesh: every ray from an outside
    camera through it hits the object, so it projects inside the foreground mask),
    ``sources`` (real mesh name -> file), ``fallbacks`` (real meshes replaced by primitives)."""

    category: str
    parts: list[Part]
    height: float
    anchor: np.ndarray
    sources: dict[str, str] = field(default_factory=dict)
    fallbacks: list[str] = field(default_factory=list)


class _Maker:
    """Collects textured parts of one object (class id = category index + 1)."""

    def __init__(self, category: str, rng: np.random.Generator):
        self.category = category
        self.class_id = CATEGORIES.index(category) + 1
        self.rng = rng
        self.parts: list[Part] = []
        self.sources: dict[str, str] = {}
        self.fallbacks: list[str] = []

    def add(self, geometry: Geometry, texture: int, tint) -> None:
        self.parts.append(make_part(geometry, texture, np.clip(tint, 0.0, 1.0), self.class_id, OBJECT_ID))

    def tint(self, base, spread: float = 0.1) -> np.ndarray:
        return np.asarray(base, dtype=np.float64) * self.rng.uniform(1 - spread, 1 + spread, 3)

    def pick(self, names: tuple[str, ...]) -> int:
        return tex(names[self.rng.integers(len(names))])

    def real(self, name: str, height: float, texture: int, tint) -> bool:
        """Add real mesh ``name`` scaled to ``height`` (its own texture when it has one); False when absent."""
        mesh = load_real_mesh(name, TEXTURE_SIZE)
        if mesh is None:
            self.fallbacks.append(name)
            return False
        self.sources[name] = mesh.source
        if mesh.texture is not None:
            texture, tint = COW_TEXTURE, np.ones(3)
        self.add((mesh.vertices * height, mesh.faces, mesh.uvs), texture, tint)
        return True


def _apple(m: _Maker, variant: int) -> np.ndarray:
    t = np.linspace(0.0, 1.0, 17)
    rad = 0.5 * np.sin(np.pi * t) ** 0.8 * (1 + 0.06 * np.sin(3 * np.pi * t))
    z = 0.45 * (1 - np.cos(np.pi * t))
    rad, z = np.append(rad, 0.0), np.append(z, 0.8)
    colours = ([0.85, 0.15, 0.1], [0.45, 0.8, 0.2], [0.95, 0.8, 0.2])
    m.add(lathe_geometry(rad, z, 32), m.pick(("gravel", "moon", "coins")), m.tint(colours[variant % 3]))
    m.add(place(cylinder_geometry(0.02, 0.15, 8), rot_y(0.2), (0.0, 0.0, 0.8)), tex("gravel"), [0.4, 0.25, 0.1])
    return np.array([0.0, 0.0, 0.45])


def _ball(m: _Maker, variant: int) -> np.ndarray:
    m.add(
        sphere_geometry(0.5, 16, 24, tile=0.4),
        m.pick(("checkerboard", "colorwheel", "coins", "brick")),
        m.tint([1, 1, 1], 0.3),
    )
    return np.array([0.0, 0.0, 0.5])


def _bench(m: _Maker, variant: int) -> np.ndarray:
    wood = (m.pick(("gravel", "brick", "moon")), m.tint([0.6, 0.4, 0.25]))
    length = m.rng.uniform(1.2, 1.6)
    m.add(place(box_geometry((length, 0.4, 0.06), tile=0.4), offset=(0, 0, 0.45)), *wood)
    m.add(place(box_geometry((length, 0.05, 0.3), tile=0.4), rot_x(-0.15), (0, -0.2, 0.68)), *wood)
    metal = (tex("camera"), m.tint([0.3, 0.3, 0.32]))
    for sx in (-1, 1):
        for sy in (-1, 1):
            m.add(place(box_geometry((0.06, 0.06, 0.42)), offset=(sx * (length / 2 - 0.1), sy * 0.15, 0.21)), *metal)
    return np.array([0.0, 0.0, 0.45])


def _book(m: _Maker, variant: int) -> np.ndarray:
    z = 0.0
    covers = ("astronaut", "coffee", "chelsea", "rocket", "hubble_deep_field", "immunohistochemistry", "retina")
    for _ in range(1 + int(m.rng.integers(1, 3))):
        w, d, h = m.rng.uniform(0.55, 0.7), m.rng.uniform(0.75, 0.9), m.rng.uniform(0.08, 0.16)
        m.add(
            place(box_geometry((w, d, h), tile=None), rot_z(m.rng.uniform(-0.3, 0.3)), (0, 0, z + h / 2)),
            m.pick(covers),
            [1, 1, 1],
        )
        z += h
    return np.array([0.0, 0.0, 0.04])


def _bowl(m: _Maker, variant: int) -> np.ndarray:
    rad = np.array([0.0, 0.3, 0.5, 0.6, 0.6, 0.55, 0.45, 0.25, 0.0])
    z = np.array([0.0, 0.0, 0.12, 0.33, 0.36, 0.34, 0.16, 0.06, 0.06])
    m.add(
        lathe_geometry(rad, z, 40),
        m.pick(("checkerboard", "coins", "clock", "colorwheel")),
        m.tint([0.9, 0.9, 0.85], 0.15),
    )
    return np.array([0.0, 0.0, 0.15])


def _cake(m: _Maker, variant: int) -> np.ndarray:
    sponge = (m.pick(("coffee", "gravel", "immunohistochemistry")), m.tint([1.0, 0.9, 0.75]))
    m.add(cylinder_geometry(0.6, 0.35, 40, tile=0.5), *sponge)
    m.add(place(cylinder_geometry(0.4, 0.25, 32, tile=0.5), offset=(0, 0, 0.35)), *sponge)
    for k in range(int(m.rng.integers(3, 7))):
        a = 2 * np.pi * k / 6 + m.rng.uniform(-0.2, 0.2)
        m.add(
            place(cylinder_geometry(0.025, 0.18, 8), offset=(0.25 * np.cos(a), 0.25 * np.sin(a), 0.6)),
            tex("clock"),
            m.tint([0.9, 0.3, 0.4]),
        )
    return np.array([0.0, 0.0, 0.3])


def _chair(m: _Maker, variant: int) -> np.ndarray:
    wood = (m.pick(("gravel", "brick", "grass", "moon")), m.tint([0.7, 0.5, 0.35], 0.2))
    s, h = m.rng.uniform(0.45, 0.55), m.rng.uniform(0.42, 0.5)
    m.add(place(box_geometry((s, s, 0.05), tile=0.3), offset=(0, 0, h)), *wood)
    m.add(place(box_geometry((0.05, s, 0.5), tile=0.3), offset=(-s / 2 + 0.025, 0, h + 0.275)), *wood)
    for sx in (-1, 1):
        for sy in (-1, 1):
            m.add(place(box_geometry((0.04, 0.04, h)), offset=(sx * (s / 2 - 0.03), sy * (s / 2 - 0.03), h / 2)), *wood)
    return np.array([0.0, 0.0, h])


def _mug(m: _Maker) -> np.ndarray:
    rad = np.array([0.0, 0.3, 0.32, 0.32, 0.28, 0.27, 0.0])
    z = np.array([0.0, 0.0, 0.05, 0.7, 0.7, 0.06, 0.06])
    mat = (m.pick(("astronaut", "coffee", "chelsea", "checkerboard", "colorwheel")), m.tint([1, 1, 1], 0.1))
    m.add(lathe_geometry(rad, z, 40), *mat)
    m.add(place(torus_geometry(0.16, 0.035, 8, 20), rot_x(np.pi / 2), (0.35, 0.0, 0.2)), *mat)
    return np.array([0.0, 0.0, 0.35])


def _cup(m: _Maker, variant: int) -> np.ndarray:
    if variant % 2 == 1 and m.real("teapot", 0.6, m.pick(("coins", "clock", "moon")), m.tint([0.9, 0.85, 0.8])):
        return np.array([0.0, 0.0, 0.25])
    return _mug(m)


def _donut(m: _Maker, variant: int) -> np.ndarray:
    glaze = ([0.75, 0.5, 0.3], [1.0, 0.6, 0.7], [0.45, 0.28, 0.18])[variant % 3]
    m.add(torus_geometry(0.35, 0.17, 16, 40), m.pick(("coffee", "gravel", "coins")), m.tint(glaze))
    return np.array([0.35, 0.0, 0.17])


def _hydrant(m: _Maker, variant: int) -> np.ndarray:
    rad = np.array([0.0, 0.34, 0.34, 0.24, 0.24, 0.28, 0.28, 0.24, 0.16, 0.0])
    z = np.array([0.0, 0.0, 0.07, 0.09, 0.72, 0.74, 0.8, 0.86, 0.95, 0.98])
    paint = m.tint(([0.85, 0.1, 0.08], [0.95, 0.8, 0.1], [0.2, 0.45, 0.85])[variant % 3])
    rough = m.pick(("gravel", "moon", "brick"))
    m.add(lathe_geometry(rad, z, 32), rough, paint)
    for side in (-1, 1):
        m.add(place(cylinder_geometry(0.07, 0.14, 12), rot_y(side * np.pi / 2), (side * 0.22, 0, 0.55)), rough, paint)
    m.add(place(cylinder_geometry(0.1, 0.14, 12), rot_x(-np.pi / 2), (0, 0.22, 0.45)), rough, paint)
    m.add(place(cylinder_geometry(0.04, 0.08, 6), offset=(0, 0, 0.96)), rough, paint)
    return np.array([0.0, 0.0, 0.4])


def _plant(m: _Maker, variant: int) -> np.ndarray:
    rad = np.array([0.0, 0.22, 0.32, 0.3, 0.0])
    z = np.array([0.0, 0.0, 0.45, 0.4, 0.4])
    m.add(lathe_geometry(rad, z, 32), tex("brick"), m.tint([0.8, 0.45, 0.3]))
    green = m.tint([0.35, 0.75, 0.3], 0.15)
    for _ in range(int(m.rng.integers(5, 10))):
        a, tilt = m.rng.uniform(0, 2 * np.pi), m.rng.uniform(0.2, 0.9)
        length = m.rng.uniform(0.25, 0.4)
        centre = np.array([0.0, 0.0, 0.4]) + length * np.array(
            [np.sin(tilt) * np.cos(a), np.sin(tilt) * np.sin(a), np.cos(tilt)]
        )
        leaf = place(sphere_geometry(1.0, 8, 12, tile=1.0), rot_z(a) @ rot_y(tilt), centre, scale=(0.06, 0.12, length))
        m.add(leaf, tex("grass"), green)
    return np.array([0.0, 0.0, 0.2])


def _suitcase(m: _Maker, variant: int) -> np.ndarray:
    w, d, h = m.rng.uniform(0.45, 0.6), m.rng.uniform(0.2, 0.28), m.rng.uniform(0.6, 0.75)
    shell = (
        m.pick(("brick", "checkerboard", "gravel", "coins")),
        m.tint(([0.2, 0.3, 0.6], [0.6, 0.2, 0.2], [0.3, 0.3, 0.3])[variant % 3]),
    )
    m.add(place(box_geometry((w, d, h), tile=0.3), offset=(0, 0, 0.05 + h / 2)), *shell)
    grip = (tex("camera"), [0.15, 0.15, 0.15])
    for sx in (-1, 1):
        m.add(place(box_geometry((0.03, 0.03, 0.12)), offset=(sx * 0.12, 0, 0.05 + h + 0.06)), *grip)
        for sy in (-1, 1):
            m.add(place(sphere_geometry(0.05, 6, 8), offset=(sx * (w / 2 - 0.06), sy * (d / 2 - 0.05), 0.05)), *grip)
    m.add(place(box_geometry((0.27, 0.04, 0.03)), offset=(0, 0, 0.05 + h + 0.12)), *grip)
    return np.array([0.0, 0.0, 0.05 + h / 2])


def _teddybear(m: _Maker, variant: int) -> np.ndarray:
    fur = (m.pick(("grass", "gravel", "moon")), m.tint([0.7, 0.5, 0.3], 0.15))
    name = TEDDY_MESHES[variant % len(TEDDY_MESHES)]
    if m.real(name, 1.0, *fur):
        verts = m.parts[-1].vertices
        return verts[np.argmin(np.linalg.norm(verts - verts.mean(axis=0), axis=-1))]
    ball = sphere_geometry(1.0, 10, 16, tile=0.5)
    m.add(place(ball, offset=(0, 0, 0.32), scale=(0.25, 0.22, 0.3)), *fur)
    m.add(place(ball, offset=(0, 0, 0.78), scale=0.19), *fur)
    for side in (-1, 1):
        m.add(place(ball, offset=(side * 0.13, 0, 0.94), scale=0.06), *fur)
        m.add(place(ball, offset=(side * 0.25, 0.05, 0.42), scale=(0.07, 0.07, 0.15)), *fur)
        m.add(place(ball, offset=(side * 0.13, 0.12, 0.08), scale=(0.08, 0.14, 0.08)), *fur)
    return np.array([0.0, 0.0, 0.32])


def _vase(m: _Maker, variant: int) -> np.ndarray:
    t = np.linspace(0.0, 1.0, 14)
    belly, neck = m.rng.uniform(0.3, 0.42), m.rng.uniform(0.1, 0.15)
    outer = (
        0.2
        + (belly - 0.2) * np.sin(np.pi * np.minimum(t / 0.7, 1.0))
        + (t > 0.7) * (neck - 0.2) * np.sin(np.pi / 2 * (t - 0.7) / 0.3) ** 2
    )
    outer[-1] = neck + 0.04
    rad = np.concatenate([[0.0], outer, [outer[-1] - 0.03, neck - 0.03]])
    z = np.concatenate([[0.0], 0.95 * t, [0.95, 0.8]])
    photos = ("immunohistochemistry", "retina", "coffee", "astronaut", "hubble_deep_field", "colorwheel")
    m.add(lathe_geometry(rad, z, 36, repeats=(1.0, 1.0)), m.pick(photos), m.tint([1, 1, 1], 0.05))
    return np.array([0.0, 0.0, 0.35])


BUILDERS: dict[str, Callable[[_Maker, int], np.ndarray]] = {
    "apple": _apple,
    "ball": _ball,
    "bench": _bench,
    "book": _book,
    "bowl": _bowl,
    "cake": _cake,
    "chair": _chair,
    "cup": _cup,
    "donut": _donut,
    "hydrant": _hydrant,
    "plant": _plant,
    "suitcase": _suitcase,
    "teddybear": _teddybear,
    "vase": _vase,
}


def build_object(category: str, seed: int, variant: int = 0) -> ObjectModel:
    """Object of ``category`` (one of `CATEGORIES`), identical for identical (category, seed, variant).

    ``variant`` selects colour schemes / real meshes (e.g. the sequence index). The object is turned by
    a random yaw, then scaled so its bounding sphere about (0, 0, height / 2) has radius 1 (base on z = 0).
    """
    if category not in BUILDERS:
        raise ValueError(f"unknown object category {category!r}; expected one of {CATEGORIES}")
    rng = np.random.default_rng(seed)
    maker = _Maker(category, rng)
    anchor = BUILDERS[category](maker, variant)
    yaw = rot_z(rng.uniform(0, 2 * np.pi))
    verts = np.concatenate([p.vertices for p in maker.parts]) @ yaw.T
    lo, hi = verts.min(axis=0), verts.max(axis=0)
    shift = np.array([(lo[0] + hi[0]) / 2, (lo[1] + hi[1]) / 2, lo[2]])
    height = hi[2] - lo[2]
    radius = np.linalg.norm(verts - shift - [0.0, 0.0, height / 2], axis=-1).max()
    parts = []
    for p in maker.parts:
        v = (p.vertices @ yaw.T - shift) / radius
        parts.append(Part(v, p.faces, p.uvs, p.texture, p.tint, p.class_id, p.instance_id))
    return ObjectModel(
        category=category,
        parts=parts,
        height=float(height / radius),
        anchor=(yaw @ anchor - shift) / radius,
        sources=dict(sorted(maker.sources.items())),
        fallbacks=sorted(maker.fallbacks),
    )


def build_object_scene(obj: ObjectModel, seed: int, name: str = "object") -> Scene:
    """``obj`` on a ground disc (radius 6) inside an open backdrop tube (radius 7, height 6), both textured
    with random photographs; one shadowing directional light plus a fill light; background grey."""
    rng = np.random.default_rng(seed)
    ground_tex = tex(("gravel", "grass", "brick", "coins", "moon")[rng.integers(5)])
    back_tex = tex(
        ("astronaut", "coffee", "chelsea", "rocket", "camera", "brick", "hubble_deep_field")[rng.integers(7)]
    )
    n_cls = len(CATEGORIES) + 1
    ground = make_part(_disc(6.0, 64, tile=1.5), ground_tex, rng.uniform(0.7, 1.0, 3), n_cls, GROUND_ID)
    verts, faces, uvs = cylinder_geometry(7.0, 6.0, 64, tile=3.0)
    side = slice(0, 2 * 64)  # the open tube: no caps, so the sun is not blocked
    tube = (verts - [0.0, 0.0, 0.01], faces[side], uvs[side])
    wall = make_part(tube, back_tex, rng.uniform(0.7, 1.0, 3), n_cls + 1, BACKDROP_ID)
    az, el = rng.uniform(0, 2 * np.pi), rng.uniform(0.6, 1.2)
    sun = (float(np.cos(el) * np.cos(az)), float(np.cos(el) * np.sin(az)), float(np.sin(el)))
    return Scene(
        name=name,
        parts=[*obj.parts, ground, wall],
        textures=_bank(TEXTURE_SIZE),
        class_names=("void", *CATEGORIES, "ground", "backdrop"),
        lights=[Light("directional", sun, 0.6, shadows=True), Light("directional", (-sun[0], -sun[1], 0.5), 0.15)],
        ambient=0.35,
        background=(0.5, 0.5, 0.5),
        bounds=np.array([[-1.0, -1.0, 0.0], [1.0, 1.0, obj.height]]),
        instances={OBJECT_ID: CATEGORIES.index(obj.category) + 1, GROUND_ID: n_cls, BACKDROP_ID: n_cls + 1},
        metadata={
            "generator": "common.data.synthetic.objects.build_object_scene",
            "seed": int(seed),
            "category": obj.category,
            "real_meshes": obj.sources,
            "fallbacks": obj.fallbacks,
        },
    )
