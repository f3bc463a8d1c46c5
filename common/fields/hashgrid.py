"""Multiresolution hash encoding (Instant-NGP, Mueller et al. 2022) in pure PyTorch.

Level l = 0 .. L-1 has resolution N_l = floor(N_min * b^l), b = exp((ln N_max - ln N_min) / (L - 1)),
and vertices v in {0 .. N_l}^3. A point x in [0, 1]^3 lies in the cell floor(x N_l) (clamped to
N_l - 1, so x = 1 falls in the last cell); its 8 corner vertices are looked up in the level's table
of F features and blended trilinearly with weights prod_axis (f or 1 - f), f = x N_l - cell.
Table index of vertex v = (v_x, v_y, v_z):
  * dense levels, (N_l + 1)^3 <= T: v_x + v_y (N_l + 1) + v_z (N_l + 1)^2, table size (N_l + 1)^3;
  * hashed levels: (v_x * 1 XOR v_y * 2654435761 XOR v_z * 805459861) mod T, table size T = 2^log2_T.
The products are int64; as T is a power of two <= 2^32, the index equals the uint32 hash of the
CUDA implementation. Output [..., L F], level-major. Tables are initialised from U(-1e-4, 1e-4).
World points in a box map in as x = (p - aabb_min) / (aabb_max - aabb_min); inputs are clamped to [0, 1].
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

PRIMES = (1, 2654435761, 805459861)


def level_resolutions(n_levels: int, base_resolution: int, max_resolution: int) -> list[int]:
    """N_l = floor(N_min * b^l), b = exp((ln N_max - ln N_min) / (L - 1)) (b = 1 for one level)."""
    if n_levels == 1:
        return [int(base_resolution)]
    b = math.exp((math.log(max_resolution) - math.log(base_resolution)) / (n_levels - 1))
    return [int(math.floor(base_resolution * b**level)) for level in range(n_levels)]


class HashGrid(nn.Module):
    """``forward(x [..., 3] in [0, 1]) -> [..., n_levels * n_features]``; see the module docstring.

    All levels share one flat parameter ``embeddings`` [sum_l T_l, F]; level l's rows start at
    ``offsets[l]``. ``generator`` seeds the initialisation.
    """

    def __init__(
        self,
        n_levels: int = 16,
        n_features: int = 2,
        log2_table_size: int = 19,
        base_resolution: int = 16,
        max_resolution: int = 2048,
        dtype: torch.dtype = torch.float32,
        generator: torch.Generator | None = None,
    ):
        super().__init__()
        if log2_table_size > 32:
            raise ValueError(f"log2_table_size must be <= 32, got {log2_table_size}")
        self.n_levels, self.n_features = int(n_levels), int(n_features)
        self.table_size = 2 ** int(log2_table_size)
        self.resolutions = level_resolutions(self.n_levels, base_resolution, max_resolution)
        self.dense = [(n + 1) ** 3 <= self.table_size for n in self.resolutions]
        sizes = [(n + 1) ** 3 if d else self.table_size for n, d in zip(self.resolutions, self.dense)]
        self.register_buffer("offsets", torch.tensor([0, *sizes[:-1]]).cumsum(0), persistent=False)
        self.register_buffer("_res", torch.tensor(self.resolutions, dtype=torch.long), persistent=False)
        self.register_buffer("_dense", torch.tensor(self.dense), persistent=False)
        init = torch.rand(sum(sizes), self.n_features, generator=generator, dtype=dtype) * 2e-4 - 1e-4
        self.embeddings = nn.Parameter(init)

    @property
    def out_dim(self) -> int:
        return self.n_levels * self.n_features

    def table_indices(self, vertices: Tensor) -> Tensor:
        """Rows of ``embeddings`` for integer vertices [..., L, 3] (last-but-one axis = level) -> [..., L]."""
        stride = self._res + 1
        dense = vertices[..., 0] + vertices[..., 1] * stride + vertices[..., 2] * stride * stride
        hashed = (vertices[..., 0] * PRIMES[0]) ^ (vertices[..., 1] * PRIMES[1]) ^ (vertices[..., 2] * PRIMES[2])
        hashed = hashed & (self.table_size - 1)
        return torch.where(self._dense, dense, hashed) + self.offsets

    def forward(self, x: Tensor) -> Tensor:
        shape = x.shape[:-1]
        x = x.reshape(-1, 1, 3).clamp(0, 1).to(self.embeddings.dtype)
        pos = x * self._res[:, None].to(x.dtype)  # [N, L, 3]
        cell = torch.minimum(pos.floor().long(), (self._res - 1)[:, None])
        frac = pos - cell.to(x.dtype)
        corners = torch.tensor([[(c >> 2) & 1, (c >> 1) & 1, c & 1] for c in range(8)], device=x.device)  # [8, 3]
        vertices = cell[:, None] + corners[:, None, :]  # [N, 8, L, 3]
        feats = self.embeddings[self.table_indices(vertices)]  # [N, 8, L, F]
        w = torch.where(corners[:, None, :].bool(), frac[:, None], 1 - frac[:, None]).prod(-1)  # [N, 8, L]
        out = (w[..., None] * feats).sum(1)  # [N, L, F]
        return out.reshape(*shape, self.out_dim)

    def extra_repr(self) -> str:
        return (
            f"levels={self.n_levels}, features={self.n_features}, table_size={self.table_size}, "
            f"resolutions={self.resolutions}"
        )
