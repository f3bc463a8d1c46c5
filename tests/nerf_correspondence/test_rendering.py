import math

import torch

from nerf_correspondence.rendering import (
    camera_origins,
    camera_rays,
    camera_space_directions,
    integrate,
    render_rays,
    sample_camera_angles,
)


def test_camera_origin_formula_and_look_at():
    pitch, yaw = torch.tensor([math.pi / 2, 0.3]), torch.tensor([math.pi / 2, 1.1])
    o = camera_origins(pitch, yaw, 2.0)
    assert torch.allclose(o[0], torch.tensor([0.0, 0.0, 2.0]), atol=1e-6)  # pi-GAN's mean CelebA pose: +z
    ref = 2 * torch.tensor([math.sin(0.3) * math.cos(1.1), math.cos(0.3), math.sin(0.3) * math.sin(1.1)])
    assert torch.allclose(o[1], ref, atol=1e-6)
    _, dirs = camera_rays(o, 3, 30.0)
    centre = dirs[:, 4]  # the middle pixel of a 3 x 3 image looks at the origin
    assert torch.allclose(centre, -o / o.norm(dim=-1, keepdim=True), atol=1e-6)
    cam = camera_space_directions(3, 90.0)
    assert torch.allclose(cam[0], torch.nn.functional.normalize(torch.tensor([-1.0, 1.0, -1.0]), dim=0))  # top-left
    # top row of the image is "up" in the world for the mean pose
    assert dirs[0, 0, 1] > 0 and dirs[0, 8, 1] < 0


def test_pose_sampling_ranges():
    g = torch.Generator().manual_seed(0)
    phi, theta = sample_camera_angles(4000, "uniform", 1.0, 1.2, 0.5, 0.3, g)
    assert phi.min() >= 0.9 - 1e-6 and phi.max() <= 1.5 + 1e-6 and theta.min() >= 0.5 and theta.max() <= 1.5
    phi, theta = sample_camera_angles(4000, "gaussian", math.pi / 2, math.pi / 2, 0.3, 0.155, g)
    assert abs(theta.std().item() - 0.3) < 0.02 and abs(phi.mean().item() - math.pi / 2) < 0.02


def test_integrate_constant_density_closed_form():
    t = torch.linspace(0.0, 1.0, 6)[None]  # delta 0.2, last 1e10
    sigma = torch.full((1, 6), 2.0)
    rgb = torch.rand(1, 6, 3)
    color, w, trans, final = integrate(sigma, rgb, t)
    a = 1 - math.exp(-0.4)
    ref_w = torch.tensor([(1 - a) ** i * a for i in range(5)] + [(1 - a) ** 5])
    assert torch.allclose(w[0], ref_w, atol=1e-6)
    assert torch.allclose(trans[0], torch.tensor([(1 - a) ** i for i in range(6)]), atol=1e-6)
    assert torch.allclose(color, (w[..., None] * rgb).sum(1), atol=1e-6) and final.item() < 1e-6


def sphere_field(radius=0.5):
    def fn(points, dirs):
        inside = (points.norm(dim=-1) < radius).float()
        return 50.0 * inside, torch.ones_like(points) * torch.tensor([0.2, 0.4, 0.6])

    return fn


def test_hierarchical_samples_concentrate_at_the_surface_and_render_the_sphere():
    torch.manual_seed(0)
    o = camera_origins(torch.tensor([math.pi / 2]), torch.tensor([math.pi / 2]), 2.0)
    origins, dirs = camera_rays(o, 9, 40.0)
    out = render_rays(sphere_field(), origins, dirs, 1.0, 3.0, 16, hierarchical=True, perturb=True)
    assert out.t.shape == (1, 81, 32) and (out.t[..., 1:] >= out.t[..., :-1]).all()
    centre = out.t[0, 40]
    fine_near_surface = ((centre > 1.4) & (centre < 1.6)).sum()
    assert fine_near_surface >= 12  # the 16 pdf samples cluster where the coarse weights are (t = 1.5)
    assert torch.allclose(out.rgb[0, 40], torch.tensor([0.2, 0.4, 0.6]), atol=1e-3)
    assert abs(out.depth[0, 40].item() - 1.5) < 0.1
    white = render_rays(sphere_field(), origins, dirs, 1.0, 3.0, 16, white_back=True)
    assert torch.allclose(white.rgb[0, 0], torch.ones(3), atol=1e-4)  # corner ray misses the sphere
