from __future__ import annotations

import os
import pickle

import imageio.v3 as iio
import numpy as np
import pytest
from data_fixtures import assert_names, random_c2w, shared_sample

from common.data import DataFormatError, load_scene
from common.data.io import write_png
from common.data.scannet import load

CH, CW = 12, 16  # colour resolution
DH, DW = 6, 8  # depth resolution
N = 6
TSV = "id\traw_category\tcategory\tcount\tnyu40id\teigen13id\tnyuClass\tnyu40class\n"
TSV += "1\twall\twall\t1\t1\t12\twall\twall\n2\tchair\tchair\t1\t5\t4\tchair\tchair\n"


def write_scene(root, rng, bad_pose=3):
    c2w = random_c2w(rng, N)
    depth_mm = rng.integers(500, 4000, (N, DH, DW)).astype(np.uint16)
    labels = rng.integers(0, 3, (N, CH, CW)).astype(np.uint16)
    for d in ("color", "pose", "intrinsic"):
        (root / d).mkdir(parents=True, exist_ok=True)
    for i in range(N):
        iio.imwrite(root / "color" / f"{i}.jpg", np.full((CH, CW, 3), 30 * i, np.uint8), quality=100)
        write_png(root / "depth" / f"{i}.png", depth_mm[i])
        write_png(root / "label-filt" / f"{i}.png", labels[i])
        write_png(root / "instance-filt" / f"{i}.png", labels[i] + 7)
        pose = c2w[i] if i != bad_pose else np.full((4, 4), -np.inf)
        np.savetxt(root / "pose" / f"{i}.txt", pose)
    Kc = np.array([[14.0, 0, 8.0, 0], [0, 13.0, 6.0, 0], [0, 0, 1, 0], [0, 0, 0, 1]])
    np.savetxt(root / "intrinsic" / "intrinsic_color.txt", Kc)
    np.savetxt(root / "intrinsic" / "intrinsic_depth.txt", Kc * [[0.5], [0.5], [1], [1]])
    (root.parent / "scannetv2-labels.combined.tsv").write_text(TSV)
    return c2w, depth_mm, labels


def test_values_invalid_pose_and_labels(tmp_path):
    root = tmp_path / "scene0000_00"
    c2w, depth_mm, labels = write_scene(root, np.random.default_rng(0))
    with pytest.warns(UserWarning, match="invalid"):
        s = load_scene("scannet", root, size=(DW, DH), test_every=2)
    assert s.frame_ids == ["0", "1", "2", "4", "5"] and s.extras["skipped_frames"] == ["3"]
    assert s.splits == {"train": [1, 3], "test": [0, 2, 4]}
    keep = [0, 1, 2, 4, 5]
    np.testing.assert_allclose(s.c2w, c2w[keep], atol=1e-6)
    np.testing.assert_allclose(s.K[0], [[7, 0, 4], [0, 6.5, 3], [0, 0, 1]])  # colour K scaled by 8/16, 6/12
    np.testing.assert_allclose(s.extras["K_depth"], s.K[0])
    np.testing.assert_allclose(s.depth, depth_mm[keep] / 1000.0, rtol=1e-6)
    assert s.images.shape == (5, DH, DW, 3)
    np.testing.assert_allclose(s.images[1], 30 / 255, atol=2 / 255)
    nyu = np.array([-1, 1, 5])[labels[keep][:, 1::2, 1::2]]  # raw 0 -> void, 1 -> nyu 1, 2 -> nyu 5
    np.testing.assert_array_equal(s.semantics, nyu)
    np.testing.assert_array_equal(s.instances, labels[keep][:, 1::2, 1::2] + 7)
    assert s.class_names == {1: "wall", 5: "chair"}
    with pytest.warns(UserWarning):
        raw = load(root, size=None, labels="raw", depth=False, split="semantic_nerf", frame_step=2)
    assert raw.splits == {"train": [0, 2, 4], "test": [1, 3]}  # valid frames 0..4: train 0, 2, 4; test + 1
    assert raw.images.shape == (5, CH, CW, 3) and raw.depth is None
    np.testing.assert_array_equal(raw.semantics, np.where(labels[keep] == 0, -1, labels[keep].astype(np.int32)))


def test_bad_inputs(tmp_path):
    root = tmp_path / "scene"
    write_scene(root, np.random.default_rng(1), bad_pose=-1)
    np.savetxt(root / "pose" / "2.txt", np.eye(4)[:3])
    with pytest.raises(DataFormatError, match="12 numbers") as err:
        load(root)
    assert_names(err, root / "pose" / "2.txt")
    np.savetxt(root / "pose" / "2.txt", np.eye(4))
    write_png(root / "label-filt" / "4.png", np.zeros((5, 5), np.uint16))
    with pytest.raises(DataFormatError, match="is 5x5") as err:
        load(root)
    assert_names(err, root / "label-filt" / "4.png")
    (root / "intrinsic" / "intrinsic_color.txt").write_text("1 2 3\n")
    with pytest.raises(DataFormatError, match="16 numbers") as err:
        load(root)
    assert_names(err, root / "intrinsic" / "intrinsic_color.txt")


def _colour_error(points, c2w, K, img):
    x = (points[:, :3] - c2w[:3, 3]) @ c2w[:3, :3]
    uv = x @ K.T
    uv = uv[:, :2] / uv[:, 2:]
    h, w = img.shape[:2]
    ok = (x[:, 2] > 0.1) & (uv[:, 0] >= 0) & (uv[:, 0] < w) & (uv[:, 1] >= 0) & (uv[:, 1] < h)
    seen = img[uv[ok, 1].astype(int), uv[ok, 0].astype(int)]
    return ok.sum(), float(np.median(np.abs(seen - points[ok, 3:] / 255.0).mean(-1)))


@pytest.mark.realdata
def test_real_scannet_point_cloud_colours(tmp_path):
    src = shared_sample("scannet-scene0000_00-mmdet3d-3frames")
    with open(src / "scannet_infos.pkl", "rb") as f:
        info = pickle.load(f)[0]  # local sample: a list with one dict of numpy arrays and strings
    # arrange the mmdet3d export into the raw SensReader layout
    for d in ("color", "pose", "intrinsic"):
        (tmp_path / d).mkdir()
    for path, pose in zip(info["img_paths"], info["extrinsics"]):
        n = int(os.path.splitext(os.path.basename(path))[0])
        os.symlink(src / path, tmp_path / "color" / f"{n}.jpg")
        np.savetxt(tmp_path / "pose" / f"{n}.txt", pose)
    np.savetxt(tmp_path / "intrinsic" / "intrinsic_color.txt", info["intrinsics"])
    s = load_scene("scannet", tmp_path, test_every=2)
    assert s.frame_ids == ["0", "11", "102"] and (s.height, s.width) == (480, 640)
    points = np.fromfile(src / "demo_points" / "scene0000_00.bin", dtype=np.float32).reshape(-1, 6)
    for i in range(3):
        n, err = _colour_error(points, s.c2w[i], s.K[i], s.images[i])
        assert n > 1000 and err < 0.12, (i, n, err)
        transposed = s.c2w[i].copy()
        transposed[:3, :3] = transposed[:3, :3].T
        opengl = s.c2w[i].copy()
        opengl[:3, 1:3] *= -1
        for wrong in (transposed, opengl):
            assert _colour_error(points, wrong, s.K[i], s.images[i])[1] > 1.8 * err
