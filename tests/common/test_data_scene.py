"""SceneData contract: validation, normalisation (and its inverse), subsets, lazy images."""

from __future__ import annotations

import numpy as np
import pytest

from common.cameras import project_points
from common.data import DataFormatError, SceneData
from common.data import Normalization as DataNormalization
from common.data.scene import Normalization as SceneNormalization
from common.geometry import Normalization


def make_scene(n: int = 3, h: int = 4, w: int = 5, **kw) -> SceneData:
    rng = np.random.default_rng(0)
    c2w = np.tile(np.eye(4, dtype=np.float32), (n, 1, 1))
    c2w[:, :3, 3] = rng.normal(size=(n, 3)) * 2 + 10.0
    K = np.tile(np.array([[4.0, 0, w / 2], [0, 4.0, h / 2], [0, 0, 1]], np.float32), (n, 1, 1))
    args = dict(
        images=rng.random((n, h, w, 3)).astype(np.float32),
        K=K,
        c2w=c2w,
        height=h,
        width=w,
        splits={"train": list(range(n - 1)), "test": [n - 1]},
        near=0.5,
        far=6.0,
        bbox=np.array([[8.0, 8.0, 8.0], [12.0, 14.0, 12.0]], np.float32),
        depth=rng.random((n, h, w)).astype(np.float32) + 1.0,
    )
    args.update(kw)
    return SceneData(**args)


def test_normalize_maps_bbox_into_unit_sphere_and_back():
    scene = make_scene()
    norm = scene.normalize("sphere", radius=1.0)
    lo, hi = norm.bbox
    assert np.linalg.norm(hi - lo) / 2 == pytest.approx(1.0, rel=1e-6)
    np.testing.assert_allclose((lo + hi) / 2, 0.0, atol=1e-6)
    t = norm.normalization
    np.testing.assert_allclose(t.inverse_points(norm.bbox), scene.bbox, rtol=1e-6)
    np.testing.assert_allclose(t.inverse_c2w(norm.c2w), scene.c2w, rtol=1e-6)
    assert norm.near == pytest.approx(scene.near * t.scale) and norm.far == pytest.approx(scene.far * t.scale)
    np.testing.assert_allclose(norm.depth, scene.depth * t.scale, rtol=1e-6)


def test_normalize_box_and_composition():
    scene = make_scene()
    once = scene.normalize("box", radius=1.0)
    lo, hi = once.bbox
    assert np.max(hi - lo) / 2 == pytest.approx(1.0, rel=1e-6)
    twice = once.normalize("sphere", radius=2.0)
    # the recorded transform maps the ORIGINAL world to the final frame
    np.testing.assert_allclose(twice.normalization.apply_points(scene.bbox), twice.bbox, rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="sphere"):
        scene.normalize("cube")


def test_projections_are_invariant_under_normalisation():
    scene = make_scene()
    norm = scene.normalize()
    pts = np.random.default_rng(1).normal(size=(20, 3)) + scene.c2w[0, :3, 3] + [0, 0, 3]
    uv, z = project_points(pts, scene.K[0], scene.c2w[0])
    uv_n, z_n = project_points(norm.normalization.apply_points(pts), norm.K[0], norm.c2w[0])
    np.testing.assert_allclose(uv_n, uv, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(z_n, z * norm.normalization.scale, rtol=1e-4)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"c2w": np.zeros((3, 3, 4), np.float32)}, "c2w has shape"),
        ({"K": np.full((3, 3, 3), np.nan, np.float32)}, "K has non-finite"),
        ({"images": np.zeros((3, 4, 6, 3), np.float32)}, "images have shape"),
        ({"depth": np.zeros((3, 2, 2), np.float32)}, "depth has shape"),
        ({"splits": {"train": []}}, "selects no view"),
        ({"splits": {"train": [0, 7]}}, "outside"),
        ({"near": 5.0, "far": 1.0}, "near/far"),
    ],
)
def test_validate_rejects_bad_contents(change, message):
    scene = make_scene(**change)
    scene.root = "/data/scene"
    with pytest.raises(DataFormatError, match=message) as err:
        scene.validate()
    assert str(err.value).startswith("/data/scene")


def _with_view(arr: np.ndarray, i: int, fn) -> np.ndarray:
    out = arr.copy()
    out[i] = fn(out[i])
    return out


@pytest.mark.parametrize(
    ("field", "view", "fn", "message"),
    [
        ("K", 1, lambda k: k * np.array([[0.0], [1.0], [1.0]], np.float32), "focal length"),
        ("K", 2, lambda k: k * np.array([[1.0], [-1.0], [1.0]], np.float32), "focal length"),
        ("K", 0, lambda k: np.where(np.eye(3, dtype=bool)[::-1], 1.0, k).astype(np.float32), "not a pinhole K"),
        ("c2w", 2, lambda m: np.diag([1000.0, 1000.0, 1000.0, 1.0]).astype(np.float32) @ m, "not orthonormal"),
        ("c2w", 1, lambda m: np.diag([1.0, 1.0, -1.0, 1.0]).astype(np.float32) @ m, "reflection"),
    ],
)
def test_validate_rejects_degenerate_cameras_naming_the_view(field, view, fn, message):
    base = make_scene(frame_ids=["a", "b", "c"])
    scene = make_scene(frame_ids=["a", "b", "c"], **{field: _with_view(getattr(base, field), view, fn)})
    scene.root = "/data/scene"
    with pytest.raises(DataFormatError, match=message) as err:
        scene.validate()
    msg = str(err.value)
    assert msg.startswith("/data/scene") and f"view {view} ({'abc'[view]})" in msg and "\n" not in msg


def test_normalization_is_reexported_from_the_data_package():
    assert DataNormalization is SceneNormalization is Normalization


def test_split_errors_name_the_split():
    scene = make_scene()
    with pytest.raises(DataFormatError, match="no split 'val'"):
        scene.split("val")
    assert scene.split("test") == [2]


def test_subset_reindexes_splits_and_lazy_loading():
    scene = make_scene(n=4)
    full = scene.images.copy()
    lazy = make_scene(n=4, images=None, image_loader=lambda i: full[i])
    sub = lazy.subset([3, 1])
    assert sub.splits == {"train": [1], "test": [0]}
    np.testing.assert_array_equal(sub.load_image(0), full[3])
    np.testing.assert_array_equal(sub.materialize().images, full[[3, 1]])
    np.testing.assert_array_equal(sub.depth, scene.depth[[3, 1]])
    with pytest.raises(DataFormatError, match="no images"):
        make_scene(images=None).load_image(0)
