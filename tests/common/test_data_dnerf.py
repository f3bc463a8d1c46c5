"""D-NeRF loader: a tiny scene with per-frame time, bad times, and the real D-NeRF lego sample."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from common.data import DataFormatError, load_scene
from common.data.dnerf import load
from common.data.io import write_png

H, W = 6, 8
DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "dnerf-lego-test-val"


def _pose(x: float) -> list:
    """OpenGL c2w at (x, 0, 4) looking at -z (identity rotation)."""
    m = np.eye(4)
    m[:3, 3] = (x, 0.0, 4.0)
    return m.tolist()


def write_dnerf(root: Path, times=((0.0, 0.5, 1.0), (0.25,), (0.75, 0.1))) -> None:
    for split, ts in zip(("train", "val", "test"), times):
        frames = []
        for i, t in enumerate(ts):
            write_png(root / split / f"r_{i:03d}.png", np.full((H, W, 4), 40 * i + 10, np.uint8))
            frames.append({"file_path": f"./{split}/r_{i:03d}", "time": t, "transform_matrix": _pose(i)})
        (root / f"transforms_{split}.json").write_text(json.dumps({"camera_angle_x": 0.5, "frames": frames}))


def test_dnerf_times_follow_view_order(tmp_path):
    write_dnerf(tmp_path)
    s = load_scene("dnerf", tmp_path)
    np.testing.assert_allclose(s.times, [0.0, 0.5, 1.0, 0.25, 0.75, 0.1], atol=1e-7)
    assert s.times.dtype == np.float32
    assert s.splits == {"train": [0, 1, 2], "val": [3], "test": [4, 5]}
    np.testing.assert_allclose(s.c2w[4, :3, 3], [0.0, 0.0, 4.0])
    np.testing.assert_allclose(np.diag(s.c2w[4]), [1.0, -1.0, -1.0, 1.0])
    sub = load(tmp_path, splits=("test",), testskip=2)
    np.testing.assert_allclose(sub.times, [0.75], atol=1e-7)


@pytest.mark.parametrize("bad_time", [None, 1.5, "0.3"])
def test_dnerf_bad_time(tmp_path, bad_time):
    write_dnerf(tmp_path)
    path = tmp_path / "transforms_val.json"
    meta = json.loads(path.read_text())
    if bad_time is None:
        del meta["frames"][0]["time"]
    else:
        meta["frames"][0]["time"] = bad_time
    path.write_text(json.dumps(meta))
    with pytest.raises(DataFormatError, match="time") as err:
        load(tmp_path)
    assert err.value.path == str(path)


def _world_to_pixels(s, i: int, X: np.ndarray) -> tuple[np.ndarray, float]:
    x = np.linalg.inv(s.c2w[i].astype(np.float64)) @ np.append(X, 1.0)
    return (s.K[i] @ x[:3])[:2] / x[2], x[2]


@pytest.mark.realdata
def test_dnerf_real_lego_cameras_and_times():
    if not DATA.is_dir():
        pytest.skip(f"real D-NeRF sample not found at {DATA}")
    s = load(DATA, lazy=True)
    assert s.splits == {"val": list(range(11)), "test": list(range(11, 31))}
    assert np.all((s.times >= 0) & (s.times <= 1))
    test_times = s.times[s.splits["test"]]
    assert np.all(np.diff(test_times) >= 0) and test_times[0] == 0.0 and test_times[-1] == 1.0
    for i in range(s.num_views):
        R = s.c2w[i, :3, :3].astype(np.float64)
        np.testing.assert_allclose(R.T @ R, np.eye(3), atol=1e-5)
        centre, axis = s.c2w[i, :3, 3], s.c2w[i, :3, 2]
        # the optical axis passes close to the origin, which lies in front of the camera
        assert np.linalg.norm(np.cross(axis, -centre)) < 1e-2 * np.linalg.norm(centre)
        uv0, z0 = _world_to_pixels(s, i, np.zeros(3))
        assert z0 > 0
        # Blender's world up (+z) appears upwards in the image (smaller row), unless looking straight down
        uv_up, _ = _world_to_pixels(s, i, np.array([0.0, 0.0, 0.5]))
        assert uv_up[1] < uv0[1] - 1.0
    assert s.load_image(0).shape == (800, 800, 3)


@pytest.mark.realdata
def test_dnerf_real_lego_masks_contain_origin():
    if not DATA.is_dir():
        pytest.skip(f"real D-NeRF sample not found at {DATA}")
    s = load(DATA, testskip=3, downscale=8)
    assert s.images.shape == (11, 100, 100, 3) and s.masks.shape == (11, 100, 100)
    for i in range(s.num_views):
        uv, _ = _world_to_pixels(s, i, np.zeros(3))
        assert s.masks[i, int(uv[1]), int(uv[0])], f"view {i}: origin projects onto background"
        assert 0.02 < s.masks[i].mean() < 0.9
        # white background outside the object
        assert s.images[i][~s.masks[i]].mean() > 0.9
