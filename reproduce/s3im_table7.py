"""S3IM paper Table 7: NeuS on four Tanks and Temples scenes, standard vs multiplex training (image metrics).

    bash reproduce/table7_neus_tnt.sh      (environment: TNT_ROOT, PROFILE, SCENES, DEVICE, JOBS, ...;
                                            see reproduce.table)

The paper does not name its four T&T Advanced scenes; with ``TNT_ROOT`` (NSVF layout) the four Advanced scenes
of Table 3 are read (Auditorium, Ballroom, Courtroom, Museum, as scene 1..4); without it, the first four
synthetic T&T-like scenes (the tnt_nsvf kind of common.data.synthetic). Writes
results/s3im/table7_neus_tnt/<source>-<profile>/: table.md / table.json, curves.png, renders.png.
"""

from __future__ import annotations

import os
import sys

from reproduce.table import TNT, ClaimSpec, TableSpec, run_table

ADVANCED = ("Auditorium", "Ballroom", "Courtroom", "Museum")
SYNTHETIC = ("Barn", "Caterpillar", "Family", "Ignatius")
SCENE_NAMES = ADVANCED if os.environ.get("TNT_ROOT") else SYNTHETIC

SPEC = TableSpec(
    paper="s3im",
    table_id="table7",
    stem="table7_neus_tnt",
    module="s3im.train",
    preset="s3im/configs/neus_tnt.yaml",
    scenes=list(SCENE_NAMES),
    settings={"standard": ["s3im.weight=0.0"], "multiplex": ["s3im.weight=1.0"]},
    data=TNT,
    column=lambda scene: f"scene{SCENE_NAMES.index(scene) + 1}",
    claims=[ClaimSpec("multiplex", "standard", m) for m in ("psnr", "ssim", "lpips")],
    notes=[
        f"Scene 1..4 = {', '.join(SCENE_NAMES)} (the paper does not name its T&T Advanced scenes).",
        "Standard and multiplex runs share every setting and the seed; they differ only by s3im.weight (0 vs 1.0).",
        "A mesh is extracted for every run (mesh.ply in its run directory); T&T has no ground-truth mesh here, "
        "so the surface metrics are reported missing, as in the paper's table (image metrics only).",
    ],
    title="NeuS on T&T, standard vs multiplex training",
    minutes_per_run=5.0,
    paper_profile_note="paper profile: 300k iterations per run (official NeuS); days per run on a CPU",
)


def main(argv: list[str]) -> int:
    return run_table(SPEC, argv)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
