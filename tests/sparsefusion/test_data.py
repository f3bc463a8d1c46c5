"""Prepared CO3D sequences: crops keep the projection, cameras are normalised, bad files are named."""

import gzip

import numpy as np
import pytest
import torch

from common.data.errors import DataFormatError
from sparsefusion.data import (
    CAMERA_DISTANCE,
    crop_box,
    crop_intrinsics,
    crop_resize,
    load_category,
    normalize_cameras,
    synthetic_root,
)
from sparsefusion.geometry import project


def test_crop_box_and_intrinsics_follow_the_crop():
    mask = np.zeros((40, 60), bool)
    mask[10:20, 30:50] = True
    x0, y0, side = crop_box(mask, 0.3)
    assert side == pytest.approx(26.0) and (x0 + side / 2, y0 + side / 2) == pytest.approx((40.0, 15.0))
    K = np.array([[50.0, 0, 30], [0, 50.0, 20], [0, 0, 1]])
    Kc = crop_intrinsics(K, (x0, y0, side), 64)
    X = torch.tensor([[0.1, -0.05, 2.0]])
    uv, _ = project(X, torch.tensor(K, dtype=torch.float32), torch.eye(4))
    uvc, _ = project(X, torch.tensor(Kc, dtype=torch.float32), torch.eye(4))
    torch.testing.assert_close(uvc[0], (uv[0] - torch.tensor([x0, y0])) * 64 / side, rtol=1e-5, atol=1e-4)
    img = torch.zeros(1, 40, 60)
    img[0, 15, 40] = 1.0  # the crop centre pixel lands in the middle of the output
    out = crop_resize(img, (x0, y0, side), 26)
    assert out[0, 12:14, 12:14].sum() > 0.5


def test_normalize_cameras_centres_and_scales():
    c2w = np.tile(np.eye(4), (3, 1, 1))
    c2w[:, :3, 3] = [[5.0, 1, 1], [1, 5.0, 1], [1, 1, 5.0]]
    out, scale = normalize_cameras(c2w, np.array([1.0, 1, 1]))
    assert np.linalg.norm(out[:, :3, 3], axis=-1) == pytest.approx([CAMERA_DISTANCE] * 3)
    assert scale == pytest.approx(CAMERA_DISTANCE / 4)


@pytest.fixture(scope="module")
def tiny_root(tmp_path_factory, monkeypatch_module=None):
    import os

    old = os.environ.get("NF_DATA_CACHE")
    os.environ["NF_DATA_CACHE"] = str(tmp_path_factory.mktemp("cache"))
    try:
        yield synthetic_root(1, 2, 12, 48)
    finally:
        if old is None:
            os.environ.pop("NF_DATA_CACHE")
        else:
            os.environ["NF_DATA_CACHE"] = old


def test_load_category_prepares_masked_crops(tiny_root):
    seqs = load_category(tiny_root, "donut", "fewview_train", 32)
    assert len(seqs) == 1
    s = seqs[0]
    assert s["images"].shape == (12, 32, 32, 3) and s["images"].dtype == np.uint8
    assert (s["images"][~s["masks"]] == 0).all()  # black background
    assert np.linalg.norm(s["c2w"][:, :3, 3], axis=-1).mean() == pytest.approx(CAMERA_DISTANCE, rel=1e-4)
    uv, _ = project(torch.zeros(1, 3).expand(12, 1, 3), torch.from_numpy(s["K"]), torch.from_numpy(s["c2w"]))
    assert ((uv - 16).abs() < 8).all()  # the object centre projects near the crop centre


def test_bad_co3d_file_is_named(tiny_root, tmp_path):
    import shutil

    bad = tmp_path / "co3d"
    shutil.copytree(tiny_root, bad)
    (bad / "donut" / "frame_annotations.jgz").write_bytes(gzip.compress(b"{not json"))
    with pytest.raises(DataFormatError, match="frame_annotations.jgz"):
        load_category(bad, "donut", "fewview_train", 32)
