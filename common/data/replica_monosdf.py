"""MonoSDF / sdfstudio scene loader (S3IM's Replica ``scan1..scan8``; also MonoSDF's DTU exports).

Layout of one scene directory (e.g. ``Replica/scan1``)::

    meta_data.json   sdfstudio metadata: height, width, frames[i].{rgb_path, camtoworld (4x4, OpenCV, in the
                     normalised scene frame), intrinsics (4x4; K = its top-left 3x3), optional mono_depth_path,
                     mono_normal_path}, scene_box {aabb, near, far, radius, collider_type}, optional worldtogt (4x4)
    cameras.npz      MonoSDF / IDR cameras: world_mat_i = K [R | t] (4x4, world -> pixels of the ORIGINAL capture,
                     e.g. 1200x680 for Replica, 1600x1200 for DTU) and scale_mat_i (normalised -> world similarity);
                     the normalised camera is P_i = world_mat_i @ scale_mat_i, decomposed as K [R | -R c]
    NNNNNN_rgb.png   images (384x384 for MonoSDF's exports)
    NNNNNN_depth.npy, NNNNNN_normal.npy   omnidata monocular cues: RELATIVE depth (not metric) and normals
    *.ply            ground-truth mesh, in world (ground-truth) coordinates, when present

Frames and cameras:
  * ``source="meta"`` reads meta_data.json (preferred: exactly what sdfstudio and S3IM read);
    ``source="npz"`` reads cameras.npz alone (frames = the indices i of ``world_mat_i``, images
    ``{i:06d}_rgb.png``); ``"auto"`` = meta when meta_data.json exists, else npz.
  * cameras.npz stores K for the original capture; MonoSDF centre-crops that capture to the aspect ratio of
    the stored images and resizes it: cx -= (W0 - Wc) / 2, cy -= (H0 - Hc) / 2, then rows 0-1 of K *= W / Wc
    (Wc x Hc = the largest centred crop with the images' aspect). Pass ``original_size=(W0, H0)``;
    a principal point outside the image is reported as an error naming this option.
  * Poses are OpenCV camera-to-world in the normalised frame (no conversion needed).

Scene bounds:
  * meta: near / far = scene_box.near / far, bbox = scene_box.aabb.
  * npz: bbox = [-1, 1]^3 (MonoSDF normalises the region of interest into it), near / far = the range of
    distances at which rays from the camera centres c_i can meet the sphere of radius sqrt(3) that encloses the
    box: near = max(0, min_i |c_i| - sqrt(3)), far = max_i |c_i| + sqrt(3).

``normalization`` (world = ground truth -> normalised) comes from ``worldtogt`` (meta) or ``scale_mat_0`` (npz):
both map normalised points to ground-truth points, x_gt = s x_n + t, so x_n = (x_gt - t) / s, i.e.
``Normalization(scale=1/s, center=t)``; meshes in ground-truth units (``mesh_path``) map into the scene frame with
``normalization.apply_points``. The matrix itself is kept in ``extras["worldtogt"]``; when it is not a uniform
scale plus translation (a rotation), ``normalization`` stays the identity and only the matrix is given.

Options:
  scene: a subdirectory of ``root`` to load: ``scanN`` or its Replica name (room0, room1, room2, office0 .. office4
      = scan1 .. scan8, MonoSDF's order); None: ``root`` is the scene directory.
  source: "auto" | "meta" | "npz" (above). original_size: (W0, H0) for ``source="npz"`` (None: K used as stored).
  test_every: test = frames whose index % test_every == 0, train = the rest (S3IM / sdfstudio rule, 10).
  mono_cues: also read the monocular cues into ``extras["mono_depth"]`` [N, H, W] (relative depth, as stored) and
      ``extras["mono_normal"]`` [N, H, W, 3] (camera-frame omnidata normals mapped from [0, 1] to [-1, 1] by n * 2 - 1,
      not rotated). Never exposed as ``depth``: the values are not metric.
  downscale: integer factor, images resized to (H // downscale, W // downscale) and K scaled to match.
  lazy: images None, ``image_paths`` / ``image_loader`` set (cues are still read when requested).
"""

from __future__ import annotations

import re
import zipfile
from pathlib import Path

import numpy as np

from common.data.checks import as_number, check_intrinsics, check_rotation, projection_camera
from common.data.errors import DataFormatError
from common.data.io import as_matrix, read_json, resize
from common.data.scene import SceneData
from common.data.views import read_views, resize_K
from common.geometry import Normalization

REPLICA_SCENES = {
    "room0": "scan1",
    "room1": "scan2",
    "room2": "scan3",
    "office0": "scan4",
    "office1": "scan5",
    "office2": "scan6",
    "office3": "scan7",
    "office4": "scan8",
}
SOURCES = ("auto", "meta", "npz")


def scene_dir(root: Path, scene: str | None) -> Path:
    """Directory of ``scene`` under ``root`` (Replica names map to scanN); ``root`` itself when scene is None."""
    if scene is None:
        return root
    for name in (REPLICA_SCENES.get(scene, scene), scene):
        if (root / name).is_dir():
            return root / name
    raise DataFormatError(root / REPLICA_SCENES.get(scene, scene), f"scene '{scene}' not found", "a scene directory")


def crop_resize_intrinsics(K: np.ndarray, original_size: tuple[int, int], size: tuple[int, int]) -> np.ndarray:
    """K of an original W0 x H0 capture -> K of its largest centred crop with the aspect of W x H, resized to W x H.

    original_size = (W0, H0), size = (W, H). Crop Wc x Hc; cx -= (W0 - Wc) / 2, cy -= (H0 - Hc) / 2, rows 0 and 1
    scaled by W / Wc (= H / Hc). E.g. DTU 1600x1200 -> 384x384: cx -= 200, K[:2] *= 0.32 (MonoSDF).
    """
    W0, H0 = (float(v) for v in original_size)
    W, H = (float(v) for v in size)
    if W0 * H > H0 * W:
        cw, ch = H0 * W / H, H0
    else:
        cw, ch = W0, W0 * H / W
    out = np.array(K, dtype=np.float64, copy=True)
    out[0, 2] -= (W0 - cw) / 2.0
    out[1, 2] -= (H0 - ch) / 2.0
    out[:2] *= W / cw
    return out


def similarity_normalization(mat: np.ndarray) -> Normalization | None:
    """Ground truth -> normalised Normalization of the map x_gt = s x_n + t given by ``mat``; None if it rotates."""
    s = float(mat[0, 0])
    if s <= 0 or not np.allclose(mat[:3, :3], s * np.eye(3), rtol=1e-6, atol=1e-9 * s):
        return None
    return Normalization(scale=1.0 / s, center=tuple(float(v) for v in mat[:3, 3]))


def _check_principal_point(K: np.ndarray, hw: tuple[int, int], path: Path, hint: str) -> None:
    for k in K:
        if not (0.0 < k[0, 2] < hw[1] and 0.0 < k[1, 2] < hw[0]):
            raise DataFormatError(
                path, f"principal point ({k[0, 2]:.1f}, {k[1, 2]:.1f}) lies outside the {hw[1]}x{hw[0]} image", hint
            )


def _from_meta(sdir: Path) -> dict:
    path = sdir / "meta_data.json"
    meta = read_json(path)
    try:
        H, W = meta["height"], meta["width"]
        frames = list(meta["frames"])
        box = meta["scene_box"]
        near, far = float(box["near"]), float(box["far"])
        aabb = np.asarray(box["aabb"], dtype=np.float64)
    except (KeyError, TypeError, ValueError) as exc:
        raise DataFormatError(
            path, f"missing or malformed field ({exc!r})", "height, width, frames, scene_box {aabb, near, far}"
        ) from exc
    if not frames:
        raise DataFormatError(path, "'frames' is empty", "at least one frame")
    H, W = as_number(H, path, "height"), as_number(W, path, "width")
    if H != int(H) or W != int(W) or H < 1 or W < 1:
        raise DataFormatError(path, f"height, width = {H:g}, {W:g}", "positive integers")
    H, W = int(H), int(W)
    if aabb.shape != (2, 3) or not np.all(aabb[0] < aabb[1]):
        raise DataFormatError(path, f"scene_box.aabb = {aabb.tolist()}", "[[xmin, ymin, zmin], [xmax, ymax, zmax]]")
    paths, K, c2w, depth_paths, normal_paths = [], [], [], [], []
    for i, fr in enumerate(frames):
        if not isinstance(fr, dict) or not isinstance(fr.get("rgb_path"), str):
            raise DataFormatError(
                path, f"frame {i} has no 'rgb_path'", "frames[i] = {rgb_path, camtoworld, intrinsics}"
            )
        paths.append(sdir / fr["rgb_path"])
        where = f"frame {i} ({fr['rgb_path']})"
        c2w.append(as_matrix(fr.get("camtoworld"), path, f"{where}: camtoworld"))
        check_rotation(c2w[-1], path, f"{where}: camtoworld")
        K.append(as_matrix(fr.get("intrinsics"), path, f"{where}: intrinsics")[:3, :3])
        check_intrinsics(K[-1], path, f"{where}: intrinsics")
        depth_paths.append(sdir / fr["mono_depth_path"] if "mono_depth_path" in fr else None)
        normal_paths.append(sdir / fr["mono_normal_path"] if "mono_normal_path" in fr else None)
    worldtogt = as_matrix(meta["worldtogt"], path, "worldtogt") if "worldtogt" in meta else np.eye(4)
    return dict(
        hw=(H, W),
        paths=paths,
        K=np.stack(K),
        c2w=np.stack(c2w),
        near=near,
        far=far,
        bbox=aabb,
        worldtogt=worldtogt,
        depth_paths=depth_paths,
        normal_paths=normal_paths,
        source=path,
    )


def _from_npz(sdir: Path, original_size: tuple[int, int] | None) -> dict:
    path = sdir / "cameras.npz"
    if not path.is_file():
        raise DataFormatError(path, "file not found", "cameras.npz with world_mat_i / scale_mat_i (or meta_data.json)")
    try:
        cams = dict(np.load(path))
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise DataFormatError(path, f"unreadable ({type(exc).__name__})", "an .npz archive") from exc
    ids = sorted(int(m.group(1)) for k in cams if (m := re.fullmatch(r"world_mat_(\d+)", k)))
    if not ids:
        raise DataFormatError(path, "no world_mat_i arrays", "world_mat_0, world_mat_1, ... and scale_mat_i")
    paths, K, c2w = [], [], []
    scale0 = None
    for i in ids:
        if f"scale_mat_{i}" not in cams:
            raise DataFormatError(path, f"world_mat_{i} has no scale_mat_{i}", "a scale_mat_i for every world_mat_i")
        world = as_matrix(cams[f"world_mat_{i}"], path, f"world_mat_{i}")
        scale = as_matrix(cams[f"scale_mat_{i}"], path, f"scale_mat_{i}")
        scale0 = scale if scale0 is None else scale0
        k, pose = projection_camera(world @ scale, path, f"frame {i} (world_mat_{i} @ scale_mat_{i})")
        K.append(k)
        c2w.append(pose)
        paths.append(sdir / f"{i:06d}_rgb.png")
    K, c2w = np.stack(K), np.stack(c2w)
    r = np.sqrt(3.0)
    dist = np.linalg.norm(c2w[:, :3, 3], axis=-1)
    return dict(
        hw=None,
        paths=paths,
        K=K,
        c2w=c2w,
        near=float(max(0.0, dist.min() - r)),
        far=float(dist.max() + r),
        bbox=np.array([[-1.0, -1.0, -1.0], [1.0, 1.0, 1.0]]),
        worldtogt=scale0,
        depth_paths=[sdir / f"{i:06d}_depth.npy" for i in ids],
        normal_paths=[sdir / f"{i:06d}_normal.npy" for i in ids],
        source=path,
    )


def _read_cue(path: Path | None, hw: tuple[int, int], normal: bool) -> np.ndarray:
    """Mono depth [h, w] or normal [h, w, 3] (n * 2 - 1) from an .npy file, resized to ``hw``."""
    if path is None or not path.is_file():
        raise DataFormatError(path or "meta_data.json", "monocular cue file not found", "mono_depth/normal .npy files")
    try:
        arr = np.load(path).astype(np.float32)
    except (OSError, ValueError) as exc:
        raise DataFormatError(path, f"unreadable ({type(exc).__name__})", "a .npy array") from exc
    if normal:
        if arr.ndim == 3 and arr.shape[0] == 3:
            arr = arr.transpose(1, 2, 0)
        if arr.ndim != 3 or arr.shape[-1] != 3:
            raise DataFormatError(path, f"normal map has shape {arr.shape}", "[3, H, W] or [H, W, 3]")
        return resize(arr * 2.0 - 1.0, *hw)
    arr = np.squeeze(arr)
    if arr.ndim != 2:
        raise DataFormatError(path, f"depth map has shape {arr.shape}", "[H, W]")
    return resize(arr, *hw)


def load(
    root: Path,
    scene: str | None = None,
    source: str = "auto",
    original_size: tuple[int, int] | None = None,
    test_every: int = 10,
    mono_cues: bool = False,
    downscale: int = 1,
    lazy: bool = False,
) -> SceneData:
    """Load a MonoSDF / sdfstudio scene; see the module docstring for the layout and options."""
    sdir = scene_dir(Path(root), scene)
    if source not in SOURCES:
        raise DataFormatError(sdir, f"source={source!r}", f"one of {SOURCES}")
    if not isinstance(test_every, int) or test_every < 2:
        raise DataFormatError(sdir, f"test_every={test_every!r}", "an integer >= 2")
    use_meta = source == "meta" or (source == "auto" and (sdir / "meta_data.json").is_file())
    d = _from_meta(sdir) if use_meta else _from_npz(sdir, original_size)
    images, _, loader, full_hw, hw = read_views(d["paths"], d["hw"], downscale, lazy)
    K = d["K"]
    if not use_meta and original_size is not None:
        K = np.stack([crop_resize_intrinsics(k, original_size, (full_hw[1], full_hw[0])) for k in K])
    _check_principal_point(
        K, full_hw, d["source"], "a K for the stored images (cameras.npz: pass original_size=(W0, H0) of the capture)"
    )
    K = resize_K(K, full_hw, hw)
    n = len(d["paths"])
    test = [i for i in range(n) if i % test_every == 0]
    train = [i for i in range(n) if i % test_every != 0]
    if not train:
        raise DataFormatError(sdir, f"{n} frame(s) leave no training view with test_every={test_every}", "more frames")
    extras = {"worldtogt": d["worldtogt"], "source": d["source"].name}
    if mono_cues:
        extras["mono_depth"] = np.stack([_read_cue(p, hw, False) for p in d["depth_paths"]])
        extras["mono_normal"] = np.stack([_read_cue(p, hw, True) for p in d["normal_paths"]])
    meshes = sorted(sdir.glob("*.ply"))
    return SceneData(
        images=images,
        K=K.astype(np.float32),
        c2w=d["c2w"].astype(np.float32),
        height=hw[0],
        width=hw[1],
        splits={"train": train, "test": test},
        near=d["near"],
        far=d["far"],
        bbox=d["bbox"].astype(np.float32),
        image_paths=[str(p) for p in d["paths"]],
        frame_ids=[p.stem for p in d["paths"]],
        mesh_path=str(meshes[0]) if meshes else None,
        normalization=similarity_normalization(d["worldtogt"]) or Normalization(),
        extras=extras,
        image_loader=loader,
    )
