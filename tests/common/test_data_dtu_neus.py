"""NeuS / IDR (DTU) loader: P decomposition, a tiny scene with missing images, bad input, real DTU scan24."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from common.data import DataFormatError, load_scene
from common.data.dtu_neus import load
from common.data.io import write_png
from common.geometry import decompose_projection

H, W = 6, 8
SCALE, SHIFT = 2.5, np.array([1.0, -2.0, 30.0])
DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "dtu-scan24-neus-format-subset"


def _camera(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A random K (with skew) and an OpenCV c2w looking at the origin from distance 3."""
    K = np.array(
        [[rng.uniform(8, 12), rng.uniform(-0.5, 0.5), rng.uniform(3, 5)], [0, rng.uniform(8, 12), 3.0], [0, 0, 1]]
    )
    z = -rng.normal(size=3)
    z /= np.linalg.norm(z)
    x = np.cross(z, rng.normal(size=3))
    x /= np.linalg.norm(x)
    c2w = np.eye(4)
    c2w[:3, :3] = np.stack([x, np.cross(z, x), z], axis=1)
    c2w[:3, 3] = -3.0 * z
    return K, c2w


def _scale_mat() -> np.ndarray:
    S = np.diag([SCALE, SCALE, SCALE, 1.0])
    S[:3, 3] = SHIFT
    return S


def write_neus(root: Path, n_cams: int = 4, images=(0, 2, 3), seed: int = 0) -> dict:
    """cameras_sphere.npz for ``n_cams`` views, image/ for ``images`` only, mask/ for every view."""
    rng = np.random.default_rng(seed)
    arrays, cams = {}, []
    for i in range(n_cams):
        K, c2w = _camera(rng)
        P_norm = np.eye(4)
        P_norm[:3] = K @ np.linalg.inv(c2w)[:3]
        # world_mat maps world points to pixels; world = scale_mat @ normalised
        arrays[f"world_mat_{i}"] = (P_norm @ np.linalg.inv(_scale_mat())).astype(np.float64)
        arrays[f"scale_mat_{i}"] = _scale_mat()
        cams.append((K, c2w))
        write_png(root / "mask" / f"{i:03d}.png", np.full((H, W, 3), 255 * (i % 2), np.uint8))
    for i in images:
        write_png(root / "image" / f"{i:06d}.png", np.full((H, W, 3), 20 * i, np.uint8))
    np.savez(root / "cameras_sphere.npz", **arrays)
    return {"cams": cams}


def test_dtu_neus_values_and_partial_images(tmp_path):
    w = write_neus(tmp_path)
    s = load_scene("dtu_neus", tmp_path)
    assert s.num_views == 3 and s.extras["view_numbers"] == [0, 2, 3]
    for row, n in enumerate((0, 2, 3)):
        K, c2w = w["cams"][n]
        np.testing.assert_allclose(s.K[row], K + np.array([[0, 0, 0.5], [0, 0, 0.5], [0, 0, 0]]), atol=1e-5)
        np.testing.assert_allclose(s.c2w[row], c2w, atol=1e-5)
        np.testing.assert_array_equal(s.masks[row], np.full((H, W), bool(n % 2)))
        np.testing.assert_allclose(s.images[row], np.full((H, W, 3), 20 * n / 255.0), atol=1e-6)
    x_n = np.array([0.3, -0.2, 0.5])
    np.testing.assert_allclose(s.normalization.inverse_points(x_n), SCALE * x_n + SHIFT, rtol=1e-6)
    assert s.near == pytest.approx(2.0) and s.far == pytest.approx(4.0)
    assert s.splits == {"train": [0, 1, 2]}
    np.testing.assert_array_equal(s.bbox, [[-1, -1, -1], [1, 1, 1]])
    held = load(tmp_path, test_every=2, downscale=2, lazy=True)
    assert held.splits == {"train": [1], "test": [0, 2]} and held.images is None
    assert held.load_image(1).shape == (H // 2, W // 2, 3) and held.masks.shape == (3, H // 2, W // 2)
    np.testing.assert_allclose(held.K[:, :2], s.K[:, :2] / 2, rtol=1e-6)


@pytest.mark.parametrize("case", ["no_npz", "no_camera", "not_similarity", "no_mask", "mask_size", "pose_shape"])
def test_dtu_neus_bad_input(tmp_path, case):
    write_neus(tmp_path)
    npz = tmp_path / "cameras_sphere.npz"
    named = npz
    if case == "no_npz":
        npz.unlink()
    elif case == "no_camera":
        write_png(tmp_path / "image" / "000007.png", np.zeros((H, W, 3), np.uint8))
    elif case in ("not_similarity", "pose_shape"):
        arrays = dict(np.load(npz))
        if case == "not_similarity":
            arrays["scale_mat_2"] = np.diag([1.0, 2.0, 1.0, 1.0])
        else:
            arrays["world_mat_3"] = np.ones((3, 3))
        np.savez(npz, **arrays)
    elif case == "no_mask":
        (tmp_path / "mask" / "002.png").unlink()
        named = tmp_path / "mask"
    elif case == "mask_size":
        named = tmp_path / "mask" / "003.png"
        write_png(named, np.zeros((H, W + 1, 3), np.uint8))
    with pytest.raises(DataFormatError) as err:
        load(tmp_path)
    assert str(named) in str(err.value)


@pytest.mark.realdata
def test_dtu_neus_real_scan24_masks_match_cameras():
    if not DATA.is_dir():
        pytest.skip(f"real DTU sample not found at {DATA}")
    s = load(DATA, lazy=True, downscale=4)
    assert s.num_views == 10 and (s.height, s.width) == (300, 400) and s.masks.shape == (10, 300, 400)
    cams = np.load(DATA / "cameras_sphere.npz")
    for i in range(s.num_views):
        # decomposition round trip: K [R | t] reproduces P up to scale
        P = (cams[f"world_mat_{i}"].astype(np.float64) @ cams[f"scale_mat_{i}"])[:3]
        K, c2w = decompose_projection(P)
        P2 = K @ np.linalg.inv(c2w)[:3]
        P2 *= np.sum(P2 * P) / np.sum(P2 * P2)
        assert np.linalg.norm(P2 - P) < 1e-6 * np.linalg.norm(P)
        c2w = s.c2w[i].astype(np.float64)
        Kl = s.K[i].astype(np.float64)
        # the origin (centre of the object sphere) lies in front and projects onto the object mask
        x0 = np.linalg.inv(c2w) @ np.array([0.0, 0.0, 0.0, 1.0])
        assert x0[2] > 0
        u, v = (Kl @ x0[:3])[:2] / x0[2]
        assert s.masks[i, int(v), int(u)], f"view {i}: origin projects onto background"
        # every foreground pixel's ray passes through the unit sphere
        rows, cols = np.nonzero(s.masks[i])
        pix = np.stack([cols + 0.5, rows + 0.5, np.ones_like(cols)], -1).astype(np.float64)
        dirs = pix @ np.linalg.inv(Kl).T @ c2w[:3, :3].T
        dirs /= np.linalg.norm(dirs, axis=-1, keepdims=True)
        miss = np.linalg.norm(np.cross(dirs, -c2w[:3, 3]), axis=-1)
        assert len(rows) > 0.1 * s.height * s.width and miss.max() < 1.0
    img = s.load_image(0)
    assert img.shape == (300, 400, 3) and img[s.masks[0]].mean() != pytest.approx(img[~s.masks[0]].mean(), abs=0.02)
