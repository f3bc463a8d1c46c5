"""JacobiNeRF Table 1 (semantic propagation on Replica, sparse and dense) and Table 2 (instance propagation on
ScanNet): Semantic-NeRF, DINO-2D, DINO-NeRF, J-NeRF 2D, J-NeRF 3D on the same labels.

    bash reproduce/jacobinerf_table1_replica.sh      (DATASET=replica, the default)
    bash reproduce/jacobinerf_table2_scannet.sh      (DATASET=scannet)

Environment: see ``reproduce.jacobinerf_common``. Dense J-NeRF rows use the aggregation MLP (J-NeRF+, as the
paper's Table 1 dense J-NeRF 3D = Table 5 J-NeRF+); results/jacobinerf/<table>/<source>-<profile>/table.md|json.
"""

from __future__ import annotations

import os
import sys
import time

from common.results import Claim, write_table
from reproduce.jacobinerf_common import (
    DATASETS,
    common_notes,
    greater_claim,
    mean_of,
    provenance,
    results_dir,
    scene_results,
)

ROWS = ("s_nerf", "dino_2d", "dino_nerf", "j_nerf_2d", "j_nerf_3d")
METRICS = ("miou", "avg_acc", "total_acc")
TABLES = {"replica": ("table1", "table1_replica"), "scannet": ("table2", "table2_scannet")}


def best_claim(ours: dict, setting: str, metric: str = "miou") -> Claim:
    values = {r: ours[r][metric][setting] for r in ROWS}
    if any(v is None for v in values.values()):
        return Claim(f"J-NeRF 3D has the best {metric} ({setting})", None, "a value is missing")
    best = max(values, key=values.get)
    return Claim(
        f"J-NeRF 3D has the best {metric} of the five methods ({setting})",
        best == "j_nerf_3d",
        ", ".join(f"{r} {v:.3f}" for r, v in values.items()),
    )


def main(argv: list[str]) -> int:
    started = time.time()
    ds = DATASETS[argv[0] if argv else os.environ.get("DATASET", "replica")]
    table_id, stem = TABLES[ds.name]
    results = scene_results(ds, full=ds.name == "replica")  # ScanNet: Table 2 needs sparse + dense only
    ours = {r: {m: {s: mean_of(results, s, r, "mean", m) for s in ("sparse", "dense")} for m in METRICS} for r in ROWS}
    claims = [best_claim(ours, "sparse"), best_claim(ours, "dense")]
    a, b = ours["j_nerf_3d"]["miou"]["sparse"], ours["j_nerf_2d"]["miou"]["sparse"]
    claims.append(greater_claim("J-NeRF 3D beats J-NeRF 2D (sparse mIoU)", a, b, f"{a} vs {b}"))
    out = results_dir(stem, ds)
    missing = {
        (r, m, s): "not finite in this run (no class predicted / present)"
        for r in ROWS
        for m in METRICS
        for s in ("sparse", "dense")
        if ours[r][m][s] is None
    }
    write_table(
        out / "table",
        paper="jacobinerf",
        table_id=table_id,
        ours=ours,
        missing=missing,
        claims=claims,
        provenance=provenance(ds, results, f"python -m reproduce.jacobinerf_table1 {ds.name}", started),
        notes=common_notes(ds, results)
        + ["Dense J-NeRF 2D / 3D: aggregation MLP on the mean responses of the adaptively selected gradients."],
    )
    print(f"wrote {out}/table.md")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
