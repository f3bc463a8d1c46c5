"""Paper tables as specs: a grid of runs (scene x setting), per-row x column means, claims, figures.

A table script is a ``TableSpec`` and one call, ``run_table(spec, argv)``::

    SPEC = TableSpec(paper="s3im", table_id="table1", stem="table1_dvgo_replica", module="s3im.train",
                     preset="s3im/configs/dvgo_replica.yaml", scenes=[...], settings={...}, data=DataSpec(...))

Environment of every table script:
  <data.env>     real data root (e.g. REPLICA_ROOT); selects the ``paper`` profile. Unset: the synthetic
                 embedded default (generated once, cached) and ``quick``.
  PROFILE        paper | quick | smoke (overrides the choice above)
  SCENES         a subset of the scenes, e.g. "scan1 scan2" (default: all)
  DEVICE         auto | cpu | cuda (default auto)
  JOBS           runs at a time with the local launcher (default: 2 on a CPU-only machine, else 1)
  LAUNCHER       local | ray
  RUNS_DIR       default runs/<paper>/<stem>/<source>-<profile>
  RESULTS_DIR    where the table goes; default results/<paper>/<stem>/<source>-<profile> for a full
                 grid of a paper or quick profile, RUNS_DIR/results otherwise (a subset or a smoke run
                 never replaces a committed table)
Extra command-line arguments are passed to every run as config overrides (key=value).

Results are keyed by data source and profile, so a synthetic or smoke run never replaces a real-data
table. The table (md + json) and its figures are written into a fresh directory that replaces the
old one in two renames, so a reader never sees an md from one run beside a json from another.
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from common.config import load_config
from common.data.io import read_rgb
from common.metrics import lpips_label, lpips_metric_name
from common.results import Claim, Provenance, write_table
from common.results.plots import image_grid, plot_curves
from reproduce.grid import RunSpec, read_json, read_jsonl, run_grid

HIGHER_IS_BETTER = {"psnr": True, "ssim": True, "lpips": False}


@dataclass(frozen=True)
class DataSpec:
    """Where the table's scenes come from: ``env`` names the real data root (one directory per scene,
    each holding ``marker``); without it the synthetic ``kind`` is generated at ``data.synthetic_res``."""

    env: str
    synthetic_kind: str
    description: str
    marker: str


@dataclass(frozen=True)
class ClaimSpec:
    """The paper's claim "``better`` beats ``worse`` in the mean of ``metric``" (checked on our numbers)."""

    better: str
    worse: str
    metric: str


@dataclass(frozen=True)
class TableSpec:
    """One paper table: the grid (scenes x settings of one preset), the registry ids and the claims.

    settings: row name -> config overrides of that row (e.g. {"multiplex": ["s3im.weight=1.0"]}).
    column(scene) -> the registry's column key. minutes_per_run: rough quick-profile minutes of one
    run on a 2-core CPU (two at a time), for the ETA only.
    """

    paper: str
    table_id: str
    stem: str
    module: str
    preset: str
    scenes: Sequence[str]
    settings: dict[str, list[str]]
    data: DataSpec
    column: Callable[[str], str] = str
    metrics: Sequence[str] = ("psnr", "ssim", "lpips")
    claims: Sequence[ClaimSpec] = ()
    notes: Sequence[str] = ()
    title: str = ""
    minutes_per_run: float = 2.0
    paper_profile_note: str = ""
    curve_metric: str = "psnr"
    extra_args: Sequence[str] = field(default_factory=list)


def env_list(name: str, default: Sequence[str]) -> list[str]:
    raw = os.environ.get(name, "").replace(",", " ").split()
    return raw or list(default)


def results_dir_for(spec: TableSpec, runs_dir: Path, scenes: list[str], profile: str, source: str) -> Path:
    """RESULTS_DIR, or the committed place for a full grid of a paper / quick profile, else under runs."""
    if os.environ.get("RESULTS_DIR"):
        return Path(os.environ["RESULTS_DIR"])
    if set(scenes) == set(spec.scenes) and profile in ("paper", "quick"):
        return Path("results") / spec.paper / spec.stem / f"{source}-{profile}"
    return runs_dir / "results"


def run_table(spec: TableSpec, argv: list[str]) -> int:
    """Run the grid of ``spec`` (skipping finished runs, resuming interrupted ones) and write the table."""
    real_root = os.environ.get(spec.data.env)
    profile = os.environ.get("PROFILE") or ("paper" if real_root else "quick")
    scenes = env_list("SCENES", spec.scenes)
    unknown = sorted(set(scenes) - set(spec.scenes))
    if unknown:
        raise SystemExit(f"SCENES: unknown scene(s) {unknown}; expected some of {list(spec.scenes)}")
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
    overrides = [*spec.extra_args, *argv]
    cfg = load_config(spec.preset, profile, None, overrides)  # validates the overrides before anything runs

    from common.data.synthetic import ensure_dataset, is_synthetic

    source = "synthetic" if not real_root or is_synthetic(real_root) else "real"
    runs_dir = Path(os.environ.get("RUNS_DIR", f"runs/{spec.paper}/{spec.stem}/{source}-{profile}"))
    results_dir = results_dir_for(spec, runs_dir, scenes, profile, source)
    if real_root:
        dataset = f"{spec.data.description} at ${spec.data.env}"
        if source == "synthetic":
            dataset = f"SYNTHETIC scenes written by common.data.synthetic at ${spec.data.env}"
        for s in scenes:
            if not (Path(real_root) / s / spec.data.marker).is_file():
                raise SystemExit(f"{spec.data.env}={real_root}: {s}/{spec.data.marker} not found")
        roots = {s: str(Path(real_root) / s) for s in scenes}
    else:
        res = cfg.data.synthetic_res
        t0 = time.time()
        print(f"Preparing the synthetic embedded default ({spec.data.synthetic_kind}, {res}x{res}; cached)...")
        root = ensure_dataset(spec.data.synthetic_kind, res=res)
        print(f"  ready in {time.time() - t0:.0f} s")
        dataset = f"synthetic {spec.data.synthetic_kind} scenes (common.data.synthetic, {res}x{res})"
        roots = {s: str(Path(root) / s) for s in scenes}

    n_runs = len(scenes) * len(spec.settings)
    print(f"{spec.paper} {spec.table_id} ({spec.stem}): data = {source.upper()} ({dataset})")
    print(f"  profile = {profile}, scenes = {' '.join(scenes)}, {n_runs} runs, device = {device}, {launcher} x{jobs}")
    if profile == "quick":
        print(f"  expected time on a 2-core CPU: about {spec.minutes_per_run * n_runs / max(jobs, 1):.0f} min")
    elif profile == "paper" and spec.paper_profile_note:
        print(f"  {spec.paper_profile_note}")
    if source == "synthetic":
        print("  NOTE: synthetic scenes; the numbers are NOT comparable to the paper's real-data numbers.")

    threads = max(1, (os.cpu_count() or 2) // jobs) if not cuda else None
    runs = []
    for scene in scenes:
        for setting, setting_args in spec.settings.items():
            args = [
                "--config",
                spec.preset,
                "--profile",
                profile,
                "--device",
                device,
                f"data.root={roots[scene]}",
                f"data.scene={scene}",
                f"experiment.group={spec.stem}/{scene}",
                f"experiment.setting={setting}",
                *setting_args,
                "train.progress=false",
                *overrides,
            ]
            runs.append(
                RunSpec(
                    f"{scene}/{setting}",
                    runs_dir / scene / setting,
                    spec.module,
                    args,
                    threads,
                    marker="test_metrics.json",
                    total_steps=cfg.train.iters,
                )
            )
    t0 = time.time()
    status = run_grid(runs, launcher=launcher, jobs=jobs, log_dir=runs_dir / "logs")
    print(f"Grid finished in {(time.time() - t0) / 60:.1f} min")
    failed = [name for name, rc in status.items() if rc != 0]
    write_results(spec, scenes, runs_dir, results_dir, source, dataset, profile, failed)
    if failed:
        print(f"FAILED runs (see {runs_dir / 'logs'}): {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


def collect(spec: TableSpec, scenes: list[str], runs_dir: Path, failed: list[str]):
    """(ours {row: {metric: {column: value}}}, missing {(row, metric, column): reason}, LPIPS conventions)."""
    ours: dict = {s: {m: {} for m in spec.metrics} for s in spec.settings}
    missing: dict = {}
    lpips_info = None
    for scene in scenes:
        col = spec.column(scene)
        for setting in spec.settings:
            report = read_json(runs_dir / scene / setting / "test_metrics.json")
            if report is not None and lpips_info is None:
                lpips_info = report["conventions"].get("lpips")
            for m in spec.metrics:
                value = None if report is None else report["mean"].get(m)
                ours[setting][m][col] = value
                if value is None:
                    if f"{scene}/{setting}" in failed:
                        reason = f"run {scene}/{setting} failed"
                    else:
                        reason = (report or {}).get("missing", {}).get(m, "run did not finish")
                    missing[(setting, m, col)] = reason
    for setting in spec.settings:  # mean over the scenes that ran
        for m in spec.metrics:
            vals = [ours[setting][m][spec.column(s)] for s in scenes]
            ours[setting][m]["mean"] = float(np.mean(vals)) if all(v is not None for v in vals) else None
            if ours[setting][m]["mean"] is None:
                missing[(setting, m, "mean")] = "some scenes have no value"
    return ours, missing, lpips_info


def check_claims(spec: TableSpec, ours: dict, scenes: list[str], labels: dict[str, str]) -> list[Claim]:
    """Each ClaimSpec on the means, with the per-scene win count in its detail."""
    claims = []
    for c in spec.claims:
        m, up = c.metric, HIGHER_IS_BETTER.get(c.metric, True)
        a, b = ours[c.better][m]["mean"], ours[c.worse][m]["mean"]
        wins = 0
        for s in scenes:
            x, y = ours[c.better][m][spec.column(s)], ours[c.worse][m][spec.column(s)]
            wins += int(None not in (x, y) and (x > y) == up and x != y)
        holds = None if None in (a, b) else ((a > b) if up else (a < b))
        detail = "" if holds is None else f"mean {a:.4f} vs {b:.4f}; {c.better} better in {wins}/{len(scenes)} scenes"
        name = labels.get(m, m.upper())
        claims.append(Claim(f"{c.better} training beats {c.worse} training in mean {name}", holds, detail))
    return claims


def curves_of(spec: TableSpec, scenes: list[str], runs_dir: Path) -> dict:
    """{scene: {setting: (steps, values)}} of the in-training evaluations."""
    curves: dict = {}
    for scene in scenes:
        for setting in spec.settings:
            evals = [r for r in read_jsonl(runs_dir / scene / setting / "metrics.jsonl") if r.get("split") == "eval"]
            if evals:
                steps = [r["step"] for r in evals]
                curves.setdefault(scene, {})[setting] = (steps, [r["values"][spec.curve_metric] for r in evals])
    return curves


def render_row(spec: TableSpec, runs_dir: Path, scene: str):
    """(scene, [ground truth, one render per setting]) of the first test view, or None when missing."""
    first = read_json(runs_dir / scene / next(iter(spec.settings)) / "test_metrics.json")
    if first is None:
        return None
    name = first["per_image"][0]["name"]
    paths = [runs_dir / scene / s / "renders" / "test" / f"{name}.png" for s in spec.settings]
    gt = runs_dir / scene / next(iter(spec.settings)) / "renders" / "gt" / f"{name}.png"
    if not gt.is_file() or not all(p.is_file() for p in paths):
        return None
    return scene, [read_rgb(gt), *[read_rgb(p) for p in paths]]


def runs_device() -> str | None:
    """Provenance device of the runs: the CPU when DEVICE=cpu on a machine with a GPU; None = this machine's."""
    if torch.cuda.is_available() and os.environ.get("DEVICE", "auto") == "cpu":
        return f"cpu: {os.cpu_count()} cores"
    return None


def replace_dir(new: Path, final: Path) -> None:
    """Put directory ``new`` at ``final`` (the old one, if any, is moved aside and removed afterwards)."""
    old = final.with_name(final.name + ".old")
    shutil.rmtree(old, ignore_errors=True)
    if final.exists():
        final.rename(old)
    new.rename(final)
    shutil.rmtree(old, ignore_errors=True)


def write_results(spec: TableSpec, scenes, runs_dir: Path, results_dir: Path, source, dataset, profile, failed) -> None:
    """The table (md + json), the curves and the render grid, written together into ``results_dir``."""
    ours, missing, lpips_info = collect(spec, scenes, runs_dir, failed)
    label = lpips_label(lpips_info) if lpips_info and "missing" not in lpips_info else None
    labels = {"lpips": label} if label else {}
    names = {"lpips": lpips_metric_name(lpips_info)} if label else {}
    notes = list(spec.notes)
    if lpips_info and "missing" not in lpips_info:
        notes.append(f"LPIPS conventions: {lpips_info}.")
    if len(scenes) < len(spec.scenes):
        notes.append(f"Only {len(scenes)} of {len(spec.scenes)} scenes were run; our mean is over those.")
    prov = Provenance.collect(source, dataset, profile, device=runs_device(), extra={"runs_dir": str(runs_dir)})
    results_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = results_dir.with_name(results_dir.name + ".tmp")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    write_table(
        staging / "table",
        paper=spec.paper,
        table_id=spec.table_id,
        ours=ours,
        missing=missing,
        claims=check_claims(spec, ours, scenes, names),
        provenance=prov,
        notes=notes,
        metric_labels=labels,
    )
    suffix = " (SYNTHETIC scenes)" if source == "synthetic" else ""
    panels = curves_of(spec, scenes, runs_dir)
    if panels:
        plot_curves(
            staging / "curves.png", panels, ylabel=f"test {spec.curve_metric.upper()}", title=spec.title + suffix
        )
    rows = [r for r in (render_row(spec, runs_dir, s) for s in scenes) if r is not None]
    if rows:
        image_grid(
            staging / "renders.png",
            [r[1] for r in rows],
            [r[0] for r in rows],
            ["ground truth", *spec.settings],
            title="first test view of each scene",
        )
    replace_dir(staging, results_dir)
    print(f"Wrote {results_dir}/: {', '.join(sorted(p.name for p in results_dir.iterdir()))}")
