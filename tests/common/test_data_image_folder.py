"""Image-folder loader (pi-GAN 2D data): a tiny folder, options, bad input and the real CelebA subset."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from common.data import DataFormatError, load_scene
from common.data.image_folder import center_square, load
from common.data.io import write_png

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "celeba-128-pigan-eval-subset"


def write_folder(root: Path, n: int = 3, hw=(6, 8)) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    imgs = [rng.integers(0, 256, (*hw, 3), dtype=np.uint8) for _ in range(n)]
    for i, img in enumerate(imgs):
        write_png(root / f"img_{i:02d}.png", img)
    (root / "notes.txt").write_text("not an image")
    return imgs


def test_image_folder_values(tmp_path):
    imgs = write_folder(tmp_path)
    s = load_scene("image_folder", tmp_path)
    assert s.images.shape == (3, 6, 8, 3) and s.frame_ids == ["img_00", "img_01", "img_02"]
    np.testing.assert_allclose(s.images, np.stack(imgs) / 255.0, atol=1e-6)
    f = 4.0 / math.tan(math.radians(6.0))
    np.testing.assert_allclose(s.K[1], [[f, 0, 4], [0, f, 3], [0, 0, 1]], rtol=1e-6)
    np.testing.assert_array_equal(s.c2w, np.repeat(np.eye(4)[None], 3, 0))
    assert s.splits == {"train": [0, 1, 2]} and not s.extras["posed"]
    # the object box lies in front of the identity camera, within [near, far]
    assert s.bbox[0, 2] == s.near and s.bbox[1, 2] == s.far


def test_image_folder_size_crop_limit_lazy(tmp_path):
    imgs = write_folder(tmp_path, n=4, hw=(6, 10))
    s = load(tmp_path, size=3, crop_fraction=1.0, limit=2)
    assert s.images.shape == (2, 3, 3, 3)
    # centre 6x6 square (columns 2..7) averaged in 2x2 blocks
    sq = imgs[1][:, 2:8] / 255.0
    np.testing.assert_allclose(s.images[1], sq.reshape(3, 2, 3, 2, 3).mean((1, 3)), atol=1e-5)
    assert center_square(np.zeros((10, 20, 3)), 0.5).shape == (5, 5, 3)
    lazy = load(tmp_path, size=3, lazy=True)
    assert lazy.images is None and lazy.num_views == 4
    np.testing.assert_array_equal(lazy.load_image(1), s.images[1])


@pytest.mark.parametrize("case", ["empty", "mixed_sizes", "corrupt"])
def test_image_folder_bad_input(tmp_path, case):
    write_folder(tmp_path)
    named = tmp_path
    if case == "empty":
        for p in tmp_path.glob("*.png"):
            p.unlink()
    elif case == "mixed_sizes":
        named = tmp_path / "img_09.png"
        write_png(named, np.zeros((7, 8, 3), np.uint8))
    elif case == "corrupt":
        named = tmp_path / "img_05.png"
        named.write_bytes(b"\x89PNG broken")
    with pytest.raises(DataFormatError) as err:
        load(tmp_path)
    assert str(named) in str(err.value)


@pytest.mark.realdata
def test_image_folder_real_celeba():
    folder = DATA / "CelebA_real_images_128"
    if not folder.is_dir():
        pytest.skip(f"real CelebA sample not found at {folder}")
    s = load(folder)
    assert s.images.shape == (100, 128, 128, 3) and s.frame_ids[0] == "00000"
    assert 0.0 <= s.images.min() and s.images.max() <= 1.0 and s.images.std() > 0.1
    # RGB channel order: on average faces are redder than they are blue
    assert s.images[..., 0].mean() > s.images[..., 2].mean() + 0.03
    small = load(folder, size=64, crop_fraction=0.8, limit=10)
    assert small.images.shape == (10, 64, 64, 3)
    np.testing.assert_allclose(small.images.mean(), s.images[:10, 13:115, 13:115].mean(), atol=0.01)
