"""NSVF-layout loader: Tanks and Temples (NSVF's masked "TanksAndTemple" release) and NSVF synthetic scenes.

Layout (as read by DVGO's ``load_tankstemple`` / ``load_nsvf`` and TensoRF's ``tankstemple.py``)::

    rgb/<s>_<name>.png    images, s = 0 train, 1 val, 2 test (RGBA for synthetic scenes)
    pose/<s>_<name>.txt   4x4 camera-to-world, OpenCV axes (x right, y down, z forward)
    intrinsics.txt        either a 3x3 / 4x4 K matrix (T&T), or NSVF's 5-line synthetic style whose first line is
                          "f cx cy 0." and last line "W H" (DVGO reads only the focal length from it)
    bbox.txt              "xmin ymin zmin xmax ymax zmax voxel_size"

Conventions:
  * poses are used as they are (already OpenCV); intrinsics as given by the file.
  * splits by file prefix: 0 -> train, 1 -> val, 2 -> test; T&T has no 2_ files, so test = val (DVGO, TensoRF).
  * RGBA images are composited on ``background`` (white, as DVGO's ``white_bkgd``); their alpha gives ``masks``.
  * bbox from bbox.txt (voxel size in ``extras["voxel_size"]``).
  * near / far by DVGO's ``inward_nearfar_heuristic`` on the train camera centres c_i:
    far = max_ij |c_i - c_j| (the scene lies between the inward-facing cameras), near = near_ratio * far
    (DVGO: 0.05 for NSVF synthetic; 0 for T&T, pass ``near_ratio=0``).
Only views that have an image are loaded; extra pose files are ignored.

Options: background (RGB in [0, 1] or None to drop alpha), near_ratio, downscale, lazy.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from common.data.checks import check_intrinsics, check_rotation
from common.data.errors import DataFormatError
from common.data.io import read_matrix
from common.data.scene import SceneData
from common.data.views import read_views, resize_K

SPLIT_OF_PREFIX = {"0": "train", "1": "val", "2": "test"}


def read_intrinsics(path: Path) -> tuple[np.ndarray, tuple[int, int] | None]:
    """(K [3, 3], (H, W) or None) from a K-matrix file (3x3 or 4x4) or an NSVF "f cx cy 0." file."""
    path = Path(path)
    if not path.is_file():
        raise DataFormatError(path, "file not found", "intrinsics.txt (a K matrix or 'f cx cy 0.')")
    try:
        rows = [[float(v) for v in line.split()] for line in path.read_text().splitlines() if line.strip()]
    except (ValueError, UnicodeDecodeError) as exc:
        raise DataFormatError(path, f"not numeric text ({exc})", "whitespace-separated numbers") from exc
    expected = "a 3x3 / 4x4 K matrix or NSVF lines 'f cx cy 0.' ... 'W H'"
    if not rows or not all(np.isfinite(v) for r in rows for v in r):
        raise DataFormatError(path, "empty or non-finite", expected)
    if len(rows) in (3, 4) and all(len(r) == len(rows) for r in rows):
        K, size = np.asarray(rows, dtype=np.float64)[:3, :3], None
    elif len(rows[0]) == 4:
        f, cx, cy, _ = rows[0]
        size = (int(rows[-1][1]), int(rows[-1][0])) if len(rows) > 1 and len(rows[-1]) == 2 else None
        K = np.array([[f, 0.0, cx], [0.0, f, cy], [0.0, 0.0, 1.0]])
    else:
        raise DataFormatError(path, f"has {len(rows)} lines of {[len(r) for r in rows]} numbers", expected)
    check_intrinsics(K, path)
    return K, size


def read_bbox(path: Path) -> tuple[np.ndarray, float]:
    """(bbox [2, 3], voxel size) from "xmin ymin zmin xmax ymax zmax voxel_size"."""
    vals = read_matrix(path)
    if vals.size != 7:
        raise DataFormatError(path, f"has {vals.size} numbers", "7 numbers: xmin ymin zmin xmax ymax zmax voxel_size")
    bbox = vals[:6].reshape(2, 3)
    if not np.all(bbox[0] < bbox[1]):
        raise DataFormatError(path, f"min corner {bbox[0]} is not below max corner {bbox[1]}", "xmin < xmax, ...")
    return bbox, float(vals[6])


def read_pose(path: Path) -> np.ndarray:
    """A rigid 4x4 camera-to-world matrix (16 numbers, last row 0 0 0 1; one file per frame)."""
    pose = read_matrix(path, (4, 4))
    if not np.allclose(pose[3], (0.0, 0.0, 0.0, 1.0), atol=1e-6):
        raise DataFormatError(path, f"last row is {pose[3].tolist()}", "a 4x4 camera-to-world matrix")
    check_rotation(pose, path, f"frame {Path(path).stem}")
    return pose


def inward_near_far(centres: np.ndarray, near_ratio: float) -> tuple[float, float]:
    """DVGO's inward heuristic: far = largest distance between camera centres [N, 3], near = near_ratio * far."""
    far = float(np.max(np.linalg.norm(centres[:, None] - centres[None], axis=-1)))
    return near_ratio * far, far


def load(
    root: Path,
    background: tuple[float, float, float] | None = (1.0, 1.0, 1.0),
    near_ratio: float = 0.05,
    downscale: int = 1,
    lazy: bool = False,
) -> SceneData:
    """Load an NSVF-layout scene; see the module docstring for the layout and options."""
    root = Path(root)
    paths = sorted((root / "rgb").glob("*.png")) + sorted((root / "rgb").glob("*.jpg"))
    if not paths:
        raise DataFormatError(root / "rgb", "no images", "rgb/0_*.png (train), 1_* (val), 2_* (test)")
    for p in paths:
        if p.name[:2] not in ("0_", "1_", "2_"):
            raise DataFormatError(p, "file name has no split prefix", "names starting with 0_, 1_ or 2_")
    paths.sort(key=lambda p: (p.name[0], p.stem))
    c2w = np.stack([read_pose(root / "pose" / f"{p.stem}.txt") for p in paths])
    K0, size = read_intrinsics(root / "intrinsics.txt")
    bbox, voxel = read_bbox(root / "bbox.txt")
    splits = {name: [i for i, p in enumerate(paths) if p.name[0] == s] for s, name in SPLIT_OF_PREFIX.items()}
    if not splits["test"]:
        splits["test"] = list(splits["val"])
    if not splits["train"]:
        raise DataFormatError(root / "rgb", "no training image (0_*)", "at least one rgb/0_*.png")
    splits = {k: v for k, v in splits.items() if v}
    images, masks, loader, full_hw, hw = read_views(
        paths, size, downscale, lazy, background=None if background is None else tuple(background), alpha_masks=True
    )
    if not (0.0 < K0[0, 2] < full_hw[1] and 0.0 < K0[1, 2] < full_hw[0]):
        raise DataFormatError(
            root / "intrinsics.txt", f"principal point ({K0[0, 2]}, {K0[1, 2]}) outside the images", "a K for them"
        )
    K = np.repeat(resize_K(K0, full_hw, hw)[None], len(paths), axis=0)
    near, far = inward_near_far(c2w[splits["train"], :3, 3], near_ratio)
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
        frame_ids=[p.stem for p in paths],
        masks=masks,
        extras={"voxel_size": voxel},
        image_loader=loader,
    )
