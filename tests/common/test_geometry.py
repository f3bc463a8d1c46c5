"""common.geometry: the Normalization similarity and the P = K [R | t] decomposition (numpy only)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from common.geometry import Normalization, decompose_projection


def test_normalization_matrix_inverse_and_dict_round_trip():
    t = Normalization(scale=2.0, center=(1.0, -1.0, 0.5))
    p = np.array([[3.0, 4.0, 5.0], [-1.0, 0.0, 2.0]])
    np.testing.assert_allclose((np.c_[p, np.ones(2)] @ t.matrix().T)[:, :3], t.apply_points(p))
    np.testing.assert_allclose(t.inverse_points(t.apply_points(p)), p)
    c2w = np.eye(4)
    c2w[:3, 3] = p[0]
    np.testing.assert_allclose(t.inverse_c2w(t.apply_c2w(c2w)), c2w)
    inner = Normalization(scale=0.5, center=(2.0, 0.0, -3.0))
    np.testing.assert_allclose(t.compose(inner).apply_points(p), t.apply_points(inner.apply_points(p)))
    assert Normalization.from_dict(t.to_dict()) == t


def _random_camera(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    K = np.array([[rng.uniform(5, 3000), rng.uniform(-1, 1), rng.uniform(3, 800)], [0, rng.uniform(5, 3000), 300.0]])
    K = np.vstack([K, [0.0, 0.0, 1.0]])
    c2w = np.eye(4)
    c2w[:3, :3] = Rotation.random(random_state=rng.integers(1 << 31)).as_matrix()
    c2w[:3, 3] = rng.normal(size=3) * 3
    return K, c2w


@pytest.mark.parametrize("seed", range(5))
def test_decompose_projection_recovers_camera_for_any_scale_and_sign(seed):
    """P = s K [R^T | -R^T c] for random K (with skew), rotation R, centre c and s of either sign."""
    rng = np.random.default_rng(seed)
    K, c2w = _random_camera(rng)
    w2c = np.linalg.inv(c2w)
    for s in (1.0, -7.0, 0.01):
        P = s * K @ w2c[:3]
        K2, c2w2 = decompose_projection(P)
        np.testing.assert_allclose(K2, K, rtol=1e-9, atol=1e-9 * K[0, 0])
        np.testing.assert_allclose(c2w2, c2w, atol=1e-9)
        K4 = np.eye(4)
        K4[:3] = P
        np.testing.assert_allclose(decompose_projection(K4)[1], c2w, atol=1e-9)  # 4x4 input: top 3 rows
