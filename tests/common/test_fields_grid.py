from __future__ import annotations

import itertools

import pytest
import torch
import torch.nn.functional as F

from common.fields import grid as grid_module
from common.fields.grid import (
    DenseGrid,
    MaskGrid,
    gather_points,
    grid_points,
    grid_resolution,
    normalize_to_grid,
    sample_points,
)


def trilinear_reference(vol: torch.Tensor, xyz_min, xyz_max, p) -> torch.Tensor:
    """Brute-force trilinear interpolation of vol [C, X, Y, Z] at one world point p [3]."""
    size = torch.tensor(vol.shape[1:], dtype=torch.float64)
    u = (p.double() - xyz_min.double()) / (xyz_max.double() - xyz_min.double()) * (size - 1)
    i0 = u.floor().long().clamp(max=size.long() - 2)
    f = u - i0
    out = torch.zeros(vol.shape[0], dtype=torch.float64)
    for corner in itertools.product((0, 1), repeat=3):
        w = 1.0
        for a in range(3):
            w = w * (f[a] if corner[a] else 1 - f[a])
        out += w * vol[:, i0[0] + corner[0], i0[1] + corner[1], i0[2] + corner[2]].double()
    return out


def test_grid_resolution_matches_official_float32_rule():
    vs, ws = grid_resolution(torch.tensor([-1.2] * 3), torch.tensor([1.2] * 3), 320**3)
    assert ws == (320, 320, 320) and vs == pytest.approx(2.4 / 320, rel=1e-5)
    vs, ws = grid_resolution(torch.zeros(3), torch.tensor([2.0, 1.0, 4.0]), 8000)
    assert ws == (20, 10, 40) and vs == pytest.approx(0.1, rel=1e-6)  # (8 / 8000)^(1/3) = 0.1


def test_dense_grid_is_trilinear_with_corner_nodes():
    torch.manual_seed(0)
    lo, hi = torch.tensor([-1.0, 0.0, 2.0]), torch.tensor([1.0, 3.0, 3.0])
    g = DenseGrid(2, (4, 5, 3), lo, hi)
    with torch.no_grad():
        g.grid.normal_()
    pts = lo + torch.rand(20, 3) * (hi - lo)
    out = g(pts)
    ref = torch.stack([trilinear_reference(g.grid[0].detach(), lo, hi, p) for p in pts])
    torch.testing.assert_close(out.double(), ref, atol=1e-5, rtol=1e-5)
    nodes = grid_points(lo, hi, (4, 5, 3))
    torch.testing.assert_close(g(nodes), g.grid[0].detach().permute(1, 2, 3, 0), atol=1e-5, rtol=1e-5)
    g1 = DenseGrid(1, (4, 5, 3), lo, hi)
    assert g1(pts).shape == (20,)
    assert torch.all(g1(torch.tensor([[5.0, 5.0, 5.0]])) == 0)


def test_upsampling_keeps_values_at_shared_nodes():
    torch.manual_seed(1)
    lo, hi = torch.zeros(3), torch.ones(3)
    g = DenseGrid(3, (5, 4, 3), lo, hi)
    with torch.no_grad():
        g.grid.normal_()
    old = g.grid.detach().clone()
    g.scale_volume_grid((9, 7, 5))
    assert g.grid.shape == (1, 3, 9, 7, 5) and g.world_size == (9, 7, 5)
    # old node i sits at i / (n - 1) and new node 2i at 2i / (2n - 2): the same point (align_corners)
    torch.testing.assert_close(g.grid.detach()[:, :, ::2, ::2, ::2], old, atol=1e-6, rtol=1e-6)
    # halfway nodes are the mean of their two old neighbours (trilinear)
    torch.testing.assert_close(g.grid.detach()[:, :, 1, 0, 0], (old[:, :, 0, 0, 0] + old[:, :, 1, 0, 0]) / 2)


def test_mask_grid_nearest_lookup_and_outside_is_false():
    mask = torch.zeros(3, 3, 3, dtype=torch.bool)
    mask[2, 1, 0] = True
    mg = MaskGrid(mask, torch.zeros(3), torch.full((3,), 2.0))  # nodes at 0, 1, 2
    pts = torch.tensor([[2.0, 1.0, 0.0], [1.6, 1.4, 0.4], [1.4, 1.0, 0.0], [2.4, 1.0, 0.0], [2.6, 1.0, 0.0]])
    assert mg(pts).tolist() == [True, True, False, True, False]  # 2.4 rounds to node 2, 2.6 to node 3 (outside)
    assert mg(pts.reshape(5, 1, 3)).shape == (5, 1)


def test_state_dict_loads_into_a_grid_of_another_size():
    a = DenseGrid(2, (6, 6, 6), torch.zeros(3), torch.ones(3))
    with torch.no_grad():
        a.grid.normal_()
    b = DenseGrid(2, (3, 3, 3), torch.zeros(3), torch.ones(3))
    b.load_state_dict(a.state_dict())
    assert b.grid.shape == a.grid.shape and torch.equal(b.grid, a.grid)
    m = MaskGrid(torch.ones(2, 2, 2), torch.zeros(3), torch.ones(3))
    m.load_state_dict(MaskGrid(torch.zeros(4, 5, 6), torch.zeros(3), torch.ones(3)).state_dict())
    assert m.mask.shape == (4, 5, 6) and not m.mask.any()


def test_normalize_to_grid_maps_box_corners_to_flipped_unit_cube():
    lo, hi = torch.tensor([-1.0, 0.0, 2.0]), torch.tensor([1.0, 4.0, 3.0])
    pts = torch.stack([lo, hi, torch.tensor([1.0, 0.0, 2.5])])
    expected = torch.tensor([[-1.0, -1.0, -1.0], [1.0, 1.0, 1.0], [0.0, -1.0, 1.0]])  # (z, y, x) order
    torch.testing.assert_close(normalize_to_grid(pts, lo, hi), expected)


@pytest.mark.parametrize("dims", [2, 3])
@pytest.mark.parametrize("parts", [1, 2, 3])
def test_sample_points_equals_one_grid_sample_batch(dims, parts, monkeypatch):
    monkeypatch.setattr(grid_module, "MIN_POINTS_PER_PART", 4)  # split even this small lookup
    g = torch.Generator().manual_seed(dims)
    shape = (1, 5, 7, 6) if dims == 2 else (1, 4, 5, 7, 6)
    volume = torch.randn(shape, generator=g, dtype=torch.float64, requires_grad=True)
    coords = (torch.rand(101, dims, generator=g, dtype=torch.float64) * 2.4 - 1.2).requires_grad_()  # some outside
    ref = F.grid_sample(volume, coords.view(1, 101, *([1] * (dims - 1)), dims), mode="bilinear", align_corners=True)
    ref = ref.view(shape[1], 101)
    out = sample_points(volume, coords, parts=parts)
    assert out.shape == (shape[1], 101)
    torch.testing.assert_close(out, ref, rtol=0, atol=0)  # the same arithmetic per point
    weight = torch.randn(ref.shape, generator=g, dtype=torch.float64)
    g_vol, g_xyz = torch.autograd.grad((ref * weight).sum(), (volume, coords))
    s_vol, s_xyz = torch.autograd.grad((out * weight).sum(), (volume, coords))
    torch.testing.assert_close(s_vol, g_vol, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(s_xyz, g_xyz, rtol=1e-12, atol=1e-12)


def test_sample_points_keeps_small_lookups_in_one_batch(monkeypatch):
    calls = []
    real = F.grid_sample
    monkeypatch.setattr(grid_module.F, "grid_sample", lambda v, c, **kw: calls.append(v.shape[0]) or real(v, c, **kw))
    volume = torch.randn(1, 2, 4, 4, 4)
    sample_points(volume, torch.zeros(10, 3), parts=2)
    sample_points(volume, torch.zeros(2 * grid_module.MIN_POINTS_PER_PART, 3), parts=2)
    assert calls == [1, 2]


@pytest.mark.parametrize(
    "shape",
    [(1, 5, 7, 6), (1, 4, 5, 7, 6), (1, 3, 1, 4, 2)],  # 2D, 3D, 3D with a single-node axis
)
def test_gather_points_equals_grid_sample_in_values_and_volume_gradient(shape):
    dims = len(shape) - 2
    g = torch.Generator().manual_seed(len(shape) * 10 + shape[2])
    volume = torch.randn(shape, generator=g, dtype=torch.float64, requires_grad=True)
    coords = torch.rand(301, dims, generator=g, dtype=torch.float64) * 2.6 - 1.3  # some points outside
    coords[:4] = torch.tensor([-1.0, 1.0, 0.0])[:dims]  # on the box faces
    ref = F.grid_sample(volume, coords.view(1, 301, *([1] * (dims - 1)), dims), mode="bilinear", align_corners=True)
    ref = ref.view(shape[1], 301).t()
    out = gather_points(volume, coords)
    torch.testing.assert_close(out, ref, rtol=1e-12, atol=1e-12)
    weight = torch.randn(ref.shape, generator=g, dtype=torch.float64)
    (g_ref,) = torch.autograd.grad((ref * weight).sum(), volume)
    (g_out,) = torch.autograd.grad((out * weight).sum(), volume)
    torch.testing.assert_close(g_out, g_ref, rtol=1e-12, atol=1e-12)


def test_gather_points_gradient_is_deterministic_on_every_thread():
    g = torch.Generator().manual_seed(0)
    volume = torch.randn(1, 8, 12, 12, 12, generator=g, requires_grad=True)
    coords = torch.rand(50000, 3, generator=g) * 2 - 1  # many points per node: colliding accumulations
    grads = []
    for _ in range(3):
        (grad,) = torch.autograd.grad(gather_points(volume, coords).square().sum(), volume)
        grads.append(grad)
    assert all(torch.equal(grads[0], other) for other in grads[1:])


def test_sample_points_gathers_many_channel_volumes_unless_coords_need_a_gradient(monkeypatch):
    calls = []
    real = grid_module.gather_points
    monkeypatch.setattr(grid_module, "gather_points", lambda v, c: calls.append(v.shape[1]) or real(v, c))
    few, many = torch.randn(1, grid_module.MIN_GATHER_CHANNELS - 1, 4, 4, 4), torch.randn(1, 6, 4, 4, 4)
    coords = torch.rand(10, 3) * 2 - 1
    torch.testing.assert_close(
        sample_points(many, coords), F.grid_sample(many, coords.view(1, 10, 1, 1, 3), align_corners=True).view(6, 10)
    )
    sample_points(few, coords)
    sample_points(many, coords.clone().requires_grad_())
    sample_points(torch.randn(1, 64, 4, 4), coords[:, :2])  # planes stay on grid_sample
    assert calls == [6]
