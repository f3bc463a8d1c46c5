"""Deterministic file writers shared by the synthetic layouts (same inputs -> same bytes).

Files are written in place: a whole data set is generated in a temporary directory and renamed
into place at the end (`cache.py`), so single files need no atomic write.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
from PIL import Image

from common.data.io import write_png
from common.data.synthetic.meshes import MergedMesh, Scene


def to_uint8(rgb: np.ndarray) -> np.ndarray:
    """float [0, 1] -> uint8 with rounding."""
    return (np.clip(rgb, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def write_rgb_png(path: Path, rgb: np.ndarray) -> None:
    write_png(path, to_uint8(rgb))


def write_bytes(path: Path, data: bytes) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def write_jpg(path: Path, rgb: np.ndarray, quality: int = 95) -> None:
    """8-bit JPEG (PIL, 4:4:4 chroma so colours stay sharp)."""
    buf = io.BytesIO()
    Image.fromarray(to_uint8(rgb)).save(buf, format="JPEG", quality=quality, subsampling=0)
    write_bytes(path, buf.getvalue())


def write_uint16_png(path: Path, values: np.ndarray, scale: float) -> None:
    """``round(values * scale)`` clipped to [0, 65535] as a 16-bit PNG (depth in mm: scale 1000)."""
    write_png(path, np.clip(np.round(values * scale), 0, 65535).astype(np.uint16))


def write_label_png(path: Path, labels: np.ndarray, dtype=np.uint8) -> None:
    info = np.iinfo(dtype)
    if labels.min() < info.min or labels.max() > info.max:
        raise ValueError(f"{path}: label ids {labels.min()}..{labels.max()} do not fit {np.dtype(dtype).name}")
    write_png(path, labels.astype(dtype))


def matrix_text(mat: np.ndarray) -> str:
    """Rows of a matrix, space separated, fixed 8 decimals."""
    return "\n".join(" ".join(f"{v:.8f}" for v in row) for row in np.atleast_2d(mat)) + "\n"


def write_text(path: Path, text: str) -> None:
    write_bytes(path, text.encode())


def write_json(path: Path, obj) -> None:
    write_bytes(path, (json.dumps(obj, indent=2) + "\n").encode())


def trajectory_text(poses: np.ndarray) -> str:
    """One 4x4 matrix per line, 16 row-major floats (NICE-SLAM traj.txt / Semantic-NeRF traj_w_c.txt)."""
    return "".join(" ".join(f"{v:.8f}" for v in p.reshape(-1)) + "\n" for p in poses)


def face_colours(mesh: MergedMesh, scene: Scene) -> np.ndarray:
    """[F, 3] uint8: mean colour of each face's texture times its tint (for mesh viewers)."""
    mean_tex = scene.textures.reshape(len(scene.textures), -1, 3).mean(axis=1)
    return to_uint8(mean_tex[mesh.texture] * mesh.tint)


def write_semantic_ply(path: Path, mesh: MergedMesh, scene: Scene, transform: np.ndarray | None = None) -> None:
    """Binary little-endian PLY: vertices (float x y z, uchar red green blue) and faces
    (uchar 3, int vertex_indices; ushort object_id; uchar class_id), like Replica's mesh_semantic.ply
    (face ``object_id``). A vertex belongs to one part, so its colour is that part's mean albedo.
    ``transform`` (4x4) is applied to the vertices (default: identity, world metres)."""
    xyz = mesh.vertices if transform is None else mesh.vertices @ transform[:3, :3].T + transform[:3, 3]
    vcol = np.zeros((len(xyz), 3), dtype=np.uint8)
    vcol[mesh.faces.reshape(-1)] = np.repeat(face_colours(mesh, scene), 3, axis=0)
    vdt = np.dtype([("x", "<f4"), ("y", "<f4"), ("z", "<f4"), ("red", "u1"), ("green", "u1"), ("blue", "u1")])
    verts = np.empty(len(xyz), dtype=vdt)
    verts["x"], verts["y"], verts["z"] = xyz[:, 0], xyz[:, 1], xyz[:, 2]
    verts["red"], verts["green"], verts["blue"] = vcol[:, 0], vcol[:, 1], vcol[:, 2]
    n_f = len(mesh.faces)
    fdt = np.dtype([("n", "u1"), ("v", "<i4", (3,)), ("object_id", "<u2"), ("class_id", "u1")])
    faces = np.empty(n_f, dtype=fdt)
    faces["n"] = 3
    faces["v"] = mesh.faces.astype(np.int32)
    faces["object_id"] = mesh.instance_id
    faces["class_id"] = mesh.class_id
    header = (
        "ply\nformat binary_little_endian 1.0\n"
        f"element vertex {len(xyz)}\nproperty float x\nproperty float y\nproperty float z\n"
        "property uchar red\nproperty uchar green\nproperty uchar blue\n"
        f"element face {n_f}\nproperty list uchar int vertex_indices\n"
        "property ushort object_id\nproperty uchar class_id\nend_header\n"
    )
    write_bytes(path, header.encode() + verts.tobytes() + faces.tobytes())


def write_scene_info(path: Path, scene: Scene, extra: dict | None = None) -> None:
    """``synthetic_scene.json``: generator facts, classes, instances, real-mesh sources and fallbacks."""
    info = {
        "name": scene.name,
        **scene.metadata,
        "classes": list(scene.class_names),
        "instances": {str(k): scene.class_names[v] for k, v in sorted(scene.instances.items())},
        "bounds": np.asarray(scene.bounds).tolist(),
        **(extra or {}),
    }
    write_json(path, info)
