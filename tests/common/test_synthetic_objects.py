"""Object categories: primitive geometry against closed forms, every category normalised, deterministic, and its
anchor inside the rendered foreground; the object kinds register with their loader formats."""

from __future__ import annotations

import numpy as np
import pytest

from common.data.synthetic.objects import (
    CATEGORIES,
    OBJECT_ID,
    build_object,
    build_object_scene,
    lathe_geometry,
    torus_geometry,
)
from common.data.synthetic.raycast import Renderer
from common.data.synthetic.trajectories import look_at


def test_lathe_vertices_lie_on_profile_circles():
    r, z = np.array([0.0, 0.3, 0.5, 0.2]), np.array([0.0, 0.1, 0.6, 0.9])
    verts, faces, uvs = lathe_geometry(r, z, segments=12)
    assert verts.shape == (4 * 13, 3) and faces.shape == (2 * 3 * 12, 3) and uvs.shape == (len(faces), 3, 2)
    for k in range(4):
        ring = verts[k * 13 : (k + 1) * 13]
        np.testing.assert_allclose(np.hypot(ring[:, 0], ring[:, 1]), r[k], atol=1e-12)
        np.testing.assert_allclose(ring[:, 2], z[k])
    assert faces.min() == 0 and faces.max() == len(verts) - 1
    with pytest.raises(ValueError):
        lathe_geometry([0.0, 1.0], [0.0])


def test_torus_satisfies_implicit_equation():
    verts, _, _ = torus_geometry(0.35, 0.15)
    resid = (np.hypot(verts[:, 0], verts[:, 1]) - 0.35) ** 2 + (verts[:, 2] - 0.15) ** 2 - 0.15**2
    assert np.abs(resid).max() < 1e-12 and verts[:, 2].min() == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize("category", CATEGORIES)
def test_category_normalised_deterministic_and_anchor_in_mask(category):
    obj = build_object(category, seed=7, variant=1)
    verts = np.concatenate([p.vertices for p in obj.parts])
    assert np.all(np.isfinite(verts)) and len(CATEGORIES) >= 10
    assert verts[:, 2].min() == pytest.approx(0.0, abs=1e-9)
    radius = np.linalg.norm(verts - [0.0, 0.0, obj.height / 2], axis=-1).max()
    assert radius == pytest.approx(1.0, rel=1e-9)
    again = build_object(category, seed=7, variant=1)
    np.testing.assert_array_equal(np.concatenate([p.vertices for p in again.parts]), verts)
    other = np.concatenate([p.vertices for p in build_object(category, seed=8, variant=1).parts])
    assert other.shape != verts.shape or not np.allclose(other, verts)
    renderer = Renderer(build_object_scene(obj, seed=1))
    K = np.array([[40.0, 0.0, 24.0], [0.0, 40.0, 24.0], [0.0, 0.0, 1.0]])
    for az, el in ((0.3, 0.4), (2.4, 0.9), (4.4, 0.15)):
        eye = 3.0 * np.array([np.cos(az) * np.cos(el), np.sin(az) * np.cos(el), np.sin(el)]) + [0, 0, obj.height / 2]
        c2w = look_at(eye, (0.0, 0.0, obj.height / 2))
        view = renderer.render(K, c2w, 48, 48)
        fg = view.instance == OBJECT_ID
        cam = np.linalg.inv(c2w)[:3] @ np.append(obj.anchor, 1.0)
        u, v = (K @ cam)[:2] / cam[2]
        r, c = int(np.floor(v)), int(np.floor(u))
        assert fg[max(r - 1, 0) : r + 2, max(c - 1, 0) : c + 2].any(), (category, az)
        assert 0.01 < fg.mean() < 0.9


def test_unknown_category_is_an_error():
    with pytest.raises(ValueError, match="category"):
        build_object("spaceship", seed=0)


def test_register_object_kinds_adds_kinds_with_loader_formats():
    from common.data.registry import FORMATS
    from common.data.synthetic import KINDS
    from common.data.synthetic.object_kinds import register_object_kinds

    register_object_kinds()
    assert {k: KINDS[k].format for k in ("co3dv2", "dnerf", "shapes")} == {
        "co3dv2": "co3dv2",
        "dnerf": "dnerf",
        "shapes": "blender",
    }
    assert all(KINDS[k].format in FORMATS for k in ("co3dv2", "dnerf", "shapes"))
