"""Blender (NeRF-synthetic) loader: tiny scenes written in the real layout, and bad input."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from common.data import DataFormatError, load_scene
from common.data.blender import load
from common.data.io import write_png

H, W = 8, 10
ANGLE = 0.7


def _gl_pose(rng: np.random.Generator) -> np.ndarray:
    m = np.eye(4)
    m[:3, :3] = Rotation.random(random_state=rng).as_matrix()
    m[:3, 3] = rng.uniform(-4, 4, 3)
    return m


def write_blender(root: Path, counts=(3, 2, 2), seed: int = 0, with_ext: bool = False) -> dict:
    """Write transforms_{train,val,test}.json + RGBA PNGs; return the written poses and pixels."""
    rng = np.random.default_rng(seed)
    written = {"poses": [], "rgba": []}
    for split, n in zip(("train", "val", "test"), counts):
        frames = []
        for i in range(n):
            rgba = rng.integers(0, 256, (H, W, 4), dtype=np.uint8)
            rgba[..., 3] = rng.choice(np.array([0, 100, 200, 255], dtype=np.uint8), (H, W))
            write_png(root / split / f"r_{i}.png", rgba)
            pose = _gl_pose(rng)
            name = f"./{split}/r_{i}" + (".png" if with_ext else "")
            frames.append({"file_path": name, "rotation": 0.1, "transform_matrix": pose.tolist()})
            written["poses"].append(pose)
            written["rgba"].append(rgba)
        (root / f"transforms_{split}.json").write_text(json.dumps({"camera_angle_x": ANGLE, "frames": frames}))
    return written


def _composite(rgba: np.ndarray, bg) -> np.ndarray:
    rgb, a = rgba[..., :3] / 255.0, rgba[..., 3:] / 255.0
    return rgb * a + np.asarray(bg) * (1 - a)


def test_blender_values(tmp_path):
    w = write_blender(tmp_path)
    s = load_scene("blender", tmp_path)
    assert s.splits == {"train": [0, 1, 2], "val": [3, 4], "test": [5, 6]}
    assert (s.height, s.width) == (H, W) and s.images.shape == (7, H, W, 3)
    f = 0.5 * W / math.tan(0.5 * ANGLE)
    np.testing.assert_allclose(s.K[0], [[f, 0, W / 2], [0, f, H / 2], [0, 0, 1]], rtol=1e-6)
    for i, src in enumerate(w["poses"]):
        np.testing.assert_allclose(s.c2w[i][:3, 0], src[:3, 0], atol=1e-6)
        np.testing.assert_allclose(s.c2w[i][:3, 1], -src[:3, 1], atol=1e-6)
        np.testing.assert_allclose(s.c2w[i][:3, 2], -src[:3, 2], atol=1e-6)
        np.testing.assert_allclose(s.c2w[i][:3, 3], src[:3, 3], atol=1e-6)
        np.testing.assert_allclose(s.images[i], _composite(w["rgba"][i], (1, 1, 1)), atol=1e-6)
        np.testing.assert_array_equal(s.masks[i], w["rgba"][i][..., 3] >= 128)
    assert (s.near, s.far) == (2.0, 6.0)
    np.testing.assert_array_equal(s.bbox, [[-1.5] * 3, [1.5] * 3])
    assert s.frame_ids[3] == "val/r_0"


def test_blender_projection_matches_opengl_camera(tmp_path):
    """A world point projects to the same pixel via the loaded OpenCV camera and NeRF's OpenGL rays."""
    w = write_blender(tmp_path, counts=(4, 0, 0))
    s = load(tmp_path, splits=("train",))
    f = 0.5 * W / math.tan(0.5 * ANGLE)
    for i, src in enumerate(w["poses"]):
        # NeRF's ray through pixel (u, v): direction ((u - W/2)/f, -(v - H/2)/f, -1) in the OpenGL camera.
        u, v, depth = 3.3, 6.1, 2.5
        x_gl = np.array([(u - W / 2) / f, -(v - H / 2) / f, -1.0]) * depth
        X = src[:3, :3] @ x_gl + src[:3, 3]
        x_cv = np.linalg.inv(s.c2w[i].astype(np.float64)) @ np.append(X, 1.0)
        assert x_cv[2] > 0
        uv = (s.K[i] @ x_cv[:3])[:2] / x_cv[2]
        np.testing.assert_allclose(uv, [u, v], atol=1e-4)


def test_blender_options(tmp_path):
    w = write_blender(tmp_path, with_ext=True)
    s = load(tmp_path, background=(0.0, 0.0, 0.0), testskip=2)
    assert s.splits == {"train": [0, 1, 2], "val": [3], "test": [4]}
    np.testing.assert_allclose(s.images[4], _composite(w["rgba"][5], (0, 0, 0)), atol=1e-6)
    half = load(tmp_path, downscale=2)
    assert half.images.shape == (7, H // 2, W // 2, 3)
    np.testing.assert_allclose(half.K[:, :2], load(tmp_path).K[:, :2] / 2, rtol=1e-6)
    full = _composite(w["rgba"][1], (1, 1, 1))
    np.testing.assert_allclose(half.images[1], full.reshape(H // 2, 2, W // 2, 2, 3).mean((1, 3)), atol=1e-5)
    lazy = load(tmp_path, lazy=True)
    assert lazy.images is None and lazy.masks is None and len(lazy.image_paths) == 7
    np.testing.assert_array_equal(lazy.load_image(5), load(tmp_path).images[5])
    np.testing.assert_array_equal(lazy.subset([5, 6]).load_image(0), lazy.load_image(5))


def _frames(path: Path) -> dict:
    return json.loads(path.read_text())


@pytest.mark.parametrize(
    "case, bad_file",
    [
        ("no_json", "transforms_train.json"),
        ("pose_3x4", "transforms_train.json"),
        ("bad_json", "transforms_val.json"),
        ("missing_image", "train/r_1.png"),
        ("wrong_size", "test/r_1.png"),
        ("no_angle", "transforms_test.json"),
    ],
)
def test_blender_bad_input(tmp_path, case, bad_file):
    write_blender(tmp_path)
    if case == "no_json":
        for s in ("train", "val", "test"):
            (tmp_path / f"transforms_{s}.json").unlink()
    elif case == "pose_3x4":
        meta = _frames(tmp_path / "transforms_train.json")
        meta["frames"][1]["transform_matrix"] = meta["frames"][1]["transform_matrix"][:3]
        (tmp_path / "transforms_train.json").write_text(json.dumps(meta))
    elif case == "bad_json":
        (tmp_path / "transforms_val.json").write_text('{"camera_angle_x": 0.7, "frames": [')
    elif case == "missing_image":
        (tmp_path / "train" / "r_1.png").unlink()
    elif case == "wrong_size":
        write_png(tmp_path / "test" / "r_1.png", np.zeros((H + 1, W, 4), np.uint8))
    elif case == "no_angle":
        meta = _frames(tmp_path / "transforms_test.json")
        del meta["camera_angle_x"]
        (tmp_path / "transforms_test.json").write_text(json.dumps(meta))
    with pytest.raises(DataFormatError) as err:
        load_scene("blender", tmp_path)
    assert str(tmp_path / bad_file) in str(err.value)
