"""Camera sanity checks shared by the loaders: what passes, what is refused, one-line messages."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from common.data import DataFormatError
from common.data.checks import as_number, check_intrinsics, check_pose_count, check_rotation, projection_camera
from common.geometry import decompose_projection


def _pose(seed: int = 0, dtype=np.float64) -> np.ndarray:
    c2w = np.eye(4)
    c2w[:3, :3] = Rotation.random(random_state=seed).as_matrix()
    c2w[:3, 3] = (1.0, -2.0, 3.0)
    return c2w.astype(dtype)


def _refused(fn, *args, match: str) -> str:
    with pytest.raises(DataFormatError, match=match) as err:
        fn(*args)
    msg = str(err.value)
    assert msg.startswith("f.txt: ") and "\n" not in msg
    return msg


@pytest.mark.parametrize("seed", range(5))
def test_rotation_accepts_rigid_poses_in_float32_and_a_small_scale(seed):
    check_rotation(_pose(seed, np.float32), "f.txt", "frame 0")
    scaled = _pose(seed)
    scaled[:3, :3] *= 1.0 + 2e-4  # R^T R - I = 4e-4 < 1e-3
    check_rotation(scaled, "f.txt")


@pytest.mark.parametrize(
    ("fn", "match"),
    [
        (lambda R: R * (1.0 + 2e-3), "not orthonormal"),
        (lambda R: R * 1000.0, "not orthonormal"),
        (lambda R: R * 0.0, "not orthonormal"),
        (lambda R: R @ np.array([[1.0, 0.1, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]), "not orthonormal"),
        (lambda R: -R, "reflection"),
        (lambda R: R * np.nan, "non-finite"),
    ],
)
def test_rotation_refuses_degenerate_poses_naming_the_frame(fn, match):
    c2w = _pose(1)
    c2w[:3, :3] = fn(c2w[:3, :3])
    assert "frame 7" in _refused(check_rotation, c2w, "f.txt", "frame 7", match=match)


def test_intrinsics_accept_skew_and_a_4x4_block():
    K = np.eye(4)
    K[:3, :3] = [[500.0, 0.3, 320.0], [0.0, 510.0, 240.0], [0.0, 0.0, 1.0]]
    check_intrinsics(K, "f.txt")


@pytest.mark.parametrize(
    ("K", "match"),
    [
        ([[0.0, 0, 5], [0, 9, 4], [0, 0, 1]], "focal length"),
        ([[9.0, 0, 5], [0, -9, 4], [0, 0, 1]], "focal length"),
        ([[np.inf, 0, 5], [0, 9, 4], [0, 0, 1]], "non-finite"),
        ([[9.0, 0, 5], [0, 9, 4], [0, 0, 0]], "not a pinhole"),  # singular: last row 0
        ([[9.0, 0, 5], [1, 9, 4], [0, 0, 1]], "not a pinhole"),
    ],
)
def test_intrinsics_refuse_zero_negative_non_finite_or_singular(K, match):
    assert "frame 2" in _refused(check_intrinsics, np.array(K), "f.txt", "frame 2", match=match)


@pytest.mark.parametrize("value", [True, False, "1.0", None, [1.0], float("nan"), float("inf")])
def test_as_number_refuses_bools_strings_and_non_finite(value):
    _refused(as_number, value, "f.txt", "fx", match="fx = ")


def test_as_number_accepts_ints_and_numpy_scalars():
    assert as_number(3, "f.txt", "w") == 3.0 and as_number(np.float32(0.5), "f.txt", "x") == 0.5


def test_pose_count_says_both_counts():
    check_pose_count(4, 4, "f.txt", "rgb/*.png")
    assert "has 5 poses for 4 frames" in _refused(check_pose_count, 5, 4, "f.txt", "rgb/*.png", match="poses")


def test_projection_camera_matches_the_decomposition_and_refuses_singular_blocks():
    K = np.array([[800.0, 0.5, 300.0], [0.0, 820.0, 200.0], [0.0, 0.0, 1.0]])
    P = 3.0 * K @ np.linalg.inv(_pose(2))[:3]
    got, ref = projection_camera(P, "f.txt", "view 1"), decompose_projection(P)
    np.testing.assert_allclose(got[0], ref[0])
    np.testing.assert_allclose(got[1], ref[1])
    singular = P.copy()
    singular[2, :3] = singular[0, :3] + singular[1, :3]
    assert "view 1" in _refused(projection_camera, singular, "f.txt", "view 1", match="singular")
    _refused(projection_camera, np.zeros((3, 4)), "f.txt", match="singular")
