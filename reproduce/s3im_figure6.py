"""S3IM paper Figure 6: the S3IM weight lambda in {0, 0.1, 0.3, 1, 3, 10}, DVGO on Replica scene 4 (office0).

    python -m reproduce.s3im_figure6         (environment: REPLICA_ROOT, PROFILE, DEVICE, JOBS, ...;
                                               see reproduce.table)

lambda = 0 is standard training. The paper does not print its lambda values; these six are our choice.
Writes results/s3im/figure6_lambda_sweep/<source>-<profile>/: sweep.png, table.md / table.json.
"""

from __future__ import annotations

import sys

from reproduce.table import REPLICA, SweepSpec, TableSpec, beats_column, run_table

LAMBDAS = {"l0": 0.0, "l01": 0.1, "l03": 0.3, "l1": 1.0, "l3": 3.0, "l10": 10.0}

SPEC = TableSpec(
    paper="s3im",
    table_id="figure6",
    stem="figure6_lambda_sweep",
    module="s3im.train",
    preset="s3im/configs/dvgo_replica.yaml",
    scenes=list(LAMBDAS),
    settings={"s3im": []},
    data=REPLICA,
    scene_of=lambda cell: "scan4",
    cell_args=lambda cell: [f"s3im.weight={LAMBDAS[cell]}", f"experiment.setting=lambda_{LAMBDAS[cell]:g}"],
    mean_column=False,
    extra_claims=lambda ours: [beats_column(ours, "s3im", "psnr", c, "l0") for c in LAMBDAS if c != "l0"],
    sweep=SweepSpec("S3IM weight lambda (0 = standard)", lambda cell: LAMBDAS[cell]),
    notes=[
        "Scene 4 = scan4 (office0) of the MonoSDF Replica release.",
        "The paper's claim: S3IM is robust over a wide range of lambda (every lambda > 0 beats lambda = 0). "
        "Compare column l0 with the others in table.json.",
    ],
    title="DVGO, Replica scene 4: S3IM weight",
    minutes_per_run=5.0,
)


def main(argv: list[str]) -> int:
    return run_table(SPEC, argv)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
