"""Table 1 pipeline end to end in the smoke profile: grid of runs, skip/resume, results files."""

from __future__ import annotations

import json

import pytest

from reproduce import s3im_table1


@pytest.fixture
def table_env(tmp_path, monkeypatch):
    monkeypatch.setenv("NF_DATA_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("PROFILE", "smoke")
    monkeypatch.setenv("SCENES", "scan1")
    monkeypatch.setenv("DEVICE", "cpu")
    monkeypatch.setenv("JOBS", "2")
    monkeypatch.setenv("RUNS_DIR", str(tmp_path / "runs"))
    monkeypatch.setenv("RESULTS_DIR", str(tmp_path / "results"))
    monkeypatch.delenv("REPLICA_ROOT", raising=False)
    return tmp_path


def test_table1_smoke_writes_results_and_skips_finished_runs(table_env, capsys, monkeypatch):
    from dataclasses import replace

    from reproduce.table import SecondSeed

    # the two-seed rule made to fire: every difference is "under" 1e9 dB
    monkeypatch.setattr(s3im_table1, "SPEC", replace(s3im_table1.SPEC, second_seed=SecondSeed(0, below=1e9)))
    overrides = ["data.synthetic_res=32", "data.downscale=1", "eval.save_renders=true", "train.eval_every=3"]
    assert s3im_table1.main(overrides) == 0
    doc = json.loads((table_env / "results" / "table.json").read_text())
    assert doc["provenance"]["data_source"] == "synthetic"
    assert doc["provenance"]["profile"] == "smoke"
    md = (table_env / "results" / "table.md").read_text()
    assert "SYNTHETIC" in md and "33.50" in md  # the paper's mean multiplex PSNR is shown beside ours
    text = json.dumps(doc)
    assert "multiplex beats standard in mean PSNR" in text
    for png in ("curves.png", "renders.png"):
        assert (table_env / "results" / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    for setting in ("standard", "multiplex"):
        report = json.loads((table_env / "runs" / "scan1" / setting / "test_metrics.json").read_text())
        assert report["data_source"] == "synthetic"
        gt = table_env / "runs" / "scan1" / setting / "renders" / "gt"
        assert sorted(p.name for p in gt.iterdir()) == [f"{r['name']}.png" for r in report["per_image"]]
    assert "Second seed (0) where the one-seed multiplex - standard psnr difference was under" in md
    for setting in ("standard", "multiplex"):
        assert (table_env / "runs" / "scan1" / setting / "seed0" / "test_metrics.json").is_file()
    assert "std over the seeds of each column, scene1: the preset's, 0" in md
    capsys.readouterr()
    assert s3im_table1.main(overrides) == 0  # re-running skips the finished runs of both seeds
    assert capsys.readouterr().out.count("[skip]") == 4
    with pytest.raises(SystemExit, match="other settings"):  # never reuse runs made with other settings
        s3im_table1.main([*overrides, "train.iters=4"])


def test_unknown_scene_and_flags_are_rejected(table_env, monkeypatch):
    with pytest.raises(SystemExit, match="--profile"):
        s3im_table1.main(["--profile", "smoke"])
    monkeypatch.setenv("SCENES", "scan9")
    with pytest.raises(SystemExit, match="scan9"):
        s3im_table1.main([])


def test_grid_reports_failures_and_progress(tmp_path, capsys):
    from reproduce.grid import RunSpec, last_logged_step, run_grid

    ok = RunSpec("a/ok", tmp_path / "ok", "this", [], total_steps=1)  # `python -m this` ignores its arguments
    bad = RunSpec("a/bad", tmp_path / "bad", "no_such_module_xyz", [])
    status = run_grid([ok, bad], jobs=2, log_dir=tmp_path / "logs", progress_every=0.01)
    assert status == {"a/ok": 0, "a/bad": 1}
    out = capsys.readouterr().out
    assert "a/bad: FAILED" in out and "a/ok: ok" in out and "runs done" in out
    assert "no_such_module_xyz" in (tmp_path / "logs" / "a__bad.log").read_text()
    (tmp_path / "ok" / "metrics.jsonl").parent.mkdir(parents=True, exist_ok=True)
    (tmp_path / "ok" / "metrics.jsonl").write_text('{"step": 7}\n{"step": 9}\n{"torn')
    assert last_logged_step(tmp_path / "ok") == 9


def test_results_are_keyed_by_source_and_profile(tmp_path, monkeypatch):
    from reproduce.table import results_dir_for

    spec = s3im_table1.SPEC
    monkeypatch.delenv("RESULTS_DIR", raising=False)
    runs = tmp_path / "runs"
    full = list(spec.scenes)
    assert (
        results_dir_for(spec, runs, full, "quick", "synthetic")
        .as_posix()
        .endswith("results/s3im/table1_dvgo_replica/synthetic-quick")
    )
    assert results_dir_for(spec, runs, full, "paper", "real").name == "real-paper"
    assert results_dir_for(spec, runs, full, "smoke", "synthetic") == runs / "results"  # smoke: never committed
    assert results_dir_for(spec, runs, full[:1], "quick", "synthetic") == runs / "results"  # a subset neither


def test_replace_dir_swaps_the_whole_pair(tmp_path):
    from reproduce.table import replace_dir

    final = tmp_path / "table1"
    for run in ("first", "second"):
        new = tmp_path / f"{run}.tmp"
        new.mkdir()
        (new / "table.md").write_text(run)
        (new / "table.json").write_text(f'"{run}"')
        replace_dir(new, final)
        assert (final / "table.md").read_text() == run and json.loads((final / "table.json").read_text()) == run
    assert sorted(p.name for p in tmp_path.iterdir()) == ["table1"]
