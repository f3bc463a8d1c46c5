"""instant-ngp / nerfstudio ``transforms.json`` loader.

Layout::

    root/transforms.json   {"fl_x", "fl_y", "cx", "cy", "w", "h",           intrinsics in pixels (global)
                            "camera_angle_x", "camera_angle_y",            fallback when fl_x / fl_y are absent
                            "k1", "k2", "p1", "p2", ("k3", "k4"),          OpenCV distortion (reported only)
                            "aabb_scale", "scale", "offset",                instant-ngp scene-box settings
                            "frames": [{"file_path": "images/0001.jpg", "transform_matrix": 4x4,
                                        (any intrinsic key above, overriding the global one),
                                        ("mask_path": "masks/0001.png")}, ...]}
    root/images/0001.jpg ...

``root`` is the folder holding ``transforms.json`` (or the json file itself); ``file_path`` is relative
to that folder. Frames keep their file order.

Conventions applied on the way in:
  * ``transform_matrix`` is an OpenGL camera-to-world (the NeRF convention used by instant-ngp and
    nerfstudio); it is converted to OpenCV by negating rotation columns 1 and 2.
  * K per frame: fx = fl_x (else 0.5 w / tan(0.5 camera_angle_x)), fy = fl_y (else from camera_angle_y,
    else fx), cx = cx (else w / 2), cy = cy (else h / 2); w / h default to the image's own size.
  * Lens distortion is NOT removed: images are returned as stored. The coefficients are reported in
    ``extras["distortion"]`` [N, 6] float64 with columns ``extras["distortion_names"]`` =
    (k1, k2, p1, p2, k3, k4) (0 where absent) and ``extras["undistorted"] = False``; a renderer that
    ignores them treats the camera as a pinhole.
  * Units are the file's own. ``extras`` keeps instant-ngp's ``aabb_scale`` (default 1), ``scale``
    (default 0.33) and ``offset`` (default [0.5, 0.5, 0.5]). instant-ngp maps a position p to
    ``scale * p + offset`` (then cycles the axes) and bounds the scene by the cube of side ``aabb_scale``
    centred at 0.5; in file units that is bbox = (0.5 -/+ aabb_scale / 2 - offset) / scale per axis.
  * near = distance from the closest camera to that bbox (0 when a camera is inside it), far = largest
    distance from a camera to a bbox corner.
  * RGBA images are composited on ``background``; masks come from ``mask_path`` when every frame has
    one (read as binary), else from the alpha channel of RGBA images (alpha >= 0.5), else None.

Split rule (option ``split``; the format defines none): ``"all"`` (default): train = every frame, as
instant-ngp trains, and test = every ``test_every``-th frame (0, 8, 16, ...), which are ALSO training
frames (a monitoring split, not a held-out one); ``"holdout"``: test = every ``test_every``-th frame,
train = the others (the LLFF ``llffhold = 8`` rule). nerfstudio's default (a 90 % train fraction picked
with ``linspace``) is not reproduced. ``extras["split_rule"]`` states the rule used.

Other options: ``downscale`` (images resized to (h // d, w // d), K scaled), ``lazy`` (images and
masks not read; ``image_paths`` / ``image_loader`` set), ``filename`` (default "transforms.json").
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from common.cameras import opengl_to_opencv
from common.data.checks import as_number, check_intrinsics
from common.data.errors import DataFormatError
from common.data.io import read_json, read_mask, resize
from common.data.scene import SceneData
from common.data.views import frames_of, pose_matrix, read_views, resize_K, resolve_image

DISTORTION_NAMES = ("k1", "k2", "p1", "p2", "k3", "k4")
NGP_DEFAULT_SCALE = 0.33
NGP_DEFAULT_OFFSET = (0.5, 0.5, 0.5)


def _number(d: dict, key: str, path: Path, where: str, default=None):
    v = d.get(key, default)
    if v is None:
        return None
    return as_number(v, path, f"{where}: '{key}'")


def _frame_intrinsics(meta: dict, fr: dict, hw: tuple[int, int], path: Path, where: str):
    """(fx, fy, cx, cy, distortion[6]) of one frame; frame keys override global ones."""

    def get(key):
        return _number(fr, key, path, where, _number(meta, key, path, "global"))

    h, w = hw
    fx, fy = get("fl_x"), get("fl_y")
    ax, ay = get("camera_angle_x"), get("camera_angle_y")
    if fx is None and ax is not None:
        fx = 0.5 * w / math.tan(0.5 * ax)
    if fy is None and ay is not None:
        fy = 0.5 * h / math.tan(0.5 * ay)
    if fx is None:
        raise DataFormatError(path, f"{where}: no focal length", "'fl_x' or 'camera_angle_x' (global or per frame)")
    fy = fx if fy is None else fy
    cx, cy = get("cx"), get("cy")
    cx = w / 2.0 if cx is None else cx
    cy = h / 2.0 if cy is None else cy
    check_intrinsics(np.array([[fx, 0.0, cx], [0.0, fy, cy], [0.0, 0.0, 1.0]]), path, where)
    dist = [get(k) or 0.0 for k in DISTORTION_NAMES]
    return fx, fy, cx, cy, dist


def _ngp_bbox(meta: dict, path: Path) -> tuple[np.ndarray, float, float, tuple[float, float, float]]:
    """instant-ngp's scene box in file units, with its (aabb_scale, scale, offset)."""
    aabb_scale = _number(meta, "aabb_scale", path, "global", 1.0)
    scale = _number(meta, "scale", path, "global", NGP_DEFAULT_SCALE)
    offset = meta.get("offset", list(NGP_DEFAULT_OFFSET))
    try:
        offset_arr = np.asarray(offset, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise DataFormatError(path, f"offset = {offset!r}", "three numbers") from exc
    if offset_arr.shape != (3,) or not np.all(np.isfinite(offset_arr)) or aabb_scale <= 0 or scale <= 0:
        raise DataFormatError(path, f"aabb_scale/scale/offset = {aabb_scale}/{scale}/{offset}", "positive, 3 numbers")
    lo = (0.5 - aabb_scale / 2.0 - offset_arr) / scale
    hi = (0.5 + aabb_scale / 2.0 - offset_arr) / scale
    return np.stack([lo, hi]), aabb_scale, scale, tuple(float(v) for v in offset_arr)


def near_far_from_box(centres: np.ndarray, bbox: np.ndarray) -> tuple[float, float]:
    """near = min distance camera -> box (0 if inside), far = max distance camera -> box corner.

    centres: [N, 3] camera centres; bbox: [2, 3] (min corner, max corner).
    """
    inside = np.clip(centres, bbox[0], bbox[1])
    near = float(np.linalg.norm(centres - inside, axis=-1).min())
    corners = np.stack(np.meshgrid(*bbox.T, indexing="ij"), -1).reshape(-1, 3)
    far = float(np.linalg.norm(centres[:, None] - corners[None], axis=-1).max())
    return near, far


def split_indices(n: int, split: str, test_every: int, source: Path) -> dict[str, list[int]]:
    """Splits for ``n`` frames under rule ``split`` ("all" or "holdout"), see the module docstring."""
    if not isinstance(test_every, int) or test_every < 1:
        raise DataFormatError(source, f"test_every={test_every!r}", "an integer >= 1")
    test = list(range(0, n, test_every))
    if split == "all":
        return {"train": list(range(n)), "test": test}
    if split == "holdout":
        train = [i for i in range(n) if i % test_every != 0]
        if not train:
            raise DataFormatError(source, f"split 'holdout' with test_every={test_every} leaves no training frame")
        return {"train": train, "test": test}
    raise DataFormatError(source, f"unknown split rule {split!r}", "'all' or 'holdout'")


def load(
    root: Path,
    split: str = "all",
    test_every: int = 8,
    background=(1.0, 1.0, 1.0),
    downscale: int = 1,
    lazy: bool = False,
    filename: str = "transforms.json",
) -> SceneData:
    """Load an instant-ngp / nerfstudio capture; see the module docstring for layout, conventions, splits."""
    root = Path(root)
    jpath = root if root.is_file() else root / filename
    base = jpath.parent
    meta = read_json(jpath)
    frames = frames_of(meta, jpath)
    splits = split_indices(len(frames), split, test_every, jpath)
    paths, c2w = [], []
    for i, fr in enumerate(frames):
        where = f"frame {i} ({fr['file_path']})"
        paths.append(resolve_image(base, fr["file_path"], jpath))
        c2w.append(pose_matrix(fr.get("transform_matrix"), jpath, where))
    declared = set()
    for i, fr in enumerate(frames):
        w = _number(fr, "w", jpath, f"frame {i}", _number(meta, "w", jpath, "global"))
        h = _number(fr, "h", jpath, f"frame {i}", _number(meta, "h", jpath, "global"))
        declared.add((h, w))
    if len(declared) > 1:
        raise DataFormatError(jpath, f"frames declare several image sizes {sorted(declared)}", "one w, h for all")
    h, w = declared.pop()
    expected = None
    if h is not None or w is not None:
        if h is None or w is None or h != int(h) or w != int(w) or h < 1 or w < 1:
            raise DataFormatError(jpath, f"w, h = {w}, {h}", "both 'w' and 'h' as positive integers")
        expected = (int(h), int(w))
    has_masks = all(isinstance(fr.get("mask_path"), str) for fr in frames)
    images, masks, loader, full_hw, hw = read_views(
        paths, expected, downscale, lazy, background=tuple(background), alpha_masks=not has_masks
    )
    if has_masks and not lazy:
        mask_list = []
        for fr in frames:
            m = read_mask(base / fr["mask_path"])
            if m.shape != tuple(full_hw):
                raise DataFormatError(base / fr["mask_path"], f"mask is {m.shape}", f"{full_hw} like the images")
            mask_list.append(resize(m, *hw, nearest=True))
        masks = np.stack(mask_list)
    Ks, dist = [], []
    for i, fr in enumerate(frames):
        fx, fy, cx, cy, d = _frame_intrinsics(meta, fr, full_hw, jpath, f"frame {i} ({fr['file_path']})")
        Ks.append([[fx, 0.0, cx], [0.0, fy, cy], [0.0, 0.0, 1.0]])
        dist.append(d)
    K = resize_K(np.asarray(Ks, dtype=np.float64), full_hw, hw)
    c2w = opengl_to_opencv(np.stack(c2w))
    bbox, aabb_scale, scale, offset = _ngp_bbox(meta, jpath)
    near, far = near_far_from_box(c2w[:, :3, 3], bbox)
    rule = f"{split}: test = every {test_every}th frame" + (" (also in train)" if split == "all" else "")
    return SceneData(
        images=images,
        K=K.astype(np.float32),
        c2w=c2w.astype(np.float32),
        height=hw[0],
        width=hw[1],
        splits=splits,
        near=near,
        far=far,
        bbox=bbox.astype(np.float32),
        image_paths=[str(p) for p in paths],
        frame_ids=[Path(fr["file_path"]).stem for fr in frames],
        masks=masks,
        extras={
            "distortion": np.asarray(dist, dtype=np.float64),
            "distortion_names": DISTORTION_NAMES,
            "undistorted": False,
            "camera_model": meta.get("camera_model", "OPENCV"),
            "aabb_scale": aabb_scale,
            "ngp_scale": scale,
            "ngp_offset": offset,
            "split_rule": rule,
        },
        image_loader=loader,
    )
