"""NVIDIA Dynamic Scenes as prepared by Dynamic NeRF (Gao et al., ICCV 2021; official gaochen315/DynamicNeRF).

Layout of one sequence (``data.zip`` of the official code, or ``utils/generate_*.py`` run on a video)::

    root/poses_bounds.npy        [N, 17] float: per frame a 3 x 5 LLFF matrix (columns: down, right, back,
                                 camera centre, (H, W, focal) at the resolution of ``images/``), then the
                                 near / far depth bounds
    root/images/*.png|jpg        N frames, sorted by name (frame i = time i; camera i of the rig)
    root/images_<factor>/        the same frames downsampled by ``factor`` (the official Balloon1 config: 2)
    root/disp/<frame stem>.npy   [h, w] float32 disparity prior (MiDaS ``utils/generate_depth.py``)
    root/flow/%03d_fwd.npz       i = 0 .. N-2: ``flow`` [h, w, 2] pixel offsets (du, dv) from frame i to i+1,
                                 ``mask`` [h, w] bool (forward-backward consistent); RAFT ``generate_flow.py``
    root/flow/%03d_bwd.npz       i = 1 .. N-1: flow from frame i to i-1 and its mask
    root/motion_masks/<stem>.png [h, w] 255 = moving region, 0 = static (``generate_motion_mask.py``)
    root/gt/v000_t%03d.png       optional: the fixed-view evaluation images (camera 0 at every time t), i.e.
                                 ``results/gt/<Sequence>/`` of the official ``results.zip``; without them the
                                 scene has no ``test`` split
    root/priors.json             optional: {"source": "..."} naming where disp / flow / masks came from

Prior maps of other resolutions are resized to the loaded images as the official ``load_llff.py`` does:
nearest for disparity and masks, flow resized (area / bilinear) with its u, v scaled by the width / height
ratio. Missing prior files raise ``DataFormatError`` in one line naming what is missing and where it goes
(nothing is ever downloaded: MiDaS / RAFT must be run elsewhere, with the official ``utils/`` scripts).

Poses (official ``load_llff_data(recenter=True, bd_factor=0.9)``): LLFF [down, right, back] -> OpenGL
[right, up, back]; translations and bounds scaled by ``1 / (0.9 * percentile_5(near bounds))``; recentred on
the average pose, so the cameras look along -z of the world frame and the scene lies beyond z = -1: the
normalised device coordinates (NDC, near plane 1) of the official forward-facing model apply. The c2w
returned here are OpenCV (x right, y down, z forward) in that world frame; K [3, 3] has the focal of
``hwf`` scaled to the loaded size and the principal point at the image centre.

Views and splits (the official protocol): views 0 .. N-1 are the training frames (monocular: frame i
seen by one camera at time i), ``times`` = i / N (the official time is 2 i / N - 1). Views N .. 2N-1 are the
test views: the pose of training frame 0 (camera 0, "v000") at every time i / N, with the images of
``gt/v000_t%03d.png`` (``utils/evaluation.py`` averages PSNR / SSIM / LPIPS over these 12 frames, t000
included, which is also training frame 0).

``extras``: "priors" (per training frame, arrays [N, H, W...]: "disp" float32, "flow_fwd" / "flow_bwd"
float32 [N, H, W, 2], "mask_fwd" / "mask_bwd" float32 0/1 (0 where no flow: last / first frame),
"motion_mask" bool), "priors_source" (text), "num_frames" N, "ndc_near" 1.0, "test_missing" (one line, when
there is no gt/).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from common.data.errors import DataFormatError
from common.data.io import read_mask, read_rgb, resize
from common.data.scene import SceneData

IMAGE_EXTS = (".png", ".jpg", ".jpeg", ".PNG", ".JPG")
BD_FACTOR = 0.9
DEFAULT_PRIORS_SOURCE = "precomputed maps in the official layout (MiDaS disparity, RAFT flow; computed elsewhere)"
PRIORS_HELP = (
    "the official DynamicNeRF layout: disp/<frame>.npy (MiDaS, utils/generate_depth.py), "
    "flow/%03d_fwd.npz + %03d_bwd.npz (RAFT, utils/generate_flow.py), motion_masks/<frame>.png "
    "(utils/generate_motion_mask.py), computed elsewhere and copied into the scene folder (nothing is downloaded)"
)


def _frames(folder: Path, exts: tuple[str, ...]) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix in exts) if folder.is_dir() else []


def read_poses_bounds(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(poses [N, 3, 5] LLFF, bounds [N, 2]) from ``poses_bounds.npy``; DataFormatError when malformed."""
    if not path.is_file():
        raise DataFormatError(path, "file not found", "poses_bounds.npy [N, 17] (LLFF poses + near/far bounds)")
    try:
        arr = np.load(path)
    except (ValueError, OSError) as exc:
        raise DataFormatError(path, f"unreadable ({type(exc).__name__})", "a .npy array [N, 17]") from exc
    if arr.ndim != 2 or arr.shape[1] != 17 or arr.shape[0] < 2:
        raise DataFormatError(path, f"array of shape {arr.shape}", "[N, 17] with N >= 2 frames")
    if not np.all(np.isfinite(arr)):
        raise DataFormatError(path, "has non-finite values", "finite numbers")
    return arr[:, :15].reshape(-1, 3, 5).astype(np.float64), arr[:, 15:].astype(np.float64)


def _normalize(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x)


def average_pose(c2w_gl: np.ndarray) -> np.ndarray:
    """[4, 4] average of OpenGL c2w [N, 3|4, 4] (official ``poses_avg``: mean centre, summed z / y axes)."""
    centre = c2w_gl[:, :3, 3].mean(0)
    z = _normalize(c2w_gl[:, :3, 2].sum(0))
    x = _normalize(np.cross(c2w_gl[:, :3, 1].sum(0), z))
    y = _normalize(np.cross(z, x))
    out = np.eye(4)
    out[:3, :4] = np.stack([x, y, z, centre], 1)
    return out


def llff_to_opencv(poses: np.ndarray, bounds: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(c2w OpenCV [N, 4, 4], scaled bounds [N, 2], the recentring transform [4, 4]) as the official loader.

    LLFF columns (down, right, back) -> OpenGL (right, up, back) = (c1, -c0, c2); scale s = 1 / (0.9 p5(near));
    recentre: c2w <- inv(avg) c2w; OpenGL -> OpenCV: flip the y and z columns.
    """
    gl = np.concatenate([poses[:, :, 1:2], -poses[:, :, 0:1], poses[:, :, 2:4]], 2)
    scale = 1.0 / (np.percentile(bounds[:, 0], 5) * BD_FACTOR)
    c2w = np.tile(np.eye(4), (len(gl), 1, 1))
    c2w[:, :3, :4] = gl
    c2w[:, :3, 3] *= scale
    avg = average_pose(c2w)
    c2w = np.linalg.inv(avg) @ c2w
    c2w[:, :3, 1:3] *= -1.0
    return c2w, bounds * scale, avg


def _resize_flow(flow: np.ndarray, height: int, width: int) -> np.ndarray:
    h, w = flow.shape[:2]
    if (h, w) == (height, width):
        return flow.astype(np.float32)
    out = resize(flow.astype(np.float32), height, width)
    return (out * np.array([width / w, height / h], dtype=np.float32)).astype(np.float32)


def _read_npz(path: Path) -> tuple[np.ndarray, np.ndarray]:
    try:
        with np.load(path) as data:
            absent = [k for k in ("flow", "mask") if k not in data.files]
            if absent:
                raise DataFormatError(
                    path, f"no array '{absent[0]}'", "an .npz with 'flow' [H, W, 2] and 'mask' [H, W]"
                )
            flow, mask = np.asarray(data["flow"]), np.asarray(data["mask"])
    except (ValueError, OSError) as exc:
        if isinstance(exc, DataFormatError):
            raise
        raise DataFormatError(path, f"unreadable ({type(exc).__name__})", "an .npz with 'flow' and 'mask'") from exc
    if flow.ndim != 3 or flow.shape[-1] != 2 or mask.shape != flow.shape[:2]:
        raise DataFormatError(path, f"flow {flow.shape}, mask {mask.shape}", "flow [H, W, 2] and mask [H, W]")
    if not np.all(np.isfinite(flow)):
        raise DataFormatError(path, "flow has non-finite values", "finite pixel offsets")
    return flow, mask


def missing_priors(root: Path, stems: list[str]) -> list[str]:
    """Relative paths of the prior files the official layout needs for frames ``stems`` that are absent."""
    n = len(stems)
    want = [f"disp/{s}.npy" for s in stems] + [f"motion_masks/{s}.png" for s in stems]
    want += [f"flow/{i:03d}_fwd.npz" for i in range(n - 1)] + [f"flow/{i:03d}_bwd.npz" for i in range(1, n)]
    return [w for w in want if not (root / w).is_file()]


def _summarise(missing: list[str]) -> str:
    head = ", ".join(missing[:4])
    return head + (f" and {len(missing) - 4} more" if len(missing) > 4 else "")


def read_priors(root: Path, stems: list[str], height: int, width: int) -> dict[str, np.ndarray]:
    """The per-frame prior maps at (height, width); see the module doc."""
    missing = missing_priors(root, stems)
    if missing:
        raise DataFormatError(root, f"prior maps missing: {_summarise(missing)}", PRIORS_HELP)
    n = len(stems)
    disp = np.zeros((n, height, width), np.float32)
    motion = np.zeros((n, height, width), bool)
    flows = {k: np.zeros((n, height, width, 2), np.float32) for k in ("flow_fwd", "flow_bwd")}
    masks = {k: np.zeros((n, height, width), np.float32) for k in ("mask_fwd", "mask_bwd")}
    for i, stem in enumerate(stems):
        path = root / "disp" / f"{stem}.npy"
        try:
            d = np.load(path)
        except (ValueError, OSError) as exc:
            raise DataFormatError(path, f"unreadable ({type(exc).__name__})", "a .npy disparity map [H, W]") from exc
        if d.ndim != 2 or not np.all(np.isfinite(d)):
            raise DataFormatError(path, f"array of shape {d.shape} (or non-finite)", "a finite disparity map [H, W]")
        disp[i] = resize(d.astype(np.float32), height, width, nearest=True)
        motion[i] = resize(read_mask(root / "motion_masks" / f"{stem}.png", 1e-3), height, width, True)
        for key, j, tag in (("fwd", i, "fwd"), ("bwd", i, "bwd")):
            if (key == "fwd" and i == n - 1) or (key == "bwd" and i == 0):
                continue
            flow, mask = _read_npz(root / "flow" / f"{j:03d}_{tag}.npz")
            flows[f"flow_{key}"][i] = _resize_flow(flow, height, width)
            masks[f"mask_{key}"][i] = resize(mask.astype(np.float32), height, width, nearest=True)
    return {"disp": disp, "motion_mask": motion, **flows, **masks}


def load(
    root: Path,
    factor: int | None = None,
    downscale: int = 1,
    gt_dir: str | Path | None = None,
    require_priors: bool = True,
) -> SceneData:
    """Load one sequence (see the module doc). ``factor``: read ``images_<factor>/`` (None: ``images/``);
    ``downscale``: further area downsampling; ``gt_dir``: the v000_t%03d.png folder (default ``root/gt``);
    ``require_priors=False`` loads a sequence without prior maps (``extras["priors"]`` is then None)."""
    root = Path(root)
    poses, bounds = read_poses_bounds(root / "poses_bounds.npy")
    n = len(poses)
    folder = root / (f"images_{int(factor)}" if factor and int(factor) != 1 else "images")
    files = _frames(folder, IMAGE_EXTS)
    if len(files) != n:
        raise DataFormatError(folder, f"holds {len(files)} images", f"{n} frames, one per row of poses_bounds.npy")
    images = [read_rgb(f) for f in files]
    h0, w0 = images[0].shape[:2]
    if any(im.shape[:2] != (h0, w0) for im in images):
        raise DataFormatError(folder, "images of different sizes", "one image size for every frame")
    ds = max(1, int(downscale))
    H, W = h0 // ds, w0 // ds
    images = np.stack([resize(im, H, W) for im in images]).astype(np.float32)
    focal = poses[0, 2, 4] * H / poses[0, 0, 4]
    K = np.array([[focal, 0.0, W / 2.0], [0.0, focal, H / 2.0], [0.0, 0.0, 1.0]])
    c2w, bds, _ = llff_to_opencv(poses, bounds)
    stems = [f.stem for f in files]
    priors = read_priors(root, stems, H, W) if require_priors else None
    source_file = root / "priors.json"
    source = DEFAULT_PRIORS_SOURCE
    if source_file.is_file():
        try:
            source = str(json.loads(source_file.read_text()).get("source", source))
        except ValueError as exc:
            raise DataFormatError(source_file, "invalid JSON", '{"source": "..."}') from exc

    gt = Path(gt_dir) if gt_dir is not None else root / "gt"
    gt_files = [gt / f"v000_t{i:03d}.png" for i in range(n)]
    absent = [f.name for f in gt_files if not f.is_file()]
    all_c2w, all_images, times = [c2w], [images], [np.arange(n) / n]
    splits = {"train": list(range(n))}
    test_missing = None
    if absent:
        test_missing = (
            f"{gt}: evaluation images missing ({_summarise(absent)}); expected v000_t000.png .. v000_t{n - 1:03d}.png"
            " (camera 0 at every time: results/gt/<Sequence>/ of the official results.zip)"
        )
    else:
        test = np.stack([resize(read_rgb(f), H, W) for f in gt_files]).astype(np.float32)
        all_c2w.append(np.repeat(c2w[:1], n, axis=0))
        all_images.append(test)
        times.append(np.arange(n) / n)
        splits["test"] = list(range(n, 2 * n))
    c2w_all = np.concatenate(all_c2w).astype(np.float32)
    near, far = float(bds.min() * BD_FACTOR), float(bds.max())
    centres = c2w_all[:, :3, 3]
    reach = np.abs(centres).max() + far
    return SceneData(
        images=np.concatenate(all_images),
        K=np.repeat(K[None], len(c2w_all), axis=0).astype(np.float32),
        c2w=c2w_all,
        height=H,
        width=W,
        splits=splits,
        near=near,
        far=far,
        bbox=np.array([[-reach] * 3, [reach] * 3], dtype=np.float32),
        frame_ids=stems + ([f"v000_t{i:03d}" for i in range(n)] if "test" in splits else []),
        times=np.concatenate(times).astype(np.float32),
        extras={
            "priors": priors,
            "priors_source": source,
            "num_frames": n,
            "ndc_near": 1.0,
            "test_missing": test_missing,
        },
    )
