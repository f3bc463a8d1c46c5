"""Semantic-NeRF pre-rendered Replica loader (the data JacobiNeRF uses).

Layout (``<scene>/Sequence_1``; ``root`` may be the sequence, the scene or, with ``scene``, the data set root)::

    rgb/rgb_<i>.png                          RGB, 640x480 (i = 0 .. 899, sorted numerically)
    depth/depth_<i>.png                      uint16 z-depth in millimetres (metres = value / 1000)
    semantic_class/semantic_class_<i>.png    class id per pixel (0 = void in Semantic-NeRF's Replica renders)
    semantic_instance/semantic_instance_<i>.png  instance id per pixel
    traj_w_c.txt                             line i = T_wc of frame i: 16 floats, row-major 4x4, OpenCV axes
                                             (exactly one line per rgb image)
    info_semantic.json (optional)            Replica's {"classes": [{"id", "name"}, ...]} (sequence, scene or parent)

Conventions:
  * Poses: traj_w_c.txt is camera-to-world in OpenCV axes (Semantic-NeRF / JacobiNeRF ``convention: opencv``).
  * Intrinsics from the 90 degree horizontal field of view of the renders: fx = fy = W / 2 / tan(45 deg) for the
    loaded width W. The official code uses cx = (W - 1) / 2, cy = (H - 1) / 2 with rays through INTEGER pixel
    coordinates; this project puts pixel centres at (u + 0.5, v + 0.5), so the same rays need cx = W / 2,
    cy = H / 2, which is what is returned (the image centre, as the renderer's camera has).
  * Resizing as the official loader: bilinear for rgb and depth, nearest neighbour for labels.
  * semantics: int32 class ids as stored, with the void id (``void_class``, 0) mapped to -1; instances: int32 as
    stored. class_names from info_semantic.json when present.
  * near / far = 0.1 / 10 (the official ``depth_range``); bbox = min / max of the back-projected depth (every 8th
    pixel), or the camera centres padded by 1 m without depth.

Options:
  scene: subdirectory of ``root`` (e.g. "room_0"); sequence: "Sequence_1".
  size: (W, H) to resize to, default (320, 240) as JacobiNeRF; None keeps the native size.
  train_every, test_offset: train = frames 0, 5, 10, ...; test = train + 2 (drops those past the end). Only
      frames of these splits are loaded; ``frame_ids`` holds their frame numbers.
  void_class: stored class id meaning void (-> -1), None to keep every id.
  downscale: extra integer factor on top of ``size``; lazy: images read on demand (labels / depth still loaded).
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np

from common.data.checks import check_pose_count
from common.data.errors import DataFormatError
from common.data.io import image_size, read_rgb, read_uint, read_uint16, resize
from common.data.replica_nice_slam import camera_bounds, depth_bounds, read_trajectory
from common.data.scene import SceneData
from common.data.views import ViewReader

NEAR, FAR = 0.1, 10.0
HFOV_DEG = 90.0


def intrinsics(width: int, height: int, hfov_deg: float = HFOV_DEG) -> np.ndarray:
    """K [3, 3] of the renders at width x height: fx = fy = W / 2 / tan(hfov / 2), (cx, cy) = (W / 2, H / 2)."""
    f = 0.5 * width / math.tan(math.radians(hfov_deg) / 2.0)
    return np.array([[f, 0.0, width / 2.0], [0.0, f, height / 2.0], [0.0, 0.0, 1.0]])


def sequence_dir(root: Path, scene: str | None, sequence: str) -> Path:
    """The directory holding traj_w_c.txt: ``root``, ``root/sequence`` or ``root/scene/sequence``."""
    base = root / scene if scene else root
    for cand in (base, base / sequence):
        if (cand / "traj_w_c.txt").is_file():
            return cand
    raise DataFormatError(base / sequence / "traj_w_c.txt", "file not found", "a Semantic-NeRF Replica sequence")


def _numbered(folder: Path, prefix: str) -> dict[int, Path]:
    out = {}
    for p in folder.glob(f"{prefix}_*.png"):
        m = re.fullmatch(rf"{prefix}_(\d+)", p.stem)
        if m:
            out[int(m.group(1))] = p
    return out


def _class_names(seq: Path) -> dict[int, str] | None:
    for path in (
        seq / "info_semantic.json",
        seq.parent / "info_semantic.json",
        seq.parent.parent / "info_semantic.json",
    ):
        if path.is_file():
            try:
                return {int(c["id"]): str(c["name"]) for c in json.loads(path.read_text())["classes"]}
            except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError, ValueError) as exc:
                raise DataFormatError(path, f"malformed class list ({exc!r})", '{"classes": [{"id", "name"}]}') from exc
    return None


def _per_frame(
    files: dict[int, Path], frames: list[int], native: tuple[int, int], what: str, read=read_uint
) -> list | None:
    """Raw integer maps [H, W] of ``frames`` from ``files`` read by ``read`` (None when the folder has none)."""
    if not files:
        return None
    out = []
    for f in frames:
        if f not in files:
            raise DataFormatError(next(iter(files.values())).parent, f"no {what} image for frame {f}", "one per frame")
        arr = read(files[f])
        if arr.shape != native:
            raise DataFormatError(files[f], f"is {arr.shape[0]}x{arr.shape[1]}", f"{native[0]}x{native[1]} like rgb")
        out.append(arr)
    return out


def _labels(maps: list | None, hw: tuple[int, int]) -> np.ndarray | None:
    """int32 [N, h, w] label maps resized with nearest neighbour."""
    return None if maps is None else np.stack([resize(m, *hw, nearest=True).astype(np.int32) for m in maps])


def load(
    root: Path,
    scene: str | None = None,
    sequence: str = "Sequence_1",
    size: tuple[int, int] | None = (320, 240),
    train_every: int = 5,
    test_offset: int = 2,
    void_class: int | None = 0,
    downscale: int = 1,
    lazy: bool = False,
) -> SceneData:
    """Load a Semantic-NeRF Replica sequence; see the module docstring for the layout and options."""
    seq = sequence_dir(Path(root), scene, sequence)
    for name, val, lo in (
        ("train_every", train_every, 1),
        ("test_offset", test_offset, 0),
        ("downscale", downscale, 1),
    ):
        if not isinstance(val, int) or val < lo:
            raise DataFormatError(seq, f"{name}={val!r}", f"an integer >= {lo}")
    rgb = _numbered(seq / "rgb", "rgb")
    if not rgb:
        raise DataFormatError(seq / "rgb", "no rgb_<i>.png images", "rgb/rgb_0.png, rgb/rgb_1.png, ...")
    order = sorted(rgb)
    traj = read_trajectory(seq / "traj_w_c.txt")
    check_pose_count(len(traj), len(order), seq / "traj_w_c.txt", "rgb/rgb_<i>.png")
    if order[-1] >= len(traj):
        raise DataFormatError(
            seq / "traj_w_c.txt", f"has {len(traj)} poses but frame {order[-1]} exists", "one per frame"
        )
    train_pos = list(range(0, len(order), train_every))
    test_pos = [p + test_offset for p in train_pos if p + test_offset < len(order)]
    views = sorted(set(train_pos) | set(test_pos))
    frames = [order[p] for p in views]
    where = {p: i for i, p in enumerate(views)}
    splits = {"train": [where[p] for p in train_pos], "test": sorted(where[p] for p in test_pos)}
    if not splits["test"]:
        raise DataFormatError(seq / "rgb", f"{len(order)} frames leave no test view", "more frames")
    paths = [rgb[f] for f in frames]
    native = image_size(paths[0])
    W, H = size if size is not None else (native[1], native[0])
    hw = (H // downscale, W // downscale)
    if lazy:
        for p in paths:
            if image_size(p) != native:
                raise DataFormatError(p, f"image is {image_size(p)}", f"{native} (HxW) like the other views")
        images, loader = None, ViewReader(paths, hw, native)
    else:
        imgs = []
        for p in paths:
            img = read_rgb(p)
            if img.shape[:2] != native:
                raise DataFormatError(p, f"image is {img.shape[0]}x{img.shape[1]}", f"{native[0]}x{native[1]} (HxW)")
            imgs.append(resize(img, *hw))
        images, loader = np.stack(imgs).astype(np.float32), None
    c2w = traj[frames]
    K = np.repeat(intrinsics(hw[1], hw[0])[None], len(frames), axis=0)
    depth = _per_frame(_numbered(seq / "depth", "depth"), frames, native, "depth", read_uint16)
    if depth is not None:
        depth = np.stack([resize(d.astype(np.float32) / np.float32(1000.0), *hw) for d in depth])
        bbox, _ = depth_bounds(depth, K, c2w)
    else:
        bbox, _ = camera_bounds(c2w)
    semantics = _labels(_per_frame(_numbered(seq / "semantic_class", "semantic_class"), frames, native, "labels"), hw)
    if semantics is not None and void_class is not None:
        semantics[semantics == void_class] = -1
    instance_files = _numbered(seq / "semantic_instance", "semantic_instance")
    instances = _labels(_per_frame(instance_files, frames, native, "instances"), hw)
    return SceneData(
        images=images,
        K=K.astype(np.float32),
        c2w=c2w.astype(np.float32),
        height=hw[0],
        width=hw[1],
        splits=splits,
        near=NEAR,
        far=FAR,
        bbox=bbox.astype(np.float32),
        image_paths=[str(p) for p in paths],
        frame_ids=[str(f) for f in frames],
        depth=depth,
        semantics=semantics,
        instances=instances,
        class_names=_class_names(seq),
        extras={"hfov_deg": HFOV_DEG, "void_class": void_class},
        image_loader=loader,
    )
