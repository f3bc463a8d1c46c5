"""S3IM paper Table 6: NeuS on the 8 Replica scenes, standard vs multiplex training, image + surface metrics.

    bash reproduce/table6_neus_replica.sh      (environment: REPLICA_ROOT, PROFILE, SCENES, DEVICE, JOBS, ...;
                                                see reproduce.table)

Each run trains NeuS (s3im/configs/neus_replica.yaml), renders the test views, extracts a marching-cubes mesh
in world units and, against the scene's ground-truth mesh, computes the MonoSDF Replica surface metrics
(common.metrics.surface: accuracy, completeness, Chamfer-L1 in cm; precision, recall, F-score at 5 cm and
normal consistency in %). On the synthetic default the generator's ground-truth room meshes make every
metric real. Writes results/s3im/table6_neus_replica/<source>-<profile>/: table.md / table.json (ours beside
the paper's, claims, provenance), curves.png, renders.png and meshes.png (the ground-truth mesh and the
standard / multiplex meshes rendered from the first test camera).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import yaml

from common.data import load_scene
from common.metrics.surface import load_mesh
from common.results import registry
from common.results.plots import image_grid
from reproduce import table
from reproduce.table import REPLICA, ClaimSpec, TableSpec, results_dir_for, run_table
from s3im.models.neus.mesh import render_mesh

PAPER_TABLE = registry.get("s3im", "table6")
SURFACE = ("chamfer_l1", "accuracy", "completeness", "precision", "recall", "fscore", "normal_consistency")

SPEC = TableSpec(
    paper="s3im",
    table_id="table6",
    stem="table6_neus_replica",
    module="s3im.train",
    preset="s3im/configs/neus_replica.yaml",
    scenes=[f"scan{i}" for i in range(1, 9)],
    settings={"standard": ["s3im.weight=0.0"], "multiplex": ["s3im.weight=1.0"]},
    data=REPLICA,
    column=lambda scene: "scene" + scene.removeprefix("scan"),
    metrics=("psnr", "ssim", "lpips", *SURFACE),
    claims=[ClaimSpec("multiplex", "standard", m) for m in ("psnr", "ssim", "lpips", "chamfer_l1", "fscore")],
    notes=[
        "Scene N = scanN of the MonoSDF Replica release (room0, room1, room2, office0..office4).",
        "Surface metrics: MonoSDF Replica protocol (cull against traj.txt, crop to the ground-truth box x 1.05, "
        "area-weighted samples per mesh, 5 cm threshold); distances in cm, ratios in %.",
        "Standard and multiplex runs share every setting and the seed; they differ only by s3im.weight (0 vs 1.0). "
        "The paper does not state lambda for NeuS; 1.0 as in the official DVGO / TensoRF configs.",
    ],
    title="NeuS, standard vs multiplex training",
    minutes_per_run=2.5,  # two at a time on 2 cores: 2.0-2.7 min per run
    paper_profile_note="paper profile: 300k iterations per run (official NeuS); days per run on a CPU",
)


def mesh_figure(runs_dir: Path, results_dir: Path, scenes: list[str]) -> Path | None:
    """meshes.png: per scene, the ground-truth mesh and each setting's mesh from the first test camera."""
    rows, labels = [], []
    for scene in scenes:
        run0 = runs_dir / scene / next(iter(SPEC.settings))
        cfg_path = run0 / "config.yaml"
        if not cfg_path.is_file():
            continue
        data = yaml.safe_load(cfg_path.read_text())["data"]
        sc = load_scene(data["format"], data["root"], downscale=data.get("downscale") or 1, lazy=True)
        if not sc.mesh_path:
            continue
        i = sc.split("test")[0]
        K, c2w = np.asarray(sc.K[i], np.float64), np.asarray(sc.c2w[i], np.float64)
        c2w = sc.normalization.inverse_c2w(c2w)  # world units, as the meshes
        cells = [render_mesh(*load_mesh(sc.mesh_path), K, c2w, sc.width, sc.height)]
        for setting in SPEC.settings:
            mesh = runs_dir / scene / setting / "mesh.ply"
            cells.append(
                render_mesh(*load_mesh(mesh), K, c2w, sc.width, sc.height)
                if mesh.is_file()
                else np.ones((sc.height, sc.width, 3), np.float32)
            )
        rows.append(cells)
        labels.append(scene)
    if not rows:
        return None
    return image_grid(
        results_dir / "meshes.png",
        rows,
        labels,
        ["ground-truth mesh", *(f"{s} mesh" for s in SPEC.settings)],
        title="NeuS meshes (world units) from the first test camera",
    )


def main(argv: list[str]) -> int:
    rc = run_table(SPEC, argv)
    real_root = os.environ.get(SPEC.data.env)
    profile = os.environ.get("PROFILE") or ("paper" if real_root else "quick")
    from common.data.synthetic import is_synthetic

    source = "synthetic" if not real_root or is_synthetic(real_root) else "real"
    runs_dir = Path(os.environ.get("RUNS_DIR", f"runs/{SPEC.paper}/{SPEC.stem}/{source}-{profile}"))
    scenes = table.env_list("SCENES", SPEC.scenes)
    results_dir = results_dir_for(SPEC, runs_dir, scenes, profile, source)
    path = mesh_figure(runs_dir, results_dir, scenes)
    if path is not None:
        print(f"Wrote {path}")
    return rc


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
