"""Multi-resolution DENSE feature grid for the grid-encoded NeuS SDF (instant-nsr-pl / NeuS2 / Neuralangelo style).

Level l = 0 .. L-1 has R_l nodes per axis, R_l = round(R_min * b^l), b = (R_max / R_min)^(1 / (L - 1)), its nodes ON
the corners of the box [lo, hi] (default the cube [-1, 1]^3; node i at lo + (hi - lo) i / (R_l - 1)), F features per
node. All levels share one
feature-major parameter ``table`` [F, sum_l R_l^3]; node (i, j, k) of level l is column offset_l + (i R_l + j) R_l + k.

Lookup of x [N, 3] (trilinear):
    p = clamp((x - lo) / (hi - lo) (R_l - 1), 0, R_l - 1),  i0 = min(floor(p), R_l - 2),  u = p - i0 in [0, 1]^3,
    f_l(x) = sum_{c in {0,1}^3} w_c(u) table[offset_l + index(i0 + c)],  w_c(u) = prod_k (c_k u_k + (1 - c_k)(1 - u_k)),
output [N, L F] level-major. With ``jacobian=True`` also d f / d x_k [3, N, L F] in closed form: the same gather
with the weights d w_c / d x_k = (R_l - 1) / (hi_k - lo_k) (2 c_k - 1) prod_{j != k} (...) (0 where the clamp is
active), so the analytic SDF gradient and the eikonal loss need first-order backward only. Points outside the box
read the clamped boundary value. ``active_levels`` = k (coarse-to-fine, Neuralangelo) zeroes the features of levels
>= k (and their Jacobian, so their table entries get no gradient); None: all levels.

The gather + weighted sum is a custom autograd function on contiguous per-feature rows (fast on one CPU thread);
its backward is one 1-D ``index_add`` into the table (and a gather for d / d weights, i.e. d / d x), made of
differentiable operations, so the lookup is differentiable to any order w.r.t. the table and x.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

CORNERS = ((0, 0, 0), (0, 0, 1), (0, 1, 0), (0, 1, 1), (1, 0, 0), (1, 0, 1), (1, 1, 0), (1, 1, 1))  # 4 cx + 2 cy + cz


class _WeightedGather(torch.autograd.Function):
    """out[k, f, m] = sum_{j < 8} weights[k, j, m] table[f, index[j, m]]: table [F, T] (feature-major), index
    [8, M], weights [K, 8, M] -> [K, F, M]. Every operation runs on contiguous per-feature rows."""

    @staticmethod
    def forward(ctx, table: Tensor, index: Tensor, weights: Tensor) -> Tensor:
        ctx.save_for_backward(table, index, weights)
        rows = table.index_select(1, index.reshape(-1)).reshape(table.shape[0], *index.shape)  # [F, 8, M]
        return torch.stack([(w * rows).sum(1) for w in weights])

    @staticmethod
    def backward(ctx, grad: Tensor):
        table, index, weights = ctx.saved_tensors
        n_feat, size = table.shape
        g_table = g_weights = None
        if ctx.needs_input_grad[0]:
            src = torch.stack([(weights * grad[:, f, None, :]).sum(0) for f in range(n_feat)])  # [F, 8, M]
            flat = (index.reshape(1, -1) + size * torch.arange(n_feat, device=index.device)[:, None]).reshape(-1)
            g_table = table.new_zeros(n_feat * size).index_add_(0, flat, src.reshape(-1)).reshape(n_feat, size)
        if ctx.needs_input_grad[2]:
            rows = table.index_select(1, index.reshape(-1)).reshape(n_feat, *index.shape)  # [F, 8, M]
            g_weights = (rows[None] * grad[:, :, None, :]).sum(1)
        return g_table, None, g_weights


def level_resolutions(n_levels: int, min_res: int, max_res: int) -> list[int]:
    """R_l = round(R_min * b^l), b = (R_max / R_min)^(1 / (L - 1)) (R_min for one level)."""
    if n_levels < 1 or min_res < 2 or max_res < min_res:
        raise ValueError(f"grid levels need n >= 1 and 2 <= min_res <= max_res, got {n_levels}, {min_res}, {max_res}")
    if n_levels == 1:
        return [int(min_res)]
    b = (max_res / min_res) ** (1.0 / (n_levels - 1))
    return [int(round(min_res * b**level)) for level in range(n_levels)]


def corner_weights(ax: tuple[Tensor, Tensor], ay: tuple[Tensor, Tensor], az: tuple[Tensor, Tensor]) -> Tensor:
    """[8, L, N] products ax[cx] ay[cy] az[cz] in the corner order 4 cx + 2 cy + cz (each factor [L, N])."""
    xy = [ax[cx] * ay[cy] for cx in (0, 1) for cy in (0, 1)]
    return torch.stack([p * az[cz] for p in xy for cz in (0, 1)])


class MultiResDenseGrid(nn.Module):
    """``forward(x [N, 3] in [-1, 1]) -> [N, L F]``; see the module doc.

    ``init_std``: features drawn from U(-init_std, init_std) (``generator`` seeds them).
    """

    def __init__(
        self,
        n_levels: int = 4,
        n_features: int = 2,
        min_res: int = 16,
        max_res: int = 128,
        init_std: float = 1e-4,
        generator: torch.Generator | None = None,
        box: tuple[Sequence[float], Sequence[float]] | None = None,
    ):
        super().__init__()
        lo, hi = ([-1.0] * 3, [1.0] * 3) if box is None else box
        lo_t, hi_t = torch.as_tensor(lo, dtype=torch.float32), torch.as_tensor(hi, dtype=torch.float32)
        if lo_t.shape != (3,) or hi_t.shape != (3,) or not bool((hi_t > lo_t).all()):
            raise ValueError(f"grid box must be ([3], [3]) with hi > lo, got {box!r}")
        self.box = (tuple(float(v) for v in lo_t), tuple(float(v) for v in hi_t))
        self.register_buffer("_lo", lo_t[:, None, None], persistent=False)  # [3, 1, 1]
        self.register_buffer("_size", (hi_t - lo_t)[:, None, None], persistent=False)
        self.resolutions = level_resolutions(int(n_levels), int(min_res), int(max_res))
        self.n_levels, self.n_features = len(self.resolutions), int(n_features)
        sizes = [r**3 for r in self.resolutions]
        table = (torch.rand(self.n_features, sum(sizes), generator=generator) * 2.0 - 1.0) * float(init_std)
        self.table = nn.Parameter(table)
        self.register_buffer("_offsets", torch.tensor([0, *sizes[:-1]]).cumsum(0), persistent=False)
        self.register_buffer("_res", torch.tensor(self.resolutions, dtype=torch.long), persistent=False)
        corners = torch.tensor(CORNERS, dtype=torch.long)  # [8, 3]
        res = torch.tensor(self.resolutions, dtype=torch.long)[:, None]  # [L, 1]
        deltas = (corners[:, 0] * res + corners[:, 1]) * res + corners[:, 2]  # [L, 8] index offsets of the corners
        self.register_buffer("_deltas", deltas, persistent=False)
        self.active_levels: int | None = None  # coarse-to-fine: levels >= active_levels read 0 (None: all)

    @property
    def out_dim(self) -> int:
        return self.n_levels * self.n_features

    @property
    def finest_cell(self) -> float:
        """Largest edge length (hi - lo) / (R_max - 1) of the finest level's cells (2 / (R_max - 1) in [-1, 1]^3)."""
        return max(h - lo for lo, h in zip(*self.box)) / (self.resolutions[-1] - 1)

    def forward(self, x: Tensor) -> Tensor:
        """[N, L F] features of x [N, 3]."""
        return self.lookup(x)[0]

    def lookup(self, x: Tensor, jacobian: bool = False) -> tuple[Tensor, Tensor | None]:
        """(features [N, L F], d features / d x_k [3, N, L F] when ``jacobian`` else None); module doc."""
        n, levels = x.shape[0], self.n_levels
        res = self._res.to(x.dtype)[:, None]  # [L, 1]
        box_lo, box_size = self._lo.to(x.dtype), self._size.to(x.dtype)  # [3, 1, 1]
        raw = (x.T[:, None, :] - box_lo) / box_size * (res - 1.0)  # [3, L, N] (axis-major: contiguous per axis)
        pos = torch.minimum(raw.clamp(min=0.0), res - 1.0)
        cell = torch.minimum(pos.detach().floor().long(), self._res[:, None] - 2)  # [3, L, N]
        u = pos - cell.to(x.dtype)
        r = self._res[:, None]
        base = self._offsets[:, None] + (cell[0] * r + cell[1]) * r + cell[2]  # [L, N]
        index = (base[None] + self._deltas.T[:, :, None]).reshape(8, levels * n)  # [8, L N]
        lo, hi = 1.0 - u, u  # [3, L, N] weights of the lower / upper node per axis
        sets = [corner_weights((lo[0], hi[0]), (lo[1], hi[1]), (lo[2], hi[2]))]
        if jacobian:
            inside = ((raw > 0.0) & (raw < res - 1.0)).to(x.dtype)
            slope = inside * (res - 1.0) / box_size  # d u / d x_k [3, L, N]
            d = [(-slope[k], slope[k]) for k in range(3)]
            a = [(lo[k], hi[k]) for k in range(3)]
            sets += [
                corner_weights(d[0], a[1], a[2]),
                corner_weights(a[0], d[1], a[2]),
                corner_weights(a[0], a[1], d[2]),
            ]
        w = torch.stack(sets).reshape(len(sets), 8, levels * n)  # [K, 8, L N]
        out = _WeightedGather.apply(self.table, index, w).reshape(len(sets), self.n_features, levels, n)
        out = out.permute(0, 3, 2, 1).reshape(len(sets), n, self.out_dim)  # [K, N, L F] level-major
        if self.active_levels is not None and self.active_levels < levels:
            keep = (torch.arange(levels, device=x.device) < self.active_levels).to(x.dtype)
            out = out * keep.repeat_interleave(self.n_features)  # masked levels: no value, Jacobian or gradient
        return out[0], (out[1:] if jacobian else None)

    def extra_repr(self) -> str:
        return (
            f"resolutions={self.resolutions}, n_features={self.n_features}, params={self.table.numel()}, box={self.box}"
        )
