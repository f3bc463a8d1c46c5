"""NICE-SLAM Replica loader (the renders MonoSDF and S3IM's Replica scenes were cut from).

Layout (``Replica/<scene>``, e.g. ``Replica/room0``)::

    results/frame000000.jpg ...   RGB, 1200x680
    results/depth000000.png ...   uint16 depth; metres = value / scale (6553.5)
    traj.txt                      one camera-to-world 4x4 per line (16 floats, row-major), OpenCV axes
    cam_params.json (optional)    Replica's {"camera": {"w", "h", "fx", "fy", "cx", "cy", "scale"}}, in the scene
                                  directory or its parent

Conventions: ``traj.txt`` poses are OpenCV camera-to-world (NICE-SLAM's own code negates columns 1 and 2 to get its
OpenGL rays, and MonoSDF's culling script does the same), so they are used as they are; it must hold one pose per
frame image. Intrinsics default to H=680, W=1200, fx=fy=600, cx=599.5, cy=339.5 (NICE-SLAM's replica.yaml),
overridden by cam_params.json, then by the ``intrinsics`` option, all in NICE-SLAM's convention. NICE-SLAM casts
pixel (i, j)'s ray through the integer point (i, j): d = ((i - cx) / fx, (j - cy) / fy, 1); this project casts it
through the pixel centre (i + 0.5, j + 0.5), so K's principal point is (cx + 0.5, cy + 0.5) to keep NICE-SLAM's rays
(``extras["camera"]`` keeps the values as the data set gives them). depth is z-depth in metres (0 = invalid).

Bounds: near = 0.01; far = 1.1 x the largest valid depth of the loaded views (without depth: the largest distance
between camera centres + 1 m); bbox = min / max of the back-projected valid depth pixels (every 8th pixel), or the
camera centres padded by 1 m without depth.

Options:
  intrinsics: dict overriding any of w, h, fx, fy, cx, cy, scale.
  frame_step: keep every ``frame_step``-th frame (2000 frames at 1200x680 are 20 GB as float32: subsample or use
      ``lazy``). test_every: of the kept frames, index % test_every == 0 is test, the rest train. NICE-SLAM has no
      test split; this is the same hold-out rule as MonoSDF / S3IM.
  depth: read the depth images (default True). downscale, lazy: as for every loader (depth is always read
      when requested; it is resized with nearest neighbour so invalid zeros do not blend).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from common.data.checks import as_number, check_intrinsics, check_pose_count, check_rotation
from common.data.errors import DataFormatError
from common.data.io import read_json, read_matrix, read_uint16, resize
from common.data.scene import SceneData
from common.data.views import read_views, resize_K

DEFAULT_CAMERA = {"w": 1200, "h": 680, "fx": 600.0, "fy": 600.0, "cx": 599.5, "cy": 339.5, "scale": 6553.5}


def camera_params(sdir: Path, overrides: dict | None = None) -> dict:
    """Camera dict (w, h, fx, fy, cx, cy, scale): defaults < cam_params.json (scene dir, then parent) < overrides.

    Values in NICE-SLAM's convention (principal point in integer pixel coordinates). Every value must be a number
    (JSON ``true`` is refused), w and h positive integers, scale > 0, fx and fy > 0; errors name cam_params.json,
    or the scene directory for the ``intrinsics`` option.
    """
    cam, source = dict(DEFAULT_CAMERA), {k: sdir for k in DEFAULT_CAMERA}
    for path in (sdir / "cam_params.json", sdir.parent / "cam_params.json"):
        if path.is_file():
            block = read_json(path).get("camera")
            if not isinstance(block, dict):
                raise DataFormatError(path, "no 'camera' object", '{"camera": {"w", "h", "fx", "fy", "cx", "cy"}}')
            for k in DEFAULT_CAMERA:
                if k in block:
                    cam[k], source[k] = as_number(block[k], path, f"camera.{k}"), path
            break
    unknown = set(overrides or {}) - set(DEFAULT_CAMERA)
    if unknown:
        raise DataFormatError(
            sdir, f"unknown intrinsics keys {sorted(unknown)}", f"keys among {sorted(DEFAULT_CAMERA)}"
        )
    for k, v in (overrides or {}).items():
        cam[k], source[k] = as_number(v, sdir, f"intrinsics option '{k}'"), sdir
    for k in ("w", "h"):
        if cam[k] != int(cam[k]) or cam[k] < 1:
            raise DataFormatError(source[k], f"camera.{k} = {cam[k]:g}", "a positive integer image size")
        cam[k] = int(cam[k])
    if not cam["scale"] > 0:
        raise DataFormatError(source["scale"], f"camera.scale = {cam['scale']:g}", "a positive depth scale")
    K = np.array([[cam["fx"], 0.0, cam["cx"]], [0.0, cam["fy"], cam["cy"]], [0.0, 0.0, 1.0]])
    check_intrinsics(K, source["fx"] if cam["fx"] <= 0 else source["fy"], "camera")
    return cam


def read_trajectory(path: Path) -> np.ndarray:
    """[N, 4, 4] rigid camera-to-world matrices from a text file with 16 numbers per line (line k = frame k)."""
    traj = read_matrix(path)
    if traj.ndim != 2 or traj.shape[1] != 16:
        raise DataFormatError(path, f"has lines of {traj.shape[-1]} numbers", "16 numbers (a 4x4 c2w) per line")
    traj = traj.reshape(-1, 4, 4)
    for k, pose in enumerate(traj):
        if not np.allclose(pose[3], (0.0, 0.0, 0.0, 1.0), atol=1e-6):
            raise DataFormatError(path, f"frame {k} (line {k + 1}): last row is {pose[3].tolist()}", "[0, 0, 0, 1]")
        check_rotation(pose, path, f"frame {k} (line {k + 1})")
    return traj


def depth_bounds(depth: np.ndarray, K: np.ndarray, c2w: np.ndarray, stride: int = 8) -> tuple[np.ndarray, float]:
    """(bbox [2, 3], max depth) of the valid (> 0) z-depth pixels of views depth [N, H, W], back-projected.

    Pixel (u, v) with centre (u + 0.5, v + 0.5) and depth z maps to X = R z K^-1 [u + 0.5, v + 0.5, 1] + t.
    """
    pts = []
    for d, k, pose in zip(depth, K, c2w):
        v, u = np.mgrid[0 : d.shape[0] : stride, 0 : d.shape[1] : stride]
        z = d[v, u]
        ok = z > 0
        pix = np.stack([u[ok] + 0.5, v[ok] + 0.5, np.ones(ok.sum())], axis=-1)
        cam = (pix @ np.linalg.inv(k).T) * z[ok][:, None]
        pts.append(cam @ pose[:3, :3].T + pose[:3, 3])
    pts = np.concatenate(pts)
    if len(pts) == 0:
        raise DataFormatError("depth", "no valid depth pixel in the loaded views", "depth > 0 somewhere")
    return np.stack([pts.min(0), pts.max(0)]), float(depth.max())


def camera_bounds(c2w: np.ndarray, pad: float = 1.0) -> tuple[np.ndarray, float]:
    """(bbox = camera centres padded by ``pad``, far = largest distance between centres + pad)."""
    c = c2w[:, :3, 3]
    far = float(np.max(np.linalg.norm(c[:, None] - c[None], axis=-1))) + pad
    return np.stack([c.min(0) - pad, c.max(0) + pad]), far


def _frame_number(path: Path) -> int:
    return int(re.search(r"(\d+)$", path.stem).group(1))


def load(
    root: Path,
    intrinsics: dict | None = None,
    frame_step: int = 1,
    test_every: int = 10,
    depth: bool = True,
    downscale: int = 1,
    lazy: bool = False,
) -> SceneData:
    """Load a NICE-SLAM Replica scene; see the module docstring for the layout and options."""
    sdir = Path(root)
    for name, val, lo in (("frame_step", frame_step, 1), ("test_every", test_every, 2)):
        if not isinstance(val, int) or val < lo:
            raise DataFormatError(sdir, f"{name}={val!r}", f"an integer >= {lo}")
    cam = camera_params(sdir, intrinsics)
    rgb = sorted((sdir / "results").glob("frame*.jpg"), key=_frame_number)
    if not rgb:
        raise DataFormatError(sdir / "results", "no frame*.jpg images", "results/frame000000.jpg, ...")
    traj = read_trajectory(sdir / "traj.txt")
    check_pose_count(len(traj), len(rgb), sdir / "traj.txt", "results/frame*.jpg")
    numbers = [_frame_number(p) for p in rgb]
    if max(numbers) >= len(traj):
        raise DataFormatError(
            sdir / "traj.txt", f"has {len(traj)} poses but frame {max(numbers)} exists", "one pose line per frame"
        )
    keep = list(range(0, len(rgb), frame_step))
    rgb, numbers = [rgb[i] for i in keep], [numbers[i] for i in keep]
    c2w = traj[numbers]
    images, _, loader, full_hw, hw = read_views(rgb, (cam["h"], cam["w"]), downscale, lazy)
    K0 = np.array([[cam["fx"], 0.0, cam["cx"] + 0.5], [0.0, cam["fy"], cam["cy"] + 0.5], [0.0, 0.0, 1.0]])
    K = np.repeat(resize_K(K0, full_hw, hw)[None], len(rgb), axis=0)
    depth_maps = None
    if depth:
        maps = []
        for k in numbers:
            path = sdir / "results" / f"depth{k:06d}.png"
            d = read_uint16(path)
            if d.shape != full_hw:
                raise DataFormatError(path, f"depth is {d.shape[0]}x{d.shape[1]}", f"{full_hw[0]}x{full_hw[1]} (HxW)")
            maps.append(resize(d, *hw, nearest=True).astype(np.float32) / np.float32(cam["scale"]))
        depth_maps = np.stack(maps)
        bbox, far = depth_bounds(depth_maps, K, c2w)
        far *= 1.1
    else:
        bbox, far = camera_bounds(c2w)
    n = len(rgb)
    return SceneData(
        images=images,
        K=K.astype(np.float32),
        c2w=c2w.astype(np.float32),
        height=hw[0],
        width=hw[1],
        splits={"train": [i for i in range(n) if i % test_every], "test": list(range(0, n, test_every))},
        near=0.01,
        far=far,
        bbox=bbox.astype(np.float32),
        image_paths=[str(p) for p in rgb],
        frame_ids=[f"{k:06d}" for k in numbers],
        depth=depth_maps,
        extras={"camera": cam},
        image_loader=loader,
    )
