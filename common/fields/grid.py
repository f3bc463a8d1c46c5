"""Dense voxel grids (as in DVGO): trilinear feature grids and the boolean occupancy (mask) grid.

Coordinates: a grid of world size (X, Y, Z) spans the box [xyz_min, xyz_max] with its nodes ON the
box corners (``align_corners=True``): node (i, j, k) sits at ``xyz_min + (i, j, k) / (X-1, Y-1, Z-1) *
(xyz_max - xyz_min)``. ``F.grid_sample`` takes (x, y, z) normalised to [-1, 1] in (W, H, D) = (Z, Y, X)
order, hence the flip of the last axis.

``sample_points`` is the one lookup of every grid model (DVGO's grids, TensoRF's planes, lines and
volumes): ``F.grid_sample``'s values (bilinear / trilinear, align_corners=True, zero padding), computed on
the CPU by the fastest of two kernels (see its doc).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

MIN_POINTS_PER_PART = 8192  # smaller lookups stay one batch (threading costs more than it saves)
MIN_GATHER_CHANNELS = 6  # CPU 3D volumes with this many channels or more are read by ``gather_points``


def sample_points(volume: Tensor, coords: Tensor, parts: int | None = None) -> Tensor:
    """Interpolated samples [C, N] of ``volume`` [1, C, *S] at ``coords`` [N, d] in [-1, 1].

    S = (H, W) with d = 2 (bilinear) or (D, H, W) with d = 3 (trilinear); coords in ``grid_sample``'s
    (x, y[, z]) = (W, H[, D]) order; align_corners=True; points outside read zeros. The same values as
    ``F.grid_sample(volume, coords.view(1, N, 1, [1,] d))``.

    Threads: PyTorch's CPU ``grid_sample`` (2D and 3D, forward and backward) parallelises over the batch
    only, so a batch of one runs on one thread. On the CPU the points are split into ``parts`` equal
    slices (default: the torch thread count; the last slice padded with zeros), each sampling its own
    expanded view of the volume (a batch of ``parts``, no copy). Both passes then use every thread; the
    expansion's gradient sums the per-slice gradients (the same sum up to the order of float additions;
    the padded points get zero output gradient). Lookups of fewer than ``parts * MIN_POINTS_PER_PART``
    points, and every lookup on a GPU, stay one batch. Measured on 2 threads (fwd + bwd, 400k points):
    12-channel 96^3 volume 2.80 s -> 1.42 s, 16-channel 128^2 plane 0.233 s -> 0.107 s.

    Many channels: on the CPU, a 3D volume with at least ``MIN_GATHER_CHANNELS`` channels is read by
    ``gather_points`` instead (the same values up to float rounding), unless ``coords`` needs a gradient
    (only ``grid_sample`` gives one). Measured, fwd + bwd of 300k points in a 64^3 volume: 6 channels 0.86 ->
    0.35 s on one thread, 0.25 -> 0.22 s on two (the split ``grid_sample`` above); 4 channels on two threads
    0.13 -> 0.16 s (kept on ``grid_sample``). 2D planes stay on ``grid_sample``: for a 48-channel 128^2 plane
    on two threads the two kernels traded places between runs (``benchmarks/bench_grid_lookup.py``), and
    TensoRF gathers its planes where that pays (``tensorf.vm.sample_plane_rows``).
    """
    n, d = coords.shape
    c = volume.shape[1]
    if volume.device.type == "cpu" and d == 3 and c >= MIN_GATHER_CHANNELS and not coords.requires_grad:
        return gather_points(volume, coords).t()
    parts = torch.get_num_threads() if parts is None else int(parts)
    if volume.device.type != "cpu" or parts < 2 or n < parts * MIN_POINTS_PER_PART:
        grid = coords.reshape(1, n, *([1] * (d - 1)), d)
        return F.grid_sample(volume, grid, mode="bilinear", align_corners=True).view(c, n)
    size = -(-n // parts)
    if size * parts > n:
        coords = torch.cat([coords, coords.new_zeros(size * parts - n, d)])
    grid = coords.reshape(parts, size, *([1] * (d - 1)), d)
    out = F.grid_sample(volume.expand(parts, *volume.shape[1:]), grid, mode="bilinear", align_corners=True)
    return out.view(parts, c, size).transpose(0, 1).reshape(c, parts * size)[:, :n]


def gather_points(volume: Tensor, coords: Tensor) -> Tensor:
    """``sample_points`` as a weighted gather: rows [N, C] (no gradient for ``coords``).

    The volume [1, C, *S] is read as the channel-last table T [prod S, C]. For each point and axis k (coords'
    (x, y[, z]) index S's last, second-last[, third-last] axis of size n_k): u_k = (x_k + 1) (n_k - 1) / 2,
    i_k = floor(u_k), f_k = u_k - i_k; the 2^d corners i + b (b in {0, 1}^d) have weight
    w = prod_k (b_k f_k + (1 - b_k)(1 - f_k)), zero for a corner outside the grid (grid_sample's zero padding):
        out[n] = sum_corners w[n, corner] T[flat(corner)]         (forward: ``F.embedding_bag``, mode "sum")
        dL/dT[v] = sum_{(n, corner): flat(corner) = v} w[n, corner] dL/dout[n]   (backward: ``index_add_``)
    Why: PyTorch's CPU ``grid_sample`` backward scatters every channel of every corner in a scalar loop; here
    both passes move whole channel rows. Measured on one thread, fwd + bwd, 64^3 volume: 12 channels at
    100k points 0.67 s -> 0.21 s; 1 channel at 300k points 0.10 s -> 0.18 s (hence ``MIN_GATHER_CHANNELS``).
    """
    index, weight = corner_weights(coords, volume.shape[2:], volume.dtype)
    return _WeightedGather.apply(volume, index, weight)


def corner_weights(coords: Tensor, shape, dtype: torch.dtype) -> tuple[Tensor, Tensor]:
    """Flat corner indices [N, 2^d] (long) and bilinear / trilinear weights [N, 2^d] of points ``coords`` [N, d]
    in [-1, 1] (``grid_sample``'s (x, y[, z]) order, align_corners=True) in a grid of ``shape`` (H, W) or
    (D, H, W), flattened row-major. The formulas are ``gather_points``'; corners outside the grid are clamped
    into it with weight 0 (zero padding). No gradient."""
    n = coords.shape[0]
    with torch.no_grad():
        index = coords.new_zeros(n, 1, dtype=torch.long)
        weight = coords.new_ones(n, 1, dtype=dtype)
        stride = 1
        for k, size in enumerate(tuple(shape)[::-1]):  # coordinate k indexes the k-th axis from the last
            u = (coords[:, k].to(dtype) + 1) * (0.5 * (size - 1))
            lo = u.floor()
            f = (u - lo)[:, None]
            corner = lo.long()[:, None] + torch.tensor([0, 1], device=coords.device)  # [N, 2]
            w = torch.cat([1 - f, f], 1) * ((corner >= 0) & (corner < size))  # zero weight outside
            index = (index[:, :, None] + corner.clamp(0, size - 1)[:, None, :] * stride).reshape(n, -1)
            weight = (weight[:, :, None] * w[:, None, :]).reshape(n, -1)
            stride *= size
    return index, weight


class _WeightedGather(torch.autograd.Function):
    """out [N, C] = sum_k weight[:, k] T[index[:, k]] for the channel-last table T of ``volume`` [1, C, *S]."""

    @staticmethod
    def forward(ctx, volume: Tensor, index: Tensor, weight: Tensor) -> Tensor:
        c = volume.shape[1]
        table = volume[0].movedim(0, -1).reshape(-1, c).contiguous()  # embedding_bag is slow on strided tables
        ctx.save_for_backward(index, weight)
        ctx.volume_shape = volume.shape
        return F.embedding_bag(index, table, per_sample_weights=weight, mode="sum")

    @staticmethod
    def backward(ctx, grad: Tensor):
        index, weight = ctx.saved_tensors
        c = grad.shape[1]
        columns = (grad.t()[:, :, None] * weight[None]).reshape(c, -1)  # [C, N * 2^d]
        volume = grad.new_zeros(c, math.prod(ctx.volume_shape[2:]))
        volume.index_add_(1, index.reshape(-1), columns)  # deterministic (index_put_'s accumulation is not)
        return volume.view(ctx.volume_shape), None, None


def grid_resolution(xyz_min: Tensor, xyz_max: Tensor, num_voxels: int) -> tuple[float, tuple[int, int, int]]:
    """Voxel size and world size for a voxel budget.

    voxel_size = (prod(xyz_max - xyz_min) / num_voxels)^(1/3); world_size = floor(extent / voxel_size),
    computed in float32 as the official code does (float64 would floor 320^3 in a cube to 319^3).
    Returns (voxel_size, (X, Y, Z)).
    """
    extent = (xyz_max - xyz_min).float().cpu()
    voxel_size = (extent.prod() / num_voxels).pow(1 / 3)
    world_size = (extent / voxel_size).long()
    return float(voxel_size), tuple(int(v) for v in world_size.tolist())


def grid_points(xyz_min: Tensor, xyz_max: Tensor, world_size) -> Tensor:
    """[X, Y, Z, 3] world coordinates of the nodes of a grid of ``world_size`` spanning the box."""
    axes = [
        torch.linspace(float(lo), float(hi), int(n), device=xyz_min.device)
        for lo, hi, n in zip(xyz_min, xyz_max, world_size)
    ]
    return torch.stack(torch.meshgrid(*axes, indexing="ij"), -1)


def normalize_to_grid(xyz: Tensor, xyz_min: Tensor, xyz_max: Tensor) -> Tensor:
    """[..., 3] world xyz -> [..., 3] grid_sample coordinates in [-1, 1], flipped to (z, y, x) order."""
    return ((xyz - xyz_min) / (xyz_max - xyz_min)).flip(-1) * 2 - 1


class DenseGrid(nn.Module):
    """A learnable [1, C, X, Y, Z] grid (zeros at init) queried by trilinear interpolation (``sample_points``).

    ``forward(xyz [..., 3]) -> [..., C]`` (``[...]`` when C == 1). Points outside the box read zeros
    (grid_sample's zero padding). Loading a state dict whose grid has another shape (a checkpoint
    written after progressive scaling) resizes the parameter first.
    """

    def __init__(self, channels: int, world_size, xyz_min: Tensor, xyz_max: Tensor):
        super().__init__()
        self.channels = int(channels)
        self.register_buffer("xyz_min", torch.as_tensor(xyz_min, dtype=torch.float32).clone())
        self.register_buffer("xyz_max", torch.as_tensor(xyz_max, dtype=torch.float32).clone())
        self.grid = nn.Parameter(torch.zeros([1, self.channels, *[int(v) for v in world_size]]))

    @property
    def world_size(self) -> tuple[int, int, int]:
        return tuple(self.grid.shape[2:])

    def forward(self, xyz: Tensor) -> Tensor:
        shape = xyz.shape[:-1]
        ind = normalize_to_grid(xyz.reshape(-1, 3), self.xyz_min, self.xyz_max)
        out = sample_points(self.grid, ind.to(self.grid.dtype)).T.reshape(*shape, self.channels)
        return out.squeeze(-1) if self.channels == 1 else out

    @torch.no_grad()
    def scale_volume_grid(self, new_world_size) -> None:
        """Trilinear upsampling (align_corners=True) to ``new_world_size``: values at the box corners and
        at nodes shared by both grids are kept; the parameter is replaced (optimizer must be rebuilt)."""
        size = tuple(int(v) for v in new_world_size)
        self.grid = nn.Parameter(F.interpolate(self.grid.data, size=size, mode="trilinear", align_corners=True))

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        saved = state_dict.get(prefix + "grid")
        if saved is not None and saved.shape != self.grid.shape:
            self.grid = nn.Parameter(torch.zeros(saved.shape, dtype=self.grid.dtype, device=self.grid.device))
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def extra_repr(self) -> str:
        return f"channels={self.channels}, world_size={list(self.world_size)}"


class MaskGrid(nn.Module):
    """Boolean occupancy grid [X, Y, Z]: False marks known free space, skipped by ray marching.

    Lookup is nearest-node: ijk = round((xyz - xyz_min) * (shape - 1) / (xyz_max - xyz_min)); points
    outside the grid are False (the official ``maskcache_lookup``).
    """

    def __init__(self, mask: Tensor, xyz_min: Tensor, xyz_max: Tensor):
        super().__init__()
        self.register_buffer("mask", mask.bool().clone())
        self.register_buffer("xyz_min", torch.as_tensor(xyz_min, dtype=torch.float32).clone())
        self.register_buffer("xyz_max", torch.as_tensor(xyz_max, dtype=torch.float32).clone())

    @torch.no_grad()
    def forward(self, xyz: Tensor) -> Tensor:
        shape = xyz.shape[:-1]
        size = torch.tensor(self.mask.shape, device=xyz.device)
        scale = (size - 1) / (self.xyz_max - self.xyz_min)
        ijk = torch.round((xyz.reshape(-1, 3) - self.xyz_min) * scale).long()
        inside = ((ijk >= 0) & (ijk < size)).all(-1)
        ijk = torch.minimum(ijk.clamp(min=0), size - 1)
        out = self.mask[ijk[:, 0], ijk[:, 1], ijk[:, 2]] & inside
        return out.reshape(shape)

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        saved = state_dict.get(prefix + "mask")
        if saved is not None and saved.shape != self.mask.shape:
            self.mask = torch.zeros(saved.shape, dtype=torch.bool, device=self.mask.device)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def extra_repr(self) -> str:
        return f"shape={list(self.mask.shape)}, occupied={self.mask.float().mean().item():.4f}"
