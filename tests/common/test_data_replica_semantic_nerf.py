from __future__ import annotations

import json

import numpy as np
import pytest
from data_fixtures import assert_names, random_c2w, random_images, write_images

from common.data import DataFormatError, load_scene
from common.data.io import write_png
from common.data.replica_semantic_nerf import intrinsics, load

H, W = 8, 12
N = 13


def write_sequence(seq, rng, n=N):
    """Sequence_1 with rgb, uint16 mm depth, class / instance maps and traj_w_c.txt."""
    c2w = random_c2w(rng, n)
    images = random_images(rng, n, H, W)
    write_images([seq / "rgb" / f"rgb_{i}.png" for i in range(n)], images)
    depth_mm = rng.integers(500, 5000, (n, H, W)).astype(np.uint16)
    classes = rng.integers(0, 4, (n, H, W)).astype(np.uint8)
    inst = rng.integers(0, 300, (n, H, W)).astype(np.uint16)
    for i in range(n):
        write_png(seq / "depth" / f"depth_{i}.png", depth_mm[i])
        write_png(seq / "semantic_class" / f"semantic_class_{i}.png", classes[i])
        write_png(seq / "semantic_instance" / f"semantic_instance_{i}.png", inst[i])
    np.savetxt(seq / "traj_w_c.txt", c2w.reshape(n, 16))
    return c2w, images, depth_mm, classes, inst


def test_native_values_and_splits(tmp_path):
    seq = tmp_path / "room_0" / "Sequence_1"
    c2w, images, depth_mm, classes, inst = write_sequence(seq, np.random.default_rng(0))
    (tmp_path / "room_0" / "info_semantic.json").write_text(json.dumps({"classes": [{"id": 1, "name": "wall"}]}))
    s = load_scene("replica_semantic_nerf", tmp_path, scene="room_0", size=None)
    frames = [0, 2, 5, 7, 10, 12]  # train 0, 5, 10; test = train + 2
    assert s.frame_ids == [str(f) for f in frames]
    assert s.splits == {"train": [0, 2, 4], "test": [1, 3, 5]}
    np.testing.assert_allclose(s.c2w, c2w[frames], atol=1e-6)
    np.testing.assert_array_equal(np.round(s.images * 255).astype(np.uint8), images[frames])
    np.testing.assert_allclose(s.depth, depth_mm[frames] / 1000.0, rtol=1e-6)
    expected = classes[frames].astype(np.int32)
    expected[expected == 0] = -1  # void
    np.testing.assert_array_equal(s.semantics, expected)
    np.testing.assert_array_equal(s.instances, inst[frames])
    assert s.class_names == {1: "wall"}
    # hfov 90 deg: f = W / 2; principal point at the image centre in the u + 0.5 pixel convention
    np.testing.assert_allclose(s.K[0], [[6, 0, 6], [0, 6, 4], [0, 0, 1]])
    assert (s.near, s.far) == (0.1, 10.0)


def test_resize_rules(tmp_path):
    seq = tmp_path / "Sequence_1"
    _, images, depth_mm, classes, _ = write_sequence(seq, np.random.default_rng(1))
    s = load(tmp_path, size=(6, 4))
    np.testing.assert_allclose(s.K[0], intrinsics(6, 4))
    assert s.images.shape == (6, 4, 6, 3)
    # 2x downsampling: bilinear / area average for rgb and depth, nearest for labels
    avg = images[0].astype(np.float64).reshape(4, 2, 6, 2, 3).mean(axis=(1, 3)) / 255
    np.testing.assert_allclose(s.images[0], avg, atol=1e-5)
    np.testing.assert_allclose(s.depth[0], depth_mm[0].reshape(4, 2, 6, 2).mean(axis=(1, 3)) / 1000, rtol=1e-5)
    assert set(np.unique(s.semantics)) <= {-1, 1, 2, 3}
    np.testing.assert_array_equal(
        np.where(classes[0] == 0, -1, classes[0].astype(np.int32))[1::2, 1::2], s.semantics[0]
    )
    lazy = load(tmp_path, size=(6, 4), lazy=True)
    np.testing.assert_allclose(lazy.load_image(3), s.images[3])


def test_bad_inputs(tmp_path):
    seq = tmp_path / "Sequence_1"
    c2w, *_ = write_sequence(seq, np.random.default_rng(2))
    traj = seq / "traj_w_c.txt"
    np.savetxt(traj, c2w[:, :3].reshape(N, 12))  # 3x4 poses
    with pytest.raises(DataFormatError, match="16 numbers") as err:
        load(tmp_path)
    assert_names(err, traj)
    np.savetxt(traj, c2w[:5].reshape(5, 16))  # fewer poses than frames
    with pytest.raises(DataFormatError, match="poses") as err:
        load(tmp_path)
    assert_names(err, traj)
    np.savetxt(traj, c2w.reshape(N, 16))
    write_png(seq / "semantic_class" / "semantic_class_5.png", np.zeros((H + 2, W), np.uint8))
    with pytest.raises(DataFormatError, match="like rgb") as err:
        load(tmp_path)
    assert_names(err, seq / "semantic_class" / "semantic_class_5.png")
    with pytest.raises(DataFormatError, match="file not found") as err:
        load(tmp_path / "nowhere")
    assert_names(err, tmp_path / "nowhere")
