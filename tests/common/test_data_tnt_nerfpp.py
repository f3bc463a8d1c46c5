from __future__ import annotations

import numpy as np
import pytest
from data_fixtures import assert_names, random_c2w, random_images, write_images

from common.data import DataFormatError, load_scene
from common.data.tnt_nerfpp import load

H, W = 8, 10


def write_scene(root, rng, counts=(("train", 4), ("test", 2))):
    out = {}
    for split, n in counts:
        c2w = random_c2w(rng, n, spread=1.0)
        K = np.tile(np.eye(4), (n, 1, 1))
        K[:, 0, 0], K[:, 1, 1], K[:, 0, 2], K[:, 1, 2] = 11.0, 12.0, 5.0, 4.0
        images = random_images(rng, n, H, W)
        write_images([root / split / "rgb" / f"{i:05d}.png" for i in range(n)], images)
        for d in ("pose", "intrinsics"):
            (root / split / d).mkdir(parents=True)
        for i in range(n):
            np.savetxt(root / split / "pose" / f"{i:05d}.txt", c2w[i])
            np.savetxt(root / split / "intrinsics" / f"{i:05d}.txt", K[i].reshape(1, 16))
        out[split] = (c2w, images)
    return out


def test_values_splits_and_bounds(tmp_path):
    data = write_scene(tmp_path, np.random.default_rng(0), (("train", 4), ("test", 2), ("validation", 1)))
    s = load_scene("tnt_nerfpp", tmp_path)
    assert s.splits == {"train": [0, 1, 2, 3], "test": [4, 5], "val": [6]}
    np.testing.assert_allclose(s.c2w, np.concatenate([data[k][0] for k in ("train", "test", "validation")]), atol=1e-6)
    np.testing.assert_array_equal(np.round(s.images[4:6] * 255).astype(np.uint8), data["test"][1])
    np.testing.assert_allclose(s.K[0], [[11, 0, 5], [0, 12, 4], [0, 0, 1]])
    centres = data["train"][0][:, :3, 3]
    far = max(np.linalg.norm(a - b) for a in centres for b in centres)
    assert s.far == pytest.approx(far) and s.near == pytest.approx(0.02 * far)
    # bbox: a cube around the train centres that contains all of them
    assert np.all(centres > s.bbox[0]) and np.all(centres < s.bbox[1])
    np.testing.assert_allclose(s.bbox[1] - s.bbox[0], (s.bbox[1] - s.bbox[0])[0], rtol=1e-5)
    half = load(tmp_path, downscale=2, lazy=True)
    np.testing.assert_allclose(half.K[0, :2], s.K[0, :2] / 2)
    assert half.load_image(0).shape == (H // 2, W // 2, 3)


def test_bad_inputs(tmp_path):
    write_scene(tmp_path, np.random.default_rng(1))
    k_path = tmp_path / "test" / "intrinsics" / "00001.txt"
    np.savetxt(k_path, np.eye(3)[:2])
    with pytest.raises(DataFormatError, match="6 numbers") as err:
        load(tmp_path)
    assert_names(err, k_path)
    np.savetxt(k_path, np.eye(4))  # principal point (0, 0): not inside the 10x8 image
    with pytest.raises(DataFormatError, match="principal point") as err:
        load(tmp_path)
    assert_names(err, tmp_path / "test" / "rgb" / "00001.png")
    (tmp_path / "train" / "pose" / "00002.txt").unlink()
    with pytest.raises(DataFormatError, match="file not found") as err:
        load(tmp_path)
    assert_names(err, tmp_path / "train" / "pose" / "00002.txt")
