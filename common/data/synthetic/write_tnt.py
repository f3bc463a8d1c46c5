"""Tanks-and-Temples-like object scenes in the NSVF layout (DVGO / TensoRF ``tankstemple``).

Per scene (Barn, Caterpillar, Family, Ignatius, Truck, then Scene6 ...): ``rgb/<s>_<i:04d>.png`` with s = 1 (val,
also the test split) for every 8th frame and 0 (train) otherwise, ``pose/<s>_<i:04d>.txt`` (4x4 c2w, OpenCV),
``intrinsics.txt`` (4x4 K: T&T's 1920x1080 camera, fx = fy = 1160, scaled to W = res, H = res * 9 / 16, principal
point at the image centre), ``bbox.txt`` ("xmin ymin zmin xmax ymax zmax voxel_size", voxel = longest side / 128)
and the mesh ``mesh.ply``. Cameras orbit the centrepiece at 1.45-1.95 x its height, looking at its middle.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from common.data.synthetic import files
from common.data.synthetic.outdoor import CENTREPIECES, build_object_scene
from common.data.synthetic.raycast import Renderer
from common.data.synthetic.seeds import scene_seed
from common.data.synthetic.trajectories import orbit

TNT_SCENES = ("Barn", "Caterpillar", "Family", "Ignatius", "Truck")
VAL_EVERY = 8


def tnt_intrinsics(res: int) -> tuple[int, int, np.ndarray]:
    width, height = res, res * 9 // 16
    f = 1160.0 * width / 1920.0
    return width, height, np.array([[f, 0.0, width / 2], [0.0, f, height / 2], [0.0, 0.0, 1.0]])


def write_tnt_nsvf(out: Path, scenes: int = 5, res: int = 160, seed: int = 0, frames: int = 100) -> list[Path]:
    out = Path(out)
    width, height, K = tnt_intrinsics(res)
    written = []
    for k in range(scenes):
        name = TNT_SCENES[k] if k < len(TNT_SCENES) else f"Scene{k + 1}"
        sc = build_object_scene(scene_seed(seed, "tnt", k), name=name, centrepiece=CENTREPIECES[k % len(CENTREPIECES)])
        sdir = out / name
        top = float(sc.bounds[1, 2])
        poses = orbit((0.0, 0.0, 0.45 * top), 1.7 * top, frames, scene_seed(seed, "tnt-orbit", k), height=(0.1, 0.6))
        renderer = Renderer(sc)
        for i, c2w in enumerate(poses):
            stem = f"{1 if i % VAL_EVERY == 0 else 0}_{i:04d}"
            files.write_rgb_png(sdir / "rgb" / f"{stem}.png", renderer.render(K, c2w, height, width).rgb)
            files.write_text(sdir / "pose" / f"{stem}.txt", files.matrix_text(c2w))
        K4 = np.eye(4)
        K4[:3, :3] = K
        files.write_text(sdir / "intrinsics.txt", files.matrix_text(K4))
        lo, hi = sc.bounds
        files.write_text(
            sdir / "bbox.txt", " ".join(f"{v:.6f}" for v in [*lo, *hi, float(np.max(hi - lo)) / 128]) + "\n"
        )
        files.write_semantic_ply(sdir / "mesh.ply", renderer.mesh, sc)
        files.write_scene_info(sdir / "synthetic_scene.json", sc)
        written.append(sdir)
    return written
