"""Lego-like composite objects in the Blender layout: the Blender loader reads them with the right splits; alpha and
colours equal an independent Open3D ray cast through the loaded cameras; the origin projects to the image centre and
is covered; test cameras are held out; the output is deterministic."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image
from synthetic_fixtures import tree_digest

from common.data import load_scene
from common.data.synthetic.seeds import scene_seed
from common.data.synthetic.shapes import CAMERA_ANGLE_X
from common.data.synthetic.write_blender_objects import (
    ELEVATION,
    EXTENT,
    SUPERSAMPLE,
    build_composite,
    split_views,
    write_blender_objects,
)
from common.o3d import import_open3d

RES, FRAMES, SEED = 32, 20, 3


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    root = tmp_path_factory.mktemp("blender_objects")
    return write_blender_objects(root, scenes=1, res=RES, seed=SEED, frames=FRAMES)[0]


@pytest.fixture(scope="module")
def scene(written):
    return load_scene("blender", written)


def _alpha(path) -> np.ndarray:
    return np.asarray(Image.open(path))[..., 3].astype(np.float64) / 255.0


def test_loads_with_lego_like_splits(written, scene):
    assert written.name == "object_0"
    assert {k: len(v) for k, v in scene.splits.items()} == {"train": 18, "val": 2, "test": 2}
    assert (scene.height, scene.width) == (RES, RES) and scene.images.shape == (22, RES, RES, 3)
    assert scene.extras["camera_angle_x"] == pytest.approx(CAMERA_ANGLE_X)
    assert (written / "transforms_val.json").read_bytes() == (written / "transforms_test.json").read_bytes()
    meta = json.loads((written / "transforms_test.json").read_text())
    assert [f["file_path"] for f in meta["frames"]] == ["./test/r_000", "./test/r_001"]
    centres = scene.c2w[:, :3, 3].astype(np.float64)
    np.testing.assert_allclose(np.linalg.norm(centres, axis=-1), 4.0, rtol=1e-5)
    elevation = np.rad2deg(np.arcsin(centres[:, 2] / 4.0))
    assert elevation.min() >= ELEVATION[0] and elevation.max() <= ELEVATION[1]
    assert elevation.min() < 0.0  # some cameras below the equator, as in lego


def test_origin_projects_to_centre_and_is_covered(written, scene):
    K, c2w = scene.K.astype(np.float64), scene.c2w.astype(np.float64)
    w2c = np.linalg.inv(c2w)
    cam = w2c[:, :3, 3]  # the origin in camera coordinates
    uv = np.einsum("nij,nj->ni", K, cam)[:, :2] / cam[:, 2:3]
    np.testing.assert_allclose(uv, RES / 2, atol=1e-3)
    for path in scene.image_paths:
        a = _alpha(path)
        assert (a[RES // 2 - 1 : RES // 2 + 1, RES // 2 - 1 : RES // 2 + 1] == 1.0).all()
        assert 0.2 < a.mean() < 0.75  # the object fills a good part of the frame


def _fine_cast(scene_obj, K, c2w, res):
    """Hit mask and hit distance [res * S, res * S] of the S x S sub-pixel rays, with Open3D directly."""
    o3d = import_open3d()
    mesh = scene_obj.merged()
    rc = o3d.t.geometry.RaycastingScene()
    rc.add_triangles(o3d.core.Tensor(mesh.vertices.astype(np.float32)), o3d.core.Tensor(mesh.faces.astype(np.uint32)))
    n = res * SUPERSAMPLE
    u, v = np.meshgrid((np.arange(n) + 0.5) / SUPERSAMPLE, (np.arange(n) + 0.5) / SUPERSAMPLE)
    d = np.stack([(u - K[0, 2]) / K[0, 0], (v - K[1, 2]) / K[1, 1], np.ones_like(u)], -1) @ c2w[:3, :3].T
    rays = np.concatenate([np.broadcast_to(c2w[:3, 3], d.shape), d], -1).reshape(-1, 6).astype(np.float32)
    return np.isfinite(rc.cast_rays(o3d.core.Tensor(rays))["t_hit"].numpy()).reshape(n, n)


def test_alpha_is_the_coverage_of_an_independent_ray_cast(written, scene):
    obj = build_composite(scene_seed(SEED, "blender-objects", 0))
    for i in (0, 7, scene.splits["test"][0]):
        hit = _fine_cast(obj, scene.K[i].astype(np.float64), scene.c2w[i].astype(np.float64), RES)
        cover = hit.reshape(RES, SUPERSAMPLE, RES, SUPERSAMPLE).mean(axis=(1, 3))
        np.testing.assert_allclose(_alpha(scene.image_paths[i]), cover, atol=0.5 / 255 + 1e-9)
        assert scene.masks[i].sum() > 0 and np.array_equal(scene.masks[i], cover >= 0.5)
        white = scene.images[i][cover == 0]
        assert white.size and np.all(white == 1.0)  # composited on the loader's white background


def test_object_is_richly_textured_and_inside_bbox():
    obj = build_composite(11)
    verts = np.concatenate([p.vertices for p in obj.parts])
    assert np.abs(verts).max() == pytest.approx(EXTENT)
    assert len(obj.parts) >= 2 + 1 + 3 and 3 <= len(obj.metadata["satellites"]) <= 6
    assert len({p.texture for p in obj.parts}) >= 3


def test_colour_variation(scene):
    img = scene.images[: len(scene.splits["train"])]
    fg = img[scene.masks[: len(img)]]
    assert fg.std(axis=0).min() > 0.08  # several colours on the object, not a flat albedo


def test_split_views_partitions_and_holds_out():
    train, test = split_views(100, 5)
    assert len(test) == 10 and len(train) == 90
    assert sorted(np.concatenate([train, test]).tolist()) == list(range(100))
    np.testing.assert_array_equal(np.diff(test), 10)
    assert not np.array_equal(train, np.sort(train))  # train views come in a random order


def test_test_cameras_not_at_train_positions(scene):
    centres = scene.c2w[:, :3, 3].astype(np.float64)
    train, test = centres[scene.splits["train"]], centres[scene.splits["test"]]
    gap = np.linalg.norm(test[:, None] - train[None], axis=-1).min()
    assert gap > 0.1


def test_same_seed_same_bytes_other_seed_differs(tmp_path):
    for name, seed in (("a", 4), ("b", 4), ("c", 5)):
        write_blender_objects(tmp_path / name, scenes=1, res=16, seed=seed, frames=4)
    assert tree_digest(tmp_path / "a") == tree_digest(tmp_path / "b") != tree_digest(tmp_path / "c")
    png = "object_0/train/r_000.png"
    assert (tmp_path / "a" / png).read_bytes() == (tmp_path / "b" / png).read_bytes()


def test_registered_kind():
    from common.data import FORMATS
    from common.data.synthetic import KINDS

    kind = KINDS["blender_objects"]
    assert (kind.format, kind.scenes, kind.res, kind.frames) == ("blender", 4, 100, 100)
    assert kind.format in FORMATS
