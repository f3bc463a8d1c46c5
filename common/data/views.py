"""Assembling the views of a scene, shared by the loaders: image stacks, lazy readers, sizes, K rescaling,
and the frame helpers of transforms-style JSON files (Blender, D-NeRF, instant-ngp / nerfstudio)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from common.cameras import scale_intrinsics
from common.data.checks import check_rotation
from common.data.errors import DataFormatError
from common.data.io import as_matrix, image_size, read_alpha, read_rgb, resize

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".exr", ".bmp", ".tif", ".tiff")


def frames_of(meta: dict, path: Path) -> list[dict]:
    """The non-empty ``frames`` list of a transforms file, each entry a dict with ``file_path``."""
    frames = meta.get("frames")
    if not isinstance(frames, list) or not frames:
        raise DataFormatError(path, "no 'frames' list (or it is empty)", "'frames': [{file_path, ...}, ...]")
    for i, fr in enumerate(frames):
        if not isinstance(fr, dict) or not isinstance(fr.get("file_path"), str):
            raise DataFormatError(path, f"frame {i} has no 'file_path' string", "each frame {file_path, ...}")
    return frames


def pose_matrix(value, path: Path, where: str) -> np.ndarray:
    """``transform_matrix`` value -> [4, 4] float64 rigid pose; errors name ``path`` and the frame ``where``.

    The rotation check holds in either axis convention (the OpenGL <-> OpenCV flip keeps R^T R and det R).
    """
    mat = as_matrix(value, path, f"{where}: transform_matrix", ((4, 4),))
    if not np.allclose(mat[3], (0.0, 0.0, 0.0, 1.0), atol=1e-6):
        raise DataFormatError(path, f"{where}: last row is {mat[3].tolist()}", "last row [0, 0, 0, 1]")
    check_rotation(mat, path, where)
    return mat


def resolve_image(base: Path, file_path: str, json_path: Path) -> Path:
    """Image file of a frame: ``base / file_path``, adding ".png" when the path has no image extension."""
    p = base / file_path
    if p.suffix.lower() not in IMAGE_EXTENSIONS:
        p = p.with_name(p.name + ".png")
    if not p.is_file():
        raise DataFormatError(p, f"image of a frame in {json_path.name} not found", "an existing image file")
    return p


def scaled_size(height: int, width: int, downscale: int, source: Path | str) -> tuple[int, int]:
    """Loaded image size (H // downscale, W // downscale) after checking ``downscale``."""
    if isinstance(downscale, bool) or not isinstance(downscale, int) or not 1 <= downscale <= min(height, width):
        raise DataFormatError(source, f"downscale={downscale!r}", f"an integer in [1, {min(height, width)}]")
    return height // downscale, width // downscale


class ViewReader:
    """Lazy image reader of a scene: ``reader(i)`` -> [h, w, 3] float32 image of view i.

    Reads ``paths[i]`` as RGB (RGBA composited on ``background`` when given), checks that it still has the
    ``full_hw`` (H, W) size the scene was loaded with (None: any size), applies ``prepare`` (e.g. a crop) and
    resizes to ``hw``. Any failure, including a truncated or corrupt file found only at this first read, is a
    one-line DataFormatError naming the file and the view. Picklable (for data-loader workers) when ``prepare``
    is a module-level function or a partial of one.
    """

    def __init__(
        self,
        paths,
        hw: tuple[int, int],
        full_hw: tuple[int, int] | None = None,
        background: tuple[float, float, float] | None = None,
        prepare: Callable[[np.ndarray], np.ndarray] | None = None,
    ):
        self.paths = tuple(str(p) for p in paths)
        self.hw = tuple(hw)
        self.full_hw = None if full_hw is None else tuple(full_hw)
        self.background = background
        self.prepare = prepare

    def __len__(self) -> int:
        return len(self.paths)

    def __call__(self, i: int) -> np.ndarray:
        path = self.paths[i]
        try:
            img = read_rgb(path, background=self.background)
            if self.full_hw is not None and img.shape[:2] != self.full_hw:
                h, w = img.shape[:2]
                raise DataFormatError(
                    path, f"view {i}: image is {h}x{w} (HxW)", f"{self.full_hw[0]}x{self.full_hw[1]} as when loaded"
                )
            if self.prepare is not None:
                img = self.prepare(img)
            return resize(img, *self.hw).astype(np.float32)
        except DataFormatError as exc:
            if exc.problem.startswith(f"view {i}: "):
                raise
            raise DataFormatError(exc.path, f"view {i}: {exc.problem}", exc.expected) from exc
        except Exception as exc:  # decoders and resizers raise many types for bad files
            raise DataFormatError(path, f"view {i}: unreadable ({type(exc).__name__}: {exc})", "an RGB image") from exc


def read_views(
    paths: list[Path],
    expected_hw: tuple[int, int] | None,
    downscale: int,
    lazy: bool,
    background: tuple[float, float, float] | None = None,
    alpha_masks: bool = False,
):
    """Read (or prepare to read lazily) the images of a scene; all must have one size.

    paths: N image files. expected_hw: (H, W) the format declares (None: that of the first image).
    Returns (images [N, h, w, 3] float32 or None when lazy, masks [N, h, w] bool (alpha >= 0.5 of RGBA
    images; None when lazy, not requested or the images have no alpha), loader (a `ViewReader` when lazy,
    else None), (H, W) original size, (h, w) loaded size).
    """
    sizes = [image_size(p) for p in paths] if lazy else None
    images, masks, full_hw = [], [], expected_hw
    if not lazy:
        for p in paths:
            img = read_rgb(p, background=background)
            images.append(img)
            if alpha_masks:
                masks.append(read_alpha(p))
        sizes = [img.shape[:2] for img in images]
    full_hw = full_hw or tuple(sizes[0])
    for p, hw in zip(paths, sizes):
        if tuple(hw) != tuple(full_hw):
            raise DataFormatError(p, f"image is {hw[0]}x{hw[1]} (HxW)", f"{full_hw[0]}x{full_hw[1]} like the others")
    hw = scaled_size(*full_hw, downscale, paths[0])
    if lazy:
        return None, None, ViewReader(paths, hw, full_hw, background), full_hw, hw
    imgs = np.stack([resize(im, *hw) for im in images]).astype(np.float32)
    mask_arr = None
    if alpha_masks and any(not np.all(m == 1.0) for m in masks):
        mask_arr = np.stack([resize(m, *hw) >= 0.5 for m in masks])
    return imgs, mask_arr, None, full_hw, hw


def resize_K(K: np.ndarray, full_hw: tuple[int, int], hw: tuple[int, int]) -> np.ndarray:
    """Intrinsics [..., 3, 3] of the full-size image rescaled to the loaded size."""
    return scale_intrinsics(K, hw[1] / full_hw[1], hw[0] / full_hw[0])
