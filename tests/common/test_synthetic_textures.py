"""Texture lookups against scipy's map_coordinates and a brute-force mip pyramid."""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from common.data.synthetic.textures import PHOTOS, mip_pyramid, photo_bank, sample_bilinear, sample_trilinear


def test_bilinear_matches_scipy_grid_wrap():
    rng = np.random.default_rng(0)
    tex = rng.random((2, 8, 8, 3)).astype(np.float32)
    uv = rng.uniform(-1.5, 2.5, (50, 2))
    tid = rng.integers(0, 2, 50)
    got = sample_bilinear(tex, tid, uv)
    for n in range(50):
        rows, cols = uv[n, 1] * 8 - 0.5, uv[n, 0] * 8 - 0.5
        ref = [
            ndimage.map_coordinates(tex[tid[n], :, :, c], [[rows], [cols]], order=1, mode="grid-wrap")[0]
            for c in range(3)
        ]
        np.testing.assert_allclose(got[n], ref, atol=1e-5)


def test_pyramid_and_trilinear():
    rng = np.random.default_rng(1)
    tex = rng.random((1, 8, 8, 3)).astype(np.float32)
    pyr = mip_pyramid(tex)
    assert [p.shape[1] for p in pyr] == [8, 4, 2, 1]
    np.testing.assert_allclose(pyr[1][0, 1, 2], tex[0, 2:4, 4:6].mean(axis=(0, 1)), rtol=1e-6)
    np.testing.assert_allclose(pyr[-1][0, 0, 0], tex[0].mean(axis=(0, 1)), rtol=1e-5)
    uv = rng.random((20, 2))
    tid = np.zeros(20, dtype=np.int64)
    np.testing.assert_allclose(sample_trilinear(pyr, tid, uv, np.zeros(20)), sample_bilinear(tex, tid, uv), atol=1e-6)
    half = sample_trilinear(pyr, tid, uv, np.full(20, 1.5))
    ref = 0.5 * sample_bilinear(pyr[1], tid, uv) + 0.5 * sample_bilinear(pyr[2], tid, uv)
    np.testing.assert_allclose(half, ref, atol=1e-6)
    np.testing.assert_allclose(
        sample_trilinear(pyr, tid, uv, np.full(20, 9.0)), np.broadcast_to(pyr[-1][0, 0, 0], (20, 3)), atol=1e-6
    )


def test_photo_bank_is_rgb_in_unit_range():
    names, bank = photo_bank(32)
    assert names == PHOTOS and bank.shape == (len(PHOTOS), 32, 32, 3)
    assert bank.min() >= 0 and bank.max() <= 1 and bank.std() > 0.1
