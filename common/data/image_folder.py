"""A flat folder of unposed images (CelebA-style), the 2D training data of pi-GAN.

Layout: ``root/*.{png,jpg,jpeg}`` (no sub-folders are read), sorted by file name.

The images carry no poses. To fit the SceneData contract each view gets the identity c2w (camera at
the origin looking along +z, OpenCV axes) and a pinhole K from ``fov_degrees`` (default 12, pi-GAN's
CelebA field of view): f = 0.5 W / tan(0.5 fov), cx = W / 2, cy = H / 2. near / far = 0.88 / 1.12 and
bbox = [-0.12, 0.12] x [-0.12, 0.12] x [0.88, 1.12] are pi-GAN's CelebA ray range and its 0.24-wide
object box (UniformBoxWarp), placed one unit in front of that camera. ``extras["posed"] = False``.
Splits: train = every image.

Options:
  size: None keeps the images as they are (then all must share one size); an int S centre-crops each
      image to a square of side ``crop_fraction`` x its shorter side and resizes it to S x S.
  crop_fraction: in (0, 1]; pi-GAN's CelebA transform (Resize(320), CenterCrop(256)) is 0.8.
  limit: keep the first ``limit`` images (sorted order).
  extensions: file suffixes read (case-insensitive).
  downscale: extra integer factor applied after ``size``; lazy: images read on demand.
"""

from __future__ import annotations

import math
from functools import partial
from pathlib import Path

import numpy as np

from common.data.errors import DataFormatError
from common.data.io import image_size
from common.data.scene import SceneData
from common.data.views import ViewReader, scaled_size

FOV_DEGREES = 12.0
NEAR, FAR, HALF_BOX = 0.88, 1.12, 0.12


def center_square(img: np.ndarray, fraction: float) -> np.ndarray:
    """Centre crop [H, W, C] -> [s, s, C] with s = round(fraction * min(H, W))."""
    h, w = img.shape[:2]
    s = max(1, round(fraction * min(h, w)))
    top, left = (h - s) // 2, (w - s) // 2
    return img[top : top + s, left : left + s]


def load(
    root: Path,
    size: int | None = None,
    crop_fraction: float = 1.0,
    limit: int | None = None,
    extensions=(".png", ".jpg", ".jpeg"),
    fov_degrees: float = FOV_DEGREES,
    downscale: int = 1,
    lazy: bool = False,
) -> SceneData:
    """Load an image folder as an unposed SceneData; see the module docstring."""
    root = Path(root)
    if not root.is_dir():
        raise DataFormatError(root, "not a directory", "a folder of images")
    exts = {e.lower() if e.startswith(".") else f".{e.lower()}" for e in extensions}
    paths = sorted(p for p in root.iterdir() if p.is_file() and p.suffix.lower() in exts)
    if limit is not None:
        if not isinstance(limit, int) or limit < 1:
            raise DataFormatError(root, f"limit={limit!r}", "a positive integer or None")
        paths = paths[:limit]
    if not paths:
        raise DataFormatError(root, "no image files", f"images with extensions {sorted(exts)}")
    if size is not None and (not isinstance(size, int) or size < 1):
        raise DataFormatError(root, f"size={size!r}", "a positive integer or None")
    if not 0.0 < crop_fraction <= 1.0:
        raise DataFormatError(root, f"crop_fraction={crop_fraction!r}", "a number in (0, 1]")
    if not 0.0 < fov_degrees < 180.0:
        raise DataFormatError(root, f"fov_degrees={fov_degrees!r}", "a field of view in (0, 180) degrees")
    if size is None:
        sizes = [image_size(p) for p in paths]
        for p, hw in zip(paths, sizes):
            if hw != sizes[0]:
                raise DataFormatError(p, f"image is {hw[0]}x{hw[1]}", f"{sizes[0][0]}x{sizes[0][1]} or the size option")
        full_hw = sizes[0]
    else:
        full_hw = (size, size)
    hw = scaled_size(*full_hw, downscale, root)
    crop = None if size is None else partial(center_square, fraction=crop_fraction)
    loader = ViewReader(paths, hw, full_hw if size is None else None, prepare=crop)
    images = None if lazy else np.stack([loader(i) for i in range(len(paths))])
    focal = 0.5 * hw[1] / math.tan(0.5 * math.radians(fov_degrees))
    K = np.array([[focal, 0.0, hw[1] / 2.0], [0.0, focal, hw[0] / 2.0], [0.0, 0.0, 1.0]], dtype=np.float32)
    n = len(paths)
    return SceneData(
        images=images,
        K=np.repeat(K[None], n, axis=0),
        c2w=np.repeat(np.eye(4, dtype=np.float32)[None], n, axis=0),
        height=hw[0],
        width=hw[1],
        splits={"train": list(range(n))},
        near=NEAR,
        far=FAR,
        bbox=np.array([[-HALF_BOX, -HALF_BOX, NEAR], [HALF_BOX, HALF_BOX, FAR]], dtype=np.float32),
        image_paths=[str(p) for p in paths],
        frame_ids=[p.stem for p in paths],
        extras={"posed": False, "fov_degrees": float(fov_degrees)},
        image_loader=loader if lazy else None,
    )
