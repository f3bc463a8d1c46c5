"""S3IM paper Table 1: DVGO on the 8 Replica scenes, standard vs multiplex training.

Run through ``bash reproduce/table1_dvgo_replica.sh``. Environment:
  REPLICA_ROOT   real data (MonoSDF/sdfstudio layout: scan1..scan8); selects the `paper` profile.
                 Unset: the synthetic 8-scene Replica-like set (generated once, cached) and `quick`.
  PROFILE        paper | quick | smoke (overrides the choice above)
  SCENES         e.g. "scan1 scan2" (default: all 8)
  DEVICE         auto | cpu | cuda (default auto)
  JOBS           runs at a time with the local launcher (default: 2 on a CPU-only machine, else 1)
  LAUNCHER       local | ray
  RUNS_DIR       default runs/s3im/table1_dvgo_replica/<synthetic|real>-<profile>; a finished run there is
                 reused only if it was made with the same settings (else the script stops and says so)
  RESULTS_DIR    default results/s3im for all 8 scenes, RUNS_DIR/results for a subset of SCENES
Extra command-line arguments are passed to every run as config overrides (key=value).

Writes RESULTS_DIR/table1_dvgo_replica.{md,json} (ours beside the paper's Table 1, claim checks,
provenance), table1_dvgo_replica_curves.png (test PSNR over iterations, standard vs multiplex, one
panel per scene) and table1_dvgo_replica_renders.png (GT / standard / multiplex test renders).
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

from common.config import load_config
from common.data.io import read_rgb
from common.results import Claim, Provenance, write_table
from common.results.plots import image_grid, plot_curves
from reproduce.grid import RunSpec, read_json, read_jsonl, run_grid

PRESET = "s3im/configs/dvgo_replica.yaml"
SCENES = [f"scan{i}" for i in range(1, 9)]
SETTINGS = {"standard": 0.0, "multiplex": 1.0}  # s3im.weight: 0 = standard, official DVGO config = 1.0
METRICS = ("psnr", "ssim", "lpips")
HIGHER_IS_BETTER = {"psnr": True, "ssim": True, "lpips": False}
STEM = "table1_dvgo_replica"
# Rough minutes per run on a 2-core CPU for the quick profile (2 runs in parallel); used for the ETA.
QUICK_MINUTES_PER_RUN = 2.0


def column(scene: str) -> str:
    """scanN -> the registry's column key sceneN (paper Scene N)."""
    return "scene" + scene.removeprefix("scan")


def env_list(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name, "").replace(",", " ").split()
    return raw or default


def main(argv: list[str]) -> int:
    real_root = os.environ.get("REPLICA_ROOT")
    profile = os.environ.get("PROFILE") or ("paper" if real_root else "quick")
    scenes = env_list("SCENES", SCENES)
    unknown = sorted(set(scenes) - set(SCENES))
    if unknown:
        raise SystemExit(f"SCENES: unknown scene(s) {unknown}; expected some of {SCENES}")
    device = os.environ.get("DEVICE", "auto")
    cuda = device.startswith("cuda") or (device == "auto" and torch.cuda.is_available())
    jobs = int(os.environ.get("JOBS", "1" if cuda else "2"))
    launcher = os.environ.get("LAUNCHER", "local")
    bad = [a for a in argv if "=" not in a or a.startswith("-")]
    if bad:
        raise SystemExit(
            f"unexpected argument(s) {bad}: pass config overrides as key=value; "
            "PROFILE, SCENES, DEVICE, JOBS are environment variables"
        )
    overrides = list(argv)
    cfg = load_config(PRESET, profile, None, overrides)  # validates the overrides before anything runs

    from common.data.synthetic import is_synthetic

    data_source = "synthetic" if not real_root or is_synthetic(real_root) else "real"
    # runs of different data or profiles never share a directory (a finished run is only reused as is)
    runs_dir = Path(os.environ.get("RUNS_DIR", f"runs/s3im/{STEM}/{data_source}-{profile}"))
    # a subset of the scenes is a taste, not the table: it does not overwrite the committed results
    default_results = "results/s3im" if set(scenes) == set(SCENES) else str(runs_dir / "results")
    results_dir = Path(os.environ.get("RESULTS_DIR", default_results))

    if real_root:
        dataset = f"Replica (MonoSDF layout) at {real_root}"
        if data_source == "synthetic":
            dataset = f"SYNTHETIC scenes written by common.data.synthetic at {real_root}"
        for s in scenes:
            if not (Path(real_root) / s / "meta_data.json").is_file():
                raise SystemExit(f"REPLICA_ROOT={real_root}: {s}/meta_data.json not found (MonoSDF layout expected)")
        roots = {s: str(Path(real_root) / s) for s in scenes}
    else:
        from common.data.synthetic import ensure_dataset

        res = cfg.data.synthetic_res
        t0 = time.time()
        print(f"Preparing the synthetic Replica-like embedded default ({res}x{res}, 8 scenes; cached)...", flush=True)
        root = ensure_dataset("replica_monosdf", res=res)
        print(f"  ready in {time.time() - t0:.0f} s: {root}")
        dataset = f"synthetic Replica-like rooms (common.data.synthetic, {res}x{res}, MonoSDF layout) at {root}"
        roots = {s: str(Path(root) / s) for s in scenes}

    n_runs = len(scenes) * len(SETTINGS)
    print(f"S3IM Table 1 (DVGO, Replica): data = {data_source.upper()} ({dataset})")
    print(
        f"  profile = {profile}, scenes = {' '.join(scenes)}, {n_runs} runs, device = {device}, "
        f"launcher = {launcher} x{jobs}"
    )
    if profile == "quick":
        print(f"  expected time on a 2-core CPU: about {QUICK_MINUTES_PER_RUN * n_runs / max(jobs, 1):.0f} min")
    elif profile == "paper":
        print("  paper profile: 30k iterations per run at 320^3 voxels; hours per run on a GPU, days on a CPU")
    if data_source == "synthetic":
        print("  NOTE: synthetic scenes; the numbers are NOT comparable to the paper's real-data numbers.")

    specs = []
    threads = max(1, (os.cpu_count() or 2) // jobs) if not cuda else None
    for scene in scenes:
        for setting, weight in SETTINGS.items():
            args = [
                "--config",
                PRESET,
                "--profile",
                profile,
                "--device",
                device,
                f"data.root={roots[scene]}",
                f"data.scene={scene}",
                f"experiment.group={STEM}/{scene}",
                f"experiment.setting={setting}",
                f"s3im.weight={weight}",
                "train.progress=false",
                *overrides,
            ]
            specs.append(
                RunSpec(
                    f"{scene}/{setting}",
                    runs_dir / scene / setting,
                    "s3im.train",
                    args,
                    threads,
                    marker="test_metrics.json",
                    total_steps=cfg.train.iters,
                )
            )
    t0 = time.time()
    status = run_grid(specs, launcher=launcher, jobs=jobs, log_dir=runs_dir / "logs")
    print(f"Grid finished in {(time.time() - t0) / 60:.1f} min")
    failed = [name for name, rc in status.items() if rc != 0]

    write_results(scenes, runs_dir, results_dir, data_source, dataset, profile, failed)
    if failed:
        print(f"FAILED runs (see {runs_dir / 'logs'}): {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


def write_results(scenes, runs_dir: Path, results_dir: Path, data_source, dataset, profile, failed) -> None:
    ours: dict = {s: {m: {} for m in METRICS} for s in SETTINGS}
    missing: dict = {}
    curves: dict = {}
    renders: list = []
    lpips_info = None
    for scene in scenes:
        col = column(scene)
        curves[scene] = {}
        for setting in SETTINGS:
            run = runs_dir / scene / setting
            report = read_json(run / "test_metrics.json")
            for m in METRICS:
                value = None if report is None else report["mean"].get(m)
                ours[setting][m][col] = value
                if value is None:
                    reason = (
                        f"run {scene}/{setting} failed"
                        if f"{scene}/{setting}" in failed
                        else (report or {}).get("missing", {}).get(m, "run did not finish")
                    )
                    missing[(setting, m, col)] = reason
            if report is not None and lpips_info is None:
                lpips_info = report["conventions"]["lpips"]
            evals = [r for r in read_jsonl(run / "metrics.jsonl") if r.get("split") == "eval"]
            if evals:
                curves[scene][setting] = ([r["step"] for r in evals], [r["values"]["psnr"] for r in evals])
        renders.append(render_row(runs_dir, scene))
    for setting in SETTINGS:  # mean over the scenes that ran (the paper's mean is over all 8)
        for m in METRICS:
            vals = [ours[setting][m][column(s)] for s in scenes]
            if all(v is not None for v in vals):
                ours[setting][m]["mean"] = float(np.mean(vals))
            else:
                ours[setting][m]["mean"] = None
                missing[(setting, m, "mean")] = "some scenes have no value"
    claims = []
    for m in METRICS:
        s, x = ours["standard"][m]["mean"], ours["multiplex"][m]["mean"]
        wins = sum(
            1
            for sc in scenes
            if None not in (ours["standard"][m][column(sc)], ours["multiplex"][m][column(sc)])
            and (ours["multiplex"][m][column(sc)] > ours["standard"][m][column(sc)]) == HIGHER_IS_BETTER[m]
        )
        holds = None if None in (s, x) else ((x > s) if HIGHER_IS_BETTER[m] else (x < s))
        detail = "" if holds is None else f"mean {x:.4f} vs {s:.4f}; multiplex better in {wins}/{len(scenes)} scenes"
        claims.append(Claim(f"multiplex training beats standard training in mean {m.upper()}", holds, detail))
    notes = [
        "Scene N = scanN of the MonoSDF Replica release (room0, room1, room2, office0..office4).",
        "Standard and multiplex runs share every setting and the seed; they differ only by s3im.weight (0 vs 1.0).",
    ]
    if lpips_info and "missing" not in lpips_info:
        notes.append(f"LPIPS conventions: {lpips_info}.")
    if len(scenes) < len(SCENES):
        notes.append(f"Only {len(scenes)} of 8 scenes were run; our mean is over those, the paper's over all 8.")
    prov = Provenance.collect(data_source, dataset, profile, device=runs_device(), extra={"runs_dir": str(runs_dir)})
    md, js = write_table(
        results_dir / STEM,
        paper="s3im",
        table_id="table1",
        ours=ours,
        missing=missing,
        claims=claims,
        provenance=prov,
        notes=notes,
    )
    print(f"Wrote {md} and {js}")
    panels = {s: c for s, c in curves.items() if c}
    if panels:
        suffix = " (SYNTHETIC scenes)" if data_source == "synthetic" else ""
        path = plot_curves(
            results_dir / f"{STEM}_curves.png",
            panels,
            ylabel="test PSNR (dB)",
            title=f"DVGO, standard vs multiplex training{suffix}",
        )
        print(f"Wrote {path}")
    rows = [r for r in renders if r is not None]
    if rows:
        path = image_grid(
            results_dir / f"{STEM}_renders.png",
            [r[1] for r in rows],
            [r[0] for r in rows],
            ["ground truth", "standard", "multiplex"],
            title="first test view of each scene",
        )
        print(f"Wrote {path}")


def runs_device() -> str | None:
    """Provenance device of the runs: the CPU when DEVICE=cpu on a machine with a GPU; None = this machine's."""
    if torch.cuda.is_available() and os.environ.get("DEVICE", "auto") == "cpu":
        return f"cpu: {os.cpu_count()} cores"
    return None


def render_row(runs_dir: Path, scene: str):
    """(label, [gt, standard, multiplex]) for the first test view of a scene, or None if missing."""
    std = read_json(runs_dir / scene / "standard" / "test_metrics.json")
    mux = runs_dir / scene / "multiplex" / "renders" / "test"
    if std is None or not mux.is_dir():
        return None
    name = std["per_image"][0]["name"]
    test_views = std["scene"]["test_views"]
    from common.data import load_scene

    scene_data = load_scene(std["scene"]["format"], std["scene"]["root"], lazy=True)
    paths = [runs_dir / scene / s / "renders" / "test" / f"{name}.png" for s in SETTINGS]
    if not all(p.is_file() for p in paths):
        return None
    gt = scene_data.load_image(test_views[0])
    imgs = [read_rgb(p) for p in paths]
    if gt.shape != imgs[0].shape:
        from common.data.io import resize

        gt = resize(gt, *imgs[0].shape[:2])
    return scene, [gt, *imgs]


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
