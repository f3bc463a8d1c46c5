"""Room builder: deterministic, furnished within the specified ranges, walls facing inwards, fallbacks reported."""

from __future__ import annotations

import numpy as np

from common.data.synthetic import meshes
from common.data.synthetic.rooms import CLASSES, build_room


def test_same_seed_same_room_and_seeds_differ():
    a, b, c = build_room(11), build_room(11), build_room(12)
    ma, mb, mc = a.merged(), b.merged(), c.merged()
    np.testing.assert_array_equal(ma.vertices, mb.vertices)
    np.testing.assert_array_equal(ma.class_id, mb.class_id)
    assert ma.vertices.shape != mc.vertices.shape or not np.array_equal(ma.vertices, mc.vertices)


def test_objects_classes_and_inward_walls():
    for seed in (0, 1, 2):
        scene = build_room(seed)
        objects = [i for i, c in scene.instances.items() if CLASSES[c] not in ("wall", "floor", "ceiling")]
        assert 10 <= len(objects) <= 30
        m = scene.merged()
        assert set(np.unique(m.class_id)) <= set(range(1, len(CLASSES)))
        lo, hi = scene.bounds
        centre = (lo + hi) / 2
        shell = np.isin(m.class_id, [CLASSES.index(c) for c in ("wall", "floor", "ceiling")])
        tri = m.vertices[m.faces[shell]]
        normal = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
        assert np.all(np.einsum("ij,ij->i", normal, centre - tri.mean(axis=1)) > 0)
        # every object stays inside the room
        assert np.all(m.vertices >= lo - 1e-6) and np.all(m.vertices <= hi + 1e-6)


def test_missing_real_meshes_fall_back_to_primitives(tmp_path, monkeypatch):
    monkeypatch.setenv("NF_SHARED_DATA", str(tmp_path))
    meshes.load_real_mesh.cache_clear()
    try:
        scenes = [build_room(seed) for seed in range(4)]
    finally:
        meshes.load_real_mesh.cache_clear()
    fallbacks = set().union(*(s.metadata["fallbacks"] for s in scenes))
    assert fallbacks and fallbacks <= {"cow", "teapot", "bunny", "armadillo"}
    assert all(s.metadata["real_meshes"] == {} for s in scenes)
