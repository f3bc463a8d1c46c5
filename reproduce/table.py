"""Paper tables as specs: a grid of runs (scene x setting), per-row x column means, claims, figures.

A table script is a ``TableSpec`` and one call, ``run_table(spec, argv)``. The grid is cells x settings
(x seeds): a cell is usually a scene, but may be any column point (a model on a scene, a sweep value) with
its own scene, preset and overrides; cells that share a registry column are averaged into it::

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
  REUSE_RUNS_FROM  default runs: a run whose resolved config (``run_identity``) equals that of a finished
                 run of another table under this folder links to it instead of training again (empty: off);
                 the table names the shared runs
Extra command-line arguments are passed to every run as config overrides (key=value).

A table with a ``second_seed`` rule (``SecondSeed``) checks its columns after the grid: a one-seed column whose
multiplex - standard PSNR difference is under 0.5 dB runs a second seed, and the table says which and why.

Results are keyed by data source and profile, so a synthetic or smoke run never replaces a real-data
table. The table (md + json) and its figures are written into a fresh directory that replaces the
old one in two renames, so a reader never sees an md from one run beside a json from another.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch

from common.config import load_config
from common.data.io import read_rgb
from common.metrics import lpips_label, lpips_metric_name
from common.results import Claim, Provenance, write_table
from common.results.plots import image_grid, plot_curves
from common.results.provenance import portable_path
from reproduce.grid import RunSpec, read_json, read_jsonl, reused_source, run_grid

HIGHER_IS_BETTER = {
    "psnr": True,
    "ssim": True,
    "lpips": False,
    "training_time": False,
    # surface metrics (common.metrics.surface)
    "accuracy": False,
    "completeness": False,
    "chamfer_l1": False,
    "precision": True,
    "recall": True,
    "fscore": True,
    "normal_consistency": True,
}


@dataclass(frozen=True)
class DataSpec:
    """Where the table's scenes come from: ``env`` names the real data root (one directory per scene,
    each holding ``marker``); without it the synthetic ``kind`` is generated at ``data.synthetic_res``."""

    env: str
    synthetic_kind: str
    description: str
    marker: str


# the data sets of the S3IM tables
REPLICA = DataSpec("REPLICA_ROOT", "replica_monosdf", "Replica (MonoSDF layout)", "meta_data.json")
TNT = DataSpec("TNT_ROOT", "tnt_nsvf", "Tanks and Temples (NSVF layout)", "intrinsics.txt")


@dataclass(frozen=True)
class ClaimSpec:
    """The paper's claim "``better`` beats ``worse`` in the mean of ``metric``" (checked on our numbers)."""

    better: str
    worse: str
    metric: str


@dataclass(frozen=True)
class SecondSeed:
    """ "At least two seeds where a difference is under ``below`` dB": after the grid, every column that ran one
    seed and whose ``better`` and ``worse`` rows differ in mean ``metric`` by less than ``below`` runs again with
    ``seed`` (the first runs keep their directories; ours becomes the mean of both, the spread is written).
    ``seed`` must differ from every cell's preset seed (tests/reproduce/test_grid.py checks the tables)."""

    seed: int
    better: str = "multiplex"
    worse: str = "standard"
    metric: str = "psnr"
    below: float = 0.5


@dataclass(frozen=True)
class SweepSpec:
    """A figure of the metrics against a swept value: ``x(cell)`` is the cell's value on the x axis, one
    line per setting (e.g. standard vs multiplex), one panel per metric; written as ``sweep.png``."""

    xlabel: str
    x: Callable[[str], float]


@dataclass(frozen=True)
class TableSpec:
    """One paper table: the grid (scenes x settings of one preset), the registry ids and the claims.

    scenes: the cells (columns of runs); SCENES selects some of them.
    settings: row name -> config overrides of that row (e.g. {"multiplex": ["s3im.weight=1.0"]}).
    column(cell) -> the registry's column key (cells sharing a column are averaged into it).
    scene_of(cell) -> the scene directory (default: the cell); cell_args(cell) -> extra overrides of the
    cell's runs; preset_of(cell) -> the cell's preset (default: ``preset``).
    seeds: run every (cell, setting) once per seed (``experiment.seed``); ours is the mean over seeds and
    the seed spread (std) of each number is written beside the table. () = the preset's seed, one run.
    seeds_of(cell) -> the seeds of that cell instead of ``seeds`` (e.g. two seeds only for the columns whose
    differences are small); the cells of one column must share their seeds. A seed ``None`` is the preset's
    seed in the run directory without a ``seed<N>/`` level (the layout of a one-seed grid).
    second_seed: the two-seed rule applied after the grid (``SecondSeed``); None = off.
    mean_column: add our mean over the columns as column "mean".
    timing: add the metric ``training_time`` (hours of training, from each run's done.json).
    sweep: also plot the metrics against a swept value (``sweep.png``).
    extra_claims(ours) -> claims that compare columns (e.g. "the gain grows as views are removed").
    minutes_per_run: rough quick-profile minutes of one run on a 2-core CPU (two at a time), for the ETA only.
    render_views: how many test views per cell ``renders.png`` shows (the first ones, in the runs' test order).
    """

    def scene(self, cell: str) -> str:
        return self.scene_of(cell) if self.scene_of else cell

    def preset_for(self, cell: str) -> str:
        return self.preset_of(cell) if self.preset_of else self.preset

    def seeds_for(self, cell: str | None) -> Sequence[int | None]:
        """The seeds of a cell's runs: ``seeds_of(cell)`` when given, else ``seeds``."""
        return self.seeds_of(cell) if self.seeds_of and cell is not None else self.seeds

    def seed_dirs(self, cell: str | None = None) -> list[str]:
        """Sub-directories of a (cell, setting) run: one per seed, or [""] for the preset's seed."""
        return ["" if s is None else f"seed{s}" for s in self.seeds_for(cell)] or [""]

    def cell_args_of(self, cell: str) -> list[str]:
        return list(self.cell_args(cell)) if self.cell_args else []

    def metric_keys(self) -> list[str]:
        return [*self.metrics, *(["training_time"] if self.timing else [])]

    paper: str
    table_id: str
    stem: str
    module: str
    preset: str
    scenes: Sequence[str]
    settings: dict[str, list[str]]
    data: DataSpec
    column: Callable[[str], str] = str
    scene_of: Callable[[str], str] | None = None
    cell_args: Callable[[str], Sequence[str]] | None = None
    preset_of: Callable[[str], str] | None = None
    seeds: Sequence[int] = ()
    seeds_of: Callable[[str], Sequence[int | None]] | None = None
    second_seed: SecondSeed | None = None
    mean_column: bool = True
    timing: bool = False
    sweep: SweepSpec | None = None
    extra_claims: Callable[[dict], list[Claim]] | None = None
    metrics: Sequence[str] = ("psnr", "ssim", "lpips")
    claims: Sequence[ClaimSpec] = ()
    notes: Sequence[str] = ()
    title: str = ""
    minutes_per_run: float = 2.0
    paper_profile_note: str = ""
    curve_metric: str = "psnr"
    render_views: int = 1
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
        for c in scenes:
            if not (Path(real_root) / spec.scene(c) / spec.data.marker).is_file():
                raise SystemExit(f"{spec.data.env}={real_root}: {spec.scene(c)}/{spec.data.marker} not found")
        roots = {c: str(Path(real_root) / spec.scene(c)) for c in scenes}
    else:
        res = cfg.data.synthetic_res
        t0 = time.time()
        print(f"Preparing the synthetic embedded default ({spec.data.synthetic_kind}, {res}x{res}; cached)...")
        root = ensure_dataset(spec.data.synthetic_kind, res=res)
        print(f"  ready in {time.time() - t0:.0f} s")
        dataset = f"synthetic {spec.data.synthetic_kind} scenes (common.data.synthetic, {res}x{res})"
        roots = {c: str(Path(root) / spec.scene(c)) for c in scenes}

    n_runs = len(spec.settings) * sum(len(spec.seed_dirs(c)) for c in scenes)
    print(f"{spec.paper} {spec.table_id} ({spec.stem}): data = {source.upper()} ({dataset})")
    print(f"  profile = {profile}, scenes = {' '.join(scenes)}, {n_runs} runs, device = {device}, {launcher} x{jobs}")
    if profile == "quick":
        print(f"  expected time on a 2-core CPU: about {spec.minutes_per_run * n_runs / max(jobs, 1):.0f} min")
    elif profile == "paper" and spec.paper_profile_note:
        print(f"  {spec.paper_profile_note}")
    if source == "synthetic":
        print("  NOTE: synthetic scenes; the numbers are NOT comparable to the paper's real-data numbers.")

    threads = max(1, (os.cpu_count() or 2) // jobs) if not cuda else None
    runs = grid_runs(spec, scenes, profile, device, roots, overrides, runs_dir, threads)
    t0 = time.time()
    reuse_root = os.environ.get("REUSE_RUNS_FROM", "runs")

    def launch(grid: list[RunSpec]) -> dict[str, int]:
        reuse = Path(reuse_root) if reuse_root else None
        return run_grid(grid, launcher=launcher, jobs=jobs, log_dir=runs_dir / "logs", reuse_root=reuse)

    status = launch(runs)
    close = close_columns(spec, collect(spec, scenes, runs_dir, [])[0]) if spec.second_seed else {}
    if close:  # the two-seed rule: the close columns run their second seed
        spec = with_second_seed(spec, close)
        print(f"  {spec.notes[-1]}")
        cells, first = [c for c in scenes if spec.column(c) in close], {r.name for r in runs}
        again = grid_runs(spec, cells, profile, device, roots, overrides, runs_dir, threads)
        status.update(launch([r for r in again if r.name not in first]))
    print(f"Grid finished in {(time.time() - t0) / 60:.1f} min")
    failed = [name for name, rc in status.items() if rc != 0]
    write_results(spec, scenes, runs_dir, results_dir, source, dataset, profile, failed)
    if failed:
        print(f"FAILED runs (see {runs_dir / 'logs'}): {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


def grid_runs(
    spec: TableSpec,
    scenes: list[str],
    profile: str,
    device: str,
    roots: dict[str, str],
    overrides: list[str],
    runs_dir: Path,
    threads: int | None,
) -> list[RunSpec]:
    """The runs of the grid: cells x settings x seeds, each a training command with its run directory.

    A seed equal to the cell's preset seed gets no ``experiment.seed`` override (the same config), so the
    runs of a table that had no ``seeds`` stay valid, under ``seed<preset seed>/``, when seeds are added.
    """
    runs = []
    for cell in scenes:
        cell_cfg = load_config(spec.preset_for(cell), profile, None, [*overrides, *spec.cell_args_of(cell)])
        for setting, setting_args in spec.settings.items():
            for seed_dir in spec.seed_dirs(cell):
                seed = seed_dir.removeprefix("seed")
                seed_args = [f"experiment.seed={seed}"] if seed and int(seed) != cell_cfg.experiment.seed else []
                args = [
                    "--config",
                    spec.preset_for(cell),
                    "--profile",
                    profile,
                    "--device",
                    device,
                    f"data.root={roots[cell]}",
                    f"data.scene={spec.scene(cell)}",
                    f"experiment.group={spec.stem}/{cell}",
                    f"experiment.setting={setting}",
                    *spec.cell_args_of(cell),
                    *setting_args,
                    *seed_args,
                    "train.progress=false",
                    *overrides,
                ]
                name = run_name(cell, setting, seed_dir)
                run_cfg = load_config(spec.preset_for(cell), profile, None, [a for a in args if "=" in a])
                runs.append(
                    RunSpec(
                        name,
                        runs_dir / name,
                        spec.module,
                        args,
                        threads,
                        marker="test_metrics.json",
                        total_steps=cell_cfg.train.iters,
                        identity=run_identity(run_cfg.to_dict(), device),
                    )
                )
    return runs


NOT_IDENTITY = (("experiment", "group"), ("experiment", "setting"), ("train", "progress"))


def run_identity(config: dict, device: str) -> dict:
    """What a run computes: its resolved config and device, without the keys that only name or display it
    (the wandb group and setting, the progress bar). Runs of two tables with equal identities are one run."""
    config = json.loads(json.dumps(config))
    for section, key in NOT_IDENTITY:
        config.get(section, {}).pop(key, None)
    return {"config": config, "device": device}


def run_value(run_dir: Path, metric: str) -> tuple[float | None, dict | None]:
    """(value of ``metric`` in a finished run, its test report); training_time = hours in done.json."""
    report = read_json(run_dir / "test_metrics.json")
    if metric == "training_time":
        done = read_json(run_dir / "done.json")
        return (None if done is None or report is None else done["time_s"] / 3600.0), report
    return (None if report is None else report["mean"].get(metric)), report


def close_columns(spec: TableSpec, ours: dict) -> dict[str, float]:
    """{column: better - worse} of the one-seed columns whose difference is under ``spec.second_seed.below``
    (columns with a missing value, or already two seeds, are left as they are)."""
    rule = spec.second_seed
    one_seed = {spec.column(c) for c in spec.scenes if len(spec.seed_dirs(c)) == 1}
    better, worse = ours[rule.better][rule.metric], ours[rule.worse][rule.metric]
    diffs = {col: b - w for col, b in better.items() if b is not None and (w := worse.get(col)) is not None}
    return {col: d for col, d in diffs.items() if col in one_seed and abs(d) < rule.below}  # in column order


def with_second_seed(spec: TableSpec, close: dict[str, float]) -> TableSpec:
    """``spec`` whose ``close`` columns run ``second_seed.seed`` besides their first seed, with a note saying why."""
    rule, first = spec.second_seed, spec.seeds_for

    def seeds_of(cell: str) -> tuple[int | None, ...]:
        seeds = tuple(first(cell))
        return (*(seeds or (None,)), rule.seed) if spec.column(cell) in close else seeds

    diffs = ", ".join(f"{col} {d:+.2f}" for col, d in close.items())
    note = (
        f"Second seed ({rule.seed}) where the one-seed {rule.better} - {rule.worse} {rule.metric} difference was under "
        f"{rule.below} ({diffs}); the other columns kept their seeds."
    )
    return replace(spec, seeds_of=seeds_of, notes=[*spec.notes, note])


def collect(spec: TableSpec, scenes: list[str], runs_dir: Path, failed: list[str]):
    """(ours {row: {metric: {column: value}}}, missing {(row, metric, column): reason}, LPIPS conventions,
    spread {(row, metric, column): std over seeds}). A column is the mean over its cells and seeds."""
    columns = list(dict.fromkeys(spec.column(c) for c in scenes))
    ours: dict = {s: {m: {} for m in spec.metric_keys()} for s in spec.settings}
    missing: dict = {}
    spread: dict = {}
    lpips_info = None
    for setting in spec.settings:
        for m in spec.metric_keys():
            for col in columns:
                per_seed, reason = [], None
                col_cells = [c for c in scenes if spec.column(c) == col]
                for seed_dir in spec.seed_dirs(col_cells[0]):
                    vals = []
                    for cell in col_cells:
                        name = run_name(cell, setting, seed_dir)
                        value, report = run_value(runs_dir / name, m)
                        if report is not None and lpips_info is None:
                            lpips_info = report["conventions"].get("lpips")
                        if value is None:
                            if name in failed:
                                reason = f"run {name} failed"
                            else:
                                reason = (report or {}).get("missing", {}).get(m, f"run {name} did not finish")
                        vals.append(value)
                    per_seed.append(None if None in vals else float(np.mean(vals)))
                if None in per_seed:
                    ours[setting][m][col] = None
                    missing[(setting, m, col)] = reason
                    continue
                ours[setting][m][col] = float(np.mean(per_seed))
                if len(per_seed) > 1:
                    spread[(setting, m, col)] = float(np.std(per_seed))
            if spec.mean_column:  # mean over the columns that ran
                vals = [ours[setting][m][c] for c in columns]
                ours[setting][m]["mean"] = float(np.mean(vals)) if all(v is not None for v in vals) else None
                if ours[setting][m]["mean"] is None:
                    missing[(setting, m, "mean")] = "some columns have no value"
    return ours, missing, lpips_info, spread


def check_claims(spec: TableSpec, ours: dict, scenes: list[str], labels: dict[str, str]) -> list[Claim]:
    """Each ClaimSpec on the means (or the single column), with the per-column win count in its detail."""
    columns = list(dict.fromkeys(spec.column(c) for c in scenes))
    claims = []
    for c in spec.claims:
        m, up = c.metric, HIGHER_IS_BETTER.get(c.metric, True)
        key = "mean" if spec.mean_column else columns[0] if len(columns) == 1 else None
        wins = 0
        for col in columns:
            x, y = ours[c.better][m][col], ours[c.worse][m][col]
            wins += int(None not in (x, y) and (x > y) == up and x != y)
        if key is None:  # no single number: the claim holds in every column
            known = all(None not in (ours[c.better][m][col], ours[c.worse][m][col]) for col in columns)
            holds = (wins == len(columns)) if known else None
            detail = f"{c.better} better in {wins}/{len(columns)} columns" if known else ""
        else:
            a, b = ours[c.better][m][key], ours[c.worse][m][key]
            holds = None if None in (a, b) else ((a > b) if up else (a < b))
            detail = "" if holds is None else f"{a:.4f} vs {b:.4f}; {c.better} better in {wins}/{len(columns)} columns"
        name = labels.get(m, m.upper())
        claims.append(Claim(f"{c.better} beats {c.worse} in {'mean ' if key == 'mean' else ''}{name}", holds, detail))
    return claims


def gain_grows(ours: dict, better: str, worse: str, metric: str, easy: str, hard: str) -> Claim:
    """Claim: the gain of ``better`` over ``worse`` in ``metric`` is larger in column ``hard`` than in ``easy``."""
    up = HIGHER_IS_BETTER.get(metric, True)
    vals = [ours[r][metric].get(c) for r in (better, worse) for c in (easy, hard)]
    text = f"the {metric.upper()} gain of {better} over {worse} is larger at {hard} than at {easy}"
    if None in vals:
        return Claim(text, None, "")
    b_easy, b_hard, w_easy, w_hard = vals
    g_easy = (b_easy - w_easy) if up else (w_easy - b_easy)
    g_hard = (b_hard - w_hard) if up else (w_hard - b_hard)
    return Claim(text, g_hard > g_easy, f"gain {g_hard:+.4f} at {hard} vs {g_easy:+.4f} at {easy}")


def beats_column(ours: dict, row: str, metric: str, column: str, reference: str) -> Claim:
    """Claim: row ``row`` is better in column ``column`` than in column ``reference`` (one metric)."""
    up = HIGHER_IS_BETTER.get(metric, True)
    a, b = ours[row][metric].get(column), ours[row][metric].get(reference)
    text = f"{column} beats {reference} in {metric.upper()}"
    if None in (a, b):
        return Claim(text, None, "")
    return Claim(text, (a > b) if up else (a < b), f"{a:.4f} vs {b:.4f}")


def run_name(cell: str, setting: str, seed_dir: str) -> str:
    """The run directory of (cell, setting, seed) under the runs folder, e.g. "scan1/standard/seed0"."""
    return "/".join(p for p in (cell, setting, seed_dir) if p)


def first_run(spec: TableSpec, cell: str, setting: str) -> str:
    """The run directory name of (cell, setting) with the first seed."""
    return run_name(cell, setting, spec.seed_dirs(cell)[0])


def curves_of(spec: TableSpec, scenes: list[str], runs_dir: Path) -> dict:
    """{cell: {setting: (steps, values)}} of the in-training evaluations (first seed)."""
    curves: dict = {}
    for cell in scenes:
        for setting in spec.settings:
            rows = read_jsonl(runs_dir / first_run(spec, cell, setting) / "metrics.jsonl")
            evals = [r for r in rows if r.get("split") == "eval"]
            if evals:
                steps = [r["step"] for r in evals]
                curves.setdefault(cell, {})[setting] = (steps, [r["values"][spec.curve_metric] for r in evals])
    return curves


def render_rows(spec: TableSpec, runs_dir: Path, cell: str) -> list[tuple[str, list[np.ndarray]]]:
    """[(label, [ground truth, one render per setting])] of the first ``spec.render_views`` test views of
    ``cell`` (label: the cell, or "cell, view k" when several are shown); views with a missing image are left out."""
    first_dir = runs_dir / first_run(spec, cell, next(iter(spec.settings)))
    first = read_json(first_dir / "test_metrics.json")
    if first is None:
        return []
    rows, tests = [], [runs_dir / first_run(spec, cell, s) / "renders" / "test" for s in spec.settings]
    for k, item in enumerate(first["per_image"][: spec.render_views]):
        name = item["name"]
        paths = [d / f"{name}.png" for d in tests]
        gt = first_dir / "renders" / "gt" / f"{name}.png"
        if gt.is_file() and all(p.is_file() for p in paths):
            label = cell if spec.render_views == 1 else f"{cell}, view {k}"
            rows.append((label, [read_rgb(gt), *[read_rgb(p) for p in paths]]))
    return rows


def sweep_panels(spec: TableSpec, ours: dict, scenes: list[str], names: dict[str, str]) -> dict:
    """{metric name: {setting: (x values, our values)}} for ``spec.sweep`` (cells without a value skipped)."""
    panels: dict = {}
    for m in spec.metrics:
        label = f"{names.get(m, m.upper())} {'↑' if HIGHER_IS_BETTER.get(m, True) else '↓'}"
        for setting in spec.settings:
            pts = sorted(
                (spec.sweep.x(c), ours[setting][m][spec.column(c)])
                for c in scenes
                if ours[setting][m][spec.column(c)] is not None
            )
            if pts:
                panels.setdefault(label, {})[setting] = ([p[0] for p in pts], [p[1] for p in pts])
    return panels


def timing_ratios(spec: TableSpec, ours: dict) -> str | None:
    """Training time of each setting over the first setting's, per column (measured in the same grid)."""
    base = next(iter(spec.settings))
    parts = []
    for setting in list(spec.settings)[1:]:
        for col, t in ours[setting]["training_time"].items():
            t0 = ours[base]["training_time"].get(col)
            if t is not None and t0:
                parts.append(f"{setting}/{col} {t / t0:.3f}x")
    return f"Training time relative to {base}: {', '.join(parts)}." if parts else None


def spread_note(spec: TableSpec, spread: dict) -> str | None:
    """One line with the seed spread of every number that has one (std over the seeds)."""
    if not spread:
        return None
    cells = ", ".join(f"{row}/{metric}/{col} ±{v:.4g}" for (row, metric, col), v in spread.items())
    if spec.seeds_of is None:
        return f"Seed spread (std over seeds {', '.join(map(str, spec.seeds))}; ours = the mean): {cells}."
    seeds: dict[str, str] = {}
    for cell in spec.scenes:
        names = ["the preset's" if s is None else str(s) for s in spec.seeds_for(cell)]
        seeds.setdefault(spec.column(cell), ", ".join(names) or "the preset's seed")
    per_col = "; ".join(f"{col}: {s}" for col, s in seeds.items())
    return f"Seed spread (std over the seeds of each column, {per_col}; ours = the mean): {cells}."


def reused_note(spec: TableSpec, scenes: list[str], runs_dir: Path) -> str | None:
    """One line naming the runs of this table that another grid trained (the same resolved config)."""
    names = [run_name(c, s, d) for c in scenes for s in spec.settings for d in spec.seed_dirs(c)]
    shared = [(n, src) for n in names if (src := reused_source(runs_dir / n)) is not None]
    if not shared:
        return None
    listed = "; ".join(f"{n} = {portable_path(src)}" for n, src in shared)
    return f"Runs trained once for another table with the same resolved config, and shared: {listed}."


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
    ours, missing, lpips_info, spread = collect(spec, scenes, runs_dir, failed)
    label = lpips_label(lpips_info) if lpips_info and "missing" not in lpips_info else None
    labels = {"lpips": label} if label else {}
    if spec.timing:
        labels["training_time"] = "ours: hours of training on the device of the provenance, not A100 GPU hours"
    names = {"lpips": lpips_metric_name(lpips_info)} if label else {}
    notes = list(spec.notes)
    if lpips_info and "missing" not in lpips_info:
        notes.append(f"LPIPS conventions: {lpips_info}.")
    if len(scenes) < len(spec.scenes):
        notes.append(
            f"Only {len(scenes)} of {len(spec.scenes)} cells were run ({', '.join(scenes)}); our means are over those."
        )
    if spec.timing:
        notes.append(
            "Our training_time: hours of training per run on this run's device (see provenance), the paper's: "
            "A100 GPU hours; compare ratios, not values."
        )
        if (line := timing_ratios(spec, ours)) is not None:
            notes.append(line)
    if (line := spread_note(spec, spread)) is not None:
        notes.append(line)
    if (line := reused_note(spec, scenes, runs_dir)) is not None:
        notes.append(line)
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
        claims=[*check_claims(spec, ours, scenes, names), *(spec.extra_claims(ours) if spec.extra_claims else [])],
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
    if spec.sweep is not None:
        sweep = sweep_panels(spec, ours, scenes, names)
        if sweep:
            plot_curves(
                staging / "sweep.png", sweep, ylabel="test metric", title=spec.title + suffix, xlabel=spec.sweep.xlabel
            )
    rows = [r for s in scenes for r in render_rows(spec, runs_dir, s)]
    if rows:
        views = "first test view" if spec.render_views == 1 else f"first {spec.render_views} test views"
        image_grid(
            staging / "renders.png",
            [r[1] for r in rows],
            [r[0] for r in rows],
            ["ground truth", *spec.settings],
            title=f"{views} of each scene",
        )
    replace_dir(staging, results_dir)
    print(f"Wrote {results_dir}/: {', '.join(sorted(p.name for p in results_dir.iterdir()))}")
