"""Replica-like indoor rooms built deterministically from a seed.

A room is a box (walls, floor, ceiling; normals pointing inwards) of a few metres, offset from the
world origin, furnished with 10-30 objects placed around a free central walking zone: tables with
things on them, chairs, sofas, cabinets, shelves, beds, lamps, plants, statues (the Stanford bunny
and armadillo on pedestals), the Spot cow, the Utah teapot, boxes, pictures, a door and a rug.
Real meshes are read from the shared sample data at run time; when absent, primitives replace
them and ``scene.metadata["fallbacks"]`` lists what was replaced. Every surface is textured with a
photograph of ``skimage.data`` (or the cow's own texture). Each object is one instance with one
class of `CLASSES`. World frame: z up, metres.
"""

from __future__ import annotations

import numpy as np

from common.data.synthetic.meshes import (
    Light,
    Part,
    Scene,
    box_geometry,
    cylinder_geometry,
    load_real_mesh,
    make_part,
    quad,
    sphere_geometry,
)
from common.data.synthetic.textures import PHOTOS, photo_bank

# Class id = index; 0 is void (nothing hit). Fixed: changing it changes every written label.
CLASSES: tuple[str, ...] = (
    "void",
    "wall",
    "floor",
    "ceiling",
    "table",
    "chair",
    "sofa",
    "cabinet",
    "bed",
    "lamp",
    "plant",
    "statue",
    "vase",
    "picture",
    "rug",
    "shelf",
    "box",
    "figurine",
    "teapot",
    "door",
)
CLASS_ID = {name: i for i, name in enumerate(CLASSES)}
TEXTURE_SIZE = 256
COW_TEXTURE = len(PHOTOS)  # the cow texture is appended after the photographs

_GREY = ("brick", "grass", "gravel", "camera", "coins", "moon", "checkerboard", "clock")
_WALL = ("brick", "gravel", "moon", "camera")
_PHOTO = ("coffee", "astronaut", "chelsea", "rocket", "hubble_deep_field", "immunohistochemistry", "retina")


def _tex(name: str) -> int:
    return PHOTOS.index(name)


class _Builder:
    """Accumulates parts with consecutive instance ids (0 is reserved for 'nothing')."""

    def __init__(self, rng: np.random.Generator):
        self.rng = rng
        self.parts: list[Part] = []
        self.instances: dict[int, int] = {}
        self.fallbacks: list[str] = []
        self.sources: dict[str, str] = {}

    def new_instance(self, cls: str) -> int:
        iid = len(self.instances) + 1
        self.instances[iid] = CLASS_ID[cls]
        return iid

    def material(self, grey_only: bool = False) -> tuple[int, np.ndarray]:
        names = _GREY if grey_only else _GREY + _PHOTO
        name = names[self.rng.integers(len(names))]
        tint = self.rng.uniform(0.45, 1.0, 3) if name in _GREY else np.ones(3)
        return _tex(name), tint

    def add(self, geometry, cls: str, iid: int, yaw: float, offset, material=None):
        tex, tint = material if material is not None else self.material()
        self.parts.append(make_part(geometry, tex, tint, CLASS_ID[cls], iid, yaw, offset))

    def add_real(self, name: str, cls: str, iid: int, height: float, yaw: float, offset) -> bool:
        """Add a real mesh scaled to ``height``; False (nothing added) when its file is absent."""
        mesh = load_real_mesh(name, TEXTURE_SIZE)
        if mesh is None:
            self.fallbacks.append(name)
            return False
        self.sources[name] = mesh.source
        tex, tint = (COW_TEXTURE, np.ones(3)) if mesh.texture is not None else self.material()
        self.parts.append(
            make_part((mesh.vertices * height, mesh.faces, mesh.uvs), tex, tint, CLASS_ID[cls], iid, yaw, offset)
        )
        return True


def _bank(size: int) -> np.ndarray:
    _, photos = photo_bank(size)
    cow = load_real_mesh("cow", size)
    extra = cow.texture if cow is not None and cow.texture is not None else np.full((size, size, 3), 0.8, np.float32)
    return np.concatenate([photos, extra[None]], axis=0)


# ---------------------------------------------------------------------------------------------
# Furniture: each function adds one instance at (x, y) on a surface at height z with yaw; returns
# the footprint radius and the height of its top surface (for objects placed on it).


def _table(b: _Builder, x, y, z, yaw):
    w, d, h = b.rng.uniform(0.9, 1.5), b.rng.uniform(0.6, 0.9), b.rng.uniform(0.7, 0.78)
    iid, mat = b.new_instance("table"), b.material()
    b.add(box_geometry((w, d, 0.05)), "table", iid, yaw, _at(x, y, z + h - 0.025), mat)
    for sx in (-1, 1):
        for sy in (-1, 1):
            leg = _rot(yaw, sx * (w / 2 - 0.06), sy * (d / 2 - 0.06))
            b.add(
                box_geometry((0.06, 0.06, h - 0.05)),
                "table",
                iid,
                yaw,
                _at(x + leg[0], y + leg[1], z + (h - 0.05) / 2),
                mat,
            )
    return np.hypot(w, d) / 2, z + h, (w, d)


def _chair(b: _Builder, x, y, z, yaw):
    s, h = b.rng.uniform(0.42, 0.5), b.rng.uniform(0.42, 0.48)
    iid, mat = b.new_instance("chair"), b.material()
    b.add(box_geometry((s, s, 0.05)), "chair", iid, yaw, _at(x, y, z + h), mat)
    back = _rot(yaw, -s / 2 + 0.025, 0.0)
    b.add(box_geometry((0.05, s, 0.45)), "chair", iid, yaw, _at(x + back[0], y + back[1], z + h + 0.25), mat)
    for sx in (-1, 1):
        for sy in (-1, 1):
            leg = _rot(yaw, sx * (s / 2 - 0.03), sy * (s / 2 - 0.03))
            b.add(box_geometry((0.04, 0.04, h)), "chair", iid, yaw, _at(x + leg[0], y + leg[1], z + h / 2), mat)
    return s * 0.75, None, None


def _sofa(b: _Builder, x, y, z, yaw):
    w, d = b.rng.uniform(1.5, 2.2), b.rng.uniform(0.8, 0.95)
    iid, mat = b.new_instance("sofa"), b.material()
    b.add(box_geometry((d, w, 0.42)), "sofa", iid, yaw, _at(x, y, z + 0.21), mat)
    back = _rot(yaw, -d / 2 + 0.1, 0.0)
    b.add(box_geometry((0.2, w, 0.45)), "sofa", iid, yaw, _at(x + back[0], y + back[1], z + 0.42 + 0.225), mat)
    for sy in (-1, 1):
        arm = _rot(yaw, 0.0, sy * (w / 2 - 0.1))
        b.add(box_geometry((d, 0.2, 0.25)), "sofa", iid, yaw, _at(x + arm[0], y + arm[1], z + 0.42 + 0.125), mat)
    return np.hypot(w, d) / 2, None, (d, w)


def _tall_box(cls: str, wr, dr, hr):
    def build(b: _Builder, x, y, z, yaw):
        w, d, h = b.rng.uniform(*wr), b.rng.uniform(*dr), b.rng.uniform(*hr)
        iid = b.new_instance(cls)
        b.add(box_geometry((d, w, h)), cls, iid, yaw, _at(x, y, z + h / 2))
        return np.hypot(w, d) / 2, z + h, (d, w)

    return build


def _bed(b: _Builder, x, y, z, yaw):
    w, length = b.rng.uniform(1.2, 1.7), b.rng.uniform(1.9, 2.1)
    iid = b.new_instance("bed")
    b.add(box_geometry((length, w, 0.5)), "bed", iid, yaw, _at(x, y, z + 0.25))
    head = _rot(yaw, -length / 2 + 0.04, 0.0)
    b.add(box_geometry((0.08, w, 1.0)), "bed", iid, yaw, _at(x + head[0], y + head[1], z + 0.5))
    return np.hypot(w, length) / 2, None, (length, w)


def _lamp(b: _Builder, x, y, z, yaw):
    iid, mat = b.new_instance("lamp"), b.material()
    h = b.rng.uniform(1.3, 1.7)
    b.add(cylinder_geometry(0.18, 0.03, 16), "lamp", iid, 0.0, _at(x, y, z), mat)
    b.add(cylinder_geometry(0.02, h, 8), "lamp", iid, 0.0, _at(x, y, z), mat)
    b.add(cylinder_geometry(0.2, 0.25, 20), "lamp", iid, yaw, _at(x, y, z + h - 0.1), b.material())
    return 0.22, None, None


def _plant(b: _Builder, x, y, z, yaw):
    iid = b.new_instance("plant")
    r, h = b.rng.uniform(0.12, 0.22), b.rng.uniform(0.25, 0.4)
    leaves = b.rng.uniform(0.25, 0.4)
    b.add(cylinder_geometry(r, h, 20), "plant", iid, yaw, _at(x, y, z))
    green = (_tex("grass"), np.array([0.35, 0.75, 0.3]) * b.rng.uniform(0.8, 1.1))
    b.add(sphere_geometry(leaves), "plant", iid, yaw, _at(x, y, z + h + leaves * 0.9), green)
    return max(r, leaves), None, None


def _statue(b: _Builder, x, y, z, yaw):
    iid = b.new_instance("statue")
    ped = b.rng.uniform(0.6, 0.9)
    b.add(box_geometry((0.4, 0.4, ped)), "statue", iid, yaw, _at(x, y, z + ped / 2), b.material(grey_only=True))
    name = ("bunny", "armadillo")[b.rng.integers(2)]
    if not b.add_real(name, "statue", iid, b.rng.uniform(0.45, 0.7), yaw, _at(x, y, z + ped)):
        b.add(sphere_geometry(0.2), "statue", iid, yaw, _at(x, y, z + ped + 0.2))
    return 0.3, None, None


def _cow(b: _Builder, x, y, z, yaw):
    iid = b.new_instance("figurine")
    h = b.rng.uniform(0.6, 0.9)
    if not b.add_real("cow", "figurine", iid, h, yaw, _at(x, y, z)):
        b.add(box_geometry((h, 0.4 * h, 0.6 * h)), "figurine", iid, yaw, _at(x, y, z + 0.3 * h))
    return 0.5 * h, None, None


def _storage_box(b: _Builder, x, y, z, yaw):
    s = b.rng.uniform(0.3, 0.6)
    depth, height = s * b.rng.uniform(0.7, 1.0), s * b.rng.uniform(0.6, 1.0)
    iid = b.new_instance("box")
    b.add(box_geometry((s, depth, height), tile=0.3), "box", iid, yaw, _at(x, y, z + height / 2))
    return s * 0.75, None, None


def _small_on_top(b: _Builder, x, y, z, yaw):
    """A teapot (real mesh) or a vase on a table top."""
    if b.rng.random() < 0.5:
        iid = b.new_instance("teapot")
        if b.add_real("teapot", "teapot", iid, b.rng.uniform(0.15, 0.22), yaw, _at(x, y, z)):
            return
        b.add(sphere_geometry(0.1), "teapot", iid, yaw, _at(x, y, z + 0.1))
        return
    iid = b.new_instance("vase")
    b.add(
        cylinder_geometry(b.rng.uniform(0.05, 0.09), b.rng.uniform(0.15, 0.3), 16, tile=0.2),
        "vase",
        iid,
        yaw,
        _at(x, y, z),
    )


FREE_STANDING = {
    "table": _table,
    "chair": _chair,
    "lamp": _lamp,
    "plant": _plant,
    "statue": _statue,
    "figurine": _cow,
    "box": _storage_box,
}
AGAINST_WALL = {
    "sofa": _sofa,
    "cabinet": _tall_box("cabinet", (0.5, 1.0), (0.4, 0.6), (0.8, 1.9)),
    "shelf": _tall_box("shelf", (0.8, 1.2), (0.3, 0.4), (1.5, 2.0)),
    "bed": _bed,
}


def _at(x, y, z):
    return (float(x), float(y), float(z))


def _rot(yaw, dx, dy):
    c, s = np.cos(yaw), np.sin(yaw)
    return np.array([c * dx - s * dy, s * dx + c * dy])


# ---------------------------------------------------------------------------------------------


def walk_zone(scene: Scene) -> tuple[np.ndarray, np.ndarray]:
    """(centre [2], half axes [2]) of the central ellipse kept free of floor objects (x, y)."""
    return np.asarray(scene.metadata["walk_center"]), np.asarray(scene.metadata["walk_axes"])


def build_room(seed: int, name: str = "room", n_objects: tuple[int, int] = (10, 30)) -> Scene:
    """A furnished room; identical output for identical (seed, name, n_objects).

    Returns a `Scene` whose ``bounds`` is the room interior [2, 3], ``obstacles`` the floor-object
    footprints (x, y, r), ``instances`` instance -> class, and metadata with the walking zone
    (an ellipse around the room centre free of floor objects, where cameras may move).
    """
    rng = np.random.default_rng(seed)
    b = _Builder(rng)
    size = np.array([rng.uniform(4.5, 7.0), rng.uniform(4.0, 6.0), rng.uniform(2.6, 3.0)])
    lo = np.array([rng.uniform(-3.0, 1.0), rng.uniform(-3.0, 1.0), rng.uniform(-0.5, 0.5)])
    hi = lo + size
    centre = (lo + hi) / 2

    wall_mat = (_tex(_WALL[rng.integers(len(_WALL))]), rng.uniform(0.7, 1.0, 3))
    tile = rng.uniform(0.6, 1.2)
    walls = [  # (p0, eu, ev, inward normal, lengths)
        ((lo[0], lo[1], hi[2]), (size[0], 0, 0), (0, 0, -size[2]), (0, 1, 0)),
        ((hi[0], hi[1], hi[2]), (-size[0], 0, 0), (0, 0, -size[2]), (0, -1, 0)),
        ((hi[0], lo[1], hi[2]), (0, size[1], 0), (0, 0, -size[2]), (-1, 0, 0)),
        ((lo[0], hi[1], hi[2]), (0, -size[1], 0), (0, 0, -size[2]), (1, 0, 0)),
    ]
    for p0, eu, ev, n in walls:
        uv = (np.linalg.norm(eu) / tile, np.linalg.norm(ev) / tile)
        b.add(quad(p0, eu, ev, n, uv), "wall", b.new_instance("wall"), 0.0, (0, 0, 0), wall_mat)
    floor_mat = (_tex(("gravel", "checkerboard", "brick", "coins")[rng.integers(4)]), rng.uniform(0.5, 0.9, 3))
    ftile = rng.uniform(0.5, 1.0)
    b.add(
        quad(lo, (size[0], 0, 0), (0, size[1], 0), (0, 0, 1), (size[0] / ftile, size[1] / ftile)),
        "floor",
        b.new_instance("floor"),
        0.0,
        (0, 0, 0),
        floor_mat,
    )
    ceil = (lo[0], lo[1], hi[2])
    b.add(
        quad(ceil, (size[0], 0, 0), (0, size[1], 0), (0, 0, -1), (size[0], size[1])),
        "ceiling",
        b.new_instance("ceiling"),
        0.0,
        (0, 0, 0),
        (_tex("moon"), np.array([0.95, 0.95, 0.9])),
    )

    walk_axes = 0.22 * size[:2]
    keep_out = walk_axes + 0.45
    obstacles: list[tuple[float, float, float]] = []
    wanted = int(rng.integers(n_objects[0], n_objects[1] + 1))
    n_before = len(b.instances)

    def free(x, y, r):
        if np.sum(((np.array([x, y]) - centre[:2]) / (keep_out + r)) ** 2) < 1.0:
            return False
        if x - r < lo[0] + 0.02 or x + r > hi[0] - 0.02 or y - r < lo[1] + 0.02 or y + r > hi[1] - 0.02:
            return False
        return all(np.hypot(x - ox, y - oy) > r + orad + 0.05 for ox, oy, orad in obstacles)

    def placed():
        return len(b.instances) - n_before

    # wall decorations: a door, 2-4 pictures
    for k, cls in enumerate(["door"] + ["picture"] * int(rng.integers(2, 5))):
        wall = int(rng.integers(4))
        p0, eu, ev, n = walls[wall]
        eu, n = np.asarray(eu, float), np.asarray(n, float)
        length = np.linalg.norm(eu)
        w, h = (0.9, 2.0) if cls == "door" else (rng.uniform(0.5, 1.1), rng.uniform(0.4, 0.8))
        s = rng.uniform(w / 2 + 0.1, length - w / 2 - 0.1)
        zc = lo[2] + (1.0 if cls == "door" else rng.uniform(1.3, 1.9))
        pos = np.asarray(p0, float) + eu / length * s + n * 0.015
        yaw = np.arctan2(n[1], n[0])
        mat = (_tex(_PHOTO[k % len(_PHOTO)]), np.ones(3)) if cls == "picture" else b.material(grey_only=True)
        b.add(box_geometry((0.03, w, h), tile=None), cls, b.new_instance(cls), yaw, _at(pos[0], pos[1], zc), mat)
    if rng.random() < 0.7:
        rw, rd = 1.2 * walk_axes
        b.add(
            box_geometry((2 * rw, 2 * rd, 0.01), tile=None),
            "rug",
            b.new_instance("rug"),
            0.0,
            _at(centre[0], centre[1], lo[2] + 0.005),
            (_tex(_PHOTO[rng.integers(len(_PHOTO))]), np.full(3, 0.9)),
        )

    # large furniture against walls
    for _ in range(int(rng.integers(2, 5))):
        kind = list(AGAINST_WALL)[rng.integers(len(AGAINST_WALL))]
        for _try in range(20):
            wall = int(rng.integers(4))
            p0, eu, ev, n = walls[wall]
            eu, n = np.asarray(eu, float), np.asarray(n, float)
            trial = _Builder(np.random.default_rng(rng.integers(2**32)))
            trial.instances = dict(b.instances)
            r, _, (depth, _w) = AGAINST_WALL[kind](trial, 0.0, 0.0, lo[2], 0.0)
            s = rng.uniform(r, np.linalg.norm(eu) - r)
            pos = np.asarray(p0[:2]) + eu[:2] / np.linalg.norm(eu) * s + n[:2] * (depth / 2 + 0.03)
            if free(pos[0], pos[1], r):
                yaw = np.arctan2(n[1], n[0])
                for part in trial.parts:
                    b.parts.append(part.transformed(yaw, (pos[0], pos[1], 0.0)))
                b.instances = trial.instances
                b.fallbacks += trial.fallbacks
                b.sources.update(trial.sources)
                obstacles.append((pos[0], pos[1], r))
                break

    # free-standing objects (+ small things on tables)
    kinds = list(FREE_STANDING)
    attempts = 0
    while placed() < wanted and attempts < 400:
        attempts += 1
        kind = kinds[rng.integers(len(kinds))]
        x, y = rng.uniform(lo[0], hi[0]), rng.uniform(lo[1], hi[1])
        yaw = rng.uniform(0, 2 * np.pi)
        r_guess = {
            "table": 0.9,
            "chair": 0.4,
            "lamp": 0.22,
            "plant": 0.4,
            "statue": 0.3,
            "figurine": 0.45,
            "box": 0.45,
        }[kind]
        if not free(x, y, r_guess):
            continue
        r, top, _ = FREE_STANDING[kind](b, x, y, lo[2], yaw)
        obstacles.append((x, y, max(r, r_guess)))
        if kind == "table" and placed() < wanted:
            for _k in range(int(rng.integers(0, 3))):
                if placed() >= wanted:
                    break
                off = _rot(yaw, rng.uniform(-0.3, 0.3), rng.uniform(-0.2, 0.2))
                _small_on_top(b, x + off[0], y + off[1], top, rng.uniform(0, 2 * np.pi))

    lights = [
        Light(
            "point",
            tuple(centre + [0.3 * size[0] * rng.uniform(-1, 1), 0.3 * size[1] * rng.uniform(-1, 1), size[2] / 2 - 0.3]),
            0.55,
            shadows=True,
        ),
        Light("directional", tuple(np.array([rng.uniform(-1, 1), rng.uniform(-1, 1), 1.5]) / 2.0), 0.25),
    ]
    return Scene(
        name=name,
        parts=b.parts,
        textures=_bank(TEXTURE_SIZE),
        class_names=CLASSES,
        lights=lights,
        ambient=0.35,
        background=(0.0, 0.0, 0.0),
        bounds=np.stack([lo, hi]),
        obstacles=obstacles,
        instances=b.instances,
        metadata={
            "generator": "common.data.synthetic.rooms.build_room",
            "seed": int(seed),
            "walk_center": [float(c) for c in centre[:2]],
            "walk_axes": [float(a) for a in walk_axes],
            "floor_z": float(lo[2]),
            "real_meshes": dict(sorted(b.sources.items())),
            "fallbacks": sorted(set(b.fallbacks)),
        },
    )
