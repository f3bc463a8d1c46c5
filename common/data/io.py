"""Image, JSON and text I/O shared by the loaders and the synthetic generator (imageio / PIL).

Every reader raises DataFormatError naming the file when it is missing or unreadable.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import imageio.v3 as iio
import numpy as np
from PIL import Image

from common.data.errors import DataFormatError


def _read(path: str | Path) -> np.ndarray:
    path = Path(path)
    if not path.is_file():
        raise DataFormatError(path, "file not found", "an image file")
    try:
        return np.asarray(iio.imread(path))
    except Exception as exc:  # imageio raises many types for corrupt files
        raise DataFormatError(path, f"unreadable image ({type(exc).__name__})", "a PNG/JPEG image") from exc


def read_rgb(path: str | Path, background: tuple[float, float, float] | None = None) -> np.ndarray:
    """Read an 8/16-bit RGB(A) image as float32 [H, W, 3] in [0, 1].

    RGBA: composited on ``background`` (rgb * a + bg * (1 - a)) when given, else alpha dropped.
    Grey images are repeated to 3 channels.
    """
    img = _read(path)
    scale = 65535.0 if img.dtype == np.uint16 else 255.0
    img = img.astype(np.float32) / scale
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=-1)
    if img.ndim != 3 or img.shape[-1] not in (3, 4):
        raise DataFormatError(path, f"image has shape {img.shape}", "[H, W, 3] RGB or [H, W, 4] RGBA")
    if img.shape[-1] == 4:
        rgb, a = img[..., :3], img[..., 3:]
        if background is not None:
            rgb = rgb * a + np.asarray(background, dtype=np.float32) * (1.0 - a)
        img = rgb
    return np.ascontiguousarray(img, dtype=np.float32)


def read_alpha(path: str | Path) -> np.ndarray:
    """Alpha channel of an RGBA image as float32 [H, W] in [0, 1] (ones when there is none)."""
    img = _read(path)
    if img.ndim == 3 and img.shape[-1] == 4:
        return img[..., 3].astype(np.float32) / (65535.0 if img.dtype == np.uint16 else 255.0)
    return np.ones(img.shape[:2], dtype=np.float32)


def read_mask(path: str | Path, threshold: float = 0.5) -> np.ndarray:
    """Binary mask [H, W] bool from a grey/RGB(A) PNG (any channel > threshold of full scale)."""
    img = _read(path)
    if img.ndim == 3:
        img = np.maximum(np.maximum(img[..., 0], img[..., 1]), img[..., 2]) if img.shape[-1] >= 3 else img[..., 0]
    full = 65535.0 if img.dtype == np.uint16 else 255.0
    return img > threshold * full


def read_uint(path: str | Path) -> np.ndarray:
    """Raw integer image [H, W] (8/16-bit PNG: depth in mm, label ids, ...)."""
    img = _read(path)
    if img.ndim == 3:
        img = img[..., 0]
    if not np.issubdtype(img.dtype, np.integer):
        raise DataFormatError(path, f"image dtype {img.dtype}", "an integer (8/16-bit) PNG")
    return img


def read_uint16(path: str | Path) -> np.ndarray:
    """Single-channel 16-bit PNG [H, W] uint16 (depth in mm or scaled metres); 8-bit or colour images are refused."""
    img = _read(path)
    if img.dtype != np.uint16 or img.ndim != 2:
        kind = f"{img.dtype.itemsize * 8}-bit" + (f" {img.shape[-1]}-channel" if img.ndim == 3 else " grey")
        raise DataFormatError(path, f"{kind} image of shape {img.shape}", "a single-channel 16-bit PNG (depth map)")
    return img


def image_size(path: str | Path) -> tuple[int, int]:
    """(H, W) of an image file, read from its header only."""
    path = Path(path)
    if not path.is_file():
        raise DataFormatError(path, "file not found", "an image file")
    try:
        with Image.open(path) as im:
            w, h = im.size
    except Exception as exc:  # PIL raises many types for corrupt files
        raise DataFormatError(path, f"unreadable image ({type(exc).__name__})", "a PNG/JPEG image") from exc
    return int(h), int(w)


def read_json(path: str | Path) -> dict:
    """Parse a JSON object file; DataFormatError naming the file when missing or malformed."""
    path = Path(path)
    if not path.is_file():
        raise DataFormatError(path, "file not found", "a JSON file")
    try:
        data = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DataFormatError(path, f"invalid JSON ({exc})", "a JSON object") from exc
    if not isinstance(data, dict):
        raise DataFormatError(path, f"top level is {type(data).__name__}", "a JSON object")
    return data


def resize(img: np.ndarray, height: int, width: int, nearest: bool = False) -> np.ndarray:
    """Resize [H, W] or [H, W, C] to (height, width): area/bilinear for values, nearest for labels."""
    if img.shape[:2] == (height, width):
        return img
    if nearest:
        rows = (np.arange(height) + 0.5) * img.shape[0] / height
        cols = (np.arange(width) + 0.5) * img.shape[1] / width
        return img[rows.astype(np.int64)[:, None], cols.astype(np.int64)[None, :]]
    chans = [img] if img.ndim == 2 else [img[..., c] for c in range(img.shape[-1])]
    method = Image.Resampling.BOX if height < img.shape[0] else Image.Resampling.BILINEAR
    out = [np.asarray(Image.fromarray(c.astype(np.float32), mode="F").resize((width, height), method)) for c in chans]
    return out[0] if img.ndim == 2 else np.stack(out, axis=-1)


def read_matrix(path: str | Path, shape: tuple[int, ...] | None = None) -> np.ndarray:
    """Whitespace-separated numbers from a text file as float64, reshaped to ``shape`` if given."""
    path = Path(path)
    if not path.is_file():
        raise DataFormatError(path, "file not found", "a text file of numbers")
    try:
        arr = np.loadtxt(path, dtype=np.float64, ndmin=1)
    except ValueError as exc:
        raise DataFormatError(path, f"not numeric text ({exc})", "whitespace-separated numbers") from exc
    if shape is not None:
        if arr.size != int(np.prod(shape)):
            raise DataFormatError(path, f"has {arr.size} numbers", f"{int(np.prod(shape))} numbers ({shape})")
        arr = arr.reshape(shape)
    if not np.all(np.isfinite(arr)):
        raise DataFormatError(path, "has non-finite values", "finite numbers")
    return arr


def as_matrix(value, path: str | Path, what: str, shapes: tuple[tuple[int, ...], ...] = ((4, 4),)) -> np.ndarray:
    """``value`` (JSON list, npz array) as a finite float64 matrix of one of ``shapes``.

    Raises DataFormatError naming ``path`` and ``what`` (e.g. ``frames[3].camtoworld``) otherwise.
    """
    try:
        mat = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise DataFormatError(path, f"{what} is not numeric", "a matrix of numbers") from exc
    if mat.shape not in shapes:
        want = " or ".join("x".join(map(str, s)) for s in shapes)
        raise DataFormatError(path, f"{what} has shape {mat.shape}", f"a {want} matrix")
    if not np.all(np.isfinite(mat)):
        raise DataFormatError(path, f"{what} has non-finite values", "finite numbers")
    return mat


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` via a temporary file and rename (never leaves a partial file)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_png(path: str | Path, img: np.ndarray) -> None:
    """Write uint8/uint16 arrays as is, float arrays in [0, 1] as 8-bit PNG (deterministic bytes, atomically)."""
    if np.issubdtype(img.dtype, np.floating):
        img = (np.clip(img, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    atomic_write_bytes(path, iio.imwrite("<bytes>", img, extension=".png"))
