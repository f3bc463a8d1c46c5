"""Primitive geometry: closed, outward-facing, correct texture coordinates; real meshes normalised."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from common.data.synthetic.meshes import (
    box_geometry,
    cylinder_geometry,
    cylindrical_uvs,
    load_real_mesh,
    quad,
    sphere_geometry,
)

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data"


def signed_volume(verts, faces):
    """Divergence theorem: sum of tetrahedra (0, a, b, c) / 6; positive for outward-facing closed meshes."""
    t = verts[faces]
    return np.einsum("ij,ij->i", t[:, 0], np.cross(t[:, 1], t[:, 2])).sum() / 6.0


@pytest.mark.parametrize(
    "geom, volume",
    [
        (box_geometry((1.0, 2.0, 3.0)), 6.0),
        (cylinder_geometry(0.5, 2.0, segments=64), np.pi * 0.25 * 2.0),
        (sphere_geometry(1.0, rings=48, segments=96), 4.0 / 3.0 * np.pi),
    ],
)
def test_closed_outward_volumes(geom, volume):
    verts, faces, uvs = geom
    assert uvs.shape == (len(faces), 3, 2)
    assert signed_volume(verts, faces) == pytest.approx(volume, rel=0.01)


def test_quad_winding_and_uv():
    verts, faces, uvs = quad((0, 0, 0), (2, 0, 0), (0, 0, -1), (0, -1, 0), (4.0, 2.0))
    n = np.cross(verts[faces[0, 1]] - verts[faces[0, 0]], verts[faces[0, 2]] - verts[faces[0, 0]])
    assert n @ np.array([0, -1, 0]) > 0
    # texture coordinates are an affine function of position: u = 2 x, v = -2 z
    for f, uv in zip(faces, uvs):
        np.testing.assert_allclose(uv[:, 0], 2 * verts[f, 0])
        np.testing.assert_allclose(uv[:, 1], -2 * verts[f, 2])


def test_box_uv_tiles_per_metre():
    verts, faces, uvs = box_geometry((2.0, 1.0, 1.0), tile=0.5)
    span = uvs.max(axis=1) - uvs.min(axis=1)
    assert span.max() == pytest.approx(4.0)


def test_cylindrical_uvs_do_not_wrap_across_seam():
    ang = np.array([np.pi - 0.05, -np.pi + 0.05, np.pi])
    verts = np.stack([np.cos(ang), np.sin(ang), [0.0, 0.0, 0.5]], -1)
    uv = cylindrical_uvs(verts, np.array([[0, 1, 2]]), repeats=1.0)
    assert np.ptp(uv[0, :, 0]) < 0.05


@pytest.mark.realdata
@pytest.mark.parametrize("name", ["cow", "bunny", "armadillo", "teapot"])
def test_real_meshes_normalised(name):
    if not (SHARED / "meshes-pytorch3d").is_dir() or not (SHARED / "meshes-stanford-instant-ngp").is_dir():
        pytest.skip(f"real meshes not present under {SHARED}")
    mesh = load_real_mesh(name)
    lo, hi = mesh.vertices.min(axis=0), mesh.vertices.max(axis=0)
    np.testing.assert_allclose([lo[2], hi[2]], [0.0, 1.0], atol=1e-9)
    np.testing.assert_allclose(lo[:2] + hi[:2], 0.0, atol=1e-9)
    assert len(mesh.faces) <= 20000 or name == "cow"
    assert (mesh.texture is not None) == (name == "cow")
    assert abs(signed_volume(mesh.vertices, mesh.faces)) > 0.01  # a solid, not a soup of slivers
