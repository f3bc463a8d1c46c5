"""ScanNet-like export: loads through the real loader; depth/poses/intrinsics/colours/labels agree."""

from __future__ import annotations

import numpy as np
import pytest
from synthetic_fixtures import raycast_mesh_file, read_ply_faces, reprojection_colour_error

from common.data import load_scene
from common.data.io import read_uint
from common.data.synthetic.rooms import CLASSES
from common.data.synthetic.write_scannet import NYU40, scaled_sizes, write_scannet


@pytest.fixture(scope="module")
def scannet(tmp_path_factory):
    root = tmp_path_factory.mktemp("scannet")
    write_scannet(root, scenes=1, res=81, seed=1, frames=20)
    return root / "scene0000_00"


def test_sizes_follow_scannet_cameras(scannet):
    (wc, hc), (wd, hd), kc, kd = scaled_sizes(81)
    assert (wc, hc, wd, hd) == (81, 60, 40, 30)
    assert read_uint(scannet / "depth" / "0.png").shape == (30, 40)
    assert read_uint(scannet / "label-filt" / "0.png").shape == (60, 81)
    # same field of view in both cameras (depth registered to colour)
    np.testing.assert_allclose(kd[0, 0] / 40, kc[0, 0] / 81, rtol=1e-9)
    np.testing.assert_allclose(kd[1, 2] / 30, kc[1, 2] / 60, rtol=1e-9)


def test_loads_and_reprojects(scannet):
    scene = load_scene("scannet", scannet, size=None)
    assert scene.num_views == 20 and (scene.height, scene.width) == (60, 81)
    assert scene.splits["test"] == [0, 10]
    err, n = reprojection_colour_error(scene.images, scene.depth, scene.K, scene.c2w, 6, 7)
    assert n > 300 and err < 0.03
    wrong = scene.c2w.copy()
    wrong[:, :3, 1:3] *= -1
    err_bad, _ = reprojection_colour_error(scene.images, scene.depth, scene.K, wrong, 6, 7)
    assert err_bad > 3 * err


def test_nyu40_labels_match_mesh(scannet):
    scene = load_scene("scannet", scannet, size=None)
    mesh = scannet / "scene0000_00_vh_clean_2.ply"
    obj, cls = read_ply_faces(mesh)
    nyu = np.array([NYU40[c][0] if c in NYU40 else -1 for c in CLASSES])
    _, tri = raycast_mesh_file(mesh, scene.K[3], scene.c2w[3], scene.height, scene.width)
    hit = tri >= 0
    assert hit.mean() > 0.99
    assert np.mean(nyu[cls[tri[hit]]] == scene.semantics[3][hit]) > 0.98
    assert np.mean(obj[tri[hit]] == scene.instances[3][hit]) > 0.98
    assert scene.class_names[1] == "wall" and scene.class_names[40] == "otherprop"
