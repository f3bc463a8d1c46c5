"""Texture bank for synthetic scenes: real photographs from ``skimage.data`` (bundled, offline).

All textures are resampled to one square size ``S`` and stacked into ``[T, S, S, 3]`` float32
so that every pixel of a render is shaded with one gather. Grey images become RGB (objects tint
them with their own colour). The Spot cow texture is added by `rooms.py` when its mesh is present.
Lookups repeat the texture outside [0, 1] (``u mod 1``) and interpolate bilinearly.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from PIL import Image

# Name -> skimage.data function; the order fixes texture ids (changing it changes every scene).
PHOTOS: tuple[str, ...] = (
    "brick",
    "grass",
    "gravel",
    "coffee",
    "astronaut",
    "chelsea",
    "rocket",
    "camera",
    "coins",
    "moon",
    "hubble_deep_field",
    "immunohistochemistry",
    "colorwheel",
    "checkerboard",
    "retina",
    "clock",
)


def to_texture(img: np.ndarray, size: int) -> np.ndarray:
    """uint8/float [H, W] or [H, W, 3|4] image -> float32 [size, size, 3] in [0, 1] (area resampling)."""
    arr = np.asarray(img)
    if arr.dtype == bool:
        arr = arr.astype(np.uint8) * 255
    if arr.ndim == 2:
        arr = np.repeat(arr[..., None], 3, axis=-1)
    arr = arr[..., :3]
    if arr.dtype != np.uint8:
        arr = (np.clip(arr, 0.0, 1.0) * 255 + 0.5).astype(np.uint8)
    out = Image.fromarray(arr).resize((size, size), Image.Resampling.BOX)
    return np.asarray(out, dtype=np.float32) / 255.0


@lru_cache(maxsize=4)
def photo_bank(size: int = 256) -> tuple[tuple[str, ...], np.ndarray]:
    """(names, textures [T, size, size, 3] float32) of the skimage photographs in `PHOTOS`."""
    import skimage.data

    textures = np.stack([to_texture(getattr(skimage.data, name)(), size) for name in PHOTOS])
    textures.setflags(write=False)
    return PHOTOS, textures


def sample_bilinear(textures: np.ndarray, tex_id: np.ndarray, uv: np.ndarray) -> np.ndarray:
    """Bilinear, repeating lookup.

    textures: [T, S, S, 3]; tex_id: [N] int; uv: [N, 2] (u along columns, v along rows; any range,
    wrapped with mod 1). Texel centres sit at ((i + 0.5) / S). Returns [N, 3] float32.
    """
    s = textures.shape[1]
    x = np.mod(uv[:, 0], 1.0) * s - 0.5
    y = np.mod(uv[:, 1], 1.0) * s - 0.5
    x0 = np.floor(x)
    y0 = np.floor(y)
    fx = (x - x0)[:, None].astype(np.float32)
    fy = (y - y0)[:, None].astype(np.float32)
    x0 = x0.astype(np.int64) % s
    y0 = y0.astype(np.int64) % s
    x1 = (x0 + 1) % s
    y1 = (y0 + 1) % s
    t = tex_id.astype(np.int64)
    top = textures[t, y0, x0] * (1 - fx) + textures[t, y0, x1] * fx
    bottom = textures[t, y1, x0] * (1 - fx) + textures[t, y1, x1] * fx
    return (top * (1 - fy) + bottom * fy).astype(np.float32)


def mip_pyramid(textures: np.ndarray) -> list[np.ndarray]:
    """[T, S, S, 3] -> levels [T, S / 2^l, S / 2^l, 3], l = 0 .. log2(S), each the 2x2 box average of the last."""
    levels = [np.asarray(textures, dtype=np.float32)]
    while levels[-1].shape[1] > 1:
        t = levels[-1]
        levels.append(0.25 * (t[:, 0::2, 0::2] + t[:, 1::2, 0::2] + t[:, 0::2, 1::2] + t[:, 1::2, 1::2]))
    return levels


def sample_trilinear(pyramid: list[np.ndarray], tex_id: np.ndarray, uv: np.ndarray, level: np.ndarray) -> np.ndarray:
    """Mip-mapped lookup: bilinear in levels floor(level) and floor(level) + 1, blended linearly.

    ``level`` [N] = log2(texels of level 0 covered by the pixel footprint), clipped to the pyramid.
    Returns [N, 3] float32.
    """
    top = len(pyramid) - 1
    lev = np.clip(level, 0.0, top)
    l0 = np.minimum(np.floor(lev).astype(np.int64), top)
    frac = (lev - l0).astype(np.float32)[:, None]
    out = np.empty((len(tex_id), 3), dtype=np.float32)
    for lv in np.unique(l0):
        sel = np.nonzero(l0 == lv)[0]
        lo = sample_bilinear(pyramid[lv], tex_id[sel], uv[sel])
        hi = sample_bilinear(pyramid[min(lv + 1, top)], tex_id[sel], uv[sel])
        out[sel] = lo * (1 - frac[sel]) + hi * frac[sel]
    return out
