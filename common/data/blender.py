"""Blender / NeRF-synthetic loader: ``transforms_{train,val,test}.json`` plus RGBA PNGs.

Layout (NeRF synthetic, as read by DVGO's ``load_blender``)::

    root/transforms_train.json   {"camera_angle_x": float, "frames": [{"file_path": "./train/r_0",
    root/transforms_val.json                                           "transform_matrix": 4x4}, ...]}
    root/transforms_test.json
    root/train/r_0.png ...       RGBA (8 or 16 bit); ``file_path`` may omit the ".png" extension

Conventions applied on the way in:
  * ``transform_matrix`` is an OpenGL camera-to-world (x right, y up, looking along -z); it is
    converted to OpenCV by negating rotation columns 1 and 2 (``common.cameras.opengl_to_opencv``).
  * K: fx = fy = 0.5 W / tan(0.5 camera_angle_x), cx = W / 2, cy = H / 2 (pixel centres at u + 0.5).
  * RGBA images are composited on ``background``: rgb * a + bg * (1 - a); masks = (alpha >= 0.5).
  * near / far = 2 / 6 and bbox = [-1.5, 1.5]^3 (DVGO / TensoRF / nerfstudio values for this data set).

Options:
  splits: json files to read, e.g. ("train", "test"); default None = every one of train/val/test
      that exists (at least one must). Views are concatenated in split order, frames in file order.
  background: RGB in [0, 1] for alpha compositing (white (1, 1, 1) as DVGO/NeRF with ``white_bkgd``).
  testskip: keep every ``testskip``-th frame of val and test (train is never subsampled).
  downscale: integer factor; images resized to (H // downscale, W // downscale), K scaled to match.
  lazy: images None, ``image_paths`` / ``image_loader`` set; masks are then not read (None).

``read_views`` (image stacks, lazy readers, size checks) and the json / pose helpers here are shared
with the D-NeRF, transforms.json, NeuS, CO3Dv2 and image-folder loaders.
"""

from __future__ import annotations

import json
import math
from functools import partial
from pathlib import Path

import numpy as np
from PIL import Image

from common.cameras import opengl_to_opencv, scale_intrinsics
from common.data.errors import DataFormatError
from common.data.io import as_matrix, read_alpha, read_rgb, resize
from common.data.scene import SceneData

SPLITS = ("train", "val", "test")
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".exr", ".bmp", ".tif", ".tiff")
NEAR, FAR = 2.0, 6.0
BBOX = np.array([[-1.5, -1.5, -1.5], [1.5, 1.5, 1.5]], dtype=np.float32)


def read_json(path: Path) -> dict:
    """Parse a JSON object file; DataFormatError naming the file when missing or malformed."""
    if not path.is_file():
        raise DataFormatError(path, "file not found", "a JSON file")
    try:
        data = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DataFormatError(path, f"invalid JSON ({exc})", "a JSON object") from exc
    if not isinstance(data, dict):
        raise DataFormatError(path, f"top level is {type(data).__name__}", "a JSON object")
    return data


def pose_matrix(value, path: Path, where: str) -> np.ndarray:
    """``transform_matrix`` value -> [4, 4] float64; errors name ``path`` and the frame ``where``."""
    mat = as_matrix(value, path, f"{where}: transform_matrix", ((4, 4),))
    if not np.allclose(mat[3], (0.0, 0.0, 0.0, 1.0), atol=1e-6):
        raise DataFormatError(path, f"{where}: last row is {mat[3].tolist()}", "last row [0, 0, 0, 1]")
    return mat


def frames_of(meta: dict, path: Path) -> list[dict]:
    """The non-empty ``frames`` list of a transforms file, each entry a dict with ``file_path``."""
    frames = meta.get("frames")
    if not isinstance(frames, list) or not frames:
        raise DataFormatError(path, "no 'frames' list (or it is empty)", "'frames': [{file_path, ...}, ...]")
    for i, fr in enumerate(frames):
        if not isinstance(fr, dict) or not isinstance(fr.get("file_path"), str):
            raise DataFormatError(path, f"frame {i} has no 'file_path' string", "each frame {file_path, ...}")
    return frames


def resolve_image(base: Path, file_path: str, json_path: Path) -> Path:
    """Image file of a frame: ``base / file_path``, adding ".png" when the path has no image extension."""
    p = base / file_path
    if p.suffix.lower() not in IMAGE_EXTENSIONS:
        p = p.with_name(p.name + ".png")
    if not p.is_file():
        raise DataFormatError(p, f"image of a frame in {json_path.name} not found", "an existing image file")
    return p


def image_size(path: Path) -> tuple[int, int]:
    """(H, W) of an image file, read from its header only."""
    try:
        with Image.open(path) as im:
            w, h = im.size
    except Exception as exc:  # PIL raises many types for corrupt files
        raise DataFormatError(path, f"unreadable image ({type(exc).__name__})", "a PNG/JPEG image") from exc
    return int(h), int(w)


def scaled_size(height: int, width: int, downscale: int, source: Path | str) -> tuple[int, int]:
    """Loaded image size (H // downscale, W // downscale) after checking ``downscale``."""
    if not isinstance(downscale, int) or downscale < 1 or downscale > min(height, width):
        raise DataFormatError(source, f"downscale={downscale!r}", f"an integer in [1, {min(height, width)}]")
    return height // downscale, width // downscale


def _read_view(paths: tuple[str, ...], background, size: tuple[int, int], i: int) -> np.ndarray:
    """[H, W, 3] float32 image ``i`` composited on ``background`` and resized to ``size``."""
    return resize(read_rgb(paths[i], background=background), *size).astype(np.float32)


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
    images; None when lazy, not requested or the images have no alpha), loader (lazy reader or None),
    (H, W) original size, (h, w) loaded size).
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
        loader = partial(_read_view, tuple(str(p) for p in paths), background, hw)
        return None, None, loader, full_hw, hw
    imgs = np.stack([resize(im, *hw) for im in images]).astype(np.float32)
    mask_arr = None
    if alpha_masks and any(not np.all(m == 1.0) for m in masks):
        mask_arr = np.stack([resize(m, *hw) >= 0.5 for m in masks])
    return imgs, mask_arr, None, full_hw, hw


def resize_K(K: np.ndarray, full_hw: tuple[int, int], hw: tuple[int, int]) -> np.ndarray:
    """Intrinsics [..., 3, 3] of the full-size image rescaled to the loaded size."""
    return scale_intrinsics(K, hw[1] / full_hw[1], hw[0] / full_hw[0])


def load_transforms(
    root: Path,
    splits=None,
    background=(1.0, 1.0, 1.0),
    testskip: int = 1,
    downscale: int = 1,
    lazy: bool = False,
    read_times: bool = False,
) -> SceneData:
    """Read Blender-style ``transforms_<split>.json`` files (shared by the Blender and D-NeRF loaders).

    With ``read_times`` each frame must carry ``time`` in [0, 1]; they become ``times`` [N].
    """
    root = Path(root)
    if not isinstance(testskip, int) or testskip < 1:
        raise DataFormatError(root, f"testskip={testskip!r}", "an integer >= 1")
    names = [s for s in SPLITS if (root / f"transforms_{s}.json").is_file()] if splits is None else list(splits)
    if not names:
        raise DataFormatError(root / "transforms_train.json", "file not found", "transforms_{train,val,test}.json")
    paths, c2w, times, frame_ids, split_idx = [], [], [], [], {}
    angle = None
    for name in names:
        jpath = root / f"transforms_{name}.json"
        meta = read_json(jpath)
        frames = frames_of(meta, jpath)
        if name != "train":
            frames = frames[::testskip]
        a = meta.get("camera_angle_x")
        if not isinstance(a, (int, float)) or not 0.0 < float(a) < math.pi:
            raise DataFormatError(jpath, f"camera_angle_x = {a!r}", "a horizontal field of view in (0, pi) radians")
        if angle is not None and not math.isclose(float(a), angle, rel_tol=1e-6):
            raise DataFormatError(jpath, f"camera_angle_x {a} differs from {angle} of the other splits", "one camera")
        angle = float(a)
        split_idx[name] = list(range(len(paths), len(paths) + len(frames)))
        for i, fr in enumerate(frames):
            where = f"frame {i} ({fr['file_path']})"
            paths.append(resolve_image(root, fr["file_path"], jpath))
            c2w.append(pose_matrix(fr.get("transform_matrix"), jpath, where))
            frame_ids.append(f"{name}/{Path(fr['file_path']).stem}")
            if read_times:
                t = fr.get("time")
                if not isinstance(t, (int, float)) or not 0.0 <= float(t) <= 1.0:
                    raise DataFormatError(jpath, f"{where}: time = {t!r}", "a number 'time' in [0, 1]")
                times.append(float(t))
    images, masks, loader, (H, W), hw = read_views(
        paths, None, downscale, lazy, background=tuple(background), alpha_masks=True
    )
    focal = 0.5 * W / math.tan(0.5 * angle)
    K = np.array([[focal, 0.0, W / 2.0], [0.0, focal, H / 2.0], [0.0, 0.0, 1.0]])
    K = np.repeat(resize_K(K, (H, W), hw)[None], len(paths), axis=0)
    return SceneData(
        images=images,
        K=K.astype(np.float32),
        c2w=opengl_to_opencv(np.stack(c2w)).astype(np.float32),
        height=hw[0],
        width=hw[1],
        splits=split_idx,
        near=NEAR,
        far=FAR,
        bbox=BBOX.copy(),
        image_paths=[str(p) for p in paths],
        frame_ids=frame_ids,
        masks=masks,
        times=np.asarray(times, dtype=np.float32) if read_times else None,
        extras={"camera_angle_x": angle, "background": tuple(float(v) for v in background)},
        image_loader=loader,
    )


def load(
    root: Path,
    splits=None,
    background=(1.0, 1.0, 1.0),
    testskip: int = 1,
    downscale: int = 1,
    lazy: bool = False,
) -> SceneData:
    """Load a NeRF-synthetic (Blender) scene; see the module docstring for the layout and options."""
    return load_transforms(root, splits, background, testskip, downscale, lazy, read_times=False)
