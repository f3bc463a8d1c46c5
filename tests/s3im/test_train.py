"""Multiplex training driver: standard vs multiplex differ only by S3IM; resume; outputs of a run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import yaml

from common.data.synthetic import ensure_dataset
from common.engine.checkpoint import latest_checkpoint, load_checkpoint
from s3im.train import main

PRESET = "s3im/configs/dvgo_replica.yaml"


@pytest.fixture(scope="module")
def scene_root(tmp_path_factory) -> Path:
    base = tmp_path_factory.mktemp("synthetic")
    return ensure_dataset("replica_monosdf", root=base, scenes=1, res=32, frames=20) / "scan1"


def run(scene_root: Path, run_dir: Path, *overrides: str, resume: bool = False) -> dict:
    args = ["--config", PRESET, "--profile", "smoke", "--device", "cpu", "--run-dir", str(run_dir)]
    args += [f"data.root={scene_root}", "data.downscale=1", "eval.lpips_net=alex", *overrides]
    assert main(args + (["--resume"] if resume else [])) == 0
    return json.loads((run_dir / "test_metrics.json").read_text())


def records(run_dir: Path, split: str) -> list[dict]:
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    return [r for r in map(json.loads, lines) if r["split"] == split]


def test_standard_and_multiplex_differ_only_by_s3im(scene_root, tmp_path):
    run(scene_root, tmp_path / "std", "experiment.setting=standard", "s3im.weight=0.0", "train.log_every=1")
    run(scene_root, tmp_path / "mux", "experiment.setting=multiplex", "s3im.weight=1.0", "train.log_every=1")
    cfg_s = yaml.safe_load((tmp_path / "std" / "config.yaml").read_text())
    cfg_m = yaml.safe_load((tmp_path / "mux" / "config.yaml").read_text())
    diff = {
        f"{sec}.{k}"
        for sec in cfg_s
        if isinstance(cfg_s[sec], dict)
        for k in cfg_s[sec]
        if cfg_s[sec][k] != cfg_m[sec][k]
    }
    assert diff == {"s3im.weight", "experiment.setting"}, diff
    std, mux = records(tmp_path / "std", "train"), records(tmp_path / "mux", "train")
    assert "s3im" not in std[0]["values"] and "s3im" in mux[0]["values"]
    assert 0.0 < mux[0]["values"]["s3im"] <= 2.0
    # same seed and data: the first step renders the same batch with the same initial model
    assert std[0]["step"] == mux[0]["step"] == 1
    assert std[0]["values"]["mse"] == mux[0]["values"]["mse"]
    ckpt_s = load_checkpoint(latest_checkpoint(tmp_path / "std"))
    ckpt_m = load_checkpoint(latest_checkpoint(tmp_path / "mux"))
    # S3IM draws from its own generator: the global RNG (random backgrounds), the trainer generator and the
    # sampler advanced identically in both runs
    assert torch.equal(ckpt_s["rng"]["torch"], ckpt_m["rng"]["torch"])
    assert torch.equal(ckpt_s["generator"], ckpt_m["generator"])
    assert ckpt_s["extra_losses"] == {} and set(ckpt_m["extra_losses"]) == {"s3im"}
    tensors = [k for k, v in ckpt_s["model"].items() if torch.is_tensor(v)]
    assert ckpt_s["model"].keys() == ckpt_m["model"].keys() and "k0.grid" in tensors
    assert any(not torch.equal(ckpt_s["model"][k], ckpt_m["model"][k]) for k in tensors)


def test_run_writes_metrics_with_conventions_and_renders(scene_root, tmp_path):
    report = run(scene_root, tmp_path / "r", "eval.save_renders=true")
    assert set(report["mean"]) == {"psnr", "ssim", "lpips"}
    assert report["conventions"]["ssim"]["window"] == 11
    assert report["data_source"] == "synthetic"  # the generator's marker file is recognised
    if report["mean"]["lpips"] is None:
        assert "lpips" in report["missing"]
    n_test = len(report["per_image"])
    assert n_test == len(list((tmp_path / "r" / "renders" / "test").glob("*.png"))) > 0
    done = json.loads((tmp_path / "r" / "done.json").read_text())
    assert done["test"]["psnr"] == pytest.approx(report["mean"]["psnr"])


def test_resume_equals_uninterrupted(scene_root, tmp_path):
    run(scene_root, tmp_path / "straight", "train.iters=6", "train.checkpoint_every=3")
    run(scene_root, tmp_path / "split", "train.iters=3", "train.checkpoint_every=3")
    run(scene_root, tmp_path / "split", "train.iters=6", "train.checkpoint_every=3", resume=True)
    a = load_checkpoint(latest_checkpoint(tmp_path / "straight"))
    b = load_checkpoint(latest_checkpoint(tmp_path / "split"))
    assert a["step"] == b["step"] == 6
    for k in a["model"]:
        if torch.is_tensor(a["model"][k]):
            torch.testing.assert_close(a["model"][k], b["model"][k], rtol=0, atol=0, msg=k)
        else:
            assert a["model"][k] == b["model"][k], k
    assert records(tmp_path / "straight", "train")[-1]["values"]["loss"] == pytest.approx(
        records(tmp_path / "split", "train")[-1]["values"]["loss"], rel=0, abs=0
    )


@pytest.fixture(scope="module")
def blender_root(tmp_path_factory) -> Path:
    base = tmp_path_factory.mktemp("shapes")
    root = ensure_dataset("shapes", root=base, scenes=1, res=32, frames=12)
    return next(p for p in sorted(root.iterdir()) if p.is_dir())


def run_bounded(root: Path, run_dir: Path, *overrides: str, resume: bool = False) -> int:
    args = ["--config", "s3im/configs/dvgo_blender.yaml", "--profile", "smoke", "--device", "cpu"]
    args += ["--run-dir", str(run_dir), f"data.root={root}", "data.downscale=1", "eval.lpips_net=null"]
    args += ["model.coarse_iters=150", "train.batch_size=1024", *overrides]  # coarse geometry must appear
    return main(args + (["--resume"] if resume else []))


def test_bounded_dvgo_coarse_then_fine_and_resume_across_stages(blender_root, tmp_path, capsys):
    """The coarse stage trains in <run>/coarse, the fine stage (built from it, on the rays that reach the
    coarse geometry) in <run>; a run interrupted in the fine stage resumes to the same weights."""
    assert run_bounded(blender_root, tmp_path / "straight", "train.iters=6", "train.checkpoint_every=2") == 0
    out = capsys.readouterr().out
    assert "fine stage: training on the" in out
    coarse = load_checkpoint(latest_checkpoint(tmp_path / "straight" / "coarse"))
    fine = load_checkpoint(latest_checkpoint(tmp_path / "straight"))
    assert coarse["step"] == 150 and fine["step"] == 6
    assert fine["model"]["k0.grid"].shape[1] == 12 and coarse["model"]["k0.grid"].shape[1] == 3
    assert fine["sampler"]["n_rays"] < coarse["sampler"]["n_rays"]  # in_maskcache kept a subset
    assert coarse["sampler"]["mode"] == "iid" and fine["sampler"]["mode"] == "permutation"
    assert run_bounded(blender_root, tmp_path / "split", "train.iters=4", "train.checkpoint_every=2") == 0
    assert run_bounded(blender_root, tmp_path / "split", "train.iters=6", "train.checkpoint_every=2", resume=True) == 0
    resumed = load_checkpoint(latest_checkpoint(tmp_path / "split"))
    for k, v in fine["model"].items():
        if torch.is_tensor(v):
            assert torch.equal(v, resumed["model"][k]), k


def test_run_label_follows_the_s3im_weight(scene_root, tmp_path):
    run(scene_root, tmp_path / "r", "s3im.weight=1.0", "train.iters=2")
    cfg = yaml.safe_load((tmp_path / "r" / "config.yaml").read_text())
    assert cfg["experiment"]["setting"] == "multiplex"
    args = ["--config", PRESET, "--profile", "smoke", "--device", "cpu", "--run-dir", str(tmp_path / "x")]
    assert main([*args, f"data.root={scene_root}", "experiment.setting=multiplex", "s3im.weight=0.0"]) == 2


def test_absurd_learning_rates_stop_with_one_line_and_no_metrics(scene_root, tmp_path, capsys):
    args = ["--config", PRESET, "--profile", "smoke", "--device", "cpu", "--run-dir", str(tmp_path / "r")]
    rc = main([*args, f"data.root={scene_root}", "model.lrate_density=1e39", "model.lrate_k0=1e39"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 3 and len(err) == 1 and "non-finite" in err[0], err
    assert not (tmp_path / "r" / "test_metrics.json").exists()
    assert main([*args, f"data.root={scene_root}", "model.lrate_rgbnet=.inf"]) == 2  # refused before training
