"""Runs shared between grids (reproduce.grid): a run whose identity equals that of a finished run is linked to it,
never trained again; the S3IM tables that repeat another table's runs get exactly those runs shared."""

from __future__ import annotations

import json
import os

import pytest

from reproduce import grid
from reproduce import table as table_mod
from reproduce.grid import RunSpec, run_grid

FAILS_IF_RUN = "no_such_module_xyz"  # `python -m` of it exits 1: a reused run never starts it


def finished_source(root, name="tableA/scan1/standard", identity=None):
    spec = RunSpec(name, root / name, FAILS_IF_RUN, ["a=1"], marker="test_metrics.json", identity=identity or {"x": 1})
    spec.claim()
    (spec.run_dir / "test_metrics.json").write_text(json.dumps({"mean": {"psnr": 25.0}}))
    (spec.run_dir / "metrics.jsonl").write_text('{"step": 10}\n')
    (spec.run_dir / "renders").mkdir()
    (spec.run_dir / "renders" / "v0.png").write_bytes(b"png")
    return spec


def other_run(root, identity):
    name = "tableB/scan1/m0"
    return RunSpec(name, root / name, FAILS_IF_RUN, ["b=2"], marker="test_metrics.json", identity=identity)


def test_a_run_with_the_same_identity_links_to_the_finished_one(tmp_path):
    source = finished_source(tmp_path)
    spec = other_run(tmp_path, {"x": 1})
    status = run_grid([spec], log_dir=tmp_path / "logs", reuse_root=tmp_path)
    assert status == {spec.name: 0} and spec.finished()
    assert json.loads((spec.run_dir / "test_metrics.json").read_text())["mean"]["psnr"] == 25.0
    assert (spec.run_dir / "renders" / "v0.png").read_bytes() == b"png"
    assert not os.path.isabs(os.readlink(spec.run_dir / "renders"))  # relative links: the tree can move
    assert grid.reused_source(spec.run_dir) == source.run_dir.resolve()
    assert grid.reused_source(source.run_dir) is None
    assert json.loads((spec.run_dir / grid.SPEC_FILE).read_text()) == spec.spec()  # its own grid record


@pytest.mark.parametrize("case", ["other identity", "no identity", "started run", "reuse off", "source unfinished"])
def test_a_run_is_trained_when_it_cannot_be_shared(tmp_path, case):
    source = finished_source(tmp_path)
    identity = {"x": 2} if case == "other identity" else None if case == "no identity" else {"x": 1}
    spec = other_run(tmp_path, identity)
    if case == "started run":
        (spec.run_dir / "checkpoints").mkdir(parents=True)
        (spec.run_dir / "metrics.jsonl").write_text('{"step": 5}\n')
    if case == "source unfinished":
        (source.run_dir / "test_metrics.json").unlink()
    root = None if case == "reuse off" else tmp_path
    status = run_grid([spec], log_dir=tmp_path / "logs", reuse_root=root)
    assert status[spec.name] != 0  # it was started (and failed), not linked
    assert grid.reused_source(spec.run_dir) is None


def test_a_reused_run_is_not_itself_a_source(tmp_path):
    finished_source(tmp_path)
    first = other_run(tmp_path, {"x": 1})
    run_grid([first], log_dir=tmp_path / "logs", reuse_root=tmp_path)
    assert grid.finished_runs_by_key(tmp_path) == {first.identity_key(): tmp_path / "tableA/scan1/standard"}


def runs_of(module: str, profile: str = "quick"):
    import importlib

    mod = importlib.import_module(f"reproduce.{module}")
    spec = mod.SPEC if hasattr(mod, "SPEC") else mod.spec_for(48)
    roots = {c: f"/data/{spec.scene(c)}" for c in spec.scenes}
    runs = table_mod.grid_runs(spec, list(spec.scenes), profile, "auto", roots, [], grid.Path("runs"), 1)
    return {r.name: r.identity_key() for r in runs}


@pytest.mark.parametrize(
    "a,run_a,b,run_b",
    [
        ("s3im_table8", "scan1/m0/seed0", "s3im_table9", "scan1/standard/seed0"),
        ("s3im_table8", "scan1/m10/seed1", "s3im_table9", "scan1/k4/seed1"),
        ("s3im_figure4", "std0/multiplex", "s3im_figure3", "p100/multiplex/seed777"),
        ("s3im_figure6", "l1/s3im", "s3im_table1", "scan4/multiplex"),
        ("s3im_table10", "Truck/mse/seed0", "s3im_figure3", "p100/standard/seed0"),
    ],
)
def test_s3im_tables_share_the_runs_they_repeat(a, run_a, b, run_b):
    keys_a, keys_b = runs_of(a), runs_of(b)
    assert keys_a[run_a] == keys_b[run_b]
    assert len(set(keys_a.values())) == len(keys_a)  # the runs of one table are all different


def test_different_settings_are_different_runs():
    keys8, keys9 = runs_of("s3im_table8"), runs_of("s3im_table9")
    assert keys8["scan1/m1/seed0"] not in keys9.values()  # repeat_time 1
    assert keys9["scan1/k16/seed0"] not in keys8.values()
    assert keys8["scan1/m0/seed0"] != keys8["scan1/m0/seed1"]


def test_the_table_names_its_shared_runs(tmp_path):
    from reproduce import s3im_table9

    spec = s3im_table9.SPEC
    source = finished_source(tmp_path, "runs/s3im/table8/scan1/m0/seed0")
    runs = tmp_path / "runs/s3im/table9"
    for setting in spec.settings:
        for seed in spec.seed_dirs():
            run = RunSpec(f"scan1/{setting}/{seed}", runs / "scan1" / setting / seed, "m", [], identity={"s": setting})
            if (setting, seed) == ("standard", "seed0"):
                grid.reuse_run(run, source.run_dir)
    note = table_mod.reused_note(spec, ["scan1"], runs)
    assert note is not None and note.startswith("Runs trained once for another table")
    assert "scan1/standard/seed0 = " in note and note.count(" = ") == 1
    assert table_mod.reused_note(spec, ["scan1"], tmp_path / "elsewhere") is None


def test_a_run_finished_before_identities_is_adopted_as_a_source(tmp_path):
    old = finished_source(tmp_path)
    (old.run_dir / grid.IDENTITY_FILE).unlink()  # as written by a grid without identities
    assert grid.finished_runs_by_key(tmp_path) == {}
    status = run_grid([old], log_dir=tmp_path / "logs", reuse_root=tmp_path)  # skipped as finished
    assert status == {old.name: 0}
    assert grid.finished_runs_by_key(tmp_path) == {old.identity_key(): old.run_dir}


def test_a_second_seed_is_shared_where_another_table_ran_it():
    from reproduce import s3im_figure3, s3im_figure4

    spec = table_mod.with_second_seed(s3im_figure4.SPEC, {"std0": -0.27})
    runs = table_mod.grid_runs(
        spec, ["std0", "std01"], "quick", "auto", {c: "/data/Truck" for c in ("std0", "std01")}, [], grid.Path("r"), 1
    )
    keys = {r.name: r.identity_key() for r in runs}
    one = [f"{c}/{s}" for c in ("std0", "std01") for s in ("standard", "multiplex")]
    assert sorted(keys) == sorted([*one, "std0/standard/seed0", "std0/multiplex/seed0"])
    fig3 = runs_of("s3im_figure3")
    assert keys["std0/standard/seed0"] == fig3["p100/standard/seed0"]
    assert keys["std0/standard"] == fig3["p100/standard/seed777"]
    assert s3im_figure3.SPEC.seeds == (777, 0)


@pytest.mark.parametrize("module", ["s3im_table1", "s3im_table2", "s3im_table3", "s3im_figure4"])
@pytest.mark.parametrize("profile", ["paper", "quick"])
def test_the_second_seed_differs_from_every_preset_seed(module, profile):
    import importlib

    from common.config import load_config

    spec = importlib.import_module(f"reproduce.{module}").SPEC
    assert spec.second_seed is not None
    for cell in spec.scenes:
        preset_seed = load_config(spec.preset_for(cell), profile, None, spec.cell_args_of(cell)).experiment.seed
        assert spec.second_seed.seed != preset_seed
        assert spec.second_seed.seed not in spec.seeds_for(cell) or len(spec.seeds_for(cell)) > 1
