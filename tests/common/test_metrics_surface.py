"""Surface metrics (common.metrics.surface) against brute force, closed forms and the real meshes."""

from __future__ import annotations

import numpy as np
import pytest

from common.data.errors import DataFormatError
from common.metrics.errors import MetricUnavailable
from common.metrics.surface import (
    crop_to_box,
    cull_to_frustums,
    evaluate_mesh,
    load_mesh,
    mesh_metrics,
    point_metrics,
    sample_surface,
    save_mesh,
    to_report_units,
    visible_vertices,
)
from common.o3d import import_open3d
from tests.common.data_fixtures import shared_sample


def sphere(radius: float, resolution: int = 120) -> tuple[np.ndarray, np.ndarray]:
    o3d = import_open3d()
    m = o3d.geometry.TriangleMesh.create_sphere(radius=radius, resolution=resolution)
    return np.asarray(m.vertices), np.asarray(m.triangles).astype(np.int64)


def brute_force(rec: np.ndarray, gt: np.ndarray, rn: np.ndarray, gn: np.ndarray, tau: float) -> dict:
    d = np.linalg.norm(rec[:, None] - gt[None], axis=-1)  # [P, Q]
    d_rec, d_gt = d.min(1), d.min(0)
    nn_rec, nn_gt = d.argmin(1), d.argmin(0)
    p, r = (d_rec < tau).mean(), (d_gt < tau).mean()
    nc = (np.abs((rn * gn[nn_rec]).sum(1)).mean() + np.abs((gn * rn[nn_gt]).sum(1)).mean()) / 2
    return {
        "accuracy": d_rec.mean(),
        "completeness": d_gt.mean(),
        "chamfer_l1": (d_rec.mean() + d_gt.mean()) / 2,
        "precision": p,
        "recall": r,
        "fscore": 2 * p * r / (p + r),
        "normal_consistency": nc,
    }


def unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_point_metrics_match_brute_force():
    rng = np.random.default_rng(0)
    rec, gt = rng.uniform(0, 0.5, (300, 3)), rng.uniform(0, 0.5, (250, 3))
    rn, gn = unit(rng.normal(size=(300, 3))), unit(rng.normal(size=(250, 3)))
    got = point_metrics(rec, gt, rn, gn, threshold=0.05)
    ref = brute_force(rec, gt, rn, gn, 0.05)
    assert set(got) == set(ref)
    for k in ref:
        assert got[k] == pytest.approx(ref[k], rel=1e-10, abs=1e-12), k
    assert 0 < got["precision"] < 1 and 0 < got["recall"] < 1  # the threshold actually splits the points


def test_concentric_spheres_closed_form():
    inner, outer = sphere(1.0), sphere(1.2)
    m = mesh_metrics(outer, inner, n_samples=20000, crop=False, seed=1)
    # every point of one sphere is 0.2 from the other (up to the polygonal approximation)
    assert m["accuracy"] == pytest.approx(0.2, abs=2e-3)
    assert m["completeness"] == pytest.approx(0.2, abs=2e-3)
    assert m["chamfer_l1"] == pytest.approx(0.2, abs=2e-3)
    assert m["precision"] == 0 and m["recall"] == 0 and m["fscore"] == 0  # 0.2 > 5 cm
    assert m["normal_consistency"] > 0.99  # radial normals on both
    close = mesh_metrics(sphere(1.03), inner, n_samples=20000, crop=False)
    # at a 3 cm gap the sample spacing (~2.5 cm at 20k samples) adds a little to the nearest-neighbour distance
    assert 0.03 - 1e-3 < close["accuracy"] < 0.03 + 5e-3 and close["fscore"] > 0.99
    cm = to_report_units(m)
    assert cm["accuracy"] == pytest.approx(20.0, abs=0.2) and cm["normal_consistency"] > 99


def test_sample_surface_is_area_weighted_and_on_faces():
    # two triangles in z=0 with areas 0.5 and 4.5
    v = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [5, 0, 0], [8, 0, 0], [5, 3, 0]], dtype=np.float64)
    f = np.array([[0, 1, 2], [3, 4, 5]])
    p, n = sample_surface(v, f, 40000, np.random.default_rng(0))
    small = (p[:, 0] <= 1) & (p[:, 1] <= 1) & (p[:, 0] + p[:, 1] <= 1 + 1e-12) & (p[:, 0] >= 0)
    big = (p[:, 0] >= 5) & (p[:, 1] >= 0) & ((p[:, 0] - 5) + p[:, 1] <= 3 + 1e-12)
    assert (small | big).all() and np.allclose(p[:, 2], 0)
    assert small.mean() == pytest.approx(0.1, abs=0.01)
    assert np.allclose(np.abs(n[:, 2]), 1)
    # uniform inside a triangle: the mean of the samples of the big one is its centroid
    assert np.allclose(p[big].mean(0), [6, 1, 0], atol=0.03)


def test_culling_matches_brute_force():
    rng = np.random.default_rng(2)
    verts = rng.uniform(-3, 3, (400, 3))
    faces = rng.integers(0, 400, (300, 3))
    K = np.array([[20.0, 0, 16], [0, 20.0, 12], [0, 0, 1]])
    c2w = np.tile(np.eye(4), (3, 1, 1))
    c2w[1, :3, 3] = [0.5, 0, -4]
    c2w[2, :3, :3] = [[0, 0, 1], [0, 1, 0], [-1, 0, 0]]  # looking along +x
    seen = np.zeros(400, bool)
    for i in range(400):
        for c in c2w:
            x = np.linalg.inv(c) @ np.append(verts[i], 1)
            if x[2] > 0:
                u, v = (K @ x[:3])[:2] / x[2]
                seen[i] |= 0 < u < 32 and 0 < v < 24
    got = visible_vertices(verts, K, c2w, 32, 24, chunk=2)
    assert (got == seen).all() and 0 < seen.sum() < 400
    cv, cf = cull_to_frustums(verts, faces, K, c2w, 32, 24)
    expected = faces[seen[faces].any(1)]
    assert len(cf) == len(expected) and np.allclose(cv[cf], verts[expected])


def test_crop_to_box_keeps_faces_with_all_vertices_inside():
    v = np.array([[0, 0, 0], [0.5, 0, 0], [0, 0.5, 0], [1.04, 0, 0], [1.06, 0, 0]], dtype=np.float64)
    f = np.array([[0, 1, 2], [0, 1, 3], [0, 1, 4]])
    box = (np.zeros(3), np.eye(3), np.full(3, 2.0))  # [-1, 1]^3, x 1.05 -> [-1.05, 1.05]
    cv, cf = crop_to_box(v, f, box)
    assert len(cf) == 2 and cv.max() == pytest.approx(1.04)


def test_mesh_metrics_without_surface_in_box_is_unavailable():
    far = sphere(0.1)
    with pytest.raises(MetricUnavailable, match="no surface"):
        mesh_metrics((far[0] + 10, far[1]), sphere(1.0), n_samples=100)


def test_bad_mesh_files_name_the_file(tmp_path):
    missing = tmp_path / "nothing.ply"
    with pytest.raises(DataFormatError, match="nothing.ply: mesh file not found"):
        load_mesh(missing)
    garbage = tmp_path / "garbage.ply"
    garbage.write_bytes(b"this is not a ply file\n")
    with pytest.raises(DataFormatError) as err:
        load_mesh(garbage)
    assert str(garbage) in str(err.value) and "\n" not in str(err.value)
    weird = tmp_path / "mesh.xyz"
    weird.write_text("0 0 0\n")
    with pytest.raises(DataFormatError, match="unsupported mesh file type"):
        load_mesh(weird)
    with pytest.raises(DataFormatError, match="garbage.ply"):
        evaluate_mesh(garbage, garbage)


def test_save_load_round_trip_and_evaluate_files(tmp_path):
    v, f = sphere(1.0, 30)
    a = save_mesh(tmp_path / "a.ply", v, f)
    b = save_mesh(tmp_path / "b.ply", v * 1.02, f)
    lv, lf = load_mesh(a)
    assert np.allclose(lv, v) and (lf == f).all()
    K = np.array([[50.0, 0, 32], [0, 50.0, 32], [0, 0, 1]])
    c2w = np.eye(4)[None].copy()
    c2w[0, :3, 3] = [0, 0, -5]  # sees the whole sphere
    rep = evaluate_mesh(b, a, cameras=(K, c2w, 64, 64), n_samples=20000)
    assert rep["faces"]["after_cull"] == len(f)
    assert 2.0 - 0.1 < rep["metrics"]["accuracy"] < 2.0 + 1.0  # cm: the 2 cm gap plus the sample spacing
    assert rep["metrics"]["fscore"] > 99.9
    away = c2w.copy()
    away[0, :3, 3] = [0, 0, 5]
    away[0, :3, :3] = np.diag([1.0, 1.0, 1.0])  # looks along +z, away from the sphere
    rep = evaluate_mesh(b, a, cameras=(K, away, 64, 64), n_samples=500)
    assert rep["metrics"] == {} and "no surface" in rep["missing"]["chamfer_l1"]


@pytest.mark.realdata
@pytest.mark.parametrize("name", ["meshes-stanford-instant-ngp/bunny.obj", "meshes-pytorch3d/teapot.obj"])
def test_real_mesh_against_perturbed_copy(name):
    folder, file = name.split("/")
    path = shared_sample(folder) / file
    v, f = load_mesh(path)
    extent = np.ptp(v, axis=0).max()
    v = v / extent  # about 1 m across: the 5 cm threshold is meaningful
    rng = np.random.default_rng(3)
    same = mesh_metrics((v, f), (v, f), n_samples=20000, seed=4)
    assert same["chamfer_l1"] < 0.01 and same["fscore"] == pytest.approx(1.0, abs=1e-3)
    assert same["normal_consistency"] > 0.95
    shifted = mesh_metrics((v + [0.02, 0, 0], f), (v, f), n_samples=20000, crop=False)
    assert 0.005 < shifted["accuracy"] <= 0.02 + 1e-3 and shifted["fscore"] > 0.99
    noisy = mesh_metrics((v + rng.normal(0, 0.03, v.shape), f), (v, f), n_samples=20000)
    assert noisy["chamfer_l1"] > same["chamfer_l1"] and noisy["normal_consistency"] < same["normal_consistency"]
    assert noisy["fscore"] < same["fscore"]
