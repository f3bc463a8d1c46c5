"""Scene contraction for unbounded scenes: R^3 -> a bounded ball.

contract(x) = x for ||x|| <= 1, else (1 + b - b / ||x||) x / ||x||, with ||.|| the l2 or the inf
norm and b = ``bg_len`` the width of the outer shell:
  * b = 1, l2: mip-NeRF 360's contraction (2 - 1 / ||x||) x / ||x||, image the ball of radius 2;
  * b = 1, inf: the inf-norm variant, image the cube [-2, 2]^3;
  * any b: DVGO's unbounded model (DirectContractedVoxGO), image inside [-1 - b, 1 + b]^3.
The map is continuous at ||x|| = 1; its radial derivative there is b (tangential 1), so it is
C^1 exactly for b = 1.
"""

from __future__ import annotations

import torch
from torch import Tensor

NORMS = ("l2", "inf")


def contraction_norm(x: Tensor, norm: str = "l2") -> Tensor:
    """||x|| [..., 1] of points [..., 3]: the l2 norm or the inf norm (max |x_i|)."""
    if norm == "l2":
        return x.norm(dim=-1, keepdim=True)
    if norm == "inf":
        return x.abs().amax(dim=-1, keepdim=True)
    raise ValueError(f"contraction norm must be one of {NORMS}, got {norm!r}")


def contract_with_inner(x: Tensor, norm: str = "l2", bg_len: float = 1.0) -> tuple[Tensor, Tensor]:
    """(contracted points [..., 3], inner mask [...] = ||x|| <= 1) for points x [..., 3].

    Outside the unit ball: x / ||x|| * ((1 + bg_len) - bg_len / ||x||) (see the module docstring).
    """
    n = contraction_norm(x, norm)
    inner = n <= 1
    out = torch.where(inner, x, x / n.clamp(min=1) * ((1 + bg_len) - bg_len / n.clamp(min=1)))
    return out, inner.squeeze(-1)


def contract(x: Tensor, norm: str = "l2", bg_len: float = 1.0) -> Tensor:
    """Contracted points [..., 3] (defaults: mip-NeRF 360). Example: (0, 0, 4) -> (0, 0, 1.75)."""
    return contract_with_inner(x, norm, bg_len)[0]
