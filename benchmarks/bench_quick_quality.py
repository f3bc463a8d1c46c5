"""Quick-profile quality and wall time of the grid models on 100x100 object scenes, run after run.

The goal these numbers are checked against: a grid model's quick profile reaches >= 30 dB test PSNR on a
100x100 object scene with about 90 training views in <= 5 minutes of training on 2 CPU cores (the official
TensoRF reaches 31.1 dB on lego100 in 9.4 min on such a machine; ``../shared/notes/peer-measurements.md``).

For every model (``s3im/configs/<model>_blender.yaml``, ``quick`` profile) and every scene, one training run
through the driver (``python -m s3im.train``, its own process, all cores) writes its run directory under
``--runs`` (finished runs are reused; delete the directory to re-measure); the table printed at the end holds
the held-out test PSNR (mean over the test views, whole images), the training time of the run (``done.json``,
without data loading and evaluation) and whether both goals are met. Scenes:

  * ``object_0`` ... ``object_3``: the synthetic ``blender_objects`` set (NeRF-synthetic layout, 100x100,
    90 train / 10 test views, white background), generated once into the data cache;
  * ``dtu_scan24``: the real DTU scan 24 in the MonoSDF layout (49 views 384x384, read at 96x96 with
    ``data.downscale=4``; test views 0, 10, 20, 30, 40; 44 training views), from ``--dtu`` (default
    ``$DTU_SCAN24_ROOT`` or ``../shared/data/dtu-scan24-monosdf-384`` beside the repository). Not a
    Blender-layout scene: the cameras come from ``cameras.npz`` (loader ``replica_monosdf``).

    .venv/bin/python -m benchmarks.bench_quick_quality [--models tensorf,dvgo] [--scenes object_0,dtu_scan24]
        [--runs runs/bench_quick_quality] [--dtu DIR] [key=value ...]   # extra config overrides of every run

Timings depend on the machine's load: run it on an otherwise idle machine.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SYNTHETIC_SCENES = ("object_0", "object_1", "object_2", "object_3")
GOAL_PSNR, GOAL_SECONDS = 30.0, 300.0


def default_dtu_root() -> Path:
    env = os.environ.get("DTU_SCAN24_ROOT")
    return Path(env) if env else REPO.parent / "shared" / "data" / "dtu-scan24-monosdf-384"


def scene_overrides(scene: str, dtu_root: Path) -> list[str]:
    """Config overrides that select ``scene`` (a synthetic object, or the real DTU scan 24)."""
    if scene == "dtu_scan24":
        if not (dtu_root / "cameras.npz").is_file():
            raise SystemExit(f"bench_quick_quality: {dtu_root}/cameras.npz not found (MonoSDF DTU scan24 expected)")
        return [
            "data.format=replica_monosdf",
            f"data.root={dtu_root}",
            "data.options={original_size: [1600, 1200]}",
            "data.downscale=4",
        ]
    if scene not in SYNTHETIC_SCENES:
        raise SystemExit(f"bench_quick_quality: unknown scene {scene!r}; expected {SYNTHETIC_SCENES + ('dtu_scan24',)}")
    return [f"data.scene={scene}"]


def run_one(model: str, scene: str, run_dir: Path, overrides: list[str]) -> dict:
    """Train (or reuse) one quick run; returns its test PSNR, training seconds and process wall seconds."""
    wall = None
    if not (run_dir / "done.json").is_file():
        cmd = [sys.executable, "-m", "s3im.train", "--config", f"s3im/configs/{model}_blender.yaml"]
        cmd += ["--profile", "quick", "--run-dir", str(run_dir), *overrides]
        env = {**os.environ, "WANDB_MODE": os.environ.get("WANDB_MODE", "disabled")}
        t0 = time.perf_counter()
        subprocess.run(cmd, cwd=REPO, env=env, check=True)
        wall = time.perf_counter() - t0
    done = json.loads((run_dir / "done.json").read_text())
    test = json.loads((run_dir / "test_metrics.json").read_text())
    return {"psnr": test["mean"]["psnr"], "train_s": done["time_s"], "wall_s": wall, "n_test": len(test["per_image"])}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", default="tensorf,dvgo")
    ap.add_argument("--scenes", default=",".join(SYNTHETIC_SCENES + ("dtu_scan24",)))
    ap.add_argument("--runs", default="runs/bench_quick_quality")
    ap.add_argument("--dtu", type=Path, default=default_dtu_root())
    args, extra = ap.parse_known_args(argv)
    rows = []
    for model in args.models.split(","):
        for scene in args.scenes.split(","):
            run_dir = (REPO / args.runs / model / scene).resolve()
            r = run_one(model, scene, run_dir, scene_overrides(scene, args.dtu) + extra)
            rows.append((model, scene, r))
            print(f"{model:8s} {scene:11s} test PSNR {r['psnr']:6.2f} dB  training {r['train_s']:6.1f} s", flush=True)
    print(f"\n| model | scene | test PSNR (dB) | training (s) | >= {GOAL_PSNR:.0f} dB | <= {GOAL_SECONDS:.0f} s |")
    print("|---|---|---|---|---|---|")
    for model, scene, r in rows:
        ok = ["yes" if r["psnr"] >= GOAL_PSNR else "no", "yes" if r["train_s"] <= GOAL_SECONDS else "no"]
        print(f"| {model} | {scene} | {r['psnr']:.2f} | {r['train_s']:.0f} | {ok[0]} | {ok[1]} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
