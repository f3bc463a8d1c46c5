"""CO3Dv2 sequences prepared as SparseFusion uses them: square object crops, masked images, normalised cameras.

``prepare_sequence(scene, size)``: for every frame, the box of the foreground mask is enlarged by ``context``
(0.3) into a square, cropped (zero padding outside the image), resized to size x size, and the image is
multiplied by the mask (black background, as the official loader). Intrinsics follow the crop:
K' = S K with S = diag(size / side, size / side, 1) after shifting the principal point by the crop corner.
Cameras are normalised per sequence: the look-at point of the loader (``extras["look_at"]``) moves to the
origin and the mean camera distance becomes ``CAMERA_DISTANCE`` (3).

``load_category(root, category, subset, size)`` lists the sequences of a set list through
``SceneCollection.from_co3d_category`` and prepares each (loaded with masks). ``synthetic_root`` writes the
CO3D-like synthetic categories (``common.data.synthetic.write_co3d``) once into the data cache.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from common.data import load_scene
from common.data.collection import SceneCollection
from common.data.errors import DataFormatError
from common.data.scene import SceneData
from common.data.synthetic import GENERATOR_VERSION
from common.data.synthetic.cache import default_base
from common.data.synthetic.write_co3d import write_co3d

CAMERA_DISTANCE = 3.0


def frame_tensor(images: np.ndarray) -> torch.Tensor:
    """uint8 frames [N, S, S, 3] -> float [N, 3, S, S] in [0, 1]."""
    return torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255


def crop_box(mask: np.ndarray, context: float) -> tuple[float, float, float]:
    """(x0, y0, side) of the square around the mask's bounding box enlarged by ``context`` (fraction)."""
    ys, xs = np.nonzero(mask)
    x_lo, x_hi, y_lo, y_hi = xs.min(), xs.max() + 1, ys.min(), ys.max() + 1
    side = max(x_hi - x_lo, y_hi - y_lo) * (1 + context)
    cx, cy = (x_lo + x_hi) / 2, (y_lo + y_hi) / 2
    return float(cx - side / 2), float(cy - side / 2), float(side)


def crop_resize(image: torch.Tensor, box: tuple[float, float, float], size: int) -> torch.Tensor:
    """Bilinear resample of ``image`` [C, H, W] over the square ``box`` (zeros outside) -> [C, size, size]."""
    x0, y0, side = box
    h, w = image.shape[-2:]
    centres = (torch.arange(size, dtype=torch.float32) + 0.5) * side / size
    gx, gy = (x0 + centres) / w * 2 - 1, (y0 + centres) / h * 2 - 1
    grid = torch.stack(torch.meshgrid(gx, gy, indexing="xy"), dim=-1)[None]
    return F.grid_sample(image[None], grid, mode="bilinear", padding_mode="zeros", align_corners=False)[0]


def crop_intrinsics(K: np.ndarray, box: tuple[float, float, float], size: int) -> np.ndarray:
    x0, y0, side = box
    s = size / side
    out = np.array(K, dtype=np.float64)
    out[0, 2] -= x0
    out[1, 2] -= y0
    out[:2] *= s
    return out


def normalize_cameras(c2w: np.ndarray, centre: np.ndarray) -> tuple[np.ndarray, float]:
    """Move ``centre`` to the origin and scale so that the mean camera distance is CAMERA_DISTANCE."""
    out = np.array(c2w, dtype=np.float64)
    out[:, :3, 3] -= centre
    scale = CAMERA_DISTANCE / np.linalg.norm(out[:, :3, 3], axis=-1).mean()
    out[:, :3, 3] *= scale
    return out, float(scale)


def prepare_sequence(scene: SceneData, size: int, context: float = 0.3) -> dict:
    """{"images": uint8 [N, size, size, 3] (masked), "masks": bool [N, size, size], "K": [N, 3, 3],
    "c2w": [N, 4, 4] (normalised), "name": sequence, "frame_ids"} of a scene loaded with masks."""
    if scene.masks is None:
        raise DataFormatError(scene.root, "sequence has no foreground masks", "CO3Dv2 masks/ for every frame")
    images, masks, Ks = [], [], []
    for i in range(scene.num_views):
        m = scene.masks[i]
        if not m.any():
            where = scene.frame_ids[i] if scene.frame_ids else f"view {i}"
            raise DataFormatError(scene.root, f"{where}: empty foreground mask", "a mask with object pixels")
        box = crop_box(m, context)
        img = torch.from_numpy(np.asarray(scene.load_image(i), dtype=np.float32)).permute(2, 0, 1)
        mk = crop_resize(torch.from_numpy(m.astype(np.float32))[None], box, size)[0] > 0.5
        crop = crop_resize(img, box, size) * mk
        images.append((crop.permute(1, 2, 0).clamp(0, 1) * 255 + 0.5).to(torch.uint8).numpy())
        masks.append(mk.numpy())
        Ks.append(crop_intrinsics(scene.K[i], box, size))
    c2w, scale = normalize_cameras(scene.c2w, np.asarray(scene.extras.get("look_at"), dtype=np.float64))
    return {
        "images": np.stack(images),
        "masks": np.stack(masks),
        "K": np.stack(Ks).astype(np.float32),
        "c2w": c2w.astype(np.float32),
        "name": scene.extras.get("sequence", ""),
        "frame_ids": list(scene.frame_ids or []),
        "scale": scale,
    }


def load_category(
    root: str | Path, category: str, subset: str, size: int, max_sequences: int | None = None, min_views: int = 11
) -> list[dict]:
    """Prepared sequences of ``category`` in ``set_lists_<subset>.json`` (all their set-list frames), sorted by
    name; sequences with fewer than ``min_views`` frames are dropped (official: > 10)."""
    names = SceneCollection.from_co3d_category(
        root, category, subset=subset, split=None, max_sequences=max_sequences, min_views=min_views
    ).names
    out = []
    for name in names:
        scene = load_scene("co3dv2", root, category=category, sequence=name, subset=subset, masks=True, depth=False)
        out.append(prepare_sequence(scene, size))
    return out


def synthetic_root(categories: int, sequences: int, frames: int, res: int, seed: int = 0) -> Path:
    """The CO3D-like synthetic data set (first ``categories`` of SparseFusion's ten, ``sequences`` per category,
    the last one in fewview_dev), written once under the synthetic data cache."""
    params = {"categories": categories, "sequences": sequences, "frames": frames, "res": res, "seed": seed}
    base = Path(os.environ.get("NF_DATA_CACHE") or default_base())
    root = base / f"sparsefusion-co3d-c{categories}-q{sequences}-f{frames}-r{res}-s{seed}"
    marker = root / "done.json"
    if marker.is_file() and json.loads(marker.read_text()) == {
        **params,
        "kind": "co3dv2",
        "version": GENERATOR_VERSION,
    }:
        return root
    tmp = root.with_name(root.name + f".tmp{os.getpid()}")
    write_co3d(tmp, scenes=categories, res=res, seed=seed, frames=frames, sequences=sequences)
    (tmp / "done.json").write_text(json.dumps({**params, "kind": "co3dv2", "version": GENERATOR_VERSION}))
    if root.exists():
        shutil.rmtree(root)
    os.replace(tmp, root)
    return root
