"""CO3Dv2 loader: a fixture in the exact CO3Dv2 layout built from known OpenCV cameras, bad input, eval frames."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pytest

from common.data import DataFormatError, load_scene
from common.data.co3dv2 import eval_frame_indices, load
from common.data.io import write_png

CAT = "teddybear"
F = np.diag([-1.0, -1.0, 1.0])


def _opencv_camera(rng: np.random.Generator, H: int, W: int) -> tuple[np.ndarray, np.ndarray]:
    """Known K (fx != fy, off-centre principal point) and c2w at distance 4 looking at the origin."""
    K = np.array([[rng.uniform(9, 12), 0, W / 2 + rng.uniform(-1, 1)], [0, rng.uniform(9, 12), H / 2 + 0.7], [0, 0, 1]])
    z = -rng.normal(size=3)
    z /= np.linalg.norm(z)
    x = np.cross(z, rng.normal(size=3))
    x /= np.linalg.norm(x)
    c2w = np.eye(4)
    c2w[:3, :3] = np.stack([x, np.cross(z, x), z], axis=1)
    c2w[:3, 3] = -4.0 * z
    return K, c2w


def _ndc_scale(H: int, W: int, fmt: str) -> np.ndarray:
    return np.array([min(H, W) / 2] * 2) if fmt == "ndc_isotropic" else np.array([W / 2, H / 2])


def _to_pytorch3d(K: np.ndarray, c2w: np.ndarray, H: int, W: int, fmt: str) -> dict:
    """PyTorch3D viewpoint of an OpenCV camera: X_p3d = F X_cv, X_cam = X_world @ R + T, NDC +X left / +Y up."""
    w2c = np.linalg.inv(c2w)
    s = _ndc_scale(H, W, fmt)
    return {
        "R": (w2c[:3, :3].T @ F).tolist(),
        "T": (F @ w2c[:3, 3]).tolist(),
        "focal_length": [K[0, 0] / s[0], K[1, 1] / s[1]],
        "principal_point": [(W / 2 - K[0, 2]) / s[0], (H / 2 - K[1, 2]) / s[1]],
        "intrinsics_format": fmt,
    }


def _project_pytorch3d(vp: dict, X: np.ndarray, H: int, W: int) -> np.ndarray:
    """PyTorch3D's projection: row-vector camera transform, NDC from focal/principal point, NDC -> pixels."""
    Xc = X @ np.asarray(vp["R"]) + np.asarray(vp["T"])
    ndc = np.asarray(vp["focal_length"]) * Xc[:2] / Xc[2] + np.asarray(vp["principal_point"])
    s = _ndc_scale(H, W, vp["intrinsics_format"])
    return np.array([W / 2, H / 2]) - s * ndc


def write_co3d(root: Path, seed: int = 0) -> dict:
    """Category with sequence A (4 frames, 8x10, ndc_isotropic) and B (3 frames, 6x4, ndc_norm_image_bounds)."""
    rng = np.random.default_rng(seed)
    seqs = {"A": (4, 8, 10, "ndc_isotropic"), "B": (3, 6, 4, "ndc_norm_image_bounds")}
    anns, truth = [], {}
    for name, (n, H, W, fmt) in seqs.items():
        for k in rng.permutation(n) + 1:  # annotations out of frame order
            K, c2w = _opencv_camera(rng, H, W)
            stem = f"{name}/images/frame{k:06d}"
            rgb = rng.integers(0, 256, (H, W, 3), dtype=np.uint8)
            mask = rng.uniform(size=(H, W))
            depth16 = rng.uniform(1, 5, (H, W)).astype(np.float16)
            dmask = rng.uniform(size=(H, W)) > 0.3
            write_png(root / CAT / f"{stem}.png", rgb)
            write_png(root / CAT / name / "masks" / f"frame{k:06d}.png", (mask * 255).astype(np.uint8))
            write_png(root / CAT / name / "depths" / f"frame{k:06d}.png", depth16.view(np.uint16))
            write_png(root / CAT / name / "depth_masks" / f"frame{k:06d}.png", dmask.astype(np.uint8) * 255)
            anns.append(
                {
                    "sequence_name": name,
                    "frame_number": int(k),
                    "frame_timestamp": 0.1 * k,
                    "image": {"path": f"{CAT}/{stem}.png", "size": [H, W]},
                    "depth": {
                        "path": f"{CAT}/{name}/depths/frame{k:06d}.png",
                        "scale_adjustment": 2.0,
                        "mask_path": f"{CAT}/{name}/depth_masks/frame{k:06d}.png",
                    },
                    "mask": {"path": f"{CAT}/{name}/masks/frame{k:06d}.png", "mass": 10.0},
                    "viewpoint": _to_pytorch3d(K, c2w, H, W, fmt),
                }
            )
            truth[(name, int(k))] = {"K": K, "c2w": c2w, "rgb": rgb, "mask": mask, "depth": depth16, "dmask": dmask}
    with gzip.open(root / CAT / "frame_annotations.jgz", "wt") as f:
        json.dump(anns, f)
    with gzip.open(root / CAT / "sequence_annotations.jgz", "wt") as f:
        json.dump([{"sequence_name": s, "category": CAT, "viewpoint_quality_score": 1.5} for s in seqs], f)

    def entry(s, k):
        return [s, k, f"{CAT}/{s}/images/frame{k:06d}.png"]

    lists = {
        "fewview_train": {"train": [entry("A", 1), entry("A", 2), entry("B", 1)], "val": [entry("A", 4)], "test": []},
        "fewview_dev": {"train": [], "val": [], "test": [entry("B", 3), entry("B", 1), entry("B", 2), entry("A", 3)]},
    }
    for subset, d in lists.items():
        (root / CAT / "set_lists").mkdir(exist_ok=True, parents=True)
        (root / CAT / "set_lists" / f"set_lists_{subset}.json").write_text(json.dumps(d))
    return {"truth": truth, "anns": anns, "seqs": seqs}


def test_co3d_cameras_match_known_opencv_cameras(tmp_path):
    w = write_co3d(tmp_path)
    s = load_scene("co3dv2", tmp_path)  # category inferred, sequence A (first in the set list)
    assert s.extras["sequence"] == "A" and s.extras["frame_numbers"] == [1, 2, 4]
    assert s.splits == {"train": [0, 1], "val": [2]} and (s.height, s.width) == (8, 10)
    ann = {(a["sequence_name"], a["frame_number"]): a for a in w["anns"]}
    rng = np.random.default_rng(5)
    for i, k in enumerate((1, 2, 4)):
        t = w["truth"][("A", k)]
        np.testing.assert_allclose(s.K[i], t["K"], atol=1e-5)
        np.testing.assert_allclose(s.c2w[i], t["c2w"], atol=1e-6)
        for X in rng.uniform(-1, 1, (5, 3)):
            x = np.linalg.inv(s.c2w[i].astype(np.float64)) @ np.append(X, 1.0)
            uv_cv = (s.K[i] @ x[:3])[:2] / x[2]
            np.testing.assert_allclose(uv_cv, _project_pytorch3d(ann[("A", k)]["viewpoint"], X, 8, 10), atol=1e-4)
        np.testing.assert_allclose(s.images[i], t["rgb"] / 255.0, atol=1e-6)
        np.testing.assert_array_equal(s.masks[i], (t["mask"] * 255).astype(np.uint8) / 255.0 > 0.5)
        np.testing.assert_allclose(s.depth[i], 2.0 * t["depth"].astype(np.float32) * t["dmask"], rtol=1e-6)
    np.testing.assert_allclose(s.extras["look_at"], 0.0, atol=1e-6)
    assert s.near == pytest.approx(2.0) and s.far == pytest.approx(6.0)
    assert s.extras["sequence_annotation"]["viewpoint_quality_score"] == 1.5


def test_co3d_norm_image_bounds_subset_and_split(tmp_path):
    w = write_co3d(tmp_path)
    s = load(tmp_path, category=CAT, subset="fewview_dev", split="test", sequence="B")
    assert s.extras["frame_numbers"] == [1, 2, 3] and s.splits == {"test": [0, 1, 2]}
    ann = {(a["sequence_name"], a["frame_number"]): a for a in w["anns"]}
    for i in range(3):
        t = w["truth"][("B", i + 1)]
        np.testing.assert_allclose(s.K[i], t["K"], atol=1e-5)
        np.testing.assert_allclose(s.c2w[i], t["c2w"], atol=1e-6)
        X = np.array([0.2, -0.3, 0.1])
        x = np.linalg.inv(s.c2w[i].astype(np.float64)) @ np.append(X, 1.0)
        expected = _project_pytorch3d(ann[("B", i + 1)]["viewpoint"], X, 6, 4)
        np.testing.assert_allclose((s.K[i] @ x[:3])[:2] / x[2], expected, atol=1e-4)
    lazy = load(tmp_path, category=CAT, subset="fewview_dev", sequence="B", split="test", lazy=True, downscale=2)
    assert lazy.images is None and lazy.depth is None and lazy.load_image(2).shape == (3, 2, 3)
    np.testing.assert_allclose(lazy.K[:, :2], s.K[:, :2] / 2, rtol=1e-6)


def test_eval_frame_indices():
    assert eval_frame_indices(63) == list(range(0, 63, 2))
    idx = eval_frame_indices(100)
    assert idx == [int(np.floor(k * 99 / 31)) for k in range(32)] and idx[-1] == 99
    assert eval_frame_indices(10, 4) == [0, 3, 6, 9]


def _rewrite_viewpoint(root: Path, **values) -> None:
    """Change the viewpoint of frame 1 of sequence A (a loaded frame) in frame_annotations.jgz."""
    path = root / CAT / "frame_annotations.jgz"
    with gzip.open(path, "rt") as f:
        anns = json.load(f)
    next(a for a in anns if (a["sequence_name"], a["frame_number"]) == ("A", 1))["viewpoint"].update(values)
    with gzip.open(path, "wt") as f:
        json.dump(anns, f)


@pytest.mark.parametrize("case", ["no_set_list", "unknown_sequence", "size", "format", "rotation", "corrupt_jgz"])
def test_co3d_bad_input(tmp_path, case):
    write_co3d(tmp_path)
    ann_path = tmp_path / CAT / "frame_annotations.jgz"
    kw, named = {"category": CAT}, ann_path
    if case == "no_set_list":
        kw["subset"] = "fewview_test"
        named = tmp_path / CAT / "set_lists" / "set_lists_fewview_test.json"
    elif case == "unknown_sequence":
        kw["sequence"] = "C"
        named = tmp_path / CAT / "set_lists" / "set_lists_fewview_train.json"
    elif case == "size":
        named = tmp_path / CAT / "A" / "images" / "frame000001.png"
        write_png(named, np.zeros((8, 11, 3), np.uint8))
    elif case == "format":
        _rewrite_viewpoint(tmp_path, intrinsics_format="screen")
    elif case == "rotation":
        _rewrite_viewpoint(tmp_path, R=np.diag([1.0, 2.0, 1.0]).tolist())
    elif case == "corrupt_jgz":
        ann_path.write_bytes(b"not gzip at all")
    with pytest.raises(DataFormatError) as err:
        load(tmp_path, **kw)
    assert str(named) in str(err.value)
