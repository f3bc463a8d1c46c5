"""S3IM paper Table 2: TensoRF on the 8 Replica scenes, standard vs multiplex training.

    python -m reproduce.s3im_table2          (environment: REPLICA_ROOT, PROFILE, SCENES, DEVICE, JOBS, ...;
                                               see reproduce.table)

Writes results/s3im/table2_tensorf_replica/<source>-<profile>/: table.md / table.json (ours beside the paper's
Table 2, claim checks, provenance) and renders.png (ground truth / standard / multiplex test renders).
"""

from __future__ import annotations

import sys
from dataclasses import replace

from reproduce import s3im_table1
from reproduce.table import run_table

# Table 1's grid (8 Replica scenes x {standard: s3im.weight 0, multiplex: 1.0}, the same claims) on TensoRF
# (the official replica_scan1_s3im_1.0.txt uses s3im_weight 1.0).
SPEC = replace(
    s3im_table1.SPEC,
    table_id="table2",
    stem="table2_tensorf_replica",
    preset="s3im/configs/tensorf_replica.yaml",
    notes=[
        *s3im_table1.SPEC.notes,
        "The S3IM authors advise s3im_weight=5 for scan8 with TensoRF (S3IM-Neural-Fields#8); we keep 1.0 everywhere.",
    ],
    title="TensoRF, standard vs multiplex training",
    paper_profile_note="paper profile: 30k iterations per run, 128^3 -> 300^3 voxels; hours per run on a GPU",
    minutes_per_run=9.0,  # two at a time on 2 cores: 7-11 min per run (one thread each)
)


def main(argv: list[str]) -> int:
    return run_table(SPEC, argv)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
