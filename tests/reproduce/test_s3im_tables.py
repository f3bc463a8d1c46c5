"""The S3IM table and figure scripts: every run of every grid resolves to a valid config, every cell maps to
a column of the paper's table, and the grid -> table step (cells, seeds, timing, sweeps, claims) on
hand-written run outputs."""

from __future__ import annotations

import importlib
import json

import numpy as np
import pytest

from common.config import load_config
from common.results import registry
from reproduce import table as table_mod

MODULES = [
    "s3im_table1",
    "s3im_table2",
    "s3im_table3",
    "s3im_table8",
    "s3im_table9",
    "s3im_figure3",
    "s3im_figure4",
    "s3im_figure6",
]


def spec_of(name: str):
    mod = importlib.import_module(f"reproduce.{name}")
    return mod.SPEC


@pytest.mark.parametrize("name", MODULES)
@pytest.mark.parametrize("profile", ["paper", "quick", "smoke"])
def test_every_run_of_the_grid_has_a_valid_config(name, profile):
    spec = spec_of(name)
    paper = registry.get(spec.paper, spec.table_id)
    for cell in spec.scenes:
        assert spec.column(cell) in paper.columns
        for setting, args in spec.settings.items():
            assert setting in paper.rows
            cfg = load_config(spec.preset_for(cell), profile, None, [*spec.cell_args_of(cell), *args])
            assert cfg.model.name in ("dvgo", "tensorf", "nerf")


@pytest.mark.parametrize("profile,side", [("quick", 48), ("paper", 64)])
def test_table10_local_ssim_is_one_square_patch_per_batch(profile, side):
    from reproduce import s3im_table10

    batch = load_config("s3im/configs/dvgo_tnt.yaml", profile, None, []).train.batch_size
    spec = s3im_table10.spec_for(int(round(batch**0.5)))
    cfg = load_config(spec.preset, profile, None, spec.settings["mse_ssim"])
    assert cfg.train.patch_size == side and cfg.train.batch_size == side * side
    assert cfg.s3im.patch_height == side and cfg.s3im.repeat_time == 1 and cfg.model.ray_sampler == "patch"


LPIPS = {"net": "squeeze", "net_requested": "alex", "label": "LPIPS-squeeze; the paper reports LPIPS-alex"}


def fake_run(run_dir, psnr, ssim=0.5, lpips=0.4, time_s=None):
    run_dir.mkdir(parents=True)
    report = {
        "conventions": {"lpips": LPIPS},
        "per_image": [{"name": "v0", "psnr": psnr}],
        "mean": {"psnr": psnr, "ssim": ssim, "lpips": lpips},
        "missing": {},
    }
    (run_dir / "test_metrics.json").write_text(json.dumps(report))
    if time_s is not None:
        (run_dir / "done.json").write_text(json.dumps({"time_s": time_s}))


def test_seeds_timing_and_claims_from_run_outputs(tmp_path):
    from reproduce import s3im_table8

    spec = s3im_table8.SPEC
    runs = tmp_path / "runs"
    values = {"m0": (20.0, 21.0, 3600), "m1": (25.0, 25.4, 3700), "m10": (25.5, 25.9, 4000)}
    for setting, (p0, p1, t) in values.items():
        fake_run(runs / "scan1" / setting / "seed0", p0, time_s=t)
        fake_run(runs / "scan1" / setting / "seed1", p1, time_s=t + 360)
    table_mod.write_results(spec, ["scan1"], runs, tmp_path / "out", "synthetic", "test scenes", "quick", [])
    doc = json.loads((tmp_path / "out" / "table.json").read_text())
    md = (tmp_path / "out" / "table.md").read_text()
    assert "20.50" in md and "25.70" in md  # the means over the two seeds
    assert "m0/psnr/room0_tensorf ±0.5" in md  # std over seeds of 20 and 21
    assert "m1/room0_tensorf 1.026x" in md and "m10/room0_tensorf 1.106x" in md  # (3700+4060)/2 / 3780
    claims = {c["text"]: c["holds"] for c in doc["claims"]}
    assert claims["m1 beats m0 in PSNR"] is True
    assert claims["m0 beats m10 in TRAINING_TIME"] is True
    assert "not run" in md  # the NeuS column


def test_sweep_figure_and_gain_claims_from_run_outputs(tmp_path):
    from reproduce import s3im_figure3

    spec = s3im_figure3.SPEC
    runs = tmp_path / "runs"
    for i, cell in enumerate(spec.scenes):  # p100 ... p20: standard drops faster than multiplex
        for seed, shift in zip(spec.seeds, (-0.25, 0.25)):  # the seed mean is the value below
            fake_run(runs / cell / "standard" / f"seed{seed}", 30.0 - 3 * i + shift)
            fake_run(runs / cell / "multiplex" / f"seed{seed}", 30.5 - 1 * i - shift)
    table_mod.write_results(spec, list(spec.scenes), runs, tmp_path / "out", "synthetic", "test scenes", "quick", [])
    assert (tmp_path / "out" / "sweep.png").read_bytes()[:4] == b"\x89PNG"
    doc = json.loads((tmp_path / "out" / "table.json").read_text())
    claims = {c["text"]: (c["holds"], c["detail"]) for c in doc["claims"]}
    holds, detail = claims["the PSNR gain of multiplex over standard is larger at p20 than at p100"]
    assert holds is True and "+8.5000 at p20" in detail and "+0.5000 at p100" in detail
    assert claims["multiplex beats standard in PSNR"][0] is True  # wins in every column


def test_missing_run_is_reported_with_its_reason(tmp_path):
    from reproduce import s3im_table3

    spec = s3im_table3.SPEC
    runs = tmp_path / "runs"
    for cell in spec.scenes:
        for setting in spec.settings:
            for seed in spec.seed_dirs(cell):
                if cell != "nerf/Barn" or setting != "multiplex":
                    fake_run(runs / table_mod.run_name(cell, setting, seed), 25.0)
    failed = ["nerf/Barn/multiplex"]
    out = tmp_path / "out"
    table_mod.write_results(spec, list(spec.scenes), runs, out, "synthetic", "test scenes", "quick", failed)
    md = (tmp_path / "out" / "table.md").read_text()
    assert "run nerf/Barn/multiplex failed" in md
    doc = json.loads((tmp_path / "out" / "table.json").read_text())
    assert "25.00" in md and "mean" not in doc["table"]["columns"]


def test_a_subset_of_cells_is_named_in_the_table(tmp_path):
    from reproduce import s3im_table3

    spec = s3im_table3.SPEC
    cells = [c for c in spec.scenes if c.endswith(("/Barn", "/Caterpillar"))]
    runs = tmp_path / "runs"
    for i, cell in enumerate(cells):
        for setting in spec.settings:
            for seed in spec.seed_dirs(cell):
                fake_run(runs / table_mod.run_name(cell, setting, seed), 20.0 + i)
    table_mod.write_results(spec, cells, runs, tmp_path / "out", "synthetic", "test scenes", "quick", [])
    md = (tmp_path / "out" / "table.md").read_text()
    assert f"Only 6 of {len(spec.scenes)} cells were run ({', '.join(cells)}); our means are over those." in md
    assert "20.50" in md  # dvgo: the mean of Barn (20) and Caterpillar (21)


def test_per_column_seeds_in_the_grid_the_means_and_the_spread(tmp_path):
    from reproduce import s3im_table3

    spec = s3im_table3.SPEC
    cells = ["dvgo/Barn", "tensorf/Barn", "nerf/Barn"]
    roots = {c: "/data/Barn" for c in cells}
    names = [r.name for r in table_mod.grid_runs(spec, cells, "quick", "cpu", roots, [], tmp_path, 1)]
    assert names == [
        *(f"dvgo/Barn/{s}/seed{x}" for s in spec.settings for x in (777, 0)),
        *(f"tensorf/Barn/{s}/seed{x}" for s in spec.settings for x in (20211202, 0)),
        *(f"nerf/Barn/{s}" for s in spec.settings),
    ]
    runs = tmp_path / "runs"
    for name in names:  # seed 0 is 1 dB above the preset seed; nerf has one run
        fake_run(runs / name, 26.0 if name.endswith("seed0") else 25.0)
    ours, missing, _, spread = table_mod.collect(spec, cells, runs, [])
    assert not missing
    assert ours["standard"]["psnr"] == {"dvgo": 25.5, "tensorf": 25.5, "nerf": 25.0}
    assert spread[("standard", "psnr", "dvgo")] == pytest.approx(0.5) and ("standard", "psnr", "nerf") not in spread
    note = table_mod.spread_note(spec, spread)
    assert "dvgo: 777, 0; tensorf: 20211202, 0; nerf: the preset's seed" in note


def test_the_second_seed_rule_on_run_outputs(tmp_path):
    from reproduce import s3im_table3

    spec = s3im_table3.SPEC
    cells = ["dvgo/Barn", "tensorf/Barn", "nerf/Barn"]
    runs = tmp_path / "runs"
    for cell in cells:  # every column's difference is 0.3 dB; only nerf ran one seed
        for setting, psnr in (("standard", 25.0), ("multiplex", 25.3)):
            for seed in spec.seed_dirs(cell):
                fake_run(runs / table_mod.run_name(cell, setting, seed), psnr)
    close = table_mod.close_columns(spec, table_mod.collect(spec, cells, runs, [])[0])
    assert close == {"nerf": pytest.approx(0.3)}
    two = table_mod.with_second_seed(spec, close)
    assert two.seed_dirs("nerf/Barn") == ["", "seed1"] and two.seed_dirs("dvgo/Barn") == ["seed777", "seed0"]
    assert (
        "Second seed (1) where the one-seed multiplex - standard psnr difference was under 0.5 (nerf +0.30)"
        in (two.notes[-1])
    )
    args = {
        r.name: r.args
        for r in table_mod.grid_runs(two, ["nerf/Barn"], "quick", "cpu", {"nerf/Barn": "/d"}, [], runs, 1)
    }
    assert sorted(args) == [
        "nerf/Barn/multiplex",
        "nerf/Barn/multiplex/seed1",
        "nerf/Barn/standard",
        "nerf/Barn/standard/seed1",
    ]
    assert "experiment.seed=1" in args["nerf/Barn/standard/seed1"]
    assert not any(a.startswith("experiment.seed=") for a in args["nerf/Barn/standard"])
    fake_run(runs / "nerf/Barn/standard/seed1", 26.0)
    fake_run(runs / "nerf/Barn/multiplex/seed1", 25.5)
    ours, missing, _, spread = table_mod.collect(two, cells, runs, [])
    assert not missing and ours["standard"]["psnr"]["nerf"] == 25.5 and ours["multiplex"]["psnr"]["nerf"] == 25.4
    assert spread[("standard", "psnr", "nerf")] == pytest.approx(0.5)
    assert "nerf: the preset's, 1" in table_mod.spread_note(two, spread)
    assert table_mod.close_columns(two, ours) == {}  # both seeds ran: nothing more to add


def test_the_second_seed_rule_skips_large_and_missing_differences(tmp_path):
    from reproduce import s3im_table2

    spec = s3im_table2.SPEC
    ours = {
        "standard": {"psnr": {"scene1": 25.0, "scene2": 25.0, "scene3": None, "mean": 25.0}},
        "multiplex": {"psnr": {"scene1": 25.49, "scene2": 24.4, "scene3": 26.0, "mean": 25.0}},
    }
    assert table_mod.close_columns(spec, ours) == {"scene1": pytest.approx(0.49)}


def test_metric_directions_agree_with_the_registry():
    for table_id in ("table1", "table2", "table3", "table6", "table8", "table9", "table10"):
        for key, metric in registry.get("s3im", table_id).metrics.items():
            assert table_mod.HIGHER_IS_BETTER[key] == metric.higher_is_better, (table_id, key)


def test_the_preset_seed_runs_without_a_seed_override(tmp_path):
    from reproduce import s3im_figure3

    spec = s3im_figure3.SPEC
    preset_seed = load_config(spec.preset, "quick", None, []).experiment.seed
    assert preset_seed in spec.seeds and len(spec.seeds) == 2
    runs = table_mod.grid_runs(spec, ["p60"], "quick", "cpu", {"p60": "/data/Truck"}, [], tmp_path, 1)
    assert [r.name for r in runs] == [f"p60/{s}/seed{x}" for s in spec.settings for x in spec.seeds]
    for run in runs:
        seed_args = [a for a in run.args if a.startswith("experiment.seed=")]
        other = [x for x in spec.seeds if x != preset_seed][0]
        assert seed_args == ([] if run.name.endswith(f"seed{preset_seed}") else [f"experiment.seed={other}"])
        assert "data.train_fraction=0.6" in run.args and run.run_dir == tmp_path / run.name


def test_s3im_all_runs_every_script_and_sources_before_reusers():
    from pathlib import Path

    text = Path("reproduce/s3im_all.sh").read_text()
    loop = text[text.index("for s in") + len("for s in") : text.index("; do")]
    order = loop.replace("\\", " ").split()
    scripts = {p.stem for p in Path("reproduce").glob("*.sh")} - {"run", "s3im_all"}
    s3im_scripts = {s for s in scripts if s.startswith(("table", "figure"))}
    assert sorted(order) == sorted(s3im_scripts)  # every S3IM table / figure script, once
    for source, reuser in [
        ("table1_dvgo_replica", "figure6_lambda"),
        ("table9_kernel", "table8_repeat_m"),
        ("figure3_sparse_views", "figure4_noisy_images"),
        ("figure3_sparse_views", "table10_nonlocal"),
    ]:
        assert order.index(source) < order.index(reuser)


def test_renders_figure_shows_the_first_test_views_of_each_cell(tmp_path):
    from dataclasses import replace

    from common.data.io import read_rgb
    from common.data.synthetic.files import write_png
    from reproduce import s3im_table1

    runs = tmp_path / "runs"
    for setting in ("standard", "multiplex"):
        run = runs / "scan1" / setting
        fake_run(run, 20.0)
        report = json.loads((run / "test_metrics.json").read_text())
        report["per_image"] = [{"name": f"v{k}", "psnr": 20.0} for k in range(3)]
        (run / "test_metrics.json").write_text(json.dumps(report))
        for k in range(3):
            value = 0.25 * k + (0.1 if setting == "multiplex" else 0.0)
            write_png(run / "renders" / "test" / f"v{k}.png", np.full((4, 4, 3), value, np.float32))
            write_png(run / "renders" / "gt" / f"v{k}.png", np.full((4, 4, 3), 0.9, np.float32))
    (runs / "scan1" / "multiplex" / "renders" / "test" / "v2.png").unlink()  # a view without every image is left out
    spec = replace(s3im_table1.SPEC, render_views=3)
    rows = table_mod.render_rows(spec, runs, "scan1")
    assert [label for label, _ in rows] == ["scan1, view 0", "scan1, view 1"]
    gt, std, mx = rows[1][1]
    assert np.allclose(std, read_rgb(runs / "scan1" / "standard" / "renders" / "test" / "v1.png"))
    assert np.allclose(mx, read_rgb(runs / "scan1" / "multiplex" / "renders" / "test" / "v1.png"))
    assert not np.allclose(std, mx)
    single = table_mod.render_rows(s3im_table1.SPEC, runs, "scan1")
    assert [label for label, _ in single] == ["scan1"]
