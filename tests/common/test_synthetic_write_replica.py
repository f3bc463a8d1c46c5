"""Replica-like layouts: written scenes load through the real loaders, and geometry, colours and labels agree."""

from __future__ import annotations

import json

import numpy as np
import pytest
from synthetic_fixtures import raycast_mesh_file, read_ply_faces, reprojection_colour_error, tree_digest

from common.data import load_scene
from common.data.synthetic.write_replica import (
    monosdf_intrinsics,
    write_replica_monosdf,
    write_replica_nice_slam,
    write_replica_semantic_nerf,
)
from common.o3d import import_open3d


@pytest.fixture(scope="module")
def monosdf(tmp_path_factory):
    root = tmp_path_factory.mktemp("monosdf")
    write_replica_monosdf(root, scenes=2, res=48, seed=3, frames=20)
    return root


@pytest.fixture(scope="module")
def semantic(tmp_path_factory):
    root = tmp_path_factory.mktemp("semantic")
    write_replica_semantic_nerf(root, scenes=1, res=64, seed=3, frames=40)
    return root


@pytest.fixture(scope="module")
def nice(tmp_path_factory):
    root = tmp_path_factory.mktemp("nice")
    write_replica_nice_slam(root, scenes=1, res=64, seed=3, frames=20)
    return root


def test_monosdf_loads_with_split_and_sizes(monosdf):
    assert sorted(p.name for p in monosdf.iterdir()) == ["scan1", "scan2"]
    scene = load_scene("replica_monosdf", monosdf, scene="room1")  # Replica name -> scan2
    assert "scan2" in scene.image_paths[0]
    assert scene.num_views == 20 and (scene.height, scene.width) == (48, 48)
    assert scene.splits["test"] == [0, 10]
    assert len(scene.splits["train"]) == 18
    np.testing.assert_allclose(scene.K[0], monosdf_intrinsics(48), rtol=1e-6)
    meta = json.loads((monosdf / "scan2" / "meta_data.json").read_text())
    assert meta["camera_model"] == "OPENCV" and meta["has_mono_prior"] is False
    assert meta["scene_box"]["collider_type"] == "box"
    # cameras inside the normalised cube; the GT mesh lies in [-1, 1]^3 once normalised
    assert np.all(np.abs(scene.c2w[:, :3, 3]) < 1.0)
    o3d_verts = np.asarray(import_open3d().io.read_triangle_mesh(scene.mesh_path).vertices)
    inside = scene.normalization.apply_points(o3d_verts)
    assert np.abs(inside).max() <= 1.0 + 1e-5
    assert np.abs(inside).max() > 0.9


def test_monosdf_npz_matches_meta(monosdf):
    meta = load_scene("replica_monosdf", monosdf / "scan1", source="meta")
    npz = load_scene("replica_monosdf", monosdf / "scan1", source="npz", original_size=(1200, 680))
    np.testing.assert_allclose(npz.K, meta.K, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(npz.c2w, meta.c2w, atol=1e-6)
    assert npz.normalization.scale == pytest.approx(meta.normalization.scale)
    np.testing.assert_allclose(npz.normalization.center, meta.normalization.center)


def test_monosdf_mesh_depth_reprojects_colours(monosdf):
    """Depth from the GT mesh (mapped by the loaded normalisation) + loaded cameras: colours agree across views."""
    scene = load_scene("replica_monosdf", monosdf / "scan1")
    to_norm = scene.normalization.matrix()
    views = [2, 3]
    depth = {i: raycast_mesh_file(scene.mesh_path, scene.K[i], scene.c2w[i], 48, 48, to_norm)[0] for i in views}
    err, n = reprojection_colour_error(scene.images, depth, scene.K, scene.c2w, 2, 3)
    assert n > 200 and err < 0.02
    wrong = scene.c2w.copy()
    wrong[:, :3, 1:3] *= -1  # OpenGL axes: a wrong convention must be caught
    bad = {i: raycast_mesh_file(scene.mesh_path, scene.K[i], wrong[i], 48, 48, to_norm)[0] for i in views}
    err_bad, _ = reprojection_colour_error(scene.images, bad, scene.K, wrong, 2, 3)
    assert err_bad > 3 * err


def test_semantic_nerf_loads_and_depth_reprojects(semantic):
    scene = load_scene("replica_semantic_nerf", semantic / "room_0", size=None)
    assert (scene.height, scene.width) == (48, 64)
    assert [int(f.split("_")[-1]) if isinstance(f, str) else f for f in scene.frame_ids][:4] == [0, 2, 5, 7]
    assert len(scene.splits["train"]) == 8 and len(scene.splits["test"]) == 8
    assert scene.class_names[1] == "wall"
    np.testing.assert_allclose(scene.K[0], [[32, 0, 32], [0, 32, 24], [0, 0, 1]], rtol=1e-6)
    i, j = 2, 3  # frames 5 and 7
    err, n = reprojection_colour_error(scene.images, scene.depth, scene.K, scene.c2w, i, j)
    assert n > 300 and err < 0.02
    transposed = np.transpose(scene.c2w, (0, 2, 1)).copy()
    transposed[:, 3] = [0, 0, 0, 1]
    transposed[:, :3, 3] = scene.c2w[:, :3, 3]
    err_bad, _ = reprojection_colour_error(scene.images, scene.depth, scene.K, transposed, i, j)
    assert err_bad > 3 * err


def test_semantic_labels_match_mesh_faces(semantic):
    """The class / instance of a pixel = the labels of the triangle its ray hits in habitat/mesh_semantic.ply."""
    scene = load_scene("replica_semantic_nerf", semantic / "room_0", size=None, void_class=None)
    mesh = semantic / "room_0" / "habitat" / "mesh_semantic.ply"
    obj, cls = read_ply_faces(mesh)
    for i in (0, 3):
        depth, tri = raycast_mesh_file(mesh, scene.K[i], scene.c2w[i], scene.height, scene.width)
        hit = tri >= 0
        assert hit.mean() > 0.99  # a closed room
        assert np.mean(cls[tri[hit]] == scene.semantics[i][hit]) > 0.98
        assert np.mean(obj[tri[hit]] == scene.instances[i][hit]) > 0.98
        assert np.median(np.abs(depth[hit] - scene.depth[i][hit])) < 2e-3  # mm quantisation
    assert len(np.unique(scene.semantics)) >= 4


def test_nice_slam_loads_with_cam_params(nice):
    scene = load_scene("replica_nice_slam", nice / "room0")
    cam = json.loads((nice / "cam_params.json").read_text())["camera"]
    assert (scene.width, scene.height) == (cam["w"], cam["h"]) == (64, 36)
    assert scene.K[0, 0, 0] == pytest.approx(600 * 64 / 1200)
    assert scene.num_views == 20 and scene.splits["test"] == [0, 10]
    err, n = reprojection_colour_error(scene.images, scene.depth, scene.K, scene.c2w, 4, 5)
    assert n > 200 and err < 0.03  # JPEG
    assert (nice / "room0_mesh.ply").is_file()


def test_same_seed_same_bytes_and_seed_changes_scene(tmp_path):
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    for out, seed in ((a, 5), (b, 5), (c, 6)):
        write_replica_monosdf(out, scenes=1, res=16, seed=seed, frames=3)
    assert tree_digest(a) == tree_digest(b)
    assert tree_digest(a) != tree_digest(c)
    assert (a / "scan1" / "000000_rgb.png").read_bytes() != (c / "scan1" / "000000_rgb.png").read_bytes()


def test_scene_count_is_checked(tmp_path):
    with pytest.raises(ValueError, match="scenes must be in 1..8"):
        write_replica_monosdf(tmp_path, scenes=9, res=16, frames=2)
