"""sparsefusion.geometry against closed forms and brute-force projections."""

import math

import torch

from sparsefusion.geometry import (
    circle_cameras,
    embedding_dim,
    harmonic_embedding,
    look_at,
    plucker,
    project,
    relative_to,
    view_angle_deg,
)


def test_harmonic_embedding_values_and_dims():
    x = torch.tensor([[0.3, -1.2]])
    e = harmonic_embedding(x, n_freqs=3, omega0=1.0)
    assert e.shape[-1] == embedding_dim(2, 3) == 2 * 2 * 3 + 2
    expected_sin = [math.sin(v * f) for v in (0.3, -1.2) for f in (1, 2, 4)]
    expected_cos = [math.cos(v * f) for v in (0.3, -1.2) for f in (1, 2, 4)]
    torch.testing.assert_close(e[0], torch.tensor(expected_sin + expected_cos + [0.3, -1.2]))
    assert embedding_dim(6, 6) == 78 and embedding_dim(1, 6) == 13


def test_plucker_moment_is_independent_of_the_point_on_the_line():
    o, d = torch.tensor([0.5, -0.2, 1.0]), torch.tensor([0.0, 2.0, 1.0])
    a, b = plucker(o, d), plucker(o + 3.7 * d, 5 * d)
    torch.testing.assert_close(a, b)
    torch.testing.assert_close(a[:3].norm(), torch.tensor(1.0))


def test_project_matches_brute_force_pinhole():
    g = torch.Generator().manual_seed(0)
    c2w = look_at(torch.tensor([[2.0, 1.0, 0.5]]), torch.zeros(3), torch.tensor([0.0, 0.0, 1.0]))[0]
    K = torch.tensor([[50.0, 0, 31], [0, 55.0, 29], [0, 0, 1]])
    pts = torch.randn(7, 3, generator=g) * 0.3
    uv, z = project(pts, K, c2w)
    w2c = torch.linalg.inv(c2w)
    for p, (u, v), zz in zip(pts, uv, z):
        cam = w2c[:3, :3] @ p + w2c[:3, 3]
        pix = K @ cam
        torch.testing.assert_close(torch.stack([u, v]), pix[:2] / pix[2], rtol=1e-5, atol=1e-4)
        torch.testing.assert_close(zz, cam[2], rtol=1e-5, atol=1e-5)


def test_look_at_and_circle_cameras_face_the_origin():
    centres = torch.tensor([[3.0, 0, 1], [0, 3.0, 1.2], [-3.0, 0.1, 0.8], [0.2, -3.0, 1.0]], dtype=torch.float64)
    c2w = look_at(centres, torch.zeros(3, dtype=torch.float64), torch.tensor([0, 0, 1.0], dtype=torch.float64))
    ring = circle_cameras(c2w, 6)
    assert ring.shape == (6, 4, 4)
    for cam in ring:  # the optical axis (+z) points at the origin
        torch.testing.assert_close(cam[:3, 2], -cam[:3, 3] / cam[:3, 3].norm())
    torch.testing.assert_close(
        ring[:, :3, 3].norm(dim=-1), torch.full((6,), float(ring[0, :3, 3].norm()), dtype=torch.float64)
    )


def test_relative_to_and_view_angle():
    a = look_at(torch.tensor([[3.0, 0, 0], [0, 3.0, 0]]), torch.zeros(3), torch.tensor([0, 0, 1.0]))
    rel = relative_to(a[None], a[:1])[0]
    torch.testing.assert_close(rel[0], torch.eye(4), atol=1e-6, rtol=0)
    torch.testing.assert_close(view_angle_deg(a[:1], a[1:]), torch.tensor([[90.0]]), atol=1e-3, rtol=0)
