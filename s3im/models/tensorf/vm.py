"""The VM (vector-matrix) decomposition of TensoRF (``TensorVMSplit`` of the official code).

Three plane/line pairs, one per axis split: plane i spans the axes ``MAT_MODE[i]`` and its line
runs along axis ``VEC_MODE[i]`` (MAT_MODE = ((0, 1), (0, 2), (1, 2)), VEC_MODE = (2, 1, 0)).
Storage, as the official parameters (so official checkpoints map key for key):
  ``density_plane[i]`` [1, Rs_i, res[b], res[a]] and ``density_line[i]`` [1, Rs_i, res[v], 1]
  (a, b = MAT_MODE[i], v = VEC_MODE[i], res = [X, Y, Z] the grid size), the same for ``app_*``
  with Ra_i components; init 0.1 * N(0, 1). ``basis_mat``: Linear(sum Ra_i, app_dim, bias=False).
Features at normalised points x in [-1, 1]^3 (bilinear / linear interpolation, align_corners=True):
  density feature  f(x) = sum_i sum_r P_i,r(x_a, x_b) L_i,r(x_v)                    [N]
  appearance       a(x) = basis_mat(concat_i [P_i,r(x_a, x_b) L_i,r(x_v)]_r)        [N, app_dim]
(component order of the concatenation: plane-major, i * Ra + r, as the official code).

Density at many points: ``density_feature_dense`` builds the node volume D = sum_i sum_r P_i,r (x) L_i,r
([Z, Y, X], three GEMMs) and interpolates it trilinearly: the same values (trilinear weights are the
product of the plane's bilinear and the line's linear weights), one 1-channel lookup per point.

The appearance has the same form, A = sum_i sum_r basis[:, i r] P_i,r (x) L_i,r ([app_dim, Z, Y, X],
``app_feature_dense``); the model uses it when the colour samples outnumber the grid nodes (early in
training, when most samples pass the weight threshold).

Sampling kernels: one ``grid_sample`` per plane and per line (as the official code; [C, N] outputs;
through ``common.fields.grid.sample_points``, which splits large lookups over the CPU threads)
while the points outnumber the plane's nodes by more than ``GATHER_POINTS_PER_NODE``; else row kernels
with [N, C] outputs: the plane as a gather of the four corner rows from the channel-last [H W, C] table
with their bilinear weights (``F.embedding_bag``, mode sum, per-sample weights), the line as a gather of
two rows and a lerp. The same values up to float rounding for points inside [-1, 1]^3. The CPU kernel
of ``grid_sample``'s backward slows down as the plane grows, the gather's does not: fwd + bwd of a
48-channel plane on one thread, 85k points on 134 x 116: 0.76 s vs 0.14 s; 300k on 300^2: 4.1 s vs
0.65 s; but 490k on 64^2: 1.22 s vs 1.36 s and 200k on 32^2: 0.32 s vs 0.44 s (many points per node:
the gather's backward accumulates long runs of equal rows). ``app_feature`` (3 x 48 components + basis,
fwd + bwd, CPU time on one thread): 85k points on 134 x 134 x 116: grid_sample 2.12 s, rows 0.79 s;
114k points on 74 x 74 x 71: 1.65 s vs 1.02 s.

Resolution changes (``upsample``: bilinear interpolation with align_corners=True, which keeps the
values at the nodes shared by both grids; ``shrink``: crop to node ranges) replace the parameters:
the optimizer must be rebuilt afterwards. Regularisers: ``density_l1`` (sum_i mean|P_i| +
mean|L_i|), ``tv_density`` / ``tv_app`` (sum_i TV(P_i) * 1e-2 on the planes, as the official code),
``ortho`` (off-diagonal mean |L_i L_i^T| of both line sets).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from common.fields.grid import corner_weights, sample_points

MAT_MODE = ((0, 1), (0, 2), (1, 2))
VEC_MODE = (2, 1, 0)


def plane_coords(xyz: Tensor) -> Tensor:
    """[3, N, 2] coordinates of normalised points [N, 3] in the three planes (x along W, y along H)."""
    return torch.stack([xyz[:, list(m)] for m in MAT_MODE])


def line_coords(xyz: Tensor) -> Tensor:
    """[3, N] coordinates of normalised points [N, 3] along the three lines."""
    return torch.stack([xyz[:, v] for v in VEC_MODE])


GATHER_POINTS_PER_NODE = 50.0  # planes are gathered (``sample_plane_rows``) below this many points per node


def sample_plane(plane: Tensor, coords: Tensor) -> Tensor:
    """Bilinear samples [C, N] of ``plane`` [1, C, H, W] at ``coords`` [N, 2] in [-1, 1] (align_corners)."""
    return sample_points(plane, coords)


def use_gather(plane: Tensor, line: Tensor, n_points: int) -> bool:
    """True where the row kernels (``sample_plane_rows``, ``sample_line_rows``) are the faster choice:
    n_points < GATHER_POINTS_PER_NODE * H * W, and the plane has at least 2 x 2 nodes, the line 2."""
    h, w = plane.shape[2], plane.shape[3]
    return h >= 2 and w >= 2 and line.shape[2] >= 2 and n_points < GATHER_POINTS_PER_NODE * h * w


def sample_plane_rows(plane: Tensor, coords: Tensor) -> Tensor:
    """Bilinear samples [N, C] of ``plane`` [1, C, H, W] at ``coords`` [N, 2] (x along W, y along H, in
    [-1, 1], align_corners=True), as a weighted gather from the channel-last table T [H W, C]: the four
    corner rows with their bilinear weights (``common.fields.grid.corner_weights``), summed by
    ``F.embedding_bag`` (whose sorting backward is the faster one for planes, many points per node; the 3D
    ``gather_points`` adds its gradient with ``index_add_``). Equals ``sample_plane(...).t()``, points
    outside included (zero padding). The gradient reaches the plane only."""
    _, c, h, w = plane.shape
    table = plane[0].permute(1, 2, 0).reshape(h * w, c).contiguous()  # embedding_bag is slow on strided tables
    index, weights = corner_weights(coords, (h, w), plane.dtype)
    return F.embedding_bag(index, table, per_sample_weights=weights, mode="sum")


def sample_line(line: Tensor, coords: Tensor) -> Tensor:
    """Linear samples [C, N] of ``line`` [1, C, L, 1] at ``coords`` [N] in [-1, 1]: ``grid_sample`` of the
    line as an [L, 1] image at (0, coords) (align_corners=True), as the official code."""
    return sample_points(line, torch.stack([torch.zeros_like(coords), coords], -1))


def sample_line_rows(line: Tensor, coords: Tensor) -> Tensor:
    """Linear samples [N, C] of ``line`` [1, C, L, 1] at ``coords`` [N] in [-1, 1] (align_corners=True), in the
    row layout of ``sample_plane_rows``: u = (z + 1) (L - 1) / 2, i = floor(u) in [0, L - 2], f = u - i,
    out = (1 - f) T[i] + f T[i + 1] with T = the line as [L, C]. Equals ``sample_line(...).t()`` inside the
    line; needs L >= 2."""
    n = line.shape[2]
    table = line[0, :, :, 0].t()
    with torch.no_grad():
        u = ((coords + 1) * (0.5 * (n - 1))).clamp(0, n - 1)
        i = u.floor().clamp(max=n - 2)
        f = (u - i)[:, None].to(line.dtype)
        i = i.long()
    return torch.lerp(table[i], table[i + 1], f)


def tv_loss(x: Tensor) -> Tensor:
    """Official ``TVLoss`` of x [B, C, H, W]: 2 (sum dh^2 / (C (H-1) W) + sum dw^2 / (C H (W-1))) / B
    (a term whose count is 0 is left out)."""
    b, c, h, w = x.shape
    total = x.new_zeros(())
    if h > 1:
        total = total + (x[:, :, 1:, :] - x[:, :, :-1, :]).pow(2).sum() / (c * (h - 1) * w)
    if w > 1:
        total = total + (x[:, :, :, 1:] - x[:, :, :, :-1]).pow(2).sum() / (c * h * (w - 1))
    return 2 * total / b


def _init_vm(
    n_comp: Sequence[int], grid_size: Sequence[int], scale: float
) -> tuple[nn.ParameterList, nn.ParameterList]:
    planes, lines = [], []
    for i, (a, b) in enumerate(MAT_MODE):
        planes.append(nn.Parameter(scale * torch.randn(1, n_comp[i], grid_size[b], grid_size[a])))
        lines.append(nn.Parameter(scale * torch.randn(1, n_comp[i], grid_size[VEC_MODE[i]], 1)))
    return nn.ParameterList(planes), nn.ParameterList(lines)


class TensorVMSplit(nn.Module):
    """Density and appearance VM grids + the appearance basis matrix (see the module doc).

    n_comp_density / n_comp_app: components per plane (official [16, 16, 16] / [48, 48, 48]);
    grid_size: [X, Y, Z] nodes; app_dim: output width of ``basis_mat`` (27).
    """

    def __init__(
        self, n_comp_density: Sequence[int], n_comp_app: Sequence[int], grid_size: Sequence[int], app_dim: int
    ):
        super().__init__()
        self.n_comp_density = [int(c) for c in n_comp_density]
        self.n_comp_app = [int(c) for c in n_comp_app]
        self.app_dim = int(app_dim)
        size = [int(s) for s in grid_size]
        self.density_plane, self.density_line = _init_vm(self.n_comp_density, size, 0.1)
        self.app_plane, self.app_line = _init_vm(self.n_comp_app, size, 0.1)
        self.basis_mat = nn.Linear(sum(self.n_comp_app), self.app_dim, bias=False)

    @property
    def grid_size(self) -> list[int]:
        """[X, Y, Z] nodes of the grids (read from the parameter shapes)."""
        return [
            int(self.density_plane[0].shape[3]),
            int(self.density_plane[0].shape[2]),
            int(self.density_line[0].shape[2]),
        ]

    # ------------------------------------------------------------------------------- features
    def density_volume(self) -> Tensor:
        """[Z, Y, X] density feature at the grid nodes, D = sum_i sum_r P_i,r (outer) L_i,r (three GEMMs)."""
        p0, p1, p2 = (p[0] for p in self.density_plane)  # [R, Y, X], [R, Z, X], [R, Z, Y]
        l0, l1, l2 = (line[0, :, :, 0] for line in self.density_line)  # [R, Z], [R, Y], [R, X]
        r0, y, x = p0.shape
        z = p1.shape[1]
        d0 = (l0.t() @ p0.reshape(r0, y * x)).view(z, y, x)
        d1 = (l1.t() @ p1.reshape(p1.shape[0], z * x)).view(y, z, x).permute(1, 0, 2)
        d2 = (l2.t() @ p2.reshape(p2.shape[0], z * y)).view(x, z, y).permute(1, 2, 0)
        return d0 + d1 + d2

    def density_feature_dense(self, xyz: Tensor, volume: Tensor | None = None) -> Tensor:
        """f(x) [N] as the trilinear interpolation (align_corners=True) of ``density_volume`` at points [N, 3].

        Trilinear weights factor into (bilinear in the plane) x (linear along the line), so this equals
        ``density_feature`` up to float rounding, with one 1-channel lookup per point instead of 3 x R_i
        plane and line lookups; the gradient reaches the planes and lines through the GEMMs."""
        vol = self.density_volume() if volume is None else volume
        return sample_points(vol[None, None], xyz).view(-1)

    def density_feature(self, xyz: Tensor) -> Tensor:
        """f(x) [N] at normalised points [N, 3]: sum over planes and components of plane x line."""
        pc, lc = plane_coords(xyz), line_coords(xyz)
        out = xyz.new_zeros(xyz.shape[0])
        for i in range(3):
            plane, line = self.density_plane[i], self.density_line[i]
            if use_gather(plane, line, xyz.shape[0]):
                out = out + (sample_plane_rows(plane, pc[i]) * sample_line_rows(line, lc[i])).sum(1)
            else:
                out = out + (sample_plane(plane, pc[i]) * sample_line(line, lc[i])).sum(0)
        return out

    def app_volume(self) -> Tensor:
        """[app_dim, Z, Y, X] appearance feature at the grid nodes, A = sum_i sum_r B[:, i r] P_i,r (x) L_i,r
        (B = basis_mat.weight; three GEMMs of app_dim x res x R_i by R_i x res^2)."""
        w = self.basis_mat.weight  # [app_dim, sum R]
        c = w.shape[0]
        p0, p1, p2 = (p[0] for p in self.app_plane)  # [R, Y, X], [R, Z, X], [R, Z, Y]
        l0, l1, l2 = (line[0, :, :, 0] for line in self.app_line)  # [R, Z], [R, Y], [R, X]
        b0, b1, b2 = torch.split(w, self.n_comp_app, dim=1)
        r0, y, x = p0.shape
        r1, z, _ = p1.shape
        r2 = p2.shape[0]
        a0 = ((b0[:, None, :] * l0.t()[None]).reshape(c * z, r0) @ p0.reshape(r0, y * x)).view(c, z, y, x)
        a1 = ((b1[:, None, :] * l1.t()[None]).reshape(c * y, r1) @ p1.reshape(r1, z * x)).view(c, y, z, x)
        a2 = ((b2[:, None, :] * l2.t()[None]).reshape(c * x, r2) @ p2.reshape(r2, z * y)).view(c, x, z, y)
        return a0 + a1.permute(0, 2, 1, 3) + a2.permute(0, 2, 3, 1)

    def app_feature_dense(self, xyz: Tensor, volume: Tensor | None = None) -> Tensor:
        """a(x) [N, app_dim] as the trilinear interpolation of ``app_volume`` at normalised points [N, 3]:
        the same values as ``app_feature`` (trilinear weights factor as for the density), cheaper when the
        points outnumber the grid nodes."""
        vol = self.app_volume() if volume is None else volume
        return sample_points(vol[None], xyz).t()

    def app_components(self, xyz: Tensor) -> Tensor:
        """[N, sum Ra_i] plane x line products of the appearance grids (plane-major order); each plane through
        ``sample_plane_rows`` or ``sample_plane`` (``use_gather``)."""
        pc, lc = plane_coords(xyz), line_coords(xyz)
        parts = []
        for i in range(3):
            plane, line = self.app_plane[i], self.app_line[i]
            if use_gather(plane, line, xyz.shape[0]):
                parts.append(sample_plane_rows(plane, pc[i]) * sample_line_rows(line, lc[i]))
            else:
                parts.append((sample_plane(plane, pc[i]) * sample_line(line, lc[i])).t())
        return torch.cat(parts, 1)

    def app_feature(self, xyz: Tensor) -> Tensor:
        """a(x) [N, app_dim] = basis_mat(appearance components) at normalised points [N, 3]."""
        return self.basis_mat(self.app_components(xyz))

    # ----------------------------------------------------------------------- resolution changes
    @torch.no_grad()
    def upsample(self, reso: Sequence[int]) -> None:
        """Bilinear (align_corners=True) resampling of every plane and line to ``reso`` [X, Y, Z]."""
        for planes, lines in ((self.density_plane, self.density_line), (self.app_plane, self.app_line)):
            for i, (a, b) in enumerate(MAT_MODE):
                v = VEC_MODE[i]
                planes[i] = nn.Parameter(
                    F.interpolate(
                        planes[i].data, size=(int(reso[b]), int(reso[a])), mode="bilinear", align_corners=True
                    )
                )
                lines[i] = nn.Parameter(
                    F.interpolate(lines[i].data, size=(int(reso[v]), 1), mode="bilinear", align_corners=True)
                )

    @torch.no_grad()
    def shrink(self, lo: Sequence[int], hi: Sequence[int]) -> None:
        """Keep the nodes lo[k] <= index < hi[k] along every axis k (official ``shrink``'s crop)."""
        for planes, lines in ((self.density_plane, self.density_line), (self.app_plane, self.app_line)):
            for i, (a, b) in enumerate(MAT_MODE):
                v = VEC_MODE[i]
                lines[i] = nn.Parameter(lines[i].data[..., lo[v] : hi[v], :].contiguous())
                planes[i] = nn.Parameter(planes[i].data[..., lo[b] : hi[b], lo[a] : hi[a]].contiguous())

    @torch.no_grad()
    def resize_like(self, state_dict: dict, prefix: str = "") -> None:
        """Replace every plane / line whose shape differs from ``state_dict[prefix + name]`` by an empty
        parameter of the saved shape (before ``load_state_dict`` of a checkpoint with other grid sizes)."""
        for name in ("density_plane", "density_line", "app_plane", "app_line"):
            params = getattr(self, name)
            for i in range(len(params)):
                saved = state_dict.get(f"{prefix}{name}.{i}")
                if saved is not None and tuple(saved.shape) != tuple(params[i].shape):
                    params[i] = nn.Parameter(params[i].data.new_empty(saved.shape))

    # ----------------------------------------------------------------------------- regularisers
    def density_l1(self) -> Tensor:
        """sum_i mean|density_plane_i| + mean|density_line_i|."""
        return sum(p.abs().mean() + q.abs().mean() for p, q in zip(self.density_plane, self.density_line))

    def tv_density(self) -> Tensor:
        """sum_i TV(density_plane_i) * 1e-2."""
        return sum(tv_loss(p) * 1e-2 for p in self.density_plane)

    def tv_app(self) -> Tensor:
        """sum_i TV(app_plane_i) * 1e-2."""
        return sum(tv_loss(p) * 1e-2 for p in self.app_plane)

    def ortho(self) -> Tensor:
        """Official ``vector_comp_diffs``: sum over both line sets and i of mean |off-diagonal of L_i L_i^T|."""
        total = self.density_line[0].new_zeros(())
        for line in (*self.density_line, *self.app_line):
            m = line[0, :, :, 0]  # [C, L]
            gram = m @ m.t()
            off = gram[~torch.eye(gram.shape[0], dtype=torch.bool, device=gram.device)]
            if off.numel():
                total = total + off.abs().mean()
        return total
