"""CO3D-like sequences: the CO3Dv2 loader reads them; its cameras project the object anchor into every foreground
mask, depth matches the written mesh and reprojects colours across frames; the output is deterministic."""

from __future__ import annotations

import json

import numpy as np
import pytest
from synthetic_fixtures import raycast_mesh_file, reprojection_colour_error, tree_digest

from common.data import load_scene
from common.data.co3dv2 import ndc_to_pixels, pytorch3d_to_c2w
from common.data.synthetic.objects import CATEGORIES
from common.data.synthetic.write_co3d import pytorch3d_viewpoint, write_co3d

RES = 40


@pytest.fixture(scope="module")
def co3d(tmp_path_factory):
    root = tmp_path_factory.mktemp("co3d")
    write_co3d(root, scenes=2, res=RES, seed=3, frames=6, sequences=2)
    return root


def _load(root, category, subset="fewview_train", split=None):
    scene = load_scene("co3dv2", root, category=category, subset=subset, split=split)
    info = json.loads((root / category / scene.extras["sequence"] / "synthetic_scene.json").read_text())
    return scene, info


def test_viewpoint_inverts_loader_conversion():
    rng = np.random.default_rng(0)
    for h, w in ((53, 40), (30, 40)):
        K = np.array([[rng.uniform(20, 40), 0, w / 2 + 1.3], [0, rng.uniform(20, 40), h / 2 - 0.6], [0, 0, 1.0]])
        K[1, 1] = K[0, 0]  # isotropic NDC holds one focal length per axis
        q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
        c2w = np.eye(4)
        c2w[:3, :3], c2w[:3, 3] = q * np.sign(np.linalg.det(q)), rng.normal(size=3)
        vp = pytorch3d_viewpoint(K, c2w, h, w)
        assert vp["intrinsics_format"] == "ndc_isotropic"
        np.testing.assert_allclose(ndc_to_pixels(vp["focal_length"], vp["principal_point"], h, w, "ndc_isotropic"), K)
        np.testing.assert_allclose(pytorch3d_to_c2w(np.asarray(vp["R"]), np.asarray(vp["T"])), c2w, atol=1e-12)


def test_layout_loads_with_splits_sizes_masks_depth(co3d):
    assert sorted(p.name for p in co3d.iterdir()) == sorted(CATEGORIES[:2])
    train, _ = _load(co3d, CATEGORIES[0])
    assert train.num_views == 6 and train.splits == {"train": list(range(6))}
    assert (train.height, train.width) == (RES * 4 // 3, RES)
    assert train.masks is not None and train.depth is not None
    assert train.extras["intrinsics_format"] == ["ndc_isotropic"] and train.extras["frame_numbers"] == list(range(6))
    dev, _ = _load(co3d, CATEGORIES[0], "fewview_dev", "test")
    assert dev.extras["sequence"] != train.extras["sequence"] and dev.num_views == 6
    assert (dev.height, dev.width) == (RES * 3 // 4, RES)
    assert dev.extras["sequence_annotation"]["category"] == CATEGORIES[0]


@pytest.mark.parametrize("category", CATEGORIES[:2])
def test_anchor_projects_into_every_mask(co3d, category):
    for subset in ("fewview_train", "fewview_dev"):
        scene, info = _load(co3d, category, subset)
        anchor = np.append(info["anchor_world"], 1.0)
        hits = []
        for i in range(scene.num_views):
            cam = np.linalg.inv(scene.c2w[i].astype(np.float64))[:3] @ anchor
            u, v = (scene.K[i] @ cam)[:2] / cam[2]
            r, c = int(np.floor(v)), int(np.floor(u))
            assert cam[2] > 0 and 0 <= r < scene.height and 0 <= c < scene.width
            hits.append(scene.masks[i][max(r - 1, 0) : r + 2, max(c - 1, 0) : c + 2].any())
            assert 0.005 < scene.masks[i].mean() < 0.8
        assert all(hits), hits


def test_depth_matches_mesh_and_reprojects_colours(co3d):
    scene, info = _load(co3d, CATEGORIES[1])
    mesh = co3d / CATEGORIES[1] / scene.extras["sequence"] / "mesh.ply"
    for i in (0, 3):
        z, _ = raycast_mesh_file(mesh, scene.K[i], scene.c2w[i], scene.height, scene.width)
        valid = scene.depth[i] > 0
        assert valid.mean() > 0.3
        np.testing.assert_allclose(scene.depth[i][valid], z[valid], rtol=2e-3)
    depth = {i: scene.depth[i] for i in range(4)}
    err, n = reprojection_colour_error(scene.images, depth, scene.K, scene.c2w, 0, 1)
    assert n > 100 and err < 0.06
    wrong = scene.c2w.copy()
    wrong[:, :3, 1:3] *= -1  # an OpenGL reading of the cameras must not reproject
    err_bad, n_bad = reprojection_colour_error(scene.images, depth, scene.K, wrong, 0, 1)
    assert n_bad < n / 4 or err_bad > 2 * err


def test_same_seed_same_bytes_other_seed_differs(tmp_path):
    def run(name, seed):
        write_co3d(tmp_path / name, scenes=1, res=16, seed=seed, frames=3, sequences=1)
        return tree_digest(tmp_path / name)

    assert run("a", 5) == run("b", 5)
    assert run("c", 6) != tree_digest(tmp_path / "a")


def test_bad_arguments_are_errors(tmp_path):
    with pytest.raises(ValueError, match="categories"):
        write_co3d(tmp_path, scenes=len(CATEGORIES) + 1)
