from __future__ import annotations

import json
import os

import numpy as np
import pytest
from data_fixtures import assert_names, random_c2w, random_images, shared_sample, write_images

from common.data import DataFormatError, load_scene
from common.data.replica_monosdf import crop_resize_intrinsics, load

H, W = 8, 10
N = 12
ORIG = (20, 12)  # capture size (W0, H0): centred 15x12 crop -> 10x8, so cx -= 2.5, rows 0-1 *= 2/3
SCALE, SHIFT = 2.5, np.array([1.0, -2.0, 0.5])


def _K(rng):
    K = np.eye(3)
    K[0, 0], K[1, 1] = rng.uniform(8, 12, 2)
    K[0, 1] = 0.01
    K[0, 2], K[1, 2] = rng.uniform(3, 7), rng.uniform(3, 5)
    return K


def write_scene(root, rng, meta=True, npz=True, cues=False, mesh=False):
    """A scan directory: meta_data.json and/or cameras.npz describing the same normalised cameras."""
    root.mkdir(parents=True, exist_ok=True)
    c2w = random_c2w(rng, N, spread=0.8)
    K = np.stack([_K(rng) for _ in range(N)])
    images = random_images(rng, N, H, W)
    write_images([root / f"{i:06d}_rgb.png" for i in range(N)], images)
    gt = np.eye(4)
    gt[:3, :3] *= SCALE
    gt[:3, 3] = SHIFT
    if meta:
        frames = []
        for i in range(N):
            K4 = np.eye(4)
            K4[:3, :3] = K[i]
            fr = {"rgb_path": f"{i:06d}_rgb.png", "camtoworld": c2w[i].tolist(), "intrinsics": K4.tolist()}
            if cues:
                fr |= {"mono_depth_path": f"{i:06d}_depth.npy", "mono_normal_path": f"{i:06d}_normal.npy"}
            frames.append(fr)
        box = {"aabb": [[-1, -1, -1], [1, 1, 1]], "near": 0.05, "far": 2.5, "radius": 1.0, "collider_type": "box"}
        meta_d = {"height": H, "width": W, "frames": frames, "scene_box": box, "worldtogt": gt.tolist()}
        (root / "meta_data.json").write_text(json.dumps(meta_d))
    if npz:
        cams = {}
        for i in range(N):
            K_orig = K[i].copy()
            K_orig[:2] *= 15.0 / 10.0
            K_orig[0, 2] += 2.5
            c_world = SCALE * c2w[i, :3, 3] + SHIFT
            w2c = np.eye(4)
            w2c[:3, :3] = c2w[i, :3, :3].T
            w2c[:3, 3] = -c2w[i, :3, :3].T @ c_world
            P = np.eye(4)
            P[:3, :3] = K_orig
            cams[f"world_mat_{i}"] = 3.0 * (P @ w2c)  # projections are defined up to scale
            cams[f"scale_mat_{i}"] = gt
        np.savez(root / "cameras.npz", **cams)
    if cues:
        for i in range(N):
            np.save(root / f"{i:06d}_depth.npy", np.full((H, W), 0.1 * i, dtype=np.float32))
            np.save(root / f"{i:06d}_normal.npy", np.full((3, H, W), 0.75, dtype=np.float32))
    if mesh:
        (root / "office0.ply").write_text("ply\n")
    return c2w, K, images


def test_meta_scene_values(tmp_path):
    c2w, K, images = write_scene(tmp_path / "scan4", np.random.default_rng(0), mesh=True)
    s = load_scene("replica_monosdf", tmp_path, scene="office0")
    np.testing.assert_allclose(s.c2w, c2w, atol=1e-6)
    np.testing.assert_allclose(s.K, K, atol=1e-5)
    np.testing.assert_array_equal(np.round(s.images * 255).astype(np.uint8), images)
    assert s.splits == {"train": [i for i in range(N) if i % 10], "test": [0, 10]}
    assert (s.near, s.far) == (0.05, 2.5)
    np.testing.assert_array_equal(s.bbox, [[-1, -1, -1], [1, 1, 1]])
    assert s.mesh_path.endswith("office0.ply") and s.depth is None
    # normalization maps ground-truth (mesh) coordinates into the scene frame: x_n = (x_gt - t) / s
    x_n = np.array([0.3, -0.2, 0.9])
    np.testing.assert_allclose(s.normalization.apply_points(SCALE * x_n + SHIFT), x_n, atol=1e-12)


def test_npz_matches_meta(tmp_path):
    c2w, K, _ = write_scene(tmp_path, np.random.default_rng(1))
    meta = load(tmp_path, source="meta")
    npz = load(tmp_path, source="npz", original_size=ORIG)
    np.testing.assert_allclose(npz.K, meta.K, atol=1e-5)
    np.testing.assert_allclose(npz.c2w, meta.c2w, atol=1e-5)
    assert npz.splits == meta.splits
    assert npz.normalization.scale == pytest.approx(1 / SCALE)
    np.testing.assert_allclose(npz.normalization.center, SHIFT)
    # npz bounds: rays from the centres meet the radius-sqrt(3) sphere around [-1, 1]^3 within [near, far]
    d = np.linalg.norm(c2w[:, :3, 3], axis=-1)
    assert npz.far == pytest.approx(d.max() + np.sqrt(3))
    assert npz.near == pytest.approx(max(0.0, d.min() - np.sqrt(3)))


def test_crop_resize_intrinsics_dtu_rule():
    K = np.array([[2892.0, 0.1, 823.0], [0.0, 2883.0, 619.0], [0.0, 0.0, 1.0]])
    out = crop_resize_intrinsics(K, (1600, 1200), (384, 384))
    expected = K.copy()
    expected[0, 2] -= 200  # MonoSDF center_crop_for_dtu: cx -= (1600 - 1200) / 2, K[:2] *= 384 / 1200
    expected[:2] *= 0.32
    np.testing.assert_allclose(out, expected)
    # Replica 1200x680 -> 384x384: cx -= 260, K[:2] *= 384 / 680
    out = crop_resize_intrinsics(
        np.diag([600.0, 600.0, 1.0]) + [[0, 0, 599.5], [0, 0, 339.5], [0, 0, 0]], (1200, 680), (384, 384)
    )
    np.testing.assert_allclose(out[:2, 2], [(599.5 - 260) * 384 / 680, 339.5 * 384 / 680])


def test_mono_cues_downscale_and_lazy(tmp_path):
    write_scene(tmp_path, np.random.default_rng(3), npz=False, cues=True)
    s = load(tmp_path, mono_cues=True)
    assert s.depth is None
    np.testing.assert_allclose(s.extras["mono_depth"][:, 0, 0], 0.1 * np.arange(N), atol=1e-6)
    assert s.extras["mono_normal"].shape == (N, H, W, 3)
    np.testing.assert_allclose(s.extras["mono_normal"], 0.5)
    small = load(tmp_path, downscale=2)
    assert small.images.shape == (N, H // 2, W // 2, 3)
    np.testing.assert_allclose(small.K[:, :2], s.K[:, :2] / 2, rtol=1e-6)
    lazy = load(tmp_path, lazy=True)
    assert lazy.images is None
    np.testing.assert_array_equal(lazy.load_image(5), s.images[5])


def test_bad_inputs(tmp_path):
    rng = np.random.default_rng(4)
    write_scene(tmp_path, rng, npz=False)
    meta_path = tmp_path / "meta_data.json"
    meta = json.loads(meta_path.read_text())

    meta["frames"][3]["camtoworld"] = meta["frames"][3]["camtoworld"][:3]  # 3x4
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(DataFormatError, match=r"camtoworld has shape \(3, 4\)") as err:
        load(tmp_path)
    assert_names(err, meta_path)

    meta = json.loads(meta_path.read_text())
    meta["frames"][3]["camtoworld"] = np.eye(4).tolist()
    meta["height"] = H + 1  # declared size disagrees with the images
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(DataFormatError, match="image is") as err:
        load(tmp_path)
    assert_names(err, tmp_path / "000000_rgb.png")

    meta_path.write_text("{not json")
    with pytest.raises(DataFormatError, match="invalid JSON") as err:
        load(tmp_path)
    assert_names(err, meta_path)

    os.remove(meta_path)
    with pytest.raises(DataFormatError, match="file not found") as err:
        load(tmp_path)
    assert_names(err, tmp_path / "cameras.npz")


def test_npz_needs_original_size(tmp_path):
    write_scene(tmp_path, np.random.default_rng(5), meta=False)
    cams = dict(np.load(tmp_path / "cameras.npz"))
    cams["world_mat_0"][0, 2] *= 50  # principal point far outside even the capture
    np.savez(tmp_path / "cameras.npz", **cams)
    with pytest.raises(DataFormatError, match="original_size") as err:
        load(tmp_path, source="npz")
    assert_names(err, tmp_path / "cameras.npz")


def _reference_decomposition(P):
    """K, c2w from P = K [R | -R c] by a Cholesky factorisation of M M^T = K K^T (independent of RQ)."""
    M, p4 = P[:3, :3], P[:3, 3]
    if np.linalg.det(M) < 0:
        M, p4 = -M, -p4
    J = np.fliplr(np.eye(3))
    K = J @ np.linalg.cholesky(J @ M @ M.T @ J) @ J
    R = np.linalg.solve(K, M)
    c2w = np.eye(4)
    c2w[:3, :3], c2w[:3, 3] = R.T, -np.linalg.solve(M, p4)
    return K / K[2, 2], c2w


@pytest.mark.realdata
def test_real_dtu_npz(tmp_path):
    src = shared_sample("dtu-scan24-monosdf-384")
    s = load_scene("replica_monosdf", src, original_size=(1600, 1200), lazy=True)
    assert (s.height, s.width, s.num_views) == (384, 384, 49)
    # sdfstudio's docs/sdfstudio-data.md shows frame 0 of its DTU meta_data.json (DTU cameras are fixed)
    np.testing.assert_allclose(s.K[0, 0], [925.5457763671875, -7.85e-05, 199.4256591796875], atol=2e-4)
    np.testing.assert_allclose(s.K[0, 1], [0.0, 922.6160278320312, 198.10269165039062], atol=2e-4)
    doc_c2w = [
        [0.9702627062797546, -0.014742869883775711, -0.2416049987077713, 0.6601868867874146],
        [0.007479910273104906, 0.9994929432868958, -0.03095100075006485, 0.07803472131490707],
        [0.2419387847185135, 0.028223417699337006, 0.9698809385299683, -2.6397712230682373],
    ]
    np.testing.assert_allclose(s.c2w[0, :3], doc_c2w, atol=2e-5)
    # the object (normalised origin) is in front of every camera, near the image centre
    c, R = s.c2w[:, :3, 3], s.c2w[:, :3, :3]
    x_cam = np.einsum("nji,nj->ni", R, -c)
    assert np.all(x_cam[:, 2] > 0)
    uv = np.einsum("nij,nj->ni", s.K, x_cam)[:, :2] / x_cam[:, 2:]
    assert np.all(np.abs(uv - 192) < 40)
    wrong = np.einsum("nij,nj->ni", R, -c)  # transposed rotation: the origin leaves the view
    assert np.mean(wrong[:, 2] > 0) < 0.5 or np.median(np.abs(wrong[:, :2] / wrong[:, 2:] * 925)) > 100

    # the same cameras written as meta_data.json by an independent decomposition + MonoSDF's crop rule
    cams = np.load(src / "cameras.npz")
    frames = []
    for i in range(49):
        os.symlink(src / f"{i:06d}_rgb.png", tmp_path / f"{i:06d}_rgb.png")
        K, c2w = _reference_decomposition(cams[f"world_mat_{i}"] @ cams[f"scale_mat_{i}"])
        K[0, 2] -= 200.0
        K[:2] *= 384.0 / 1200.0
        K4 = np.eye(4)
        K4[:3, :3] = K
        frames.append({"rgb_path": f"{i:06d}_rgb.png", "camtoworld": c2w.tolist(), "intrinsics": K4.tolist()})
    box = {"aabb": [[-1, -1, -1], [1, 1, 1]], "near": 0.5, "far": 4.5}
    meta = {"height": 384, "width": 384, "frames": frames, "scene_box": box}
    (tmp_path / "meta_data.json").write_text(json.dumps(meta))
    m = load(tmp_path, source="meta", lazy=True)
    np.testing.assert_allclose(m.K, s.K, rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(m.c2w, s.c2w, atol=1e-5)
    assert m.splits == s.splits and m.splits["test"] == [0, 10, 20, 30, 40]
