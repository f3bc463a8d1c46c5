"""CO3D-like object sequences written in the CO3Dv2 layout (read by `common.data.co3dv2`).

Layout (paths inside the annotations are relative to the data set root ``out``)::

    out/<category>/frame_annotations.jgz        gzip JSON list: sequence_name, frame_number (0-based),
        frame_timestamp, image {path, size [H, W]}, depth {path, scale_adjustment, mask_path},
        mask {path, mass}, viewpoint {R, T, focal_length, principal_point, intrinsics_format "ndc_isotropic"}
    out/<category>/sequence_annotations.jgz     sequence_name, category, viewpoint_quality_score
    out/<category>/set_lists/set_lists_fewview_train.json   {"train": every frame of the train sequences,
                                                             "val": [], "test": []}
    out/<category>/set_lists/set_lists_fewview_dev.json     {"train": [], "val": [],
                                                             "test": every frame of the dev sequence}
    out/<category>/<sequence>/images/frame%06d.jpg          (file number = frame_number + 1)
                             /masks/frame%06d.png           foreground object, 0 / 255
                             /depths/frame%06d.jpg.geometric.png   uint16 holding float16 bits
                             /depth_masks/frame%06d.png     1 where depth is valid (object and ground)
                             /mesh.ply                      the scene mesh in the sequence's world frame
                             /synthetic_scene.json          generator facts (see below)

Categories are the first ``scenes`` of `objects.CATEGORIES` (SparseFusion's ten first). Each category has
``sequences`` sequences (the last one is the dev sequence) of ``frames`` frames, alternately portrait
(W x 4W/3) and landscape (W x 3W/4) with W = ``res``. A sequence films one object (`objects.build_object`,
variant = sequence index) on a ground disc inside a backdrop, from a hand-held-like loop around it
(`trajectories.orbit`: radius 2.7-3.3 object radii +- 15%, height 0.15-0.8 radius above the object's
middle, look-at jitter and roll). As in CO3D's SfM reconstructions, every sequence has its own world frame:
a random similarity X_world = s R X_object + t maps the object frame into it (cameras, depth and the mesh
are in world units), and depth is stored divided by a per-sequence ``scale_adjustment``.

Cameras are written as PyTorch3D viewpoints of the OpenCV camera (K, c2w) used for rendering:
w2c = c2w^-1, R = w2c[:3, :3]^T F, T = F w2c[:3, 3] with F = diag(-1, -1, 1), focal_length = (fx, fy) / s,
principal_point = ((W / 2 - cx) / s, (H / 2 - cy) / s), s = min(H, W) / 2 ("ndc_isotropic").

``synthetic_scene.json``: the object's category and real-mesh sources, ``world_from_object`` (4x4),
``object_scale`` s, ``anchor_world`` (a point whose projection lies inside every foreground mask) and
``scale_adjustment``.

Load with ``load_scene("co3dv2", out, category=..., subset="fewview_train" | "fewview_dev", sequence=...)``.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np

from common.data.synthetic import files
from common.data.synthetic.objects import BACKDROP_ID, CATEGORIES, OBJECT_ID, build_object, build_object_scene
from common.data.synthetic.raycast import Renderer
from common.data.synthetic.seeds import scene_seed
from common.data.synthetic.trajectories import orbit

FLIP_XY = np.diag([-1.0, -1.0, 1.0])
FPS = 10.0


def write_jgz(path: Path, obj) -> None:
    """Gzip-compressed JSON with a zero header timestamp and no file name (same content -> same bytes)."""
    files.write_bytes(path, gzip.compress(json.dumps(obj, indent=1).encode(), mtime=0))


def pytorch3d_viewpoint(K: np.ndarray, c2w: np.ndarray, height: int, width: int) -> dict:
    """PyTorch3D "ndc_isotropic" viewpoint {R, T, focal_length, principal_point, intrinsics_format} of an
    OpenCV camera (K [3, 3], pixel centres at u + 0.5; c2w [4, 4]); inverse of `co3dv2.ndc_to_pixels` and
    `co3dv2.pytorch3d_to_c2w`."""
    w2c = np.linalg.inv(np.asarray(c2w, dtype=np.float64))
    s = min(height, width) / 2.0
    return {
        "R": (w2c[:3, :3].T @ FLIP_XY).tolist(),
        "T": (FLIP_XY @ w2c[:3, 3]).tolist(),
        "focal_length": [float(K[0, 0] / s), float(K[1, 1] / s)],
        "principal_point": [float((width / 2 - K[0, 2]) / s), float((height / 2 - K[1, 2]) / s)],
        "intrinsics_format": "ndc_isotropic",
    }


def random_similarity(rng: np.random.Generator) -> tuple[float, np.ndarray, np.ndarray]:
    """(scale in [0.5, 3], rotation [3, 3] uniform on SO(3), translation [3] in [-3, 3]^3)."""
    q, r = np.linalg.qr(rng.normal(size=(3, 3)))
    q = q * np.sign(np.diag(r))
    if np.linalg.det(q) < 0:
        q[:, 0] *= -1
    return float(rng.uniform(0.5, 3.0)), q, rng.uniform(-3.0, 3.0, 3)


def sequence_name(rng: np.random.Generator) -> str:
    """CO3D-style ``<int>_<int>_<int>`` name."""
    return f"{rng.integers(100, 700)}_{rng.integers(10000, 99999)}_{rng.integers(10000, 99999)}"


def _write_sequence(out: Path, category: str, index: int, res: int, seed: int, frames: int) -> tuple[str, list]:
    """Render and write one sequence; returns (sequence name, frame annotations)."""
    sseed = scene_seed(seed, f"co3d-{category}", index)
    rng = np.random.default_rng(sseed)
    name = sequence_name(rng)
    obj = build_object(category, sseed, variant=index)
    scene = build_object_scene(obj, scene_seed(seed, f"co3d-scene-{category}", index), name=name)
    width = res
    height = res * 4 // 3 if index % 2 == 0 else res * 3 // 4
    s = min(height, width) / 2.0
    f_ndc, p_ndc = rng.uniform(1.5, 1.9), rng.uniform(-0.03, 0.03, 2)
    K = np.array([[f_ndc * s, 0.0, width / 2 - p_ndc[0] * s], [0.0, f_ndc * s, height / 2 - p_ndc[1] * s], [0, 0, 1.0]])
    centre = np.array([0.0, 0.0, obj.height / 2])
    poses = orbit(centre, rng.uniform(2.7, 3.3), frames, scene_seed(seed, f"co3d-orbit-{category}", index), (0.15, 0.8))
    scale, rot, trans = random_similarity(rng)
    world = np.eye(4)
    world[:3, :3], world[:3, 3] = scale * rot, trans
    adjust = float(rng.uniform(0.5, 2.0))
    renderer = Renderer(scene)
    rel = f"{category}/{name}"
    anns = []
    for i, c2w in enumerate(poses):
        view = renderer.render(K, c2w, height, width)
        c2w_world = np.eye(4)
        c2w_world[:3, :3] = rot @ c2w[:3, :3]
        c2w_world[:3, 3] = scale * rot @ c2w[:3, 3] + trans
        fg = view.instance == OBJECT_ID
        valid = (view.depth > 0) & (view.instance != BACKDROP_ID)
        depth16 = np.where(valid, view.depth * scale / adjust, 0.0).astype(np.float16)
        stem = f"frame{i + 1:06d}"
        files.write_jpg(out / rel / "images" / f"{stem}.jpg", view.rgb)
        files.write_label_png(out / rel / "masks" / f"{stem}.png", fg.astype(np.uint8) * 255)
        files.write_label_png(out / rel / "depths" / f"{stem}.jpg.geometric.png", depth16.view(np.uint16), np.uint16)
        files.write_label_png(out / rel / "depth_masks" / f"{stem}.png", valid.astype(np.uint8) * 255)
        anns.append(
            {
                "sequence_name": name,
                "frame_number": i,
                "frame_timestamp": i / FPS,
                "image": {"path": f"{rel}/images/{stem}.jpg", "size": [height, width]},
                "depth": {
                    "path": f"{rel}/depths/{stem}.jpg.geometric.png",
                    "scale_adjustment": adjust,
                    "mask_path": f"{rel}/depth_masks/{stem}.png",
                },
                "mask": {"path": f"{rel}/masks/{stem}.png", "mass": float(fg.sum())},
                "viewpoint": pytorch3d_viewpoint(K, c2w_world, height, width),
            }
        )
    files.write_semantic_ply(out / rel / "mesh.ply", renderer.mesh, scene, transform=world)
    extra = {
        "world_from_object": world.tolist(),
        "object_scale": scale,
        "anchor_world": (world[:3, :3] @ obj.anchor + trans).tolist(),
        "scale_adjustment": adjust,
        "image_size": [height, width],
    }
    files.write_scene_info(out / rel / "synthetic_scene.json", scene, extra)
    return name, anns


def write_co3d(
    out: Path, scenes: int = 10, res: int = 128, seed: int = 0, frames: int = 40, sequences: int = 3
) -> list[Path]:
    """Write ``scenes`` categories of ``sequences`` sequences each; returns the category directories."""
    if not 1 <= scenes <= len(CATEGORIES):
        raise ValueError(f"co3d scenes (categories) must be in [1, {len(CATEGORIES)}], got {scenes}")
    if sequences < 1 or frames < 1:
        raise ValueError(f"co3d needs sequences >= 1 and frames >= 1, got {sequences}, {frames}")
    out = Path(out)
    written = []
    for category in CATEGORIES[:scenes]:
        anns, lists = [], {"fewview_train": [], "fewview_dev": []}
        for k in range(sequences):
            name, seq_anns = _write_sequence(out, category, k, res, seed, frames)
            anns.extend(seq_anns)
            subset = "fewview_dev" if k == sequences - 1 else "fewview_train"
            lists[subset].extend([name, a["frame_number"], a["image"]["path"]] for a in seq_anns)
            if sequences == 1:
                lists["fewview_train"] = list(lists["fewview_dev"])
        cat_dir = out / category
        write_jgz(cat_dir / "frame_annotations.jgz", anns)
        seq_names = list(dict.fromkeys(a["sequence_name"] for a in anns))
        write_jgz(
            cat_dir / "sequence_annotations.jgz",
            [{"sequence_name": n, "category": category, "viewpoint_quality_score": 1.0} for n in seq_names],
        )
        files.write_json(
            cat_dir / "set_lists" / "set_lists_fewview_train.json",
            {"train": lists["fewview_train"], "val": [], "test": []},
        )
        files.write_json(
            cat_dir / "set_lists" / "set_lists_fewview_dev.json", {"train": [], "val": [], "test": lists["fewview_dev"]}
        )
        written.append(cat_dir)
    return written
