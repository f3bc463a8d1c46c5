"""instant-ngp / nerfstudio transforms.json loader: tiny captures, bad input, the real instant-ngp fox."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from common.data import DataFormatError, load_scene
from common.data.io import write_png
from common.data.transforms_json import load, near_far_from_box

H, W = 8, 10
DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "instant-ngp-fox"


def write_capture(root: Path, n: int = 5, seed: int = 0, **global_keys) -> dict:
    """transforms.json with global intrinsics/distortion and a per-frame override on frame 1."""
    rng = np.random.default_rng(seed)
    meta = {"fl_x": 9.0, "fl_y": 9.5, "cx": 4.8, "cy": 4.1, "w": W, "h": H}
    meta |= {"k1": 0.01, "k2": -0.02, "p1": 0.001, "p2": -0.002, "aabb_scale": 2, "scale": 0.5}
    meta |= {"offset": [0.5, 0.25, 0.5]} | global_keys
    frames, poses, pixels = [], [], []
    for i in range(n):
        pose = np.eye(4)
        pose[:3, :3] = Rotation.random(random_state=rng).as_matrix()
        pose[:3, 3] = rng.uniform(-3, 3, 3)
        img = rng.integers(0, 256, (H, W, 3), dtype=np.uint8)
        write_png(root / "images" / f"{i:04d}.png", img)
        frames.append({"file_path": f"images/{i:04d}.png", "sharpness": 30.0, "transform_matrix": pose.tolist()})
        poses.append(pose)
        pixels.append(img)
    frames[1] |= {"fl_x": 12.0, "cx": 5.5, "k3": 0.003}
    meta["frames"] = frames
    (root / "transforms.json").write_text(json.dumps(meta))
    return {"meta": meta, "poses": poses, "pixels": pixels}


def test_transforms_json_values(tmp_path):
    w = write_capture(tmp_path)
    s = load_scene("transforms_json", tmp_path)
    np.testing.assert_allclose(s.K[0], [[9.0, 0, 4.8], [0, 9.5, 4.1], [0, 0, 1]], rtol=1e-6)
    np.testing.assert_allclose(s.K[1], [[12.0, 0, 5.5], [0, 9.5, 4.1], [0, 0, 1]], rtol=1e-6)
    for i, src in enumerate(w["poses"]):
        np.testing.assert_allclose(s.c2w[i] @ np.diag([1.0, -1, -1, 1]), src, atol=1e-6)
        np.testing.assert_allclose(s.c2w[i][:3, 2], -src[:3, 2], atol=1e-6)
        np.testing.assert_allclose(s.images[i], w["pixels"][i] / 255.0, atol=1e-6)
    dist = s.extras["distortion"]
    assert s.extras["distortion_names"] == ("k1", "k2", "p1", "p2", "k3", "k4") and not s.extras["undistorted"]
    np.testing.assert_allclose(dist[0], [0.01, -0.02, 0.001, -0.002, 0.0, 0.0])
    np.testing.assert_allclose(dist[1], [0.01, -0.02, 0.001, -0.002, 0.003, 0.0])
    # instant-ngp box: (0.5 -/+ aabb_scale/2 - offset) / scale with aabb_scale 2, scale 0.5
    np.testing.assert_allclose(s.bbox, [[-2.0, -1.5, -2.0], [2.0, 2.5, 2.0]])
    assert s.splits == {"train": [0, 1, 2, 3, 4], "test": [0]}
    assert s.masks is None and s.frame_ids[2] == "0002"


def test_transforms_json_projection_matches_opengl_camera(tmp_path):
    """A point on the OpenGL ray of pixel (u, v) (x right, y up, -z forward) lands on (u, v)."""
    w = write_capture(tmp_path, n=3)
    s = load(tmp_path, lazy=True)
    for i, src in enumerate(w["poses"]):
        fx, fy, cx, cy = (12.0 if i == 1 else 9.0), 9.5, (5.5 if i == 1 else 4.8), 4.1
        u, v = 2.2, 7.3
        X = src @ np.array([(u - cx) / fx * 3.0, -(v - cy) / fy * 3.0, -3.0, 1.0])
        x = np.linalg.inv(s.c2w[i].astype(np.float64)) @ X
        np.testing.assert_allclose((s.K[i] @ x[:3])[:2] / x[2], [u, v], atol=1e-4)


def test_transforms_json_fallbacks_and_options(tmp_path):
    w = write_capture(tmp_path, n=4, camera_angle_x=1.0, camera_angle_y=0.8)
    meta = w["meta"]
    for key in ("fl_x", "fl_y", "cx", "cy", "w", "h"):
        del meta[key]
    del meta["frames"][1]["fl_x"], meta["frames"][1]["cx"]
    meta["frames"][2]["mask_path"] = "m.png"
    (tmp_path / "alt.json").write_text(json.dumps(meta))
    s = load(tmp_path / "alt.json", split="holdout", test_every=2, downscale=2)
    fx, fy = 0.5 * W / math.tan(0.5), 0.5 * H / math.tan(0.4)
    np.testing.assert_allclose(s.K[0], [[fx / 2, 0, W / 4], [0, fy / 2, H / 4], [0, 0, 1]], rtol=1e-6)
    assert s.splits == {"train": [1, 3], "test": [0, 2]} and s.images.shape == (4, H // 2, W // 2, 3)
    assert "holdout" in s.extras["split_rule"]
    for i, fr in enumerate(meta["frames"]):
        fr["mask_path"] = f"masks/{i}.png"
        write_png(tmp_path / "masks" / f"{i}.png", (np.arange(H * W).reshape(H, W) % 3 == 0).astype(np.uint8) * 255)
    (tmp_path / "transforms.json").write_text(json.dumps(meta))
    masked = load(tmp_path)
    np.testing.assert_array_equal(masked.masks[3], np.arange(H * W).reshape(H, W) % 3 == 0)


def test_near_far_from_box_brute_force():
    rng = np.random.default_rng(1)
    bbox = np.array([[-1.0, -2.0, -0.5], [1.0, 0.5, 2.0]])
    centres = rng.uniform(-5, 5, (6, 3))
    g = [np.linspace(lo, hi, 41) for lo, hi in bbox.T]
    pts = np.stack(np.meshgrid(*g, indexing="ij"), -1).reshape(-1, 3)
    d = np.linalg.norm(centres[:, None] - pts[None], axis=-1)
    near, far = near_far_from_box(centres, bbox)
    assert abs(near - d.min()) < 0.1 and abs(far - d.max()) < 1e-9
    assert near_far_from_box(np.zeros((1, 3)), bbox)[0] == 0.0


@pytest.mark.parametrize("case", ["nan_pose", "size_mismatch", "no_focal", "split_rule", "empty_train", "bad_json"])
def test_transforms_json_bad_input(tmp_path, case):
    w = write_capture(tmp_path, n=3)
    meta, path, kw = w["meta"], tmp_path / "transforms.json", {}
    if case == "nan_pose":
        meta["frames"][2]["transform_matrix"][0][3] = float("nan")
    elif case == "size_mismatch":
        meta["w"] = W + 2
    elif case == "no_focal":
        del meta["fl_x"], meta["frames"][1]["fl_x"]
    elif case == "split_rule":
        kw = {"split": "fraction"}
    elif case == "empty_train":
        kw = {"split": "holdout", "test_every": 1}
    if case == "bad_json":
        path.write_text("{'frames': []}")
    else:
        path.write_text(json.dumps(meta))
    with pytest.raises(DataFormatError) as err:
        load(tmp_path, **kw)
    named = str(tmp_path / "images" / "0000.png") if case == "size_mismatch" else str(path)
    assert named in str(err.value)


def _closest_point_to_axes(c2w: np.ndarray) -> np.ndarray:
    A, b = np.zeros((3, 3)), np.zeros(3)
    for m in c2w.astype(np.float64):
        d = m[:3, 2] / np.linalg.norm(m[:3, 2])
        P = np.eye(3) - np.outer(d, d)
        A += P
        b += P @ m[:3, 3]
    return np.linalg.solve(A, b)


@pytest.mark.realdata
def test_transforms_json_real_fox_cameras_look_at_common_point():
    if not DATA.is_dir():
        pytest.skip(f"real instant-ngp fox sample not found at {DATA}")
    s = load(DATA, lazy=True, downscale=8)
    meta = json.loads((DATA / "transforms.json").read_text())
    assert s.num_views == 67 and (s.height, s.width) == (240, 135)
    np.testing.assert_allclose(s.K[0], [[1375.52 / 8, 0, 554.558 / 8], [0, 1374.49 / 8, 965.268 / 8], [0, 0, 1]])
    np.testing.assert_allclose(s.extras["distortion"][0, :4], [meta[k] for k in ("k1", "k2", "p1", "p2")])
    assert s.extras["aabb_scale"] == 4 and s.splits["test"] == list(range(0, 67, 8))
    target = _closest_point_to_axes(s.c2w)
    for i in range(s.num_views):
        x = np.linalg.inv(s.c2w[i].astype(np.float64)) @ np.append(target, 1.0)
        assert x[2] > 0, f"view {i}: common point behind the camera"
        u, v = (s.K[i] @ x[:3])[:2] / x[2]
        assert 0 <= u < s.width and 0 <= v < s.height, f"view {i}: common point projects outside"
    img = s.load_image(5)
    assert img.shape == (240, 135, 3) and 0.05 < img.mean() < 0.95
