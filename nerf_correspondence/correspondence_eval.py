"""Correspondence accuracy against ground truth (the shape family's vertex k corresponds across instances).

For a source instance a and a target b with corresponding vertices v_a, v_b [V, 3] and a prediction p [V, 3] of
where v_a lands on b: error e_k = |p_k - v_b,k| / size_b, size_b = the diagonal of b's bounding box.
Reported: mean error in % of the object size and PCK@r = fraction of vertices with e_k < r (r = 5 %, 10 %).

Predictions: identity (p = v_a), generator-feature nearest neighbour (p = the vertex of b whose generator
feature has the largest cosine similarity with v_a's; the candidates are b's ground-truth surface vertices,
which favours this baseline), BDF (p = B(F(v_a, c_a), c_b)).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from nerf_correspondence.bdf import BDF
from nerf_correspondence.features import point_features
from nerf_correspondence.siren import FiLMSiren


def object_size(vertices: np.ndarray) -> float:
    """Diagonal of the axis-aligned bounding box."""
    return float(np.linalg.norm(vertices.max(0) - vertices.min(0)))


def correspondence_errors(pred: np.ndarray, target: np.ndarray) -> np.ndarray:
    """[V] errors |pred - target| / object_size(target)."""
    return np.linalg.norm(pred - target, axis=-1) / object_size(target)


def summarize(errors: np.ndarray) -> dict[str, float]:
    """mean error (% of object size), PCK@5 % and PCK@10 % (in %) of relative errors [N]."""
    return {
        "mean_error_pct": float(100 * errors.mean()),
        "pck5": float(100 * (errors < 0.05).mean()),
        "pck10": float(100 * (errors < 0.10).mean()),
    }


def inward_dirs(points: Tensor) -> Tensor:
    """Unit view directions toward the origin [..., 3] (the colour layer's input for surface queries)."""
    return -torch.nn.functional.normalize(points, dim=-1)


@torch.no_grad()
def vertex_features(siren: FiLMSiren, layers, gamma: Tensor, beta: Tensor, vertices: np.ndarray) -> Tensor:
    """[V, C] unit-normalised generator features of vertices [V, 3] (viewed toward the origin)."""
    p = torch.from_numpy(vertices).float()[None]
    f, _ = point_features(siren, p, inward_dirs(p), gamma, beta, layers)
    return torch.nn.functional.normalize(f[0], dim=-1)


@torch.no_grad()
def feature_nn(f_a: Tensor, f_b: Tensor, v_b: np.ndarray, chunk: int = 1024) -> np.ndarray:
    """[V_a, 3] predicted points on b: b's vertex whose feature (rows of f_b) is most cosine-similar to each row
    of f_a (features already unit-normalised)."""
    idx = torch.cat([(f_a[i : i + chunk] @ f_b.T).argmax(-1) for i in range(0, len(f_a), chunk)])
    return v_b[idx.numpy()]


@torch.no_grad()
def bdf_prediction(bdf: BDF, c_a: Tensor, c_b: Tensor, v_a: np.ndarray) -> np.ndarray:
    return bdf.transfer(torch.from_numpy(v_a).float()[None], c_a, c_b)[0].numpy()


@torch.no_grad()
def cycle_error(bdf: BDF, c_a: Tensor, v_a: np.ndarray) -> np.ndarray:
    """[V] |B(F(v, c_a), c_a) - v| / size_a: the self-reconstruction error."""
    v = torch.from_numpy(v_a).float()[None]
    back = bdf.backward_map(bdf.forward_map(v, c_a), c_a)[0].numpy()
    return correspondence_errors(back, v_a)
