"""Transfers between NeRFs of one generator through BDF (texture, segmentation, deformation, self-reconstruction).

All are NeRFs composed from the generator and the maps, rendered with `nerf_correspondence.rendering`::

    texture   a <- b : sigma(x) = sigma_a(x),            rgb(x) = rgb_b(B(F(x, c_a), c_b))
    labels    a <- b : sigma(x) = sigma_a(x),            rgb(x) = palette[label_b(b's vertex nearest B(F(x, c_a), c_b))]
    deformation 0 -> a: sigma(x) = sigma_0(F(x, c_a)),    rgb(x) = rgb_0(F(x, c_a))   (the template on a's shape)
    self-recon a     : sigma(x) = sigma_a(B(F(x, c_a), c_a)), rgb(x) = rgb_a(B(F(x, c_a), c_a))   (paper Fig. 6)
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from scipy.spatial import cKDTree
from torch import Tensor

from nerf_correspondence.bdf import BDF
from nerf_correspondence.siren import FiLMSiren

Field = Callable[[Tensor, Tensor], tuple[Tensor, Tensor]]
PALETTE = torch.tensor([[0.9, 0.2, 0.2], [0.2, 0.7, 0.2], [0.2, 0.3, 0.9], [0.9, 0.8, 0.1], [0.7, 0.2, 0.8],
                        [0.1, 0.8, 0.8]])  # fmt: skip


def nerf(siren: FiLMSiren, gamma: Tensor, beta: Tensor) -> Field:
    """The NeRF with modulations gamma, beta [1, M] as a field (points [B, N, 3], dirs) -> (sigma, rgb)."""

    def fn(p, d):
        s, c, _ = siren.forward_with_modulations(p, gamma.expand(p.shape[0], -1), beta.expand(p.shape[0], -1), d)
        return s, c

    return fn


def texture_field(siren, bdf: BDF, mod_a, mod_b, c_a: Tensor, c_b: Tensor) -> Field:
    fa, fb = nerf(siren, *mod_a), nerf(siren, *mod_b)

    def fn(p, d):
        cb = c_b.expand(p.shape[0], -1)
        q = bdf.transfer(p, c_a.expand(p.shape[0], -1), cb)
        return fa(p, d)[0], fb(q, d)[1]

    return fn


def label_field(siren, bdf: BDF, mod_a, c_a: Tensor, c_b: Tensor | None, vertices_b: np.ndarray,
                labels_b: np.ndarray) -> Field:  # fmt: skip
    """Colours from b's part labels at the corresponding points (``c_b`` None: no mapping, a's own labels)."""
    fa = nerf(siren, *mod_a)
    tree = cKDTree(vertices_b)

    def fn(p, d):
        q = p if c_b is None else bdf.transfer(p, c_a.expand(p.shape[0], -1), c_b.expand(p.shape[0], -1))
        _, idx = tree.query(q.reshape(-1, 3).numpy())
        return fa(p, d)[0], PALETTE[torch.from_numpy(labels_b[idx]).long()].reshape(*p.shape[:-1], 3)

    return fn


def deformation_field(siren, bdf: BDF, mod_0, c_a: Tensor) -> Field:
    f0 = nerf(siren, *mod_0)

    def fn(p, d):
        return f0(bdf.forward_map(p, c_a.expand(p.shape[0], -1)), d)

    return fn


def self_reconstruction_field(siren, bdf: BDF, mod_a, c_a: Tensor) -> Field:
    fa = nerf(siren, *mod_a)

    def fn(p, d):
        c = c_a.expand(p.shape[0], -1)
        return fa(bdf.backward_map(bdf.forward_map(p, c), c), d)

    return fn


def label_accuracy(bdf: BDF, c_a: Tensor, c_b: Tensor, vertices_a: np.ndarray, labels_a: np.ndarray,
                   vertices_b: np.ndarray, labels_b: np.ndarray) -> float:  # fmt: skip
    """Fraction of a's vertices whose transferred label (b's label nearest to B(F(v))) equals a's own label."""
    with torch.no_grad():
        q = bdf.transfer(torch.from_numpy(vertices_a).float()[None], c_a, c_b)[0].numpy()
    _, idx = cKDTree(vertices_b).query(q)
    return float((labels_b[idx] == labels_a).mean())
