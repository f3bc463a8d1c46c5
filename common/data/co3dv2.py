"""CO3Dv2 loader: one sequence of one category, with the split of a set list.

Layout (paths inside the annotations are relative to ``root``)::

    root/<category>/frame_annotations.jgz       gzip JSON list, one dict per frame:
        {"sequence_name", "frame_number", "frame_timestamp",
         "image": {"path", "size": [H, W]},
         "depth": {"path", "scale_adjustment", "mask_path"},          (optional)
         "mask": {"path", "mass"},                                    (optional)
         "viewpoint": {"R": 3x3, "T": [3], "focal_length": [2], "principal_point": [2],
                       "intrinsics_format": "ndc_isotropic" | "ndc_norm_image_bounds"}}
    root/<category>/sequence_annotations.jgz    (optional) gzip JSON list of per-sequence dicts
    root/<category>/set_lists/set_lists_<subset>.json   {"train": [[sequence_name, frame_number, image_path], ...],
                                                         "val": [...], "test": [...]}
    root/<category>/<sequence>/images/frame000001.jpg, masks/frame000001.png,
                               depths/frame000001.jpg.geometric.png, depth_masks/frame000001.png

Cameras (PyTorch3D convention -> this project's OpenCV convention):
  * PyTorch3D transforms row vectors, X_cam = X_world @ R + T, i.e. X_cam = R^T X_world + T, in a camera
    frame with +X left, +Y up, +Z forward. OpenCV's camera frame is +x right, +y down, +z forward, so
    X_cv = F X_cam with F = diag(-1, -1, 1): w2c = [F R^T | F T] and, inverting,
    c2w = [[R F, -R T], [0, 1]] (camera centre -R T).
  * NDC intrinsics: x_ndc = f_x X/Z + p_x, y_ndc = f_y Y/Z + p_y (PyTorch3D camera frame). NDC +X points
    left and +Y up, with scale s_x, s_y pixels per NDC unit about the image centre: s_x = s_y = min(H, W)/2
    for "ndc_isotropic", s_x = W/2 and s_y = H/2 for "ndc_norm_image_bounds" (the default when the
    field is absent). Pixels: u = W/2 - s_x x_ndc, v = H/2 - s_y y_ndc. Substituting X = -x_cv,
    Y = -y_cv gives u = (f_x s_x) x_cv/z + (W/2 - p_x s_x), so K = [[f_x s_x, 0, W/2 - p_x s_x],
    [0, f_y s_y, H/2 - p_y s_y], [0, 0, 1]] (as PyTorch3D implicitron's conversion to pixels; the
    image edges are at 0 and W, so pixel centres are at u + 0.5 as this project requires).
  * depth: 16-bit PNGs that hold float16 bit patterns; depth = value * scale_adjustment (PyTorch3D z =
    OpenCV z, in the units of T), set to 0 where not finite or where the depth mask is 0. A depth map of
    another size than the image is resized with nearest neighbour (as implicitron does).

The scene has no metric box. near / far / bbox are a heuristic: the object is assumed to lie in a
sphere around the point closest (least squares) to every optical axis (``extras["look_at"]``), of
radius r = half the closest camera's distance to it; bbox = look_at -/+ r, near = min distance - r,
far = max distance + r.

Options: ``category`` (default: the only category folder under root), ``sequence`` (default: the
first sequence named in the set list), ``subset`` (set-list name, "fewview_train", "fewview_dev", ...),
``split`` (None: every frame of the sequence in the set list, with ``splits`` = the set list's
non-empty splits; "train" / "val" / "test": only that split's frames), ``masks`` / ``depth``
(attach when the annotations have them), ``mask_threshold``, ``downscale``, ``lazy`` (images, masks
and depth not read). Frames are sorted by frame number.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import torch

from common.data.checks import check_intrinsics, check_rotation
from common.data.errors import DataFormatError
from common.data.io import read_json, read_mask, read_uint16, resize
from common.data.scene import SceneData
from common.data.views import read_views, resize_K

FLIP_XY = np.diag([-1.0, -1.0, 1.0])
FORMATS = ("ndc_isotropic", "ndc_norm_image_bounds")


def eval_frame_indices(n_frames: int, n_eval: int = 32) -> list[int]:
    """SparseFusion's evaluation frames: ``torch.linspace(0, n_frames - 1, n_eval).long()``.

    ``n_eval`` evenly spaced indices over the whole sequence (float32 linspace truncated, exactly as
    the official test loader); with fewer than ``n_eval`` frames some indices repeat.
    """
    if n_frames < 1 or n_eval < 1:
        raise ValueError(f"n_frames and n_eval must be >= 1, got {n_frames}, {n_eval}")
    return torch.linspace(0, n_frames - 1, n_eval).long().tolist()


def read_jgz(path: Path) -> list:
    """A gzip-compressed JSON list (``*.jgz``)."""
    if not path.is_file():
        raise DataFormatError(path, "file not found", "a gzip-compressed JSON list (.jgz)")
    try:
        with gzip.open(path, "rt", encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, EOFError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DataFormatError(path, f"unreadable ({type(exc).__name__}: {exc})", "gzip-compressed JSON") from exc
    if not isinstance(data, list):
        raise DataFormatError(path, f"top level is {type(data).__name__}", "a JSON list of annotations")
    return data


def ndc_to_pixels(focal, principal, height: int, width: int, intrinsics_format: str) -> np.ndarray:
    """K [3, 3] in pixels from PyTorch3D NDC focal length / principal point (see the module docstring)."""
    if intrinsics_format == "ndc_isotropic":
        sx = sy = min(height, width) / 2.0
    elif intrinsics_format == "ndc_norm_image_bounds":
        sx, sy = width / 2.0, height / 2.0
    else:
        raise ValueError(f"intrinsics_format {intrinsics_format!r} is not one of {FORMATS}")
    fx, fy = float(focal[0]) * sx, float(focal[1]) * sy
    cx, cy = width / 2.0 - float(principal[0]) * sx, height / 2.0 - float(principal[1]) * sy
    return np.array([[fx, 0.0, cx], [0.0, fy, cy], [0.0, 0.0, 1.0]])


def pytorch3d_to_c2w(R: np.ndarray, T: np.ndarray) -> np.ndarray:
    """PyTorch3D (R [3, 3], T [3]) with X_cam = X_world @ R + T -> OpenCV c2w [4, 4] = [[R F, -R T], [0, 1]]."""
    c2w = np.eye(4)
    c2w[:3, :3] = R @ FLIP_XY
    c2w[:3, 3] = -R @ T
    return c2w


def look_at_point(c2w: np.ndarray) -> np.ndarray:
    """[3] point minimising the summed squared distance to every optical axis (c2w [N, 4, 4], OpenCV).

    Solves sum_i (I - d_i d_i^T) x = sum_i (I - d_i d_i^T) c_i, d_i the unit z axis, c_i the centre
    (least-squares minimum-norm solution when the axes are parallel).
    """
    d = c2w[:, :3, 2] / np.linalg.norm(c2w[:, :3, 2], axis=-1, keepdims=True)
    proj = np.eye(3)[None] - d[:, :, None] * d[:, None, :]
    A = proj.sum(0)
    b = (proj @ c2w[:, :3, 3, None]).sum(0)[:, 0]
    return np.linalg.lstsq(A, b, rcond=None)[0]


def _array(value, shape: tuple[int, ...], path: Path, where: str) -> np.ndarray:
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise DataFormatError(path, f"{where} is not numeric", f"numbers of shape {shape}") from exc
    if arr.shape != shape or not np.all(np.isfinite(arr)):
        raise DataFormatError(path, f"{where} has shape {arr.shape} or non-finite values", f"finite, shape {shape}")
    return arr


def _camera(ann: dict, path: Path, where: str) -> tuple[np.ndarray, np.ndarray, tuple[int, int], str]:
    """(K [3, 3] pixels, c2w [4, 4] OpenCV, (H, W), intrinsics_format) of one frame annotation."""
    vp, image = ann.get("viewpoint"), ann.get("image")
    if not isinstance(vp, dict) or not isinstance(image, dict):
        raise DataFormatError(path, f"{where}: no 'viewpoint' / 'image' dict", "frame annotations with both")
    size = _array(image.get("size"), (2,), path, f"{where}: image.size")
    if np.any(size < 1) or np.any(size != np.round(size)):
        raise DataFormatError(path, f"{where}: image.size = {size.tolist()}", "[H, W] positive integers")
    H, W = int(size[0]), int(size[1])
    R = _array(vp.get("R"), (3, 3), path, f"{where}: viewpoint.R")
    T = _array(vp.get("T"), (3,), path, f"{where}: viewpoint.T")
    focal = _array(vp.get("focal_length"), (2,), path, f"{where}: viewpoint.focal_length")
    principal = _array(vp.get("principal_point"), (2,), path, f"{where}: viewpoint.principal_point")
    fmt = vp.get("intrinsics_format", "ndc_norm_image_bounds")
    if fmt not in FORMATS:
        raise DataFormatError(path, f"{where}: intrinsics_format = {fmt!r}", f"one of {FORMATS}")
    if np.any(focal <= 0):
        raise DataFormatError(path, f"{where}: focal_length = {focal.tolist()}", "positive NDC focal lengths")
    K, c2w = ndc_to_pixels(focal, principal, H, W, fmt), pytorch3d_to_c2w(R, T)
    check_intrinsics(K, path, f"{where}: viewpoint")
    check_rotation(c2w, path, f"{where}: viewpoint.R")
    return K, c2w, (H, W), fmt


def read_co3d_depth(path: Path, scale_adjustment: float) -> np.ndarray:
    """[H, W] float32 depth from a CO3D depth PNG (uint16 holding float16 bits) times ``scale_adjustment``."""
    raw = read_uint16(path)
    depth = raw.view(np.float16).astype(np.float32) * np.float32(scale_adjustment)
    depth[~np.isfinite(depth)] = 0.0
    return depth


def read_set_list(path: Path) -> dict[str, dict[int, list[str]]]:
    """CO3D set list ``{split: [[sequence_name, frame_number, image_path], ...]}`` -> sequence -> frame -> splits."""
    if not path.is_file():
        found = sorted(p.stem.removeprefix("set_lists_") for p in path.parent.glob("set_lists_*.json"))
        raise DataFormatError(path, "set list not found", f"one of the subsets {found}")
    by_seq: dict[str, dict[int, list[str]]] = {}
    for name, entries in read_json(path).items():
        if not isinstance(entries, list):
            raise DataFormatError(path, f"split '{name}' is {type(entries).__name__}", "a list of entries")
        for e in entries:
            if not (isinstance(e, list) and len(e) >= 2 and isinstance(e[0], str) and isinstance(e[1], int)):
                raise DataFormatError(path, f"split '{name}' entry {e!r}", "[sequence_name, frame_number, image_path]")
            by_seq.setdefault(e[0], {}).setdefault(e[1], []).append(name)
    return by_seq


def _set_list(cat_dir: Path, subset: str, sequence: str | None, split: str | None):
    """(sequence name, {frame_number: [split names]}) of the requested sequence in the set list."""
    path = cat_dir / "set_lists" / f"set_lists_{subset}.json"
    by_seq = read_set_list(path)
    if not by_seq:
        raise DataFormatError(path, "set list names no frame", "at least one [sequence_name, frame_number, path]")
    sequence = next(iter(by_seq)) if sequence is None else sequence
    if sequence not in by_seq:
        raise DataFormatError(path, f"sequence {sequence!r} not in the set list", f"one of {sorted(by_seq)[:10]} ...")
    frames = by_seq[sequence]
    if split is not None:
        frames = {n: s for n, s in frames.items() if split in s}
        if not frames:
            raise DataFormatError(path, f"split {split!r} selects no frame of {sequence!r}", "a non-empty split")
    return sequence, frames


def load(
    root: Path,
    category: str | None = None,
    sequence: str | None = None,
    subset: str = "fewview_train",
    split: str | None = None,
    masks: bool = True,
    depth: bool = True,
    mask_threshold: float = 0.5,
    downscale: int = 1,
    lazy: bool = False,
) -> SceneData:
    """Load one CO3Dv2 sequence; see the module docstring for the layout, conventions and options."""
    root = Path(root)
    if category is None:
        cats = sorted(p.parent.name for p in root.glob("*/frame_annotations.jgz"))
        if len(cats) != 1:
            raise DataFormatError(root, f"found categories {cats}", "category=... naming one <category>/ folder")
        category = cats[0]
    cat_dir = root / category
    sequence, wanted = _set_list(cat_dir, subset, sequence, split)
    ann_path = cat_dir / "frame_annotations.jgz"
    anns = {}
    for a in read_jgz(ann_path):
        if isinstance(a, dict) and a.get("sequence_name") == sequence and a.get("frame_number") in wanted:
            anns[a["frame_number"]] = a
    missing = sorted(set(wanted) - set(anns))
    if missing:
        raise DataFormatError(ann_path, f"no annotation for frames {missing[:5]} of {sequence!r}", "one per frame")
    numbers = sorted(anns)
    Ks, c2ws, sizes, fmts, paths = [], [], set(), set(), []
    for n in numbers:
        K, c2w, hw, fmt = _camera(anns[n], ann_path, f"{sequence} frame {n}")
        Ks.append(K)
        c2ws.append(c2w)
        sizes.add(hw)
        fmts.add(fmt)
        if not isinstance(anns[n]["image"].get("path"), str):
            raise DataFormatError(ann_path, f"{sequence} frame {n}: no image.path", "a path relative to the root")
        paths.append(root / anns[n]["image"]["path"])
    if len(sizes) > 1:
        raise DataFormatError(ann_path, f"{sequence}: frames of several sizes {sorted(sizes)}", "one image size")
    full_hw = sizes.pop()
    images, _, loader, _, hw = read_views(paths, full_hw, downscale, lazy)
    mask_arr = depth_arr = None
    if masks and not lazy and all(isinstance((anns[n].get("mask") or {}).get("path"), str) for n in numbers):
        mask_arr = np.stack([_mask(root / anns[n]["mask"]["path"], full_hw, hw, mask_threshold) for n in numbers])
    if depth and not lazy and all(isinstance((anns[n].get("depth") or {}).get("path"), str) for n in numbers):
        depth_arr = np.stack([_depth(root, anns[n]["depth"], hw, ann_path) for n in numbers])
    c2w = np.stack(c2ws)
    centre = look_at_point(c2w)
    dist = np.linalg.norm(c2w[:, :3, 3] - centre, axis=-1)
    radius = 0.5 * float(dist.min())
    splits_of = {n: wanted[n] for n in numbers}
    names = [split] if split is not None else list(dict.fromkeys(s for n in numbers for s in splits_of[n]))
    seq_ann = _sequence_annotation(cat_dir / "sequence_annotations.jgz", sequence)
    return SceneData(
        images=images,
        K=resize_K(np.stack(Ks), full_hw, hw).astype(np.float32),
        c2w=c2w.astype(np.float32),
        height=hw[0],
        width=hw[1],
        splits={s: [i for i, n in enumerate(numbers) if s in splits_of[n]] for s in names},
        near=float(dist.min() - radius),
        far=float(dist.max() + radius),
        bbox=np.stack([centre - radius, centre + radius]).astype(np.float32),
        image_paths=[str(p) for p in paths],
        frame_ids=[f"{sequence}/{n}" for n in numbers],
        depth=depth_arr,
        masks=mask_arr,
        extras={
            "category": category,
            "sequence": sequence,
            "subset": subset,
            "frame_numbers": numbers,
            "timestamps": [anns[n].get("frame_timestamp") for n in numbers],
            "intrinsics_format": sorted(fmts),
            "look_at": centre,
            "sequence_annotation": seq_ann,
        },
        image_loader=loader,
    )


def _mask(path: Path, full_hw: tuple[int, int], hw: tuple[int, int], threshold: float) -> np.ndarray:
    m = read_mask(path, threshold)
    if m.shape != tuple(full_hw):
        raise DataFormatError(path, f"mask is {m.shape[0]}x{m.shape[1]}", f"{full_hw[0]}x{full_hw[1]} like the image")
    return resize(m, *hw, nearest=True)


def _depth(root: Path, ann: dict, hw: tuple[int, int], ann_path: Path) -> np.ndarray:
    scale = ann.get("scale_adjustment", 1.0)
    if isinstance(scale, bool) or not isinstance(scale, (int, float)) or not np.isfinite(scale) or scale <= 0:
        raise DataFormatError(ann_path, f"depth.scale_adjustment = {scale!r}", "a positive number")
    d = read_co3d_depth(root / ann["path"], float(scale))
    if isinstance(ann.get("mask_path"), str):
        valid = read_mask(root / ann["mask_path"])
        if valid.shape != d.shape:
            raise DataFormatError(root / ann["mask_path"], f"depth mask is {valid.shape}", f"{d.shape} like the depth")
        d = d * valid
    return resize(d, *hw, nearest=True).astype(np.float32)


def _sequence_annotation(path: Path, sequence: str) -> dict | None:
    """The sequence's entry of ``sequence_annotations.jgz`` (None when the file is absent)."""
    if not path.is_file():
        return None
    return next((a for a in read_jgz(path) if isinstance(a, dict) and a.get("sequence_name") == sequence), None)
