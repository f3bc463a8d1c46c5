from __future__ import annotations

import itertools

import pytest
import torch

from common.fields.grid import DenseGrid, MaskGrid, grid_points, grid_resolution, normalize_to_grid


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
