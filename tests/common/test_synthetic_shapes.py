"""Deformable shape family: icosphere topology, the deformation against a per-point reference, correspondence
files consistent across instances, rendered vertex colours equal to the stored ones, deterministic output."""

from __future__ import annotations

import json

import numpy as np
import pytest
from synthetic_fixtures import tree_digest

from common.data import load_scene
from common.data.synthetic.shapes import (
    PART_NAMES,
    deform,
    icosphere,
    identity_deformation,
    random_deformation,
    write_shapes,
)
from common.o3d import import_open3d

RES, FRAMES = 48, 4


@pytest.fixture(scope="module")
def family(tmp_path_factory):
    root = tmp_path_factory.mktemp("shapes")
    return root, write_shapes(root, scenes=2, res=RES, seed=2, frames=FRAMES)


@pytest.mark.parametrize("level", [0, 1, 3])
def test_icosphere_is_a_closed_unit_sphere(level):
    verts, faces = icosphere(level)
    assert len(verts) == 10 * 4**level + 2 and len(faces) == 20 * 4**level
    np.testing.assert_allclose(np.linalg.norm(verts, axis=-1), 1.0)
    edges = np.sort(np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]]), axis=1)
    _, counts = np.unique(edges, axis=0, return_counts=True)
    assert np.all(counts == 2) and len(verts) - len(counts) + len(faces) == 2
    centres = verts[faces].mean(axis=1)
    normals = np.cross(verts[faces[:, 1]] - verts[faces[:, 0]], verts[faces[:, 2]] - verts[faces[:, 0]])
    assert np.all(np.sum(normals * centres, -1) > 0)  # outward winding


def _deform_reference(p, prm):
    """One point at a time with explicit matrices."""
    x = np.diag(prm["scale"]) @ p
    x = x + sum(prm["amp"][k] * np.sin(prm["freq"][k] @ x + prm["phase"][k]) for k in range(len(prm["phase"])))
    a = float(prm["twist"]) * x[2]
    x = np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]]) @ x
    b = float(prm["bend"]) * x[2]
    return np.array([[1, 0, 0], [0, np.cos(b), -np.sin(b)], [0, np.sin(b), np.cos(b)]]) @ x


def test_deform_matches_reference_and_identity():
    rng = np.random.default_rng(0)
    pts = rng.uniform(-1, 1, (20, 3))
    prm = random_deformation(rng)
    np.testing.assert_allclose(deform(pts, prm), np.stack([_deform_reference(p, prm) for p in pts]), atol=1e-12)
    np.testing.assert_allclose(deform(pts, identity_deformation()), pts, atol=1e-15)
    # the displacement field is a contraction-perturbed identity: invertible
    assert np.sum(np.linalg.norm(prm["amp"], axis=-1) * np.linalg.norm(prm["freq"], axis=-1)) < 1


def test_correspondence_files_are_consistent(family):
    root, dirs = family
    assert [d.name for d in dirs] == ["template", "instance_000", "instance_001"]
    info = json.loads((root / "shape_family.json").read_text())
    assert info["instances"] == [d.name for d in dirs] and info["part_names"] == list(PART_NAMES)
    tpl = np.load(dirs[0] / "correspondence.npz")
    np.testing.assert_allclose(tpl["vertices"], tpl["template_vertices"], atol=1e-7)
    assert info["num_vertices"] == len(tpl["vertices"]) and info["num_faces"] == len(tpl["faces"])
    assert set(np.unique(tpl["labels"])) <= set(range(len(PART_NAMES))) and len(np.unique(tpl["labels"])) >= 4
    for d in dirs[1:]:
        z = np.load(d / "correspondence.npz")
        np.testing.assert_array_equal(z["faces"], tpl["faces"])
        np.testing.assert_array_equal(z["template_vertices"], tpl["template_vertices"])
        np.testing.assert_array_equal(z["labels"], tpl["labels"])
        params = {k: z[k] for k in ("scale", "amp", "freq", "phase", "twist", "bend")}
        expected = np.stack([_deform_reference(p, params) for p in z["template_vertices"].astype(np.float64)])
        np.testing.assert_allclose(z["vertices"], expected, atol=1e-5)
        assert np.abs(z["vertices"] - z["template_vertices"]).max() > 0.05
        assert np.abs(z["vertices"]).max() < 1.5  # inside the Blender loader's bbox


def _visible_pixels(verts, faces, K, c2w, res):
    """Pixel (row, col) of every vertex whose pixel-centre ray hits the mesh at that vertex's depth (Open3D)."""
    o3d = import_open3d()
    rc = o3d.t.geometry.RaycastingScene()
    rc.add_triangles(o3d.core.Tensor(verts.astype(np.float32)), o3d.core.Tensor(faces.astype(np.uint32)))
    w2c = np.linalg.inv(c2w)
    cam = verts @ w2c[:3, :3].T + w2c[:3, 3]
    u, v = K[0, 0] * cam[:, 0] / cam[:, 2] + K[0, 2], K[1, 1] * cam[:, 1] / cam[:, 2] + K[1, 2]
    col, row = np.floor(u).astype(int), np.floor(v).astype(int)
    d = (
        np.stack([(col + 0.5 - K[0, 2]) / K[0, 0], (row + 0.5 - K[1, 2]) / K[1, 1], np.ones(len(u))], -1)
        @ c2w[:3, :3].T
    )
    rays = np.concatenate([np.broadcast_to(c2w[:3, 3], d.shape), d], -1).astype(np.float32)
    t = rc.cast_rays(o3d.core.Tensor(rays))["t_hit"].numpy()
    vis = np.isfinite(t) & (np.abs(t - cam[:, 2]) < 0.01 * cam[:, 2])
    return np.nonzero(vis)[0], row[vis], col[vis]


def test_rendered_colours_equal_stored_vertex_colours(family):
    _, dirs = family
    for d in dirs:
        scene = load_scene("blender", d, background=(0.0, 0.0, 0.0))
        assert scene.num_views == FRAMES + 4 and (scene.height, scene.width) == (RES, RES)
        z = np.load(d / "correspondence.npz")
        for i in (0, scene.num_views - 1):
            c2w = scene.c2w[i].astype(np.float64)
            idx, r, c = _visible_pixels(z["vertices"].astype(np.float64), z["faces"], scene.K[i], c2w, RES)
            assert len(idx) > 100
            err = np.abs(scene.images[i][r, c] - z["colors"][idx]).mean(-1)
            shuffled = np.abs(scene.images[i][r, c] - z["colors"][np.roll(idx, len(idx) // 2)]).mean(-1)
            assert np.median(err) < 0.05 and np.median(err) < 0.5 * np.median(shuffled)
            assert scene.masks[i][r, c].all()


def test_instances_have_their_own_textures(family):
    _, dirs = family
    colours = [np.load(d / "correspondence.npz")["colors"] for d in dirs]
    assert np.abs(colours[0] - colours[1]).mean() > 0.05
    np.testing.assert_array_equal(np.load(dirs[1] / "correspondence.npz")["template_colors"], colours[0])


def test_same_seed_same_bytes_other_seed_differs(tmp_path):
    for name, seed in (("a", 4), ("b", 4), ("c", 5)):
        write_shapes(tmp_path / name, scenes=1, res=16, seed=seed, frames=2)
    assert tree_digest(tmp_path / "a") == tree_digest(tmp_path / "b") != tree_digest(tmp_path / "c")
