"""Jacobians of a ray's grey value with respect to the fine network's ``rgb_linear`` weight, for a whole batch.

Grey value of ray r (official "gray value"): g_r = mean_c rgb_rc = (1/3) sum_c sum_i w_ri sigmoid(z_ric) (+ a
background term that does not depend on the layer), with z_ri = W h_ri + b the colour logits of sample i,
h_ri [C] the input of ``rgb_linear`` and w_ri the (density-only) rendering weights. Hence, closed form:

    J_r = dg_r / dW  [3, C],   J_r[c, :] = (1/3) sum_i w_ri sigma'(z_ric) h_ri,   sigma'(z) = s (1 - s), s = sigmoid(z)

For all R rays at once this is one batched contraction ``einsum('rsc,rsk->rck')`` instead of the official R
backward passes (one ``autograd.grad`` per ray). It is built from differentiable tensors (w, z, h keep their graph),
so second-order losses on J back-propagate into every parameter, exactly as ``create_graph=True`` would.
``per_ray_autograd_jacobian`` is the official loop, kept as the reference of the tests and the benchmark.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


def grey_jacobian(weights: Tensor, logits: Tensor, h: Tensor) -> Tensor:
    """J [R, 3, C] of the grey values w.r.t. the rgb layer weight (module doc).

    weights [R, S] rendering weights, logits [R, S, 3] pre-sigmoid colours, h [R, S, C] inputs of the layer.
    """
    s = torch.sigmoid(logits)
    ds = s * (1.0 - s) * weights[..., None]  # [R, S, 3]
    return torch.einsum("rsc,rsk->rck", ds, h) / 3.0


def flat(jac: Tensor) -> Tensor:
    """[R, 3, C] -> [R, 3C] (row-major, the official flattened 384-d vector for C = 128)."""
    return jac.reshape(jac.shape[0], -1)


def per_ray_autograd_jacobian(grey: Tensor, layer: nn.Linear, create_graph: bool = True) -> Tensor:
    """The official way: for each ray r, ``autograd.grad(grey[r], layer.weight, create_graph)`` -> [R, 3, C]."""
    rows = []
    for r in range(grey.shape[0]):
        (g,) = torch.autograd.grad(grey[r], layer.weight, retain_graph=True, create_graph=create_graph)
        rows.append(g)
    return torch.stack(rows)
