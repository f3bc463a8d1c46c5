"""EFT: output shapes, epipolar sampling geometry, feature gathering at the projected points."""

import pytest
import torch

from sparsefusion.eft import EFT, gather_features, project_maps, sample_points
from sparsefusion.geometry import look_at, project


@pytest.fixture(scope="module")
def eft():
    torch.manual_seed(0)
    return EFT(hidden=16, layers=1, n_points=20, feature_dim=8).eval()


def cameras():
    centres = torch.tensor([[0.0, 0.0, -3.0], [2.5, 0.3, -1.8], [-2.0, -0.5, -2.2]])
    c2w = look_at(centres, torch.zeros(3), torch.tensor([0.0, -1.0, 0.0]))
    K = torch.tensor([[40.0, 0, 16], [0, 40.0, 16], [0, 0, 1]]).expand(3, 3, 3)
    return K, c2w


def fundamental(K1, c2w1, K2, c2w2):
    """F with x2^T F x1 = 0 for homogeneous pixels (x1 in camera 1, x2 in camera 2)."""
    rel = torch.linalg.inv(c2w2) @ c2w1  # camera 1 -> camera 2
    R, t = rel[:3, :3], rel[:3, 3]
    tx = torch.tensor([[0, -t[2], t[1]], [t[2], 0, -t[0]], [-t[1], t[0], 0]])
    return torch.linalg.inv(K2).T @ tx @ R @ torch.linalg.inv(K1)


def test_shapes(eft):
    K, c2w = cameras()
    imgs = torch.rand(1, 2, 3, 32, 32)
    o = c2w[0, :3, 3].expand(1, 5, 3)
    d = torch.nn.functional.normalize(torch.randn(1, 5, 3) * 0.1 + c2w[0, :3, 2], dim=-1)
    out = eft(o, d, torch.tensor([2.0]), torch.tensor([4.0]), imgs, K[None, 1:], c2w[None, 1:])
    assert out["rgb"].shape == (1, 5, 3) and out["features"].shape == (1, 5, 8)
    assert ((out["rgb"] > 0) & (out["rgb"] < 1)).all()
    grid = eft.render_grid(
        c2w[:1], K[:1], (32, 32), 4, torch.tensor([2.0]), torch.tensor([4.0]), imgs, K[None, 1:], c2w[None, 1:]
    )
    assert grid["rgb"].shape == (1, 3, 4, 4) and grid["features"].shape == (1, 8, 4, 4)


def test_point_seen_in_two_views_projects_onto_the_sampled_epipolar_line(eft):
    K, c2w = cameras()
    X = torch.tensor([0.2, -0.1, 0.3])  # a point seen by the query camera 0 and context cameras 1, 2
    o = c2w[0, :3, 3]
    d = torch.nn.functional.normalize(X - o, dim=0)
    depth = float((X - o).norm())
    near, far = torch.tensor([depth - 1.0]), torch.tensor([depth + 1.0])
    pts, z, uv, _ = eft.epipolar_samples(o[None, None], d[None, None], near, far, K[None, 1:], c2w[None, 1:])
    uv_q, _ = project(X[None], K[0], c2w[0])
    x1 = torch.cat([uv_q[0], torch.ones(1)])  # homogeneous continuous pixel coordinates (those of K)
    for v in range(2):
        F = fundamental(K[0], c2w[0], K[v + 1], c2w[v + 1])
        line = F @ x1
        x2 = torch.cat([uv[0, v], torch.ones(20, 1)], dim=-1)  # [20, 3] projected samples
        dist = (x2 @ line).abs() / line[:2].norm()
        assert dist.max() < 1e-2, f"view {v}: samples {dist.max():.4f} px off the epipolar line"
        uv_x, _ = project(X[None], K[v + 1], c2w[v + 1])  # the point itself lies between the samples
        seg = uv[0, v]
        a, b = seg[0], seg[-1]
        s = ((uv_x[0] - a) @ (b - a)) / ((b - a) @ (b - a))
        assert 0 < s < 1
        torch.testing.assert_close(a + s * (b - a), uv_x[0], atol=1e-2, rtol=0)
    # the sample depths are evenly spaced in [near, far] and lie on the query ray
    torch.testing.assert_close(z[0], torch.linspace(depth - 1, depth + 1, 20))
    torch.testing.assert_close(pts[0, 0, 10], o + z[0, 10] * d)


def test_features_are_gathered_at_the_projection():
    feats = torch.zeros(1, 2, 16, 16)
    feats[0, 0, 5, 9] = 1.0  # pixel (u=9, v=5) of a 16 x 16 map of a 32 x 32 image -> image centre (19, 11)
    feats[0, 1] = torch.arange(16.0)[None, :].expand(16, 16)
    uv = torch.tensor([[[19.0, 11.0], [3.0, 30.0], [-50.0, 8.0]]])
    out = gather_features(feats, uv, 32, 32)
    torch.testing.assert_close(out[0, 0], torch.tensor([1.0, 9.0]))
    assert out[0, 1, 0] == 0 and out[0, 2, 1] == 0  # elsewhere, and border padding (column 0) outside the image


def test_sample_points_endpoints():
    o = torch.zeros(1, 2, 3)
    d = torch.tensor([[[0.0, 0, 1], [1.0, 0, 0]]])
    pts, z = sample_points(o, d, torch.tensor([1.0]), torch.tensor([3.0]), 5)
    torch.testing.assert_close(pts[0, 1, -1], torch.tensor([3.0, 0, 0]))
    torch.testing.assert_close(z[0], torch.tensor([1.0, 1.5, 2.0, 2.5, 3.0]))


def test_projecting_the_maps_before_resizing_equals_projecting_the_concatenation(eft):
    imgs = torch.rand(1, 3, 3, 32, 32)
    official = eft.in1_features(eft.encoder(imgs[0]))  # 1x1 conv of the 515-channel concatenation at H/2
    torch.testing.assert_close(eft.encode(imgs)[0], official, rtol=1e-4, atol=1e-5)
    maps = [torch.randn(2, 4, 8, 8), torch.randn(2, 5, 4, 4), torch.randn(2, 3, 2, 2)]
    w = torch.randn(6, 12, 1, 1)
    cat = torch.cat([torch.nn.functional.interpolate(m, size=(8, 8), mode="bilinear") for m in maps], 1)
    torch.testing.assert_close(project_maps(maps, w), torch.nn.functional.conv2d(cat, w), rtol=1e-4, atol=1e-5)
