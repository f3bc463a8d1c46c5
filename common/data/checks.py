"""Camera sanity checks shared by every loader (and `SceneData.validate`).

Each check raises a one-line DataFormatError naming the file and, where the format has several, the frame
(``where``, e.g. ``"frame 3 (./train/r_3)"``). They run after the loader's own convention change
(OpenGL -> OpenCV, PyTorch3D -> OpenCV, P = K [R | t] decomposition), on the camera the loader returns:
  * rotation: R = c2w[:3, :3] finite, orthonormal (max |R^T R - I| <= ROTATION_TOL) and det R = +1;
  * intrinsics: K finite, fx > 0, fy > 0, K[1, 0] = K[2, 0] = K[2, 1] = 0 and K[2, 2] = 1, so
    det K = fx fy > 0 (K invertible);
  * projection: the 3x3 block M of P = K [R | t] invertible (smallest / largest singular value > 1e-12);
  * pose count: a trajectory file holds exactly one pose per frame.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from common.data.errors import DataFormatError
from common.geometry import decompose_projection

ROTATION_TOL = 1e-3
SINGULAR_RATIO = 1e-12


def _at(where: str | None, problem: str) -> str:
    return f"{where}: {problem}" if where else problem


def as_number(value, path: str | Path, what: str) -> float:
    """``value`` as a finite float; bools, strings and other non-numbers are refused (JSON ``true`` is not 1)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise DataFormatError(path, f"{what} = {value!r}", "a finite number")
    if not math.isfinite(float(value)):
        raise DataFormatError(path, f"{what} = {value!r}", "a finite number")
    return float(value)


def check_rotation(c2w: np.ndarray, path: str | Path, where: str | None = None) -> None:
    """c2w [4, 4] (or [3, 4]): its rotation R = c2w[:3, :3] must be a rotation (R^T R = I, det R = +1)."""
    R = np.asarray(c2w, dtype=np.float64)[:3, :3]
    if not np.all(np.isfinite(R)):
        raise DataFormatError(path, _at(where, "camera rotation has non-finite values"), "a finite rigid pose")
    err = float(np.max(np.abs(R.T @ R - np.eye(3))))
    if not err <= ROTATION_TOL:
        norms = ", ".join(f"{v:.4g}" for v in np.linalg.norm(R, axis=0))
        raise DataFormatError(
            path,
            _at(where, f"camera rotation is not orthonormal (max |R^T R - I| = {err:.3g}, column norms {norms})"),
            f"a rigid camera-to-world pose (R^T R = I within {ROTATION_TOL:g})",
        )
    if np.linalg.det(R) < 0:
        raise DataFormatError(path, _at(where, "camera rotation is a reflection (det R = -1)"), "det R = +1")


def check_intrinsics(K: np.ndarray, path: str | Path, where: str | None = None) -> None:
    """K [3, 3] (or the top-left block of a 4x4): a pinhole [[fx, s, cx], [0, fy, cy], [0, 0, 1]], fx, fy > 0."""
    K = np.asarray(K, dtype=np.float64)[:3, :3]
    expected = "a pinhole K = [[fx, s, cx], [0, fy, cy], [0, 0, 1]] with fx, fy > 0"
    if not np.all(np.isfinite(K)):
        raise DataFormatError(path, _at(where, f"intrinsics have non-finite values {K.tolist()}"), expected)
    fx, fy = K[0, 0], K[1, 1]
    if not (fx > 0 and fy > 0):
        raise DataFormatError(path, _at(where, f"focal length (fx, fy) = ({fx:g}, {fy:g})"), "positive focal lengths")
    if not np.allclose([K[1, 0], K[2, 0], K[2, 1], K[2, 2]], [0.0, 0.0, 0.0, 1.0], atol=1e-6):
        raise DataFormatError(path, _at(where, f"intrinsics {K.tolist()} are not a pinhole K"), expected)


def check_pose_count(n_poses: int, n_frames: int, path: str | Path, frames: str) -> None:
    """The ``n_poses`` poses of trajectory file ``path`` must match its ``n_frames`` frames (named by ``frames``)."""
    if n_poses != n_frames:
        raise DataFormatError(path, f"has {n_poses} poses for {n_frames} frames ({frames})", "one pose per frame")


def projection_camera(P: np.ndarray, path: str | Path, where: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(K [3, 3], c2w [4, 4] OpenCV) of a projection P = K [R | t] ([3, 4] or [4, 4]), checked.

    Refuses a P whose 3x3 block is singular (no camera centre, no K R factorisation), then checks the decomposed
    K and R (see `common.geometry.decompose_projection`).
    """
    P = np.asarray(P, dtype=np.float64)
    if not np.all(np.isfinite(P)):
        raise DataFormatError(path, _at(where, "projection matrix has non-finite values"), "finite numbers")
    sv = np.linalg.svd(P[:3, :3], compute_uv=False)
    if not sv[-1] > SINGULAR_RATIO * sv[0]:
        values = ", ".join(f"{v:.3g}" for v in sv)
        raise DataFormatError(
            path,
            _at(where, f"projection matrix is singular (singular values of P[:3, :3]: {values})"),
            "P = K [R | t] with an invertible 3x3 block",
        )
    K, c2w = decompose_projection(P)
    check_intrinsics(K, path, where)
    check_rotation(c2w, path, where)
    return K, c2w
