"""Replica-like rooms written in the three Replica layouts the papers read.

* `write_replica_monosdf`: MonoSDF / sdfstudio ``scan1..scan8`` (S3IM). Per scene: ``meta_data.json``,
  ``000000_rgb.png``..., ``cameras.npz``, ``traj.txt`` and the ground-truth mesh ``<room>.ply`` in metres.
  Square res x res images cut from a NICE-SLAM camera the way MonoSDF did: the 1200x680 camera
  (fx = fy = 600, cx = 599.5, cy = 339.5) is centre-cropped to 680x680 (cx -= 260) and resized
  (K[:2] *= res / 680). The room is normalised into the cube [-1, 1]^3: x_gt = s x_n + t with t the room
  centre and s = (largest half extent) * 1.05; ``worldtogt`` = [[s I, t], [0, 1]] and ``scale_mat_i`` is the same
  matrix; ``world_mat_i`` = K_1200x680 (4x4) @ w2c_i (world metres), so world_mat @ scale_mat projects normalised
  points to the original 1200x680 pixels. ``traj.txt`` holds the dense walk (10 poses per image, world metres)
  as NICE-SLAM's full trajectory used for mesh culling.
* `write_replica_semantic_nerf`: Semantic-NeRF renders ``<room_k>/Sequence_1/{rgb,depth,semantic_class,
  semantic_instance}/*_<i>.png`` + ``traj_w_c.txt``, 4:3 images (W = res) with a 90 degree horizontal field of view
  (fx = fy = W / 2 / tan 45 deg, principal point at the image centre); ``<room_k>/info_semantic.json``
  (Replica's class list) and ``<room_k>/habitat/mesh_semantic.ply`` (face object_id / class_id).
* `write_replica_nice_slam`: ``<room>/results/frame%06d.jpg`` + ``depth%06d.png`` (uint16, metres * 6553.5),
  ``<room>/traj.txt``, ``cam_params.json`` in the data set root (W = res, H = W * 680 / 1200, fx = 600 W / 1200,
  fy = 600 H / 680, cx = (W - 1) / 2, cy = (H - 1) / 2, as the 1200x680 camera scaled).
Each scene dir also gets ``synthetic_scene.json`` (seed, classes, instances, real meshes used, fallbacks).
Depth is z-depth in metres; all poses are OpenCV camera-to-world.
"""

from __future__ import annotations

import io
import math
from pathlib import Path

import numpy as np

from common.data.synthetic import files
from common.data.synthetic.raycast import Renderer
from common.data.synthetic.rooms import CLASSES, build_room
from common.data.synthetic.seeds import scene_seed
from common.data.synthetic.trajectories import room_walk

MONOSDF_SCENES = ("room0", "room1", "room2", "office0", "office1", "office2", "office3", "office4")
SEMANTIC_NERF_SCENES = ("room_0", "room_1", "room_2", "office_0", "office_1", "office_2", "office_3", "office_4")
NICE_SLAM_K = np.array([[600.0, 0.0, 599.5], [0.0, 600.0, 339.5], [0.0, 0.0, 1.0]])
NICE_SLAM_SIZE = (1200, 680)
DEPTH_SCALE = 6553.5
TRAJ_DENSITY = 10


def room(seed: int, index: int):
    """The room shared by all Replica layouts: scan<k+1> = room<k> (MonoSDF) = room_<k> (Semantic-NeRF)."""
    return build_room(scene_seed(seed, "replica", index), name=MONOSDF_SCENES[index])


def _names(n: int, names: tuple[str, ...]) -> range:
    if not 1 <= n <= len(names):
        raise ValueError(f"scenes must be in 1..{len(names)} for Replica-like layouts, got {n}")
    return range(n)


def monosdf_intrinsics(res: int) -> np.ndarray:
    """K [3, 3] of the res x res MonoSDF image: NICE-SLAM K, centre crop 680x680, resize to res."""
    K = NICE_SLAM_K.copy()
    K[0, 2] -= (NICE_SLAM_SIZE[0] - NICE_SLAM_SIZE[1]) / 2
    K[:2] *= res / NICE_SLAM_SIZE[1]
    return K


def _k4(K: np.ndarray) -> np.ndarray:
    out = np.eye(4)
    out[:3, :3] = K
    return out


def write_replica_monosdf(out: Path, scenes: int = 8, res: int = 128, seed: int = 0, frames: int = 100) -> list[Path]:
    out = Path(out)
    K = monosdf_intrinsics(res)
    written = []
    for k in _names(scenes, MONOSDF_SCENES):
        sc = room(seed, k)
        sdir = out / f"scan{k + 1}"
        dense = room_walk(sc, frames * TRAJ_DENSITY, scene_seed(seed, "replica-walk", k))
        poses = dense[::TRAJ_DENSITY]
        lo, hi = sc.bounds
        s = float(np.max(hi - lo) / 2 * 1.05)
        t = (lo + hi) / 2
        gt_from_n = np.eye(4)
        gt_from_n[:3, :3] *= s
        gt_from_n[:3, 3] = t
        renderer = Renderer(sc)
        meta_frames, cams = [], {}
        for i, c2w in enumerate(poses):
            view = renderer.render(K, c2w, res, res)
            files.write_rgb_png(sdir / f"{i:06d}_rgb.png", view.rgb)
            c2w_n = c2w.copy()
            c2w_n[:3, 3] = (c2w[:3, 3] - t) / s
            meta_frames.append(
                {"rgb_path": f"{i:06d}_rgb.png", "camtoworld": c2w_n.tolist(), "intrinsics": _k4(K).tolist()}
            )
            cams[f"world_mat_{i}"] = _k4(NICE_SLAM_K) @ np.linalg.inv(c2w)
            cams[f"scale_mat_{i}"] = gt_from_n
        meta = {
            "camera_model": "OPENCV",
            "height": res,
            "width": res,
            "has_mono_prior": False,
            "worldtogt": gt_from_n.tolist(),
            "scene_box": {
                "aabb": [[-1.0, -1.0, -1.0], [1.0, 1.0, 1.0]],
                "near": 0.01,
                "far": 2.0 * math.sqrt(3.0),
                "radius": 1.0,
                "collider_type": "box",
            },
            "frames": meta_frames,
        }
        files.write_json(sdir / "meta_data.json", meta)
        buf = io.BytesIO()
        np.savez(buf, **cams)
        files.write_bytes(sdir / "cameras.npz", buf.getvalue())
        files.write_text(sdir / "traj.txt", files.trajectory_text(dense))
        files.write_semantic_ply(sdir / f"{MONOSDF_SCENES[k]}.ply", renderer.mesh, sc)
        files.write_scene_info(sdir / "synthetic_scene.json", sc, {"replica_name": MONOSDF_SCENES[k]})
        written.append(sdir)
    return written


def semantic_nerf_intrinsics(width: int, height: int) -> np.ndarray:
    """90 degree horizontal FOV: fx = fy = W / 2 / tan(45 deg); principal point at the image centre
    (the official (W - 1) / 2 with integer pixel coordinates = W / 2 with pixel centres at u + 0.5)."""
    f = width / 2 / math.tan(math.radians(45.0))
    return np.array([[f, 0.0, width / 2], [0.0, f, height / 2], [0.0, 0.0, 1.0]])


def replica_class_info() -> dict:
    """Replica's info_semantic.json schema ({"classes": [{"id", "name"}]}) for `CLASSES`."""
    return {"classes": [{"id": i, "name": n} for i, n in enumerate(CLASSES)]}


def write_replica_semantic_nerf(
    out: Path, scenes: int = 7, res: int = 160, seed: int = 0, frames: int = 300
) -> list[Path]:
    out = Path(out)
    width, height = res, res * 3 // 4
    K = semantic_nerf_intrinsics(width, height)
    written = []
    for k in _names(scenes, SEMANTIC_NERF_SCENES):
        sc = room(seed, k)
        sdir = out / SEMANTIC_NERF_SCENES[k]
        seq = sdir / "Sequence_1"
        poses = room_walk(sc, frames, scene_seed(seed, "semantic-nerf-walk", k), turns=2.0)
        renderer = Renderer(sc)
        for i, c2w in enumerate(poses):
            view = renderer.render(K, c2w, height, width)
            files.write_rgb_png(seq / "rgb" / f"rgb_{i}.png", view.rgb)
            files.write_uint16_png(seq / "depth" / f"depth_{i}.png", view.depth, 1000.0)
            files.write_label_png(seq / "semantic_class" / f"semantic_class_{i}.png", view.semantic, np.uint8)
            files.write_label_png(seq / "semantic_instance" / f"semantic_instance_{i}.png", view.instance, np.uint16)
        files.write_text(seq / "traj_w_c.txt", files.trajectory_text(poses))
        files.write_json(sdir / "info_semantic.json", replica_class_info())
        files.write_semantic_ply(sdir / "habitat" / "mesh_semantic.ply", renderer.mesh, sc)
        files.write_scene_info(sdir / "synthetic_scene.json", sc, {"replica_name": SEMANTIC_NERF_SCENES[k]})
        written.append(sdir)
    return written


def nice_slam_camera(width: int) -> dict:
    """cam_params.json "camera" block for a W-wide image with the 1200x680 camera scaled."""
    height = width * NICE_SLAM_SIZE[1] // NICE_SLAM_SIZE[0]
    return {
        "w": width,
        "h": height,
        "fx": 600.0 * width / NICE_SLAM_SIZE[0],
        "fy": 600.0 * height / NICE_SLAM_SIZE[1],
        "cx": (width - 1) / 2,
        "cy": (height - 1) / 2,
        "scale": DEPTH_SCALE,
    }


def write_replica_nice_slam(out: Path, scenes: int = 8, res: int = 160, seed: int = 0, frames: int = 200) -> list[Path]:
    out = Path(out)
    cam = nice_slam_camera(res)
    # NICE-SLAM casts rays through integer pixels with these cx, cy; the renderer uses pixel centres (+0.5)
    K = np.array([[cam["fx"], 0.0, cam["cx"] + 0.5], [0.0, cam["fy"], cam["cy"] + 0.5], [0.0, 0.0, 1.0]])
    files.write_json(out / "cam_params.json", {"camera": cam})
    written = []
    for k in _names(scenes, MONOSDF_SCENES):
        sc = room(seed, k)
        sdir = out / MONOSDF_SCENES[k]
        poses = room_walk(sc, frames, scene_seed(seed, "nice-slam-walk", k))
        renderer = Renderer(sc)
        for i, c2w in enumerate(poses):
            view = renderer.render(K, c2w, cam["h"], cam["w"])
            files.write_jpg(sdir / "results" / f"frame{i:06d}.jpg", view.rgb)
            files.write_uint16_png(sdir / "results" / f"depth{i:06d}.png", view.depth, DEPTH_SCALE)
        files.write_text(sdir / "traj.txt", files.trajectory_text(poses))
        files.write_semantic_ply(out / f"{MONOSDF_SCENES[k]}_mesh.ply", renderer.mesh, sc)
        files.write_scene_info(sdir / "synthetic_scene.json", sc, {"replica_name": MONOSDF_SCENES[k]})
        written.append(sdir)
    return written
