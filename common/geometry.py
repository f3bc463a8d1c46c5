"""Pose geometry in numpy (no torch): similarity transforms and the decomposition of projection matrices.

`Normalization` is the map between a data set's world frame and the normalised frame a model works in:
``x_n = scale * (x_w - center)``. It is shared by the camera helpers (`common.cameras`) and the data
contract (`common.data.scene.SceneData.normalization`). ``decompose_projection`` splits P = K [R | t] into
the pinhole K and an OpenCV camera-to-world pose (the conventions of `common.cameras`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.linalg


@dataclass
class Normalization:
    """Similarity transform world -> normalised: ``x_n = scale * (x_w - center)``.

    Identity by default (scale 1, center 0). ``inverse_points`` maps normalised points back.
    """

    scale: float = 1.0
    center: tuple[float, float, float] = (0.0, 0.0, 0.0)

    def apply_points(self, pts: np.ndarray) -> np.ndarray:
        """[..., 3] world points -> [..., 3] normalised points."""
        return (np.asarray(pts, dtype=np.float64) - np.asarray(self.center)) * self.scale

    def inverse_points(self, pts: np.ndarray) -> np.ndarray:
        """[..., 3] normalised points -> [..., 3] world points."""
        return np.asarray(pts, dtype=np.float64) / self.scale + np.asarray(self.center)

    def apply_c2w(self, c2w: np.ndarray) -> np.ndarray:
        """[..., 4, 4] world c2w -> normalised c2w (rotation kept, centre transformed)."""
        out = np.array(c2w, dtype=np.float64, copy=True)
        out[..., :3, 3] = self.apply_points(out[..., :3, 3])
        return out

    def inverse_c2w(self, c2w: np.ndarray) -> np.ndarray:
        """[..., 4, 4] normalised c2w -> world c2w (rotation kept, centre mapped back)."""
        out = np.array(c2w, dtype=np.float64, copy=True)
        out[..., :3, 3] = self.inverse_points(out[..., :3, 3])
        return out

    def matrix(self) -> np.ndarray:
        """4x4 homogeneous matrix of the world -> normalised map."""
        m = np.eye(4)
        m[:3, :3] *= self.scale
        m[:3, 3] = -self.scale * np.asarray(self.center)
        return m

    def compose(self, inner: Normalization) -> Normalization:
        """The transform ``self(inner(x))``."""
        c = np.asarray(inner.center) + np.asarray(self.center) / inner.scale
        return Normalization(scale=inner.scale * self.scale, center=tuple(float(v) for v in c))

    def to_dict(self) -> dict:
        return {"scale": float(self.scale), "center": [float(v) for v in self.center]}

    @classmethod
    def from_dict(cls, d: dict) -> Normalization:
        return cls(scale=float(d["scale"]), center=tuple(float(v) for v in d["center"]))


def decompose_projection(P) -> tuple[np.ndarray, np.ndarray]:
    """P [3, 4] (or [4, 4]) = s K [R | -R c] (world -> pixels, up to scale) -> (K [3, 3] with K[2, 2] = 1, c2w [4, 4]).

    RQ decomposition of the left 3x3 block M = K R (scipy.linalg.rq), signs fixed so that diag(K) > 0 and
    det(R) = +1 (P is first negated when det(M) < 0); the camera centre is the null vector of P,
    c = -M^-1 p4; c2w = [[R^T, c], [0, 1]] (OpenCV axes). Same result as IDR / NeuS ``load_K_Rt_from_P``
    (cv2.decomposeProjectionMatrix followed by K /= K[2, 2]) whenever cv2 returns a K with a positive diagonal.
    M must be invertible (numpy's LinAlgError otherwise); float64 numpy in and out.
    """
    P = np.asarray(P, dtype=np.float64)[:3, :4]
    M, p4 = P[:, :3], P[:, 3]
    if np.linalg.det(M) < 0:
        M, p4 = -M, -p4
    K, R = scipy.linalg.rq(M)
    D = np.diag(np.sign(np.diag(K)))
    K, R = K @ D, D @ R
    c2w = np.eye(4)
    c2w[:3, :3] = R.T
    c2w[:3, 3] = -np.linalg.solve(M, p4)
    return K / K[2, 2], c2w
