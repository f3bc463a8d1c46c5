"""Tanks-and-Temples-like NSVF layout: loads through the real loader with DVGO's split rule; cameras see the object."""

from __future__ import annotations

import numpy as np
import pytest
from synthetic_fixtures import raycast_mesh_file, reprojection_colour_error

from common.data import load_scene
from common.data.synthetic.write_tnt import write_tnt_nsvf


@pytest.fixture(scope="module")
def tnt(tmp_path_factory):
    root = tmp_path_factory.mktemp("tnt")
    write_tnt_nsvf(root, scenes=1, res=64, seed=2, frames=24)
    return root / "Barn"


def test_loads_with_prefix_split(tnt):
    scene = load_scene("tnt_nsvf", tnt, near_ratio=0.0)
    assert scene.num_views == 24 and (scene.height, scene.width) == (36, 64)
    assert len(scene.splits["val"]) == 3 and scene.splits["test"] == scene.splits["val"]
    assert [scene.frame_ids[i] for i in scene.splits["val"]] == ["1_0000", "1_0008", "1_0016"]
    centre = scene.bbox.mean(axis=0)
    w2c = np.linalg.inv(scene.c2w.astype(np.float64))
    cam = np.einsum("nij,j->ni", w2c[:, :3, :3], centre) + w2c[:, :3, 3]
    uv = np.einsum("nij,nj->ni", scene.K.astype(np.float64), cam)
    uv = uv[:, :2] / uv[:, 2:]
    assert np.all(cam[:, 2] > 0)
    assert np.all((uv[:, 0] > 0) & (uv[:, 0] < 64) & (uv[:, 1] > 0) & (uv[:, 1] < 36))


def test_mesh_depth_reprojects_colours(tnt):
    scene = load_scene("tnt_nsvf", tnt)
    mesh = tnt / "mesh.ply"
    depth = {i: raycast_mesh_file(mesh, scene.K[i], scene.c2w[i], 36, 64)[0] for i in (4, 5)}
    err, n = reprojection_colour_error(scene.images, depth, scene.K, scene.c2w, 4, 5)
    assert n > 300 and err < 0.02
    wrong = np.transpose(scene.c2w, (0, 2, 1)).copy()
    wrong[:, 3] = [0, 0, 0, 1]
    wrong[:, :3, 3] = scene.c2w[:, :3, 3]
    bad = {i: raycast_mesh_file(mesh, scene.K[i], wrong[i], 36, 64)[0] for i in (4, 5)}
    err_bad, _ = reprojection_colour_error(scene.images, bad, scene.K, wrong, 4, 5)
    assert err_bad > 3 * err
    # missed rays show the white background
    hit = depth[4] > 0
    assert np.all(scene.images[4][~hit] == 1.0) and (~hit).any()
