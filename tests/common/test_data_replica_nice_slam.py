from __future__ import annotations

import json

import imageio.v3 as iio
import numpy as np
import pytest
import torch
from data_fixtures import assert_names, random_c2w

from common.cameras import get_rays
from common.data import DataFormatError, load_scene
from common.data.io import write_png
from common.data.replica_nice_slam import depth_bounds, load

H, W = 6, 10
N = 12


def write_scene(root, rng, cam=None):
    """results/frame*.jpg + depth*.png (uint16, metres * 6553.5) and traj.txt; cam_params.json when ``cam``."""
    c2w = random_c2w(rng, N)
    depth_m = rng.uniform(0.5, 3.0, (N, H, W))
    (root / "results").mkdir(parents=True)
    for i in range(N):
        iio.imwrite(root / "results" / f"frame{i:06d}.jpg", np.full((H, W, 3), 20 * i, np.uint8), quality=100)
        write_png(root / "results" / f"depth{i:06d}.png", np.round(depth_m[i] * 6553.5).astype(np.uint16))
    np.savetxt(root / "traj.txt", c2w.reshape(N, 16))
    if cam is not None:
        (root.parent / "cam_params.json").write_text(json.dumps({"camera": cam}))
    return c2w, depth_m


def test_values_and_splits(tmp_path):
    cam = {"w": W, "h": H, "fx": 7.0, "fy": 8.0, "cx": 4.5, "cy": 2.5, "scale": 6553.5}
    c2w, depth_m = write_scene(tmp_path / "room0", np.random.default_rng(0), cam)
    s = load_scene("replica_nice_slam", tmp_path / "room0", frame_step=2)
    assert s.frame_ids == [f"{i:06d}" for i in range(0, N, 2)]
    np.testing.assert_allclose(s.c2w, c2w[::2], atol=1e-6)  # OpenCV c2w used as stored
    np.testing.assert_allclose(s.K[0], [[7, 0, 5.0], [0, 8, 3.0], [0, 0, 1]])  # NICE-SLAM's (cx, cy) + 0.5
    np.testing.assert_allclose(s.depth, depth_m[::2], atol=1e-4)
    np.testing.assert_allclose(s.images[:, 0, 0, 0], 40 * np.arange(6) / 255, atol=2 / 255)
    assert s.splits == {"train": [1, 2, 3, 4, 5], "test": [0]}
    assert s.far == pytest.approx(1.1 * s.depth.max())
    # depth_bounds(stride=1) = min / max of every back-projected pixel (brute force); the loader's bbox
    # (every 8th pixel) lies inside it
    pts = []
    for d, k, pose in zip(s.depth, s.K, s.c2w):
        for v in range(H):
            for u in range(W):
                x = d[v, u] * np.linalg.inv(k) @ [u + 0.5, v + 0.5, 1.0]
                pts.append(pose[:3, :3] @ x + pose[:3, 3])
    pts = np.array(pts)
    full, dmax = depth_bounds(s.depth, s.K, s.c2w, stride=1)
    np.testing.assert_allclose(full, [pts.min(0), pts.max(0)], atol=1e-5)
    assert dmax == s.depth.max()
    assert np.all(s.bbox[0] >= full[0] - 1e-5) and np.all(s.bbox[1] <= full[1] + 1e-5)
    over = load(tmp_path / "room0", intrinsics={"fx": 9.0}, depth=False, downscale=2)
    np.testing.assert_allclose(over.K[0], [[4.5, 0, 2.5], [0, 4, 1.5], [0, 0, 1]])
    assert over.depth is None and over.images.shape == (N, H // 2, W // 2, 3)


def test_rays_match_nice_slam_rays_through_integer_pixels(tmp_path):
    """NICE-SLAM's get_rays (src/common.py): for integer pixel (i, j), dirs = [(i - cx) / fx, -(j - cy) / fy, -1] in
    its OpenGL camera (traj.txt pose with columns 1 and 2 negated), rays_d = R_gl dirs. Our ray through that pixel's
    centre (i + 0.5, j + 0.5) must be the same ray."""
    cam = {"w": W, "h": H, "fx": 7.0, "fy": 8.0, "cx": 4.5, "cy": 2.5, "scale": 6553.5}
    c2w, _ = write_scene(tmp_path / "room0", np.random.default_rng(3), cam)
    s = load(tmp_path / "room0")
    for view in (0, 5):
        pose = c2w[view]
        R_gl = pose[:3, :3] * np.array([1.0, -1.0, -1.0])
        jj, ii = np.meshgrid(np.arange(H), np.arange(W), indexing="ij")  # row j, column i
        dirs = np.stack([(ii - cam["cx"]) / cam["fx"], -(jj - cam["cy"]) / cam["fy"], -np.ones_like(ii)], -1)
        ref_d = dirs @ R_gl.T
        o, d = get_rays(torch.as_tensor(s.K[view], dtype=torch.float64), torch.as_tensor(pose), H, W, normalize=False)
        np.testing.assert_allclose(d.numpy(), ref_d, atol=1e-6)
        np.testing.assert_allclose(o.numpy(), np.broadcast_to(pose[:3, 3], (H, W, 3)), atol=1e-12)


def test_default_intrinsics_and_bad_inputs(tmp_path):
    root = tmp_path / "office0"
    c2w, _ = write_scene(root, np.random.default_rng(1))
    with pytest.raises(DataFormatError, match="680x1200") as err:  # default 1200x680 camera vs 10x6 images
        load(root)
    assert_names(err, root / "results" / "frame000000.jpg")
    cam = {"w": W, "h": H}
    np.savetxt(root / "traj.txt", c2w[:, :3].reshape(N, 12))
    with pytest.raises(DataFormatError, match="16 numbers") as err:
        load(root, intrinsics=cam)
    assert_names(err, root / "traj.txt")
    np.savetxt(root / "traj.txt", c2w.reshape(N, 16))
    write_png(root / "results" / "depth000003.png", np.zeros((H, W + 1), np.uint16))
    with pytest.raises(DataFormatError, match="depth is") as err:
        load(root, intrinsics=cam)
    assert_names(err, root / "results" / "depth000003.png")
    (tmp_path / "cam_params.json").write_text("{")
    with pytest.raises(DataFormatError, match="invalid JSON") as err:
        load(root)
    assert_names(err, tmp_path / "cam_params.json")
