"""VM decomposition against explicit loops: features, upsampling, cropping, regularisers."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from s3im.models.tensorf import vm
from s3im.models.tensorf.vm import (
    MAT_MODE,
    VEC_MODE,
    TensorVMSplit,
    sample_line,
    sample_line_rows,
    sample_plane,
    sample_plane_rows,
    tv_loss,
    use_gather,
)


def bilinear(img: np.ndarray, x: float, y: float) -> float:
    """align_corners=True bilinear value of img [H, W] at x (along W), y (along H) in [-1, 1]."""
    h, w = img.shape
    px, py = (x + 1) / 2 * (w - 1), (y + 1) / 2 * (h - 1)
    total = 0.0
    for j in range(h):
        for i in range(w):
            wx, wy = max(0.0, 1 - abs(px - i)), max(0.0, 1 - abs(py - j))
            total += wx * wy * img[j, i]
    return total


def linear(vec: np.ndarray, z: float) -> float:
    n = len(vec)
    p = (z + 1) / 2 * (n - 1)
    return sum(max(0.0, 1 - abs(p - k)) * vec[k] for k in range(n))


@pytest.fixture
def field():
    torch.manual_seed(0)
    return TensorVMSplit([2, 3, 4], [3, 2, 5], [5, 6, 7], app_dim=4).double()


def points(n=17):
    g = torch.Generator().manual_seed(1)
    pts = torch.rand(n, 3, generator=g, dtype=torch.float64) * 2 - 1
    return torch.cat([pts, torch.tensor([[-1.0, -1.0, -1.0], [1.0, 1.0, 1.0], [1.0, -1.0, 0.0]], dtype=torch.float64)])


def loop_components(planes, lines, xyz: np.ndarray) -> list[list[float]]:
    """Per point, the concatenation over planes i and components r of P_i,r * L_i,r (plane-major)."""
    out = []
    for x in xyz:
        row = []
        for i, (a, b) in enumerate(MAT_MODE):
            P, L = planes[i][0].detach().numpy(), lines[i][0, :, :, 0].detach().numpy()
            for r in range(P.shape[0]):
                row.append(bilinear(P[r], x[a], x[b]) * linear(L[r], x[VEC_MODE[i]]))
        out.append(row)
    return out


def test_grid_size_and_shapes(field):
    assert field.grid_size == [5, 6, 7]
    assert tuple(field.density_plane[0].shape) == (1, 2, 6, 5)  # (Y, X)
    assert tuple(field.density_plane[1].shape) == (1, 3, 7, 5)  # (Z, X)
    assert tuple(field.density_plane[2].shape) == (1, 4, 7, 6)  # (Z, Y)
    assert [int(line.shape[2]) for line in field.density_line] == [7, 6, 5]  # lines along Z, Y, X


@pytest.fixture(params=["gather", "grid_sample"])
def plane_kernel(request, monkeypatch):
    """Runs a test with every plane through the gather (``sample_plane_rows``) or through ``grid_sample``."""
    monkeypatch.setattr(vm, "GATHER_POINTS_PER_NODE", 1e9 if request.param == "gather" else 0.0)
    return request.param


def test_density_feature_is_the_sum_of_plane_times_line_over_components(field, plane_kernel):
    xyz = points()
    got = field.density_feature(xyz)
    ref = [sum(row) for row in loop_components(field.density_plane, field.density_line, xyz.numpy())]
    np.testing.assert_allclose(got.detach().numpy(), ref, rtol=1e-10, atol=1e-12)


def test_app_feature_is_basis_of_concatenated_products(field, plane_kernel):
    xyz = points()
    comps = torch.tensor(loop_components(field.app_plane, field.app_line, xyz.numpy()), dtype=torch.float64)
    got = field.app_feature(xyz)
    np.testing.assert_allclose(got.detach().numpy(), (comps @ field.basis_mat.weight.t()).detach().numpy(), atol=1e-12)


def _grid_coords() -> tuple[torch.Tensor, torch.Tensor]:
    """(plane coords [205, 2], line coords [303]) in [-1, 1], with the corners and edges of the domain."""
    torch.manual_seed(3)
    corners = torch.tensor([[-1.0, -1.0], [1.0, 1.0], [1.0, -1.0], [-1.0, 1.0], [0.0, 1.0]], dtype=torch.float64)
    plane = torch.cat([torch.rand(200, 2, dtype=torch.float64) * 2 - 1, corners])
    ends = torch.tensor([-1.0, 1.0, 0.0], dtype=torch.float64)
    line = torch.cat([torch.rand(300, dtype=torch.float64) * 2 - 1, ends])
    return plane, line


@pytest.mark.parametrize("kind", ["plane", "line"])
def test_row_kernels_equal_grid_sample_in_values_and_grid_gradient(kind):
    plane_xy, line_z = _grid_coords()
    if kind == "plane":
        grid, coords = torch.randn(1, 6, 9, 7, dtype=torch.float64, requires_grad=True), plane_xy
        ref_fn, rows_fn = sample_plane, sample_plane_rows
    else:
        grid, coords = torch.randn(1, 6, 9, 1, dtype=torch.float64, requires_grad=True), line_z
        ref_fn, rows_fn = sample_line, sample_line_rows
    weights = torch.randn(coords.shape[0], 6, dtype=torch.float64)
    ref = ref_fn(grid, coords).t()
    (g_ref,) = torch.autograd.grad((ref * weights).sum(), grid)
    got = rows_fn(grid, coords)
    (g_got,) = torch.autograd.grad((got * weights).sum(), grid)
    torch.testing.assert_close(got, ref, rtol=0, atol=1e-12)
    torch.testing.assert_close(g_got, g_ref, rtol=0, atol=1e-12)


def test_use_gather_follows_points_per_node():
    plane, line = torch.zeros(1, 4, 10, 10), torch.zeros(1, 4, 10, 1)
    assert use_gather(plane, line, 100)
    assert not use_gather(plane, line, int(vm.GATHER_POINTS_PER_NODE * 100))
    assert not use_gather(torch.zeros(1, 4, 1, 10), line, 1)  # a plane of one row has no 2 x 2 cell
    assert not use_gather(plane, torch.zeros(1, 4, 1, 1), 1)  # nor a line of one node a segment


def test_sample_line_is_linear_interpolation_along_the_line():
    torch.manual_seed(2)
    line = torch.randn(1, 5, 9, 1, dtype=torch.float64)
    z = torch.cat([torch.rand(50, dtype=torch.float64) * 2 - 1, torch.tensor([-1.0, 1.0], dtype=torch.float64)])
    ref = [[linear(line[0, c, :, 0].numpy(), float(v)) for v in z] for c in range(5)]
    np.testing.assert_allclose(sample_line(line, z).numpy(), ref, rtol=1e-12, atol=1e-12)


def test_upsampling_keeps_the_values_at_shared_nodes(field):
    old = [p.detach().clone() for p in (*field.density_plane, *field.density_line, *field.app_plane, *field.app_line)]
    nodes = torch.stack(
        torch.meshgrid(*[torch.linspace(-1, 1, n, dtype=torch.float64) for n in (5, 6, 7)], indexing="ij"), -1
    )
    before = field.density_feature(nodes.reshape(-1, 3)).detach()
    field.upsample([9, 11, 13])  # 2 n - 1 nodes: old node j is new node 2 j
    assert field.grid_size == [9, 11, 13]
    new = [p.detach() for p in (*field.density_plane, *field.density_line, *field.app_plane, *field.app_line)]
    for o, n in zip(old, new):
        torch.testing.assert_close(n[:, :, ::2, ::2] if n.shape[3] > 1 else n[:, :, ::2], o, rtol=0, atol=1e-12)
    torch.testing.assert_close(field.density_feature(nodes.reshape(-1, 3)).detach(), before, rtol=0, atol=1e-12)


def test_shrink_crops_every_plane_and_line(field):
    ref = {k: v.clone() for k, v in field.state_dict().items()}
    field.shrink([1, 2, 0], [4, 6, 5])
    assert field.grid_size == [3, 4, 5]
    for i, (a, b) in enumerate(MAT_MODE):
        lo, hi, v = [1, 2, 0], [4, 6, 5], VEC_MODE[i]
        expect = ref[f"density_plane.{i}"][..., lo[b] : hi[b], lo[a] : hi[a]]
        torch.testing.assert_close(field.density_plane[i].detach(), expect, rtol=0, atol=0)
        torch.testing.assert_close(
            field.app_line[i].detach(), ref[f"app_line.{i}"][..., lo[v] : hi[v], :], rtol=0, atol=0
        )


def test_resize_like_then_load_restores_other_grid_sizes(field):
    other = TensorVMSplit([2, 3, 4], [3, 2, 5], [3, 4, 5], app_dim=4).double()
    other.upsample([4, 8, 9])
    field.resize_like(other.state_dict())
    field.load_state_dict(other.state_dict())
    xyz = points()
    torch.testing.assert_close(field.density_feature(xyz), other.density_feature(xyz), rtol=0, atol=0)


def test_regularisers_against_loops(field):
    l1 = sum(
        np.abs(p.detach().numpy()).mean() + np.abs(q.detach().numpy()).mean()
        for p, q in zip(field.density_plane, field.density_line)
    )
    assert float(field.density_l1().detach()) == pytest.approx(l1, rel=1e-12)
    x = torch.randn(1, 3, 4, 5, dtype=torch.float64)
    dh = sum((x[0, c, j + 1, i] - x[0, c, j, i]) ** 2 for c in range(3) for j in range(3) for i in range(5)) / (
        3 * 3 * 5
    )
    dw = sum((x[0, c, j, i + 1] - x[0, c, j, i]) ** 2 for c in range(3) for j in range(4) for i in range(4)) / (
        3 * 4 * 4
    )
    assert float(tv_loss(x)) == pytest.approx(float(2 * (dh + dw)), rel=1e-12)
    line = torch.randn(1, 3, 6, 1, dtype=torch.float64)
    dl = sum((line[0, c, j + 1, 0] - line[0, c, j, 0]) ** 2 for c in range(3) for j in range(5)) / (3 * 5)
    assert float(tv_loss(line)) == pytest.approx(float(2 * dl), rel=1e-12)  # the width term is left out
    assert float(field.tv_density().detach()) == pytest.approx(
        sum(float(tv_loss(p.detach())) * 1e-2 for p in field.density_plane)
    )
    ortho = 0.0
    for line in (*field.density_line, *field.app_line):
        m = line[0, :, :, 0].detach().numpy()
        g = m @ m.T
        off = [abs(g[r, s]) for r in range(len(g)) for s in range(len(g)) if r != s]
        ortho += np.mean(off) if off else 0.0
    assert float(field.ortho().detach()) == pytest.approx(ortho, rel=1e-12)


def test_dense_density_volume_interpolates_to_the_factored_feature(field):
    xyz = points(200)
    vol = field.density_volume()
    assert tuple(vol.shape) == (7, 6, 5)  # [Z, Y, X]
    torch.testing.assert_close(field.density_feature_dense(xyz), field.density_feature(xyz), rtol=1e-10, atol=1e-12)
    # gradients reach the planes and lines identically through either path
    g = torch.randn(xyz.shape[0], dtype=torch.float64)
    grads = []
    for fn in (field.density_feature_dense, field.density_feature):
        field.zero_grad()
        (fn(xyz) * g).sum().backward()
        grads.append([p.grad.clone() for p in (*field.density_plane, *field.density_line)])
    for a, b in zip(*grads):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-12)


def test_dense_app_volume_interpolates_to_the_factored_feature(field):
    xyz = points(120)
    vol = field.app_volume()
    assert tuple(vol.shape) == (4, 7, 6, 5)  # [app_dim, Z, Y, X]
    torch.testing.assert_close(field.app_feature_dense(xyz), field.app_feature(xyz), rtol=1e-10, atol=1e-12)
    g = torch.randn(xyz.shape[0], 4, dtype=torch.float64)
    grads = []
    for fn in (field.app_feature_dense, field.app_feature):
        field.zero_grad()
        (fn(xyz) * g).sum().backward()
        grads.append([p.grad.clone() for p in (*field.app_plane, *field.app_line, field.basis_mat.weight)])
    for a, b in zip(*grads):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-12)
