"""The synthetic nvidia_dynamic sequence: its ground-truth priors against the known geometry and motion."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from common.data import load_scene
from common.data.io import read_mask, read_rgb
from common.data.synthetic import KINDS, is_synthetic
from common.data.synthetic.write_nvidia_dynamic import (
    PRIORS_SOURCE,
    image_size,
    intrinsics,
    object_motion,
    rig_cameras,
    write_nvidia_dynamic,
)

RES, FRAMES = 40, 4


@pytest.fixture(scope="module")
def seq(tmp_path_factory):
    out = tmp_path_factory.mktemp("nvd")
    (root,) = write_nvidia_dynamic(out, scenes=1, res=RES, seed=0, frames=FRAMES)
    return root


def pinhole(X, K, c2w):
    """(u, v, z) of world point X by camera (K, OpenCV c2w), written out."""
    R, t = c2w[:3, :3], c2w[:3, 3]
    x, y, z = R.T @ (X - t)
    return K[0, 0] * x / z + K[0, 2], K[1, 1] * y / z + K[1, 2], z


def ray_point(u, v, depth, K, c2w):
    """World point at z-depth ``depth`` on the ray of pixel (u, v) (centre u + 0.5)."""
    d = np.array([(u + 0.5 - K[0, 2]) / K[0, 0], (v + 0.5 - K[1, 2]) / K[1, 1], 1.0])
    return c2w[:3, :3] @ (d * depth) + c2w[:3, 3]


def test_layout_and_labels(seq):
    assert "nvidia_dynamic" in KINDS and KINDS["nvidia_dynamic"].format == "nvidia_dynamic"
    for rel in ("poses_bounds.npy", "images/000.png", "disp/003.npy", "flow/000_fwd.npz", "flow/003_bwd.npz"):
        assert (seq / rel).is_file(), rel
    assert not (seq / "flow" / "003_fwd.npz").exists() and not (seq / "flow" / "000_bwd.npz").exists()
    assert json.loads((seq / "priors.json").read_text())["source"] == PRIORS_SOURCE
    scene = load_scene("nvidia_dynamic", seq)
    assert scene.extras["priors_source"] == "generator ground truth (MiDaS/RAFT substitutes)"
    assert is_synthetic(seq) and scene.images.shape == (2 * FRAMES, *image_size(RES), 3)


def test_disparity_is_inverse_depth_of_the_known_wall(seq):
    K, cams = intrinsics(*image_size(RES)), rig_cameras(FRAMES)
    disp = np.load(seq / "disp" / "000.npy")
    H, W = disp.shape
    u, v = W // 2, 2  # top centre row: the back wall y = 6 (above the balls)
    X = ray_point(u, v, 1.0 / disp[v, u], K, cams[0])
    assert X[1] == pytest.approx(6.0, abs=1e-3)


def test_ground_truth_flow_is_the_reprojection_of_the_known_motion(seq):
    K, cams = intrinsics(*image_size(RES)), rig_cameras(FRAMES)
    times = np.arange(FRAMES) / (FRAMES - 1)
    moving = read_mask(seq / "motion_masks" / "001.png")
    disp = np.load(seq / "disp" / "001.npy")
    data = np.load(seq / "flow" / "001_fwd.npz")
    flow, mask = data["flow"], data["mask"]
    seed = json.loads((seq / "synthetic_scene.json").read_text())["seed"]  # the scene's own seed
    m1, m2 = object_motion(times[1], seed), object_motion(times[2], seed)
    checked = {"static": 0, "moving": 0}
    H, W = disp.shape
    for v in range(0, H, 3):
        for u in range(0, W, 3):
            X = ray_point(u, v, 1.0 / disp[v, u], K, cams[1])
            for j in m1:  # a point of ball j moves with the ball: spin about z, then the centre's path
                c1, c2 = m1[j][:3, 3], m2[j][:3, 3]
                if np.linalg.norm(X - c1) < 0.37:  # on the ball's surface (radii 0.36 / 0.28)
                    a = math.atan2(m2[j][1, 0], m2[j][0, 0]) - math.atan2(m1[j][1, 0], m1[j][0, 0])
                    rz = np.array([[math.cos(a), -math.sin(a), 0], [math.sin(a), math.cos(a), 0], [0, 0, 1]])
                    X = rz @ (X - c1) + c2
                    assert moving[v, u]
                    checked["moving"] += 1
                    break
            else:
                checked["static"] += 1
            pu, pv, _ = pinhole(X, K, cams[2])
            np.testing.assert_allclose(flow[v, u], [pu - (u + 0.5), pv - (v + 0.5)], atol=2e-3)
    assert checked["moving"] > 0 and checked["static"] > 0
    assert 0.5 < mask.mean() <= 1.0


def test_flow_links_matching_colours_on_visible_static_pixels(seq):
    img0, img1 = read_rgb(seq / "images" / "000.png"), read_rgb(seq / "images" / "001.png")
    data = np.load(seq / "flow" / "000_fwd.npz")
    moving = read_mask(seq / "motion_masks" / "000.png")
    H, W = img0.shape[:2]
    v, u = np.mgrid[0:H, 0:W]
    tu, tv = np.rint(u + data["flow"][..., 0]).astype(int), np.rint(v + data["flow"][..., 1]).astype(int)
    ok = data["mask"] & ~moving & (tu >= 0) & (tu < W) & (tv >= 0) & (tv < H)
    diff = np.abs(img0[ok] - img1[tv[ok], tu[ok]]).mean()
    shuffled = np.abs(img0[ok] - np.roll(img1, 5, axis=1)[tv[ok], tu[ok]]).mean()
    assert diff < 0.6 * shuffled


def test_test_views_are_camera_zero_at_every_time(seq):
    scene = load_scene("nvidia_dynamic", seq)
    first_train, first_test = scene.load_image(0), scene.load_image(FRAMES)
    np.testing.assert_allclose(first_train, first_test, atol=1 / 255)  # t000 of camera 0 is training frame 0
    assert not np.allclose(scene.load_image(FRAMES + 3), scene.load_image(3), atol=0.05)  # other cameras
