"""ScanNet raw-export loader (the ``SensReader`` export plus the 2D label archives).

Layout of one scene directory (e.g. ``scans/scene0000_00``)::

    color/<i>.jpg                      RGB, 1296x968
    depth/<i>.png                      uint16 z-depth in millimetres, 640x480 (0 = no measurement)
    pose/<i>.txt                       4x4 camera-to-world, OpenCV axes; ScanNet writes -inf / nan for lost tracking
    intrinsic/intrinsic_color.txt      4x4 K of the colour images
    intrinsic/intrinsic_depth.txt      4x4 K of the depth images (optional; kept in extras)
    label-filt/<i>.png                 ScanNet raw label ids, at COLOUR resolution (optional)
    instance-filt/<i>.png              instance ids, at colour resolution (optional)
    scannetv2-labels.combined.tsv      raw id -> nyu40id / nyu40class (optional; in the scene dir or its parent)

Conventions:
  * frames: numeric stems of color/*.jpg, sorted; frames whose pose has non-finite values are skipped (listed in
    ``extras["skipped_frames"]`` and reported with a warning), as Semantic-NeRF's ScanNet loader does.
  * images are resized from 1296x968 to ``size`` (default 640x480 = the depth resolution) and the COLOUR
    intrinsics scaled by (W / 1296, H / 968); that K is the one returned. depth and labels are resized to the same
    size (nearest neighbour, so invalid zeros and ids do not blend) and used with that K: ScanNet's depth is
    registered to the colour camera (intrinsic_depth agrees with the scaled colour K to about half a pixel;
    the depth K is given as ``extras["K_depth"]`` scaled to ``size``).
  * semantics: nyu40 ids by the tsv (``labels="nyu40"``, default when the tsv exists) or raw ids (``"raw"``); id 0
    (unannotated) and raw ids missing from the tsv become -1. class_names from the tsv. instances: int32 as stored
    (0 = none).
  * near / far = 0.1 / 10 m (Semantic-NeRF's ScanNet ``depth_range``); bbox = min / max of the back-projected valid
    depth (every 8th pixel), or the camera centres padded by 1 m without depth.

Options:
  size: (W, H) or None (colour resolution). frame_step: keep every frame_step-th valid frame.
  split: "holdout" (default): of the kept frames, index % test_every == 0 is test, the rest train.
      "semantic_nerf": Semantic-NeRF's rule on the valid frames with step = frame_step: train = 0, s, 2s, ...,
      test = train + s // 2 (only those frames are loaded).
  labels: "nyu40" | "raw" | None (= nyu40 when the tsv exists). depth: read depth (default True). downscale, lazy.
"""

from __future__ import annotations

import csv
import warnings
from pathlib import Path

import numpy as np

from common.data.checks import check_intrinsics, check_rotation
from common.data.errors import DataFormatError
from common.data.io import image_size, read_matrix, read_rgb, read_uint, read_uint16, resize
from common.data.replica_nice_slam import camera_bounds, depth_bounds
from common.data.scene import SceneData
from common.data.views import ViewReader, resize_K

NEAR, FAR = 0.1, 10.0
TSV = "scannetv2-labels.combined.tsv"
SPLITS = ("holdout", "semantic_nerf")


def read_label_map(path: Path, target: str) -> tuple[dict[int, int], dict[int, str]]:
    """(raw id -> target id, target id -> name) from ScanNet's tsv; target "nyu40" or "raw"."""
    try:
        with open(path, newline="") as f:
            rows = list(csv.DictReader(f, delimiter="\t"))
        if target == "raw":
            return {int(r["id"]): int(r["id"]) for r in rows}, {int(r["id"]): r["raw_category"] for r in rows}
        return {int(r["id"]): int(r["nyu40id"]) for r in rows}, {int(r["nyu40id"]): r["nyu40class"] for r in rows}
    except (KeyError, TypeError, ValueError, UnicodeDecodeError) as exc:
        raise DataFormatError(
            path, f"malformed label table ({exc!r})", "tab-separated columns id, nyu40id, ..."
        ) from exc


def read_scannet_pose(path: Path) -> np.ndarray:
    """4x4 c2w from a pose file; may contain -inf / nan (invalid frame), which the caller checks."""
    if not path.is_file():
        raise DataFormatError(path, "file not found", "pose/<frame>.txt (4x4 camera-to-world)")
    try:
        pose = np.loadtxt(path, dtype=np.float64)
    except ValueError as exc:
        raise DataFormatError(path, f"not numeric text ({exc})", "a 4x4 matrix") from exc
    if pose.size != 16:
        raise DataFormatError(path, f"has {pose.size} numbers", "16 numbers (a 4x4 camera-to-world matrix)")
    return pose.reshape(4, 4)


def _select(n: int, split: str, frame_step: int, test_every: int) -> tuple[list[int], dict[str, list[int]]]:
    """(positions among the n valid frames to load, splits as indices into that list)."""
    if split == "semantic_nerf":
        train = list(range(0, n, frame_step))
        test = [p + frame_step // 2 for p in train if p + frame_step // 2 < n]
        views = sorted(set(train) | set(test))
        where = {p: i for i, p in enumerate(views)}
        return views, {"train": [where[p] for p in train], "test": sorted(where[p] for p in test)}
    views = list(range(0, n, frame_step))
    idx = range(len(views))
    return views, {"train": [i for i in idx if i % test_every], "test": [i for i in idx if i % test_every == 0]}


def _read_images(paths: list[Path], native: tuple[int, int], hw: tuple[int, int], lazy: bool):
    """(images [N, h, w, 3] or None, lazy loader or None); every image must be ``native`` (H, W)."""
    images = []
    for p in paths:
        img = None if lazy else read_rgb(p)
        got = image_size(p) if lazy else img.shape[:2]
        if tuple(got) != tuple(native):
            raise DataFormatError(p, f"image is {got[0]}x{got[1]}", f"{native[0]}x{native[1]} (HxW) like the others")
        if not lazy:
            images.append(resize(img, *hw))
    if lazy:
        return None, ViewReader(paths, hw, native)
    return np.stack(images).astype(np.float32), None


def _maps(
    folder: Path, frames: list[str], allowed: tuple, hw: tuple[int, int], read=read_uint
) -> list[np.ndarray] | None:
    """Integer maps of ``frames`` in ``folder`` (read by ``read``) resized (nearest) to ``hw``; None without folder."""
    if not folder.is_dir():
        return None
    out = []
    for f in frames:
        arr = read(folder / f"{f}.png")
        if arr.shape not in allowed:
            exp = " or ".join(f"{h}x{w}" for h, w in allowed)
            raise DataFormatError(folder / f"{f}.png", f"is {arr.shape[0]}x{arr.shape[1]}", f"{exp} (HxW)")
        out.append(resize(arr, *hw, nearest=True))
    return out


def load(
    root: Path,
    size: tuple[int, int] | None = (640, 480),
    frame_step: int = 1,
    split: str = "holdout",
    test_every: int = 10,
    labels: str | None = None,
    depth: bool = True,
    downscale: int = 1,
    lazy: bool = False,
) -> SceneData:
    """Load a ScanNet raw-export scene; see the module docstring for the layout and options."""
    root = Path(root)
    for name, val, lo in (("frame_step", frame_step, 1), ("test_every", test_every, 2), ("downscale", downscale, 1)):
        if not isinstance(val, int) or val < lo:
            raise DataFormatError(root, f"{name}={val!r}", f"an integer >= {lo}")
    if split not in SPLITS:
        raise DataFormatError(root, f"split={split!r}", f"one of {SPLITS}")
    stems = sorted((p.stem for p in (root / "color").glob("*.jpg") if p.stem.isdigit()), key=int)
    if not stems:
        raise DataFormatError(root / "color", "no <frame>.jpg images", "color/0.jpg, color/1.jpg, ...")
    poses, valid, skipped = {}, [], []
    for s in stems:
        pose = read_scannet_pose(root / "pose" / f"{s}.txt")
        if np.all(np.isfinite(pose)):
            check_rotation(pose, root / "pose" / f"{s}.txt", f"frame {s}")
            poses[s] = pose
            valid.append(s)
        else:
            skipped.append(s)
    if skipped:
        warnings.warn(f"{root}: skipped {len(skipped)} frame(s) with invalid (non-finite) poses", stacklevel=2)
    if not valid:
        raise DataFormatError(root / "pose", "every pose is invalid (non-finite)", "finite 4x4 camera-to-world")
    views, splits = _select(len(valid), split, frame_step, test_every)
    frames = [valid[p] for p in views]
    if not splits["train"] or not splits["test"]:
        raise DataFormatError(root / "color", f"{len(valid)} valid frames give an empty split", "more frames")
    paths = [root / "color" / f"{f}.jpg" for f in frames]
    color_hw = image_size(paths[0])
    out_hw = color_hw if size is None else (int(size[1]), int(size[0]))
    hw = (out_hw[0] // downscale, out_hw[1] // downscale)
    images, loader = _read_images(paths, color_hw, hw, lazy)
    K_color = read_matrix(root / "intrinsic" / "intrinsic_color.txt", (4, 4))[:3, :3]
    check_intrinsics(K_color, root / "intrinsic" / "intrinsic_color.txt")
    if not (0.0 < K_color[0, 2] < color_hw[1] and 0.0 < K_color[1, 2] < color_hw[0]):
        raise DataFormatError(
            root / "intrinsic" / "intrinsic_color.txt",
            f"principal point outside the {color_hw[1]}x{color_hw[0]} colour images",
            "the colour camera's K",
        )
    K = np.repeat(resize_K(K_color, color_hw, hw)[None], len(frames), axis=0)
    c2w = np.stack([poses[f] for f in frames])
    extras = {"skipped_frames": skipped}
    depth_path = root / "intrinsic" / "intrinsic_depth.txt"
    depth_maps = None
    if depth and (root / "depth").is_dir():
        depth_hw = read_uint16(root / "depth" / f"{frames[0]}.png").shape
        maps = _maps(root / "depth", frames, (depth_hw,), hw, read_uint16)
        depth_maps = np.stack(maps).astype(np.float32) / np.float32(1000.0)
        if depth_path.is_file():
            K_depth = read_matrix(depth_path, (4, 4))[:3, :3]
            check_intrinsics(K_depth, depth_path)
            extras["K_depth"] = resize_K(K_depth, depth_hw, hw).astype(np.float32)
        bbox, _ = depth_bounds(depth_maps, K, c2w)
    else:
        bbox, _ = camera_bounds(c2w)
    semantics, class_names = None, None
    raw = _maps(root / "label-filt", frames, (color_hw, out_hw), hw)
    if raw is not None:
        tsv = next((p for p in (root / TSV, root.parent / TSV) if p.is_file()), None)
        target = labels or ("nyu40" if tsv is not None else "raw")
        if target not in ("nyu40", "raw"):
            raise DataFormatError(root, f"labels={labels!r}", "'nyu40', 'raw' or None")
        if tsv is None and target == "nyu40":
            raise DataFormatError(root / TSV, "file not found (needed for labels='nyu40')", "ScanNet's label table")
        semantics = np.stack(raw).astype(np.int32)
        if tsv is not None:
            mapping, class_names = read_label_map(tsv, target)
            lut = np.zeros(max(int(semantics.max()), max(mapping)) + 1, dtype=np.int32)
            for k, v in mapping.items():
                lut[k] = v
            semantics = lut[semantics]
        semantics[semantics == 0] = -1
    inst = _maps(root / "instance-filt", frames, (color_hw, out_hw), hw)
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
        frame_ids=frames,
        depth=depth_maps,
        semantics=semantics,
        instances=None if inst is None else np.stack(inst).astype(np.int32),
        class_names=class_names,
        extras=extras,
        image_loader=loader,
    )
