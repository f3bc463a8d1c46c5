"""Ray casting: ray directions, z-depth, labels and Lambertian shading against hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest

from common.data.synthetic.meshes import Light, Scene, make_part, quad
from common.data.synthetic.raycast import Renderer, pixel_rays, uv_density
from common.data.synthetic.trajectories import look_at


def plane_scene(light_shadow=False, blocker=False):
    """An 8x8 m wall at y = 3 facing -y (texture constant 0.5) and optionally a small blocker at y = 2."""
    tex = np.full((1, 4, 4, 3), 0.5, dtype=np.float32)
    parts = [make_part(quad((-4, 3, 4), (8, 0, 0), (0, 0, -8), (0, -1, 0), (1, 1)), 0, (1.0, 0.8, 0.6), 1, 7)]
    if blocker:
        parts.append(make_part(quad((-0.2, 2, 0.2), (0.4, 0, 0), (0, 0, -0.4), (0, -1, 0), (1, 1)), 0, (1, 1, 1), 2, 8))
    light = Light("point", (0.0, 0.0, 0.0), 0.5, shadows=light_shadow)
    return Scene(
        "t", parts, tex, ("void", "wall", "box"), [light], 0.25, (0.0, 0.0, 0.0), np.array([[-2, 0, -2], [2, 3, 2]])
    )


def test_pixel_rays_match_loop():
    K = np.array([[20.0, 0, 7.0], [0, 22.0, 5.0], [0, 0, 1]])
    c2w = look_at((1, 2, 3), (0, 0, 0))
    o, d = pixel_rays(K, c2w, 10, 14)
    for v in range(10):
        for u in range(14):
            cam = np.linalg.solve(K, [u + 0.5, v + 0.5, 1.0])
            np.testing.assert_allclose(d[v, u], c2w[:3, :3] @ cam, atol=1e-12)
    np.testing.assert_allclose(o[3, 4], [1, 2, 3])


def test_depth_labels_and_shading_of_a_wall():
    scene = plane_scene()
    K = np.array([[10.0, 0, 8.0], [0, 10.0, 8.0], [0, 0, 1]])
    c2w = look_at((0, 0, 0), (0, 1, 0))
    view = Renderer(scene).render(K, c2w, 16, 16)
    assert np.allclose(view.depth, 3.0, atol=1e-4)  # z-depth, not ray length
    assert np.all(view.semantic == 1) and np.all(view.instance == 7)
    np.testing.assert_allclose(view.normal, np.broadcast_to([0, -1, 0], (16, 16, 3)), atol=1e-6)
    # Lambert: rgb = 0.5 * tint * (0.25 + 0.5 * cos(angle to the point light at the camera))
    o, d = pixel_rays(K, c2w, 16, 16)
    p = o + 3.0 * d
    cos = p[..., 1] / np.linalg.norm(p, axis=-1)
    ref = 0.5 * np.array([1.0, 0.8, 0.6]) * (0.25 + 0.5 * cos)[..., None]
    np.testing.assert_allclose(view.rgb, ref, atol=1e-4)


@pytest.mark.parametrize("shadows", [False, True])
def test_shadow_of_a_blocker(shadows):
    scene = plane_scene(light_shadow=shadows, blocker=True)
    K = np.array([[10.0, 0, 8.0], [0, 10.0, 8.0], [0, 0, 1]])
    view = Renderer(scene).render(K, look_at((1.5, 0, 0), (0, 3, 0)), 16, 16)
    wall = view.semantic == 1
    # pixels of the wall hidden from the light at the origin by the blocker (shadow centre around x = 0)
    o, d = pixel_rays(K, look_at((1.5, 0, 0), (0, 3, 0)), 16, 16)
    p = o + view.depth[..., None] * d
    behind = wall & (np.abs(p[..., 0] * 2 / 3) < 0.2) & (np.abs(p[..., 2] * 2 / 3) < 0.2)
    assert behind.sum() > 2
    dark = np.allclose(view.rgb[behind], 0.5 * np.array([1.0, 0.8, 0.6]) * 0.25, atol=1e-4)
    assert dark == shadows


def test_uv_density_of_tiled_quad():
    scene = plane_scene()
    # the wall maps 8 m to 1 texture unit in both directions
    np.testing.assert_allclose(uv_density(scene.merged()), 0.125, rtol=1e-6)
