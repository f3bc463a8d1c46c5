"""Open3D import helper."""

from __future__ import annotations

import numpy as np

from common.o3d import import_open3d


def test_import_open3d_gives_a_working_raycaster():
    o3d = import_open3d()
    assert import_open3d() is o3d
    scene = o3d.t.geometry.RaycastingScene()
    verts = np.array([[-1, -1, 2], [1, -1, 2], [0, 1, 2]], dtype=np.float32)
    scene.add_triangles(o3d.core.Tensor(verts), o3d.core.Tensor(np.array([[0, 1, 2]], dtype=np.uint32)))
    rays = o3d.core.Tensor(np.array([[0, 0, 0, 0, 0, 1], [0, 0, 0, 0, 0, -1]], dtype=np.float32))
    t = scene.cast_rays(rays)["t_hit"].numpy()
    assert abs(t[0] - 2.0) < 1e-5 and np.isinf(t[1])
