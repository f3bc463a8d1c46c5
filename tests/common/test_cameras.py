from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from common.cameras import (
    focal_from_fov,
    get_rays,
    intrinsics_matrix,
    look_at,
    normalize_poses_to_sphere,
    opencv_to_opengl,
    opengl_to_opencv,
    pixel_centers,
    project_points,
    rays_from_pixels,
    scale_intrinsics,
)


def random_c2w(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    c2w = np.tile(np.eye(4), (n, 1, 1))
    c2w[:, :3, :3] = Rotation.random(n, random_state=seed).as_matrix()
    c2w[:, :3, 3] = rng.normal(size=(n, 3)) * 3
    return c2w


def test_opengl_opencv_round_trip_and_types():
    c2w = random_c2w(5)
    cv = opengl_to_opencv(c2w)
    assert isinstance(cv, np.ndarray)
    np.testing.assert_allclose(opencv_to_opengl(cv), c2w)
    np.testing.assert_allclose(cv[:, :3, 3], c2w[:, :3, 3])
    np.testing.assert_allclose(cv[:, :3, 0], c2w[:, :3, 0])
    np.testing.assert_allclose(cv[:, :3, 1:3], -c2w[:, :3, 1:3])
    t = torch.from_numpy(c2w).float()
    cv_t = opengl_to_opencv(t)
    assert isinstance(cv_t, torch.Tensor) and cv_t.dtype == torch.float32
    torch.testing.assert_close(cv_t, torch.from_numpy(cv).float())
    torch.testing.assert_close(opencv_to_opengl(cv_t), t)


def test_opengl_camera_looks_down_negative_z():
    # An OpenGL camera at the origin looks along -z: a point at z=-2 is in front after conversion.
    c2w_gl = np.eye(4)
    K = intrinsics_matrix(10.0, 10.0, 5.0, 5.0)
    uv, z = project_points(torch.tensor([[0.0, 1.0, -2.0]]), K, opengl_to_opencv(c2w_gl))
    assert z.item() == pytest.approx(2.0)
    # world +y is "up" in OpenGL, so the point appears above the image centre (smaller v)
    assert uv[0, 1].item() < 5.0


def test_point_in_front_of_opencv_camera_has_positive_z():
    c2w = random_c2w(4, seed=1)
    K = intrinsics_matrix(50.0, 60.0, 32.0, 24.0)
    for c in c2w:
        ahead = c[:3, 3] + 2.5 * c[:3, 2]
        behind = c[:3, 3] - 1.0 * c[:3, 2]
        _, z = project_points(torch.tensor(np.stack([ahead, behind])), K, torch.tensor(c))
        assert z[0].item() == pytest.approx(2.5) and z[1].item() == pytest.approx(-1.0)


def test_intrinsics_helpers():
    K = intrinsics_matrix(100.0, 110.0, 40.0, 30.0)
    np.testing.assert_array_equal(K, [[100, 0, 40], [0, 110, 30], [0, 0, 1]])
    Kt = intrinsics_matrix(torch.tensor([100.0, 200.0]), 110.0, 40.0, 30.0)
    assert Kt.shape == (2, 3, 3) and Kt[1, 0, 0].item() == 200.0 and Kt[1, 1, 1].item() == 110.0
    Ks = scale_intrinsics(K, 0.5)
    np.testing.assert_allclose(Ks, [[50, 0, 20], [0, 55, 15], [0, 0, 1]])
    Kst = scale_intrinsics(torch.tensor(K), 0.5, 0.25)
    torch.testing.assert_close(Kst, torch.tensor([[50.0, 0, 20], [0, 27.5, 7.5], [0, 0, 1]], dtype=torch.float64))
    assert focal_from_fov(math.pi / 2, 200) == pytest.approx(100.0)
    # Blender lego: camera_angle_x 0.6911112070083618 at 800 px -> focal 1111.11
    assert focal_from_fov(0.6911112070083618, 800) == pytest.approx(1111.1110311937682)
    with pytest.raises(ValueError):
        focal_from_fov(0.0, 10)


def test_scale_intrinsics_matches_block_average_downscale():
    # Downscaling by 2 with pixel-edge alignment: new pixel (u', v') covers old pixels 2u'..2u'+1.
    # A point projecting to the centre of new pixel (u', v') must do so under the scaled K.
    K = intrinsics_matrix(37.0, 41.0, 16.0, 12.0)
    c2w = torch.eye(4, dtype=torch.float64)
    pts = torch.tensor([[0.3, -0.2, 2.0], [-0.5, 0.4, 3.0]], dtype=torch.float64)
    uv, _ = project_points(pts, K, c2w)
    uv2, _ = project_points(pts, scale_intrinsics(K, 0.5), c2w)
    torch.testing.assert_close(uv2, uv * 0.5)


def test_pixel_centers():
    u, v = pixel_centers(2, 3)
    torch.testing.assert_close(u, torch.tensor([[0.5, 1.5, 2.5], [0.5, 1.5, 2.5]]))
    torch.testing.assert_close(v, torch.tensor([[0.5, 0.5, 0.5], [1.5, 1.5, 1.5]]))


def test_centre_ray_is_optical_axis():
    H, W = 6, 8
    K = intrinsics_matrix(9.0, 7.0, W / 2, H / 2)
    c2w = torch.tensor(random_c2w(1, seed=3)[0])
    # With cx = W/2 and even W, the optical axis passes through the corner shared by pixels (3,2),(4,2),(3,3),(4,3).
    o, d = get_rays(K, c2w, H, W)
    mean_dir = d[2:4, 3:5].reshape(-1, 3).mean(0)
    torch.testing.assert_close(mean_dir / mean_dir.norm(), c2w[:3, 2])
    # Odd size: the central pixel's ray is exactly the optical axis.
    H, W = 5, 7
    K = intrinsics_matrix(9.0, 7.0, W / 2, H / 2)
    o, d = get_rays(K, c2w, H, W)
    torch.testing.assert_close(d[2, 3], c2w[:3, 2])
    torch.testing.assert_close(o[2, 3], c2w[:3, 3])
    assert o.shape == d.shape == (H, W, 3)


def test_get_rays_unnormalized_has_unit_camera_z_and_brute_force():
    H, W = 3, 4
    K = intrinsics_matrix(5.0, 6.0, 1.7, 1.2)
    c2w = torch.tensor(random_c2w(1, seed=4)[0])
    o, d = get_rays(K, c2w, H, W, normalize=False)
    R = c2w[:3, :3].numpy()
    for v in range(H):
        for u in range(W):
            d_cam = np.array([(u + 0.5 - 1.7) / 5.0, (v + 0.5 - 1.2) / 6.0, 1.0])
            np.testing.assert_allclose(d[v, u].numpy(), R @ d_cam, rtol=1e-12, atol=1e-12)
    # camera-space z of every direction is 1: t along d is z-depth
    torch.testing.assert_close(d @ c2w[:3, 2], torch.ones(H, W, dtype=torch.float64))


def test_get_rays_batched_matches_single():
    c2w = torch.tensor(random_c2w(3, seed=5)).float()
    K = torch.stack([torch.tensor(intrinsics_matrix(5.0 + i, 6.0, 2.0, 1.5)).float() for i in range(3)])
    o, d = get_rays(K, c2w, 3, 4)
    assert o.shape == d.shape == (3, 3, 4, 3)
    for i in range(3):
        oi, di = get_rays(K[i], c2w[i], 3, 4)
        torch.testing.assert_close(o[i], oi)
        torch.testing.assert_close(d[i], di)
    torch.testing.assert_close(d.norm(dim=-1), torch.ones(3, 3, 4))
    # one K shared by a batch of poses
    o2, d2 = get_rays(K[0], c2w, 3, 4)
    torch.testing.assert_close(d2[1], get_rays(K[0], c2w[1], 3, 4)[1])


def test_rays_from_pixels_agrees_with_get_rays():
    H, W, B = 5, 6, 3
    c2w = torch.tensor(random_c2w(B, seed=6)).float()
    K = torch.stack([torch.tensor(intrinsics_matrix(4.0 + i, 5.0, 3.1, 2.4)).float() for i in range(B)])
    g = torch.Generator().manual_seed(0)
    n = 40
    cam = torch.randint(B, (n,), generator=g)
    u, v = torch.randint(W, (n,), generator=g), torch.randint(H, (n,), generator=g)
    o_all, d_all = get_rays(K, c2w, H, W, normalize=False)
    for normalize in (True, False):
        o, d = rays_from_pixels(K[cam], c2w[cam], u, v, normalize=normalize)
        ref = d_all[cam, v, u]
        if normalize:
            ref = ref / ref.norm(dim=-1, keepdim=True)
        torch.testing.assert_close(o, o_all[cam, v, u])
        torch.testing.assert_close(d, ref)


def test_project_recovers_pixel_of_every_ray():
    H, W = 7, 9
    K = intrinsics_matrix(8.0, 6.5, 4.2, 3.7)
    c2w = torch.tensor(random_c2w(1, seed=7)[0])
    o, d = get_rays(K, c2w, H, W)
    g = torch.Generator().manual_seed(1)
    t = 0.5 + 5 * torch.rand(H, W, generator=g, dtype=torch.float64)
    pts = (o + t[..., None] * d).reshape(-1, 3)
    uv, z = project_points(pts, K, c2w)
    assert bool((z > 0).all())
    for v in range(H):
        for u in range(W):
            k = v * W + u
            assert (int(math.floor(uv[k, 0])), int(math.floor(uv[k, 1]))) == (u, v)
            np.testing.assert_allclose(uv[k].numpy(), [u + 0.5, v + 0.5], atol=1e-9)


def test_look_at_opencv_axes():
    eye = np.array([3.0, 0.0, 0.0])
    c2w = look_at(eye, np.zeros(3), up=(0.0, 0.0, 1.0))
    np.testing.assert_allclose(c2w[:3, 2], [-1, 0, 0], atol=1e-12)  # forward towards the target
    np.testing.assert_allclose(c2w[:3, 1], [0, 0, -1], atol=1e-12)  # y down = against up
    np.testing.assert_allclose(c2w[:3, 3], eye)
    np.testing.assert_allclose(c2w[:3, :3] @ c2w[:3, :3].T, np.eye(3), atol=1e-12)
    assert np.linalg.det(c2w[:3, :3]) == pytest.approx(1.0)
    # the target projects to the principal point, and an up-shifted point appears above it
    K = intrinsics_matrix(10.0, 10.0, 5.0, 4.0)
    uv, z = project_points(torch.tensor([[0.0, 0.0, 0.0], [0.0, 0.0, 0.5]]), K, torch.tensor(c2w))
    np.testing.assert_allclose(uv[0].numpy(), [5.0, 4.0], atol=1e-12)
    assert uv[1, 1].item() < 4.0 and z[0].item() == pytest.approx(3.0)
    batched = look_at(torch.tensor([[0.0, -2.0, 1.0], [1.0, 1.0, 1.0]]), torch.zeros(3))
    assert isinstance(batched, torch.Tensor) and batched.shape == (2, 4, 4)
    with pytest.raises(ValueError):
        look_at(np.array([0.0, 0.0, 2.0]), np.zeros(3), up=(0.0, 0.0, 1.0))


def test_normalize_poses_to_sphere_round_trip_and_invariance():
    c2w = random_c2w(6, seed=8)
    c2w[:, :3, 3] += np.array([10.0, -4.0, 2.0])
    rng = np.random.default_rng(2)
    pts = rng.normal(size=(20, 3)) * 2 + np.array([10.0, -4.0, 2.0])
    c2w_n, norm = normalize_poses_to_sphere(c2w, points=pts, radius=1.5)
    centres_n = c2w_n[:, :3, 3]
    pts_n = norm.apply_points(pts)
    radii = np.linalg.norm(np.concatenate([centres_n, pts_n]), axis=-1)
    assert radii.max() == pytest.approx(1.5)
    np.testing.assert_allclose(norm.inverse_c2w(c2w_n), c2w, atol=1e-12)
    np.testing.assert_allclose(norm.inverse_points(pts_n), pts, atol=1e-12)
    np.testing.assert_allclose(c2w_n[:, :3, :3], c2w[:, :3, :3])
    K = intrinsics_matrix(20.0, 20.0, 8.0, 6.0)
    for i in range(6):
        uv, z = project_points(pts, K, c2w[i])
        uv_n, z_n = project_points(pts_n, K, c2w_n[i])
        torch.testing.assert_close(uv_n, uv)
        torch.testing.assert_close(z_n, z * norm.scale)
    # torch in -> torch out (same dtype); cameras only
    c2w_t, norm_t = normalize_poses_to_sphere(torch.tensor(c2w).float())
    assert c2w_t.dtype == torch.float32
    assert np.linalg.norm(c2w_t[:, :3, 3].numpy(), axis=-1).max() == pytest.approx(1.0, rel=1e-5)
