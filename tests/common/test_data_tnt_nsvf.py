from __future__ import annotations

import os

import numpy as np
import pytest
from data_fixtures import assert_names, random_c2w, shared_sample

from common.data import DataFormatError, load_scene
from common.data.io import write_png
from common.data.tnt_nsvf import inward_near_far, load, read_intrinsics, read_pose

H, W = 8, 10
NAMES = ["0_0000", "0_0001", "0_0002", "1_0000", "1_0001"]


def write_scene(root, rng, intrinsics_text=None, rgba=False):
    c2w = random_c2w(rng, len(NAMES))
    for name, pose in zip(NAMES, c2w):
        img = np.zeros((H, W, 4 if rgba else 3), np.uint8)
        img[..., 0] = 100
        if rgba:
            img[: H // 2, :, 3] = 255  # top half opaque, bottom transparent
        write_png(root / "rgb" / f"{name}.png", img)
        (root / "pose").mkdir(parents=True, exist_ok=True)
        np.savetxt(root / "pose" / f"{name}.txt", pose)
    text = intrinsics_text or "9 0 4.5 0\n0 9 4 0\n0 0 1 0\n0 0 0 1\n"
    (root / "intrinsics.txt").write_text(text)
    (root / "bbox.txt").write_text("-1 -2 -3 1 2 3 0.25\n")
    return c2w


def test_values_splits_and_bounds(tmp_path):
    c2w = write_scene(tmp_path, np.random.default_rng(0))
    s = load_scene("tnt_nsvf", tmp_path, near_ratio=0.0)
    np.testing.assert_allclose(s.c2w, c2w, atol=1e-6)
    assert s.splits == {"train": [0, 1, 2], "val": [3, 4], "test": [3, 4]}  # T&T: no 2_ files -> test = val
    np.testing.assert_allclose(s.K[0], [[9, 0, 4.5], [0, 9, 4], [0, 0, 1]])
    np.testing.assert_allclose(s.bbox, [[-1, -2, -3], [1, 2, 3]])
    assert s.extras["voxel_size"] == 0.25
    far = max(np.linalg.norm(a - b) for a in c2w[:3, :3, 3] for b in c2w[:3, :3, 3])
    assert (s.near, s.far) == (0.0, pytest.approx(far))
    assert inward_near_far(c2w[:3, :3, 3], 0.05) == (pytest.approx(0.05 * far), pytest.approx(far))


def test_nsvf_intrinsics_rgba_and_test_prefix(tmp_path):
    global NAMES
    names, NAMES = NAMES, [*NAMES, "2_0000"]
    try:
        write_scene(tmp_path, np.random.default_rng(1), "8.5 5 4 0.\n0. 0. 0.\n0.\n1.\n10 8\n", rgba=True)
    finally:
        NAMES = names
    s = load(tmp_path, downscale=2)
    assert s.splits["test"] == [5] and s.splits["val"] == [3, 4]
    np.testing.assert_allclose(s.K[0], [[4.25, 0, 2.5], [0, 4.25, 2], [0, 0, 1]])
    np.testing.assert_allclose(s.images[0, 0, 0], [100 / 255, 0, 0], atol=1e-6)  # opaque red
    np.testing.assert_allclose(s.images[0, -1, 0], [1, 1, 1])  # transparent -> white background
    assert s.masks[0, 0].all() and not s.masks[0, -1].any()


def test_bad_inputs(tmp_path):
    write_scene(tmp_path, np.random.default_rng(2))
    np.savetxt(tmp_path / "pose" / "0_0001.txt", np.eye(4)[:3])
    with pytest.raises(DataFormatError, match="16 numbers") as err:
        load(tmp_path)
    assert_names(err, tmp_path / "pose" / "0_0001.txt")
    np.savetxt(tmp_path / "pose" / "0_0001.txt", np.eye(4))
    (tmp_path / "intrinsics.txt").write_text("1 2\n3\n")
    with pytest.raises(DataFormatError, match="lines of") as err:
        load(tmp_path)
    assert_names(err, tmp_path / "intrinsics.txt")
    (tmp_path / "intrinsics.txt").write_text("9 0 50 0\n0 9 4 0\n0 0 1 0\n0 0 0 1\n")
    with pytest.raises(DataFormatError, match="principal point") as err:
        load(tmp_path)
    assert_names(err, tmp_path / "intrinsics.txt")
    (tmp_path / "bbox.txt").write_text("1 2 3\n")
    with pytest.raises(DataFormatError, match="7 numbers") as err:
        load(tmp_path)
    assert_names(err, tmp_path / "bbox.txt")
    write_png(tmp_path / "rgb" / "x_0000.png", np.zeros((H, W, 3), np.uint8))
    with pytest.raises(DataFormatError, match="split prefix") as err:
        load(tmp_path)
    assert_names(err, tmp_path / "rgb" / "x_0000.png")


def _project(K, c2w, pts):
    x = (pts - c2w[:3, 3]) @ c2w[:3, :3]
    uv = x @ K.T
    return uv[:, :2] / uv[:, 2:], x[:, 2]


@pytest.mark.realdata
def test_real_nsvf_lego_projects_bbox_onto_object(tmp_path):
    src = shared_sample("nsvf-lego-metadata")
    K, size = read_intrinsics(src / "intrinsics.txt")
    assert size == (800, 800)
    lo_hi = np.loadtxt(src / "bbox.txt")[:6].reshape(2, 3)
    centre = lo_hi.mean(0)
    # every one of the 400 poses sees the bbox centre inside its image, in front of the camera
    for p in sorted((src / "pose").glob("*.txt")):
        uv, z = _project(K, read_pose(p), centre[None])
        assert z[0] > 0 and np.all((uv > 0) & (uv < 800)), p.name
    # the 5 val images: arrange a train split from them (links) and load through the loader
    for d in ("rgb", "pose"):
        (tmp_path / d).mkdir()
    for f in ("intrinsics.txt", "bbox.txt"):
        os.symlink(src / f, tmp_path / f)
    for img in sorted((src / "rgb").glob("1_*.png")):
        for prefix in ("0", "1"):
            os.symlink(img, tmp_path / "rgb" / f"{prefix}{img.name[1:]}")
            os.symlink(src / "pose" / f"{img.stem}.txt", tmp_path / "pose" / f"{prefix}{img.stem[1:]}.txt")
    s = load_scene("tnt_nsvf", tmp_path, downscale=4)
    corners = np.array([[x, y, z] for x in lo_hi[:, 0] for y in lo_hi[:, 1] for z in lo_hi[:, 2]])
    for i in s.splits["test"]:
        v, u = np.nonzero(s.masks[i])  # the object = opaque pixels
        obj = np.array([u.mean() + 0.5, v.mean() + 0.5])
        uv, z = _project(s.K[i], s.c2w[i], corners)
        assert np.all(z > 0)
        lo, hi = uv.min(0), uv.max(0)
        assert np.all(obj > lo) and np.all(obj < hi)
        assert np.linalg.norm(obj - (lo + hi) / 2) < 0.2 * s.width
        flipped = s.c2w[i].copy()
        flipped[:3, 1:3] *= -1  # reading the poses as OpenGL puts the object behind the camera
        assert np.all(_project(s.K[i], flipped, corners)[1] < 0)
