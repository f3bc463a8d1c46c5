"""NeRF++-layout loader (Tanks and Temples unbounded scenes: tat_intermediate_M60, ..., tat_training_Truck).

Layout (as read by NeRF++ and DVGO's ``load_nerfpp``)::

    <split>/rgb/<name>.png          split in train, test (and validation when present)
    <split>/pose/<name>.txt         4x4 camera-to-world, OpenCV axes (16 numbers)
    <split>/intrinsics/<name>.txt   4x4 (or 3x3) K per image

Conventions:
  * poses and K used as given; views ordered train, test, validation, each sorted by name; splits from folders
    ("validation" -> "val"). DVGO's re-rotation of the poses is a model-side choice and is not applied.
  * near / far from the camera centres c_i (NeRF++ normalises the scene so the cameras lie inside the unit sphere):
    far = max_ij |c_i - c_j| over the train cameras (DVGO's inward heuristic), near = 0.02 * far (DVGO's near_clip
    for these scenes); bbox = the cube around the train centres' mean m with half side max_i |c_i - m| + near
    (the foreground region the cameras surround; the background lies outside it).

Options: downscale, lazy.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from common.data.checks import check_intrinsics
from common.data.errors import DataFormatError
from common.data.io import read_matrix
from common.data.scene import SceneData
from common.data.tnt_nsvf import inward_near_far, read_pose
from common.data.views import read_views, resize_K

SPLIT_DIRS = {"train": "train", "test": "test", "validation": "val"}
NEAR_CLIP_RATIO = 0.02


def read_K(path: Path) -> np.ndarray:
    """K [3, 3] from a text file of 16 (4x4) or 9 (3x3) numbers."""
    vals = read_matrix(path)
    if vals.size not in (9, 16):
        raise DataFormatError(path, f"has {vals.size} numbers", "a 4x4 (16 numbers) or 3x3 (9 numbers) K matrix")
    n = 4 if vals.size == 16 else 3
    K = vals.reshape(n, n)[:3, :3]
    check_intrinsics(K, path, f"frame {Path(path).stem}")
    return K


def load(root: Path, downscale: int = 1, lazy: bool = False) -> SceneData:
    """Load a NeRF++-layout scene; see the module docstring for the layout and options."""
    root = Path(root)
    paths, c2w, K, splits = [], [], [], {}
    for folder, name in SPLIT_DIRS.items():
        rgb = sorted((root / folder / "rgb").glob("*.png")) + sorted((root / folder / "rgb").glob("*.jpg"))
        if not rgb:
            if name != "val":
                raise DataFormatError(
                    root / folder / "rgb", "no images", f"{folder}/rgb/*.png with pose/ and intrinsics/"
                )
            continue
        splits[name] = list(range(len(paths), len(paths) + len(rgb)))
        for p in rgb:
            paths.append(p)
            c2w.append(read_pose(root / folder / "pose" / f"{p.stem}.txt"))
            K.append(read_K(root / folder / "intrinsics" / f"{p.stem}.txt"))
    images, _, loader, full_hw, hw = read_views(paths, None, downscale, lazy)
    K = np.stack(K)
    for p, k in zip(paths, K):
        if not (0.0 < k[0, 2] < full_hw[1] and 0.0 < k[1, 2] < full_hw[0]):
            raise DataFormatError(p, f"principal point ({k[0, 2]}, {k[1, 2]}) of its K lies outside it", "a K for it")
    c2w = np.stack(c2w)
    centres = c2w[splits["train"], :3, 3]
    if len(centres) < 2:
        raise DataFormatError(root / "train" / "rgb", "fewer than 2 training views", "at least 2 train cameras")
    _, far = inward_near_far(centres, 0.0)
    near = NEAR_CLIP_RATIO * far
    mid = centres.mean(0)
    half = float(np.max(np.linalg.norm(centres - mid, axis=-1))) + near
    return SceneData(
        images=images,
        K=resize_K(K, full_hw, hw).astype(np.float32),
        c2w=c2w.astype(np.float32),
        height=hw[0],
        width=hw[1],
        splits=splits,
        near=near,
        far=far,
        bbox=np.stack([mid - half, mid + half]).astype(np.float32),
        image_paths=[str(p) for p in paths],
        frame_ids=[f"{p.parent.parent.name}/{p.stem}" for p in paths],
        image_loader=loader,
    )
