"""The nvidia_dynamic loader on sequences written here by hand in the official DynamicNeRF layout."""

from __future__ import annotations

import math

import numpy as np
import pytest
from PIL import Image

from common.data import DataFormatError, load_scene

N, H, W, F = 3, 8, 12, 10.0


def rot_y(a: float) -> np.ndarray:
    return np.array([[math.cos(a), 0, math.sin(a)], [0, 1, 0], [-math.sin(a), 0, math.cos(a)]])


def cameras():
    """(right, up, back, centre) of N cameras (OpenGL axes) in an arbitrary world frame."""
    out = []
    for i in range(N):
        R = rot_y(0.1 * i - 0.1) @ np.array([[1, 0, 0], [0, 0, -1], [0, 1, 0.0]])  # a tilted rig
        out.append((R[:, 0], R[:, 1], R[:, 2], np.array([0.2 * i, 1.0, 0.5 - 0.1 * i])))
    return out


def write_sequence(root, prior_scale: int = 2, gt: bool = True, near=(2.0, 2.5, 3.0)):
    rows = []
    for (r, u, b, c), nb in zip(cameras(), near):
        mat = np.stack([-u, r, b, c, np.array([2 * H, 2 * W, 2 * F])], 1)  # LLFF: down, right, back; hwf at 2x
        rows.append(np.concatenate([mat.reshape(-1), [nb, 10.0]]))
    np.save(root / "poses_bounds.npy", np.asarray(rows))
    g = np.random.default_rng(0)
    for sub in ("images", "images_2", "disp", "flow", "motion_masks", "gt"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    h, w = H * prior_scale, W * prior_scale
    for i in range(N):
        Image.fromarray(g.integers(0, 255, (2 * H, 2 * W, 3), dtype=np.uint8)).save(root / "images" / f"{i:05d}.png")
        Image.fromarray(g.integers(0, 255, (H, W, 3), dtype=np.uint8)).save(root / "images_2" / f"{i:05d}.png")
        np.save(root / "disp" / f"{i:05d}.npy", np.full((h, w), 0.1 * (i + 1), np.float32))
        mask = np.zeros((h, w), np.uint8)
        mask[: h // 2, : w // 2] = 255
        Image.fromarray(mask).save(root / "motion_masks" / f"{i:05d}.png")
        if gt:
            Image.fromarray(g.integers(0, 255, (2 * H, 2 * W, 3), dtype=np.uint8)).save(
                root / "gt" / f"v000_t{i:03d}.png"
            )
    flow = np.stack([np.full((h, w), 4.0), np.full((h, w), -2.0)], -1).astype(np.float32)
    for i in range(N - 1):
        np.savez(root / "flow" / f"{i:03d}_fwd.npz", flow=flow, mask=np.ones((h, w), bool))
        np.savez(root / "flow" / f"{i + 1:03d}_bwd.npz", flow=-flow, mask=np.ones((h, w), bool))
    return root


def test_poses_intrinsics_times_and_splits(tmp_path):
    scene = load_scene("nvidia_dynamic", write_sequence(tmp_path), factor=2)
    assert scene.images.shape == (2 * N, H, W, 3) and scene.splits == {"train": [0, 1, 2], "test": [3, 4, 5]}
    np.testing.assert_allclose(scene.K[0], [[F, 0, W / 2], [0, F, H / 2], [0, 0, 1]], rtol=1e-6)
    np.testing.assert_allclose(scene.times, [0, 1 / 3, 2 / 3] * 2, rtol=1e-6)
    scale = 1.0 / (0.9 * np.percentile([2.0, 2.5, 3.0], 5))
    c2w = scene.c2w.astype(np.float64)
    cams = cameras()
    for i in range(N):  # relative poses are the written ones (OpenCV = right, -up, -back), translations scaled
        r0, u0, b0, c0 = cams[0]
        ri, ui, bi, ci = cams[i]
        m0, mi = np.eye(4), np.eye(4)
        m0[:3, :3], m0[:3, 3] = np.stack([r0, -u0, -b0], 1), c0 * scale
        mi[:3, :3], mi[:3, 3] = np.stack([ri, -ui, -bi], 1), ci * scale
        np.testing.assert_allclose(np.linalg.inv(c2w[0]) @ c2w[i], np.linalg.inv(m0) @ mi, atol=1e-5)
    forward = c2w[:N, :3, 2].mean(0)
    np.testing.assert_allclose(forward / np.linalg.norm(forward), [0, 0, -1], atol=1e-6)  # recentred: looking at -z
    np.testing.assert_allclose(c2w[:N, :3, 3].mean(0), 0, atol=1e-6)
    np.testing.assert_allclose(scene.c2w[N:], np.repeat(scene.c2w[:1], N, 0))  # test views: camera 0 at every time
    assert scene.frame_ids[N:] == ["v000_t000", "v000_t001", "v000_t002"]


def test_priors_are_resized_like_the_official_loader(tmp_path):
    scene = load_scene("nvidia_dynamic", write_sequence(tmp_path, prior_scale=2), factor=2)
    p = scene.extras["priors"]
    assert p["disp"].shape == (N, H, W) and np.allclose(p["disp"][2], 0.3)
    np.testing.assert_allclose(p["flow_fwd"][0], np.broadcast_to([2.0, -1.0], (H, W, 2)))  # offsets halved
    assert np.all(p["flow_fwd"][N - 1] == 0) and np.all(p["mask_fwd"][N - 1] == 0)  # no forward flow at the end
    assert np.all(p["mask_bwd"][0] == 0) and np.all(p["mask_bwd"][1] == 1)
    assert p["motion_mask"][0, : H // 2, : W // 2].all() and not p["motion_mask"][0, H // 2 :].any()
    assert "computed elsewhere" in scene.extras["priors_source"]


def test_missing_prior_file_names_it_in_one_line(tmp_path):
    root = write_sequence(tmp_path)
    (root / "disp" / "00001.npy").unlink()
    (root / "flow" / "001_bwd.npz").unlink()
    with pytest.raises(DataFormatError) as err:
        load_scene("nvidia_dynamic", root, factor=2)
    msg = str(err.value)
    assert "\n" not in msg and "disp/00001.npy" in msg and "flow/001_bwd.npz" in msg
    assert "generate_depth.py" in msg and "nothing is downloaded" in msg
    assert load_scene("nvidia_dynamic", root, factor=2, require_priors=False).extras["priors"] is None


def test_malformed_files_are_named(tmp_path):
    root = write_sequence(tmp_path)
    np.savez(root / "flow" / "000_fwd.npz", flow=np.zeros((H, W, 2), np.float32))
    with pytest.raises(DataFormatError, match=r"000_fwd\.npz: no array 'mask'"):
        load_scene("nvidia_dynamic", root, factor=2)
    np.save(root / "poses_bounds.npy", np.zeros((N, 15)))
    with pytest.raises(DataFormatError, match=r"poses_bounds\.npy: array of shape \(3, 15\); expected \[N, 17\]"):
        load_scene("nvidia_dynamic", root, factor=2)


def test_image_count_must_match_the_poses(tmp_path):
    root = write_sequence(tmp_path)
    (root / "images_2" / "00002.png").unlink()
    with pytest.raises(DataFormatError, match="holds 2 images; expected 3 frames"):
        load_scene("nvidia_dynamic", root, factor=2)


def test_without_gt_images_there_is_no_test_split(tmp_path):
    scene = load_scene("nvidia_dynamic", write_sequence(tmp_path, gt=False))  # images/ at full size
    assert scene.splits == {"train": [0, 1, 2]} and scene.images.shape == (N, 2 * H, 2 * W, 3)
    assert "v000_t000.png" in scene.extras["test_missing"] and "results.zip" in scene.extras["test_missing"]
    np.testing.assert_allclose(scene.K[0, 0, 0], 2 * F)
