"""D-NeRF-like animations: the D-NeRF loader reads them with times in [0, 1]; alpha masks equal an independent
ray cast of the animated geometry through the loaded cameras; the output is deterministic."""

from __future__ import annotations

import json

import numpy as np
import pytest
from synthetic_fixtures import tree_digest

from common.data import load_scene
from common.data.synthetic.seeds import scene_seed
from common.data.synthetic.write_dnerf import SCENES, scene_at, write_dnerf
from common.o3d import import_open3d

RES, FRAMES, SEED = 32, 5, 1


@pytest.fixture(scope="module")
def dnerf(tmp_path_factory):
    root = tmp_path_factory.mktemp("dnerf")
    return write_dnerf(root, scenes=len(SCENES), res=RES, seed=SEED, frames=FRAMES)


def _silhouette(scene, K, c2w, res):
    """Hit mask [res, res] of pixel-centre rays (OpenCV camera) against the scene's triangles, via Open3D directly."""
    o3d = import_open3d()
    mesh = scene.merged()
    rc = o3d.t.geometry.RaycastingScene()
    rc.add_triangles(o3d.core.Tensor(mesh.vertices.astype(np.float32)), o3d.core.Tensor(mesh.faces.astype(np.uint32)))
    u, v = np.meshgrid(np.arange(res) + 0.5, np.arange(res) + 0.5)
    d = np.stack([(u - K[0, 2]) / K[0, 0], (v - K[1, 2]) / K[1, 1], np.ones_like(u)], -1) @ c2w[:3, :3].T
    rays = np.concatenate([np.broadcast_to(c2w[:3, 3], d.shape), d], -1).reshape(-1, 6).astype(np.float32)
    return np.isfinite(rc.cast_rays(o3d.core.Tensor(rays))["t_hit"].numpy()).reshape(res, res)


def test_scenes_load_with_splits_and_times(dnerf):
    assert [p.name for p in dnerf] == list(SCENES)
    for root in dnerf:
        scene = load_scene("dnerf", root)
        n_eval = max(2, FRAMES // 5)
        assert scene.num_views == FRAMES + 2 * n_eval and (scene.height, scene.width) == (RES, RES)
        assert {k: len(v) for k, v in scene.splits.items()} == {"train": FRAMES, "val": n_eval, "test": n_eval}
        assert scene.times.min() >= 0.0 and scene.times.max() <= 1.0
        for idx in scene.splits.values():
            np.testing.assert_allclose(scene.times[idx], np.linspace(0, 1, len(idx)), atol=1e-6)
        meta = json.loads((root / "transforms_test.json").read_text())
        assert meta["frames"][0]["rotation"] == pytest.approx(2 * np.pi / n_eval)
        centres = scene.c2w[:, :3, 3]
        np.testing.assert_allclose(np.linalg.norm(centres, axis=-1), 4.0, rtol=1e-5)
        forward = scene.c2w[:, :3, 2]  # OpenCV +z looks at the origin
        np.testing.assert_allclose(np.sum(forward * -centres, -1) / 4.0, 1.0, atol=1e-5)


def _geo_seed(index: int) -> int:
    return scene_seed(SEED, f"dnerf-{SCENES[index]}", index)


@pytest.mark.parametrize("index", range(len(SCENES)))
def test_alpha_masks_match_independent_silhouettes(dnerf, index):
    scene = load_scene("dnerf", dnerf[index])
    black = load_scene("dnerf", dnerf[index], background=(0.0, 0.0, 0.0))
    for i in (0, FRAMES - 1, scene.num_views - 1):
        geo = scene_at(SCENES[index], float(scene.times[i]), _geo_seed(index))
        sil = _silhouette(geo, scene.K[i].astype(np.float64), scene.c2w[i].astype(np.float64), RES)
        assert 0.01 < sil.mean() < 0.9
        assert np.mean(sil == scene.masks[i]) > 0.995
        np.testing.assert_allclose(scene.images[i][~scene.masks[i]], 1.0)
        np.testing.assert_allclose(black.images[i][~scene.masks[i]], 0.0)
    first = _silhouette(
        scene_at(SCENES[index], 0.0, _geo_seed(index)), scene.K[0], scene.c2w[0].astype(np.float64), RES
    )
    later = _silhouette(
        scene_at(SCENES[index], 0.3, _geo_seed(index)), scene.K[0], scene.c2w[0].astype(np.float64), RES
    )
    assert (first != later).sum() > 3  # the object moves


def test_same_seed_same_bytes_other_seed_differs(tmp_path):
    for name, seed in (("a", 4), ("b", 4), ("c", 5)):
        write_dnerf(tmp_path / name, scenes=1, res=16, seed=seed, frames=2)
    assert tree_digest(tmp_path / "a") == tree_digest(tmp_path / "b") != tree_digest(tmp_path / "c")
