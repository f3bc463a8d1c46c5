"""Degenerate cameras and corrupt files, one case per fault per loader.

Each case writes a tiny scene in the real layout (the writers of the per-loader tests), breaks one thing and
expects a DataFormatError whose message is ONE line, starts with the offending file and names the frame where the
format has several per file. Lazy cases check that loading succeeds and the first read of the broken image fails.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest
from test_data_blender import write_blender
from test_data_co3dv2 import CAT, _rewrite_viewpoint, write_co3d
from test_data_dnerf import write_dnerf
from test_data_dtu_neus import write_neus
from test_data_image_folder import write_folder
from test_data_replica_monosdf import ORIG
from test_data_replica_monosdf import write_scene as write_monosdf
from test_data_replica_nice_slam import H as NS_H
from test_data_replica_nice_slam import W as NS_W
from test_data_replica_nice_slam import write_scene as write_nice_slam
from test_data_replica_semantic_nerf import write_sequence
from test_data_scannet import write_scene as write_scannet
from test_data_tnt_nerfpp import write_scene as write_nerfpp
from test_data_tnt_nsvf import write_scene as write_nsvf
from test_data_transforms_json import write_capture

from common.data import DataFormatError, load_scene
from common.data.io import write_png

RGB8 = np.full((6, 10, 3), 200, np.uint8)  # an 8-bit colour image where a 16-bit depth map belongs


# --- small editors of the written files -------------------------------------------------------------------------


def _edit_json(path: Path, fn) -> None:
    data = json.loads(path.read_text())
    fn(data)
    path.write_text(json.dumps(data))


def _set_rotation(mat, fn):
    m = np.asarray(mat, dtype=np.float64)
    m[:3, :3] = fn(m[:3, :3])
    return m.tolist()


def _zero(R):
    return np.zeros_like(R)


def _x1000(R):
    return 1000.0 * R


def _edit_frame(path: Path, i: int, key: str, fn) -> None:
    def edit(meta):
        meta["frames"][i][key] = fn(meta["frames"][i][key])

    _edit_json(path, edit)


def _edit_traj_line(path: Path, k: int, fn) -> None:
    traj = np.loadtxt(path).reshape(-1, 4, 4)
    traj[k] = fn(traj[k])
    np.savetxt(path, traj.reshape(len(traj), 16))


def _rot(fn):
    def apply(m):
        m = m.copy()
        m[:3, :3] = fn(m[:3, :3])
        return m

    return apply


def _truncate(path: Path) -> None:
    """Cut the file inside its pixel data: the header survives (the size is readable), the pixels do not.

    PNG: 2 bytes into the first IDAT chunk's data (the zlib header only); JPEG: 2 bytes after the start-of-scan
    header (marker FFDA, then its length field).
    """
    data = path.read_bytes()
    if path.suffix == ".png":
        end = data.index(b"IDAT") + 4 + 2
    else:
        sos = data.index(b"\xff\xda")
        end = sos + 2 + int.from_bytes(data[sos + 2 : sos + 4], "big") + 2
    path.write_bytes(data[:end])


# --- the cases --------------------------------------------------------------------------------------------------
# Each case: (format, writer(tmp) -> (root, options), breaker(root) -> named file, frame text or None, match, lazy
# view index or None).


def blender(tmp):
    write_blender(tmp)
    return tmp, {}


def dnerf(tmp):
    write_dnerf(tmp)
    return tmp, {}


def transforms(tmp):
    write_capture(tmp)
    return tmp, {}


def nsvf(tmp):
    write_nsvf(tmp, np.random.default_rng(0))
    return tmp, {}


def nerfpp(tmp):
    write_nerfpp(tmp, np.random.default_rng(0))
    return tmp, {}


def scannet(tmp):
    write_scannet(tmp / "scene", np.random.default_rng(0), bad_pose=-1)
    return tmp / "scene", {"size": None}


def co3d(tmp):
    write_co3d(tmp)
    return tmp, {"category": CAT}


def dtu(tmp):
    write_neus(tmp)
    return tmp, {}


def monosdf(tmp):
    write_monosdf(tmp / "scan1", np.random.default_rng(0))
    return tmp / "scan1", {}


def monosdf_npz(tmp):
    write_monosdf(tmp / "scan1", np.random.default_rng(0), meta=False)
    return tmp / "scan1", {"source": "npz", "original_size": ORIG}


NS_CAM = {"w": NS_W, "h": NS_H, "fx": 7.0, "fy": 8.0, "cx": 4.5, "cy": 2.5, "scale": 6553.5}


def nice_slam(tmp):
    write_nice_slam(tmp / "room0", np.random.default_rng(0), NS_CAM)
    return tmp / "room0", {}


def semantic_nerf(tmp):
    write_sequence(tmp / "Sequence_1", np.random.default_rng(0))
    return tmp, {"size": None}


def folder(tmp):
    write_folder(tmp)
    return tmp, {}


def _blender_angle(value):
    def brk(root):
        _edit_json(root / "transforms_train.json", lambda m: m.update(camera_angle_x=value))
        return root / "transforms_train.json", None

    return brk


def _json_frame_rotation(name, i, fn, frame):
    def brk(root):
        _edit_frame(root / name, i, "transform_matrix", lambda m: _set_rotation(m, fn))
        return root / name, frame

    return brk


def _tj_global(frame, **values):
    def brk(root):
        _edit_json(root / "transforms.json", lambda m: m.update(values))
        return root / "transforms.json", frame

    return brk


def _tj_frame_focal(root):
    _edit_json(root / "transforms.json", lambda m: m["frames"][3].update(fl_x=-9.0))
    return root / "transforms.json", "frame 3 (images/0003.png)"


def _nsvf_intrinsics(text):
    def brk(root):
        (root / "intrinsics.txt").write_text(text)
        return root / "intrinsics.txt", None

    return brk


def _pose_file(rel, fn, frame):
    def brk(root):
        path = root / rel
        np.savetxt(path, _rot(fn)(np.loadtxt(path).reshape(4, 4)))
        return path, frame

    return brk


def _nerfpp_K_zero(root):
    path = root / "train" / "intrinsics" / "00002.txt"
    np.savetxt(path, np.zeros((1, 16)))
    return path, "frame 00002"


def _scannet_K(root):
    path = root / "intrinsic" / "intrinsic_color.txt"
    K = np.loadtxt(path)
    K[0, 0] = 0.0
    np.savetxt(path, K)
    return path, None


def _scannet_depth_rgb(root):
    write_png(root / "depth" / "4.png", RGB8)
    return root / "depth" / "4.png", None


def _co3d_viewpoint(**values):
    def brk(root):
        _rewrite_viewpoint(root, **values)
        return root / CAT / "frame_annotations.jgz", "A frame 1"

    return brk


def _co3d_rotation_x1000(root):
    path = root / CAT / "frame_annotations.jgz"
    with gzip.open(path, "rt") as f:
        anns = json.load(f)
    R = next(a for a in anns if (a["sequence_name"], a["frame_number"]) == ("A", 1))["viewpoint"]["R"]
    _rewrite_viewpoint(root, R=(1000.0 * np.asarray(R)).tolist())
    return path, "A frame 1"


def _co3d_depth_rgb(root):
    path = root / CAT / "A" / "depths" / "frame000002.png"
    write_png(path, RGB8)
    return path, None


def _dtu_world_mat(i, fn):
    def brk(root):
        cams = dict(np.load(root / "cameras_sphere.npz"))
        cams[f"world_mat_{i}"] = fn(cams[f"world_mat_{i}"])
        np.savez(root / "cameras_sphere.npz", **cams)
        return root / "cameras_sphere.npz", f"world_mat_{i}"

    return brk


def _rank2(P):
    P = P.copy()
    P[1, :3] = 2.0 * P[0, :3]
    return P


def _monosdf_frame(i, key, fn):
    def brk(root):
        _edit_frame(root / "meta_data.json", i, key, fn)
        return root / "meta_data.json", f"frame {i} ({i:06d}_rgb.png)"

    return brk


def _monosdf_height_bool(root):
    _edit_json(root / "meta_data.json", lambda m: m.update(height=True))
    return root / "meta_data.json", None


def _focal_zero(K):
    K = np.asarray(K, dtype=np.float64)
    K[0, 0] = 0.0
    return K.tolist()


def _monosdf_npz_zero(root):
    cams = dict(np.load(root / "cameras.npz"))
    cams["world_mat_4"] = np.zeros((4, 4))
    np.savez(root / "cameras.npz", **cams)
    return root / "cameras.npz", "frame 4"


def _traj_line(rel, k, fn):
    def brk(root):
        _edit_traj_line(root / rel, k, _rot(fn))
        return root / rel, f"frame {k} (line {k + 1})"

    return brk


def _traj_count(rel, delta, n_frames):
    def brk(root):
        traj = np.loadtxt(root / rel)
        traj = np.concatenate([traj, traj[:delta]]) if delta > 0 else traj[:delta]
        np.savetxt(root / rel, traj)
        return root / rel, f"has {n_frames + delta} poses for {n_frames} frames"

    return brk


def _nice_cam(**values):
    def brk(root):
        _edit_json(root.parent / "cam_params.json", lambda m: m["camera"].update(values))
        return root.parent / "cam_params.json", None

    return brk


def _replace(rel, img):
    def brk(root):
        path = root / rel
        if path.suffix == ".jpg":
            iio.imwrite(path, img)
        else:
            write_png(path, img)
        return path, None

    return brk


def _truncated(rel):
    def brk(root):
        _truncate(root / rel)
        return root / rel, None

    return brk


CASES = [
    # Blender
    pytest.param(
        "blender",
        blender,
        _json_frame_rotation("transforms_train.json", 1, _zero, "frame 1"),
        "not orthonormal",
        None,
        id="blender-rotation-zero",
    ),
    pytest.param(
        "blender",
        blender,
        _json_frame_rotation("transforms_val.json", 0, _x1000, "frame 0"),
        "not orthonormal",
        None,
        id="blender-rotation-x1000",
    ),
    pytest.param(
        "blender",
        blender,
        _json_frame_rotation("transforms_test.json", 1, lambda R: -R, "frame 1"),
        "reflection",
        None,
        id="blender-rotation-reflection",
    ),
    pytest.param("blender", blender, _blender_angle(True), "camera_angle_x = True", None, id="blender-angle-true"),
    pytest.param("blender", blender, _blender_angle(0.0), "camera_angle_x = 0.0", None, id="blender-angle-zero"),
    pytest.param("blender", blender, _truncated("train/r_1.png"), "unreadable", 1, id="blender-lazy-truncated"),
    # D-NeRF
    pytest.param(
        "dnerf",
        dnerf,
        _json_frame_rotation("transforms_test.json", 1, _x1000, "frame 1"),
        "not orthonormal",
        None,
        id="dnerf-rotation-x1000",
    ),
    pytest.param("dnerf", dnerf, _blender_angle(True), "camera_angle_x = True", None, id="dnerf-angle-true"),
    # instant-ngp / nerfstudio transforms.json
    pytest.param(
        "transforms_json",
        transforms,
        _json_frame_rotation("transforms.json", 2, _zero, "frame 2"),
        "not orthonormal",
        None,
        id="transforms-rotation-zero",
    ),
    pytest.param(
        "transforms_json",
        transforms,
        _tj_global("frame 0 (images/0000.png)", fl_x=0.0),
        "focal length",
        None,
        id="transforms-fl_x-zero",
    ),
    pytest.param(
        "transforms_json", transforms, _tj_global("global", fl_x=True), "'fl_x' = True", None, id="transforms-fl_x-true"
    ),
    pytest.param(
        "transforms_json", transforms, _tj_frame_focal, "focal length", None, id="transforms-frame-fl_x-negative"
    ),
    pytest.param(
        "transforms_json", transforms, _truncated("images/0003.png"), "unreadable", 3, id="transforms-lazy-truncated"
    ),
    # NSVF layout
    pytest.param(
        "tnt_nsvf",
        nsvf,
        _nsvf_intrinsics("0 0 4.5 0\n0 0 4 0\n0 0 1 0\n0 0 0 1\n"),
        "focal length",
        None,
        id="nsvf-K-zero-focal",
    ),
    pytest.param(
        "tnt_nsvf",
        nsvf,
        _nsvf_intrinsics("-9 5 4 0.\n0. 0. 0.\n0.\n1.\n10 8\n"),
        "focal length",
        None,
        id="nsvf-f-negative",
    ),
    pytest.param("tnt_nsvf", nsvf, _nsvf_intrinsics("nan 0 4.5\n0 9 4\n0 0 1\n"), "non-finite", None, id="nsvf-K-nan"),
    pytest.param(
        "tnt_nsvf",
        nsvf,
        _pose_file("pose/0_0001.txt", _x1000, "frame 0_0001"),
        "not orthonormal",
        None,
        id="nsvf-pose-x1000",
    ),
    pytest.param("tnt_nsvf", nsvf, _truncated("rgb/1_0000.png"), "unreadable", 3, id="nsvf-lazy-truncated"),
    # NeRF++ layout
    pytest.param("tnt_nerfpp", nerfpp, _nerfpp_K_zero, "focal length", None, id="nerfpp-K-zero"),
    pytest.param(
        "tnt_nerfpp",
        nerfpp,
        _pose_file("test/pose/00001.txt", _zero, "frame 00001"),
        "not orthonormal",
        None,
        id="nerfpp-pose-zero",
    ),
    # ScanNet
    pytest.param("scannet", scannet, _scannet_K, "focal length", None, id="scannet-K-zero-focal"),
    pytest.param(
        "scannet",
        scannet,
        _pose_file("pose/2.txt", _x1000, "frame 2"),
        "not orthonormal",
        None,
        id="scannet-pose-x1000",
    ),
    pytest.param("scannet", scannet, _scannet_depth_rgb, "8-bit 3-channel", None, id="scannet-depth-rgb8"),
    pytest.param("scannet", scannet, _truncated("color/1.jpg"), "unreadable", 1, id="scannet-lazy-truncated"),
    # CO3Dv2
    pytest.param("co3dv2", co3d, _co3d_rotation_x1000, "not orthonormal", None, id="co3d-rotation-x1000"),
    pytest.param("co3dv2", co3d, _co3d_viewpoint(focal_length=[0.0, 1.5]), "focal_length", None, id="co3d-focal-zero"),
    pytest.param("co3dv2", co3d, _co3d_depth_rgb, "8-bit 3-channel", None, id="co3d-depth-rgb8"),
    # DTU / NeuS
    pytest.param("dtu_neus", dtu, _dtu_world_mat(2, np.zeros_like), "singular", None, id="dtu-world-mat-zero"),
    pytest.param("dtu_neus", dtu, _dtu_world_mat(0, _rank2), "singular", None, id="dtu-world-mat-rank2"),
    pytest.param("dtu_neus", dtu, _dtu_world_mat(3, lambda P: P * np.nan), "non-finite", None, id="dtu-world-mat-nan"),
    pytest.param("dtu_neus", dtu, _truncated("image/000002.png"), "unreadable", 1, id="dtu-lazy-truncated"),
    # MonoSDF / sdfstudio
    pytest.param(
        "replica_monosdf",
        monosdf,
        _monosdf_frame(3, "camtoworld", lambda m: _set_rotation(m, _x1000)),
        "not orthonormal",
        None,
        id="monosdf-camtoworld-x1000",
    ),
    pytest.param(
        "replica_monosdf",
        monosdf,
        _monosdf_frame(5, "intrinsics", _focal_zero),
        "focal length",
        None,
        id="monosdf-intrinsics-zero-focal",
    ),
    pytest.param("replica_monosdf", monosdf, _monosdf_height_bool, "height = True", None, id="monosdf-height-true"),
    pytest.param("replica_monosdf", monosdf_npz, _monosdf_npz_zero, "singular", None, id="monosdf-npz-world-mat-zero"),
    # NICE-SLAM Replica
    pytest.param(
        "replica_nice_slam",
        nice_slam,
        _traj_line("traj.txt", 3, _zero),
        "not orthonormal",
        None,
        id="nice-slam-traj-rotation-zero",
    ),
    pytest.param(
        "replica_nice_slam", nice_slam, _traj_count("traj.txt", 3, 12), "poses", None, id="nice-slam-traj-more-poses"
    ),
    pytest.param(
        "replica_nice_slam", nice_slam, _traj_count("traj.txt", -2, 12), "poses", None, id="nice-slam-traj-fewer-poses"
    ),
    pytest.param("replica_nice_slam", nice_slam, _nice_cam(fx=True), "camera.fx = True", None, id="nice-slam-fx-true"),
    pytest.param("replica_nice_slam", nice_slam, _nice_cam(fy=-8.0), "focal length", None, id="nice-slam-fy-negative"),
    pytest.param(
        "replica_nice_slam",
        nice_slam,
        _replace("results/depth000004.png", RGB8),
        "8-bit 3-channel",
        None,
        id="nice-slam-depth-rgb8",
    ),
    pytest.param(
        "replica_nice_slam",
        nice_slam,
        _truncated("results/frame000002.jpg"),
        "unreadable",
        2,
        id="nice-slam-lazy-truncated",
    ),
    # Semantic-NeRF Replica
    pytest.param(
        "replica_semantic_nerf",
        semantic_nerf,
        _traj_line("Sequence_1/traj_w_c.txt", 5, _x1000),
        "not orthonormal",
        None,
        id="semantic-nerf-traj-rotation-x1000",
    ),
    pytest.param(
        "replica_semantic_nerf",
        semantic_nerf,
        _traj_count("Sequence_1/traj_w_c.txt", 1, 13),
        "poses",
        None,
        id="semantic-nerf-traj-more-poses",
    ),
    pytest.param(
        "replica_semantic_nerf",
        semantic_nerf,
        _replace("Sequence_1/depth/depth_5.png", np.full((8, 12, 3), 9, np.uint8)),
        "8-bit 3-channel",
        None,
        id="semantic-nerf-depth-rgb8",
    ),
    pytest.param(
        "replica_semantic_nerf",
        semantic_nerf,
        _truncated("Sequence_1/rgb/rgb_7.png"),
        "unreadable",
        3,
        id="semantic-nerf-lazy-truncated",
    ),
    # image folder
    pytest.param("image_folder", folder, _truncated("img_01.png"), "unreadable", 1, id="image-folder-lazy-truncated"),
]


@pytest.mark.parametrize(("fmt", "write", "brk", "match", "lazy_view"), CASES)
def test_bad_input_is_one_line_naming_file_and_frame(tmp_path, fmt, write, brk, match, lazy_view):
    root, options = write(tmp_path)
    named, frame = brk(root)
    if lazy_view is None:
        with pytest.raises(DataFormatError, match=match) as err:
            load_scene(fmt, root, **options)
    else:
        scene = load_scene(fmt, root, lazy=True, **options)  # the header is intact: loading succeeds
        assert scene.image_paths[lazy_view] == str(named)
        with pytest.raises(DataFormatError, match=match) as err:
            scene.load_image(lazy_view)
    msg = str(err.value)
    assert "\n" not in msg and "\r" not in msg, msg
    assert msg.startswith(f"{named}: "), msg
    if frame is not None:
        assert frame in msg, msg
    if lazy_view is not None:
        assert f"view {lazy_view}" in msg, msg
