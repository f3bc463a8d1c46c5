"""TensoRF through the driver (``python -m s3im.train``): smoke overfit, S3IM hook-up, bit-exact resume."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from common.data.synthetic import ensure_dataset
from common.engine.checkpoint import latest_checkpoint, load_checkpoint
from s3im.models.tensorf.model import TensoRF
from s3im.train import main

PRESET = "s3im/configs/tensorf_blender.yaml"


@pytest.fixture(scope="module")
def scene_root(tmp_path_factory) -> Path:
    base = tmp_path_factory.mktemp("shapes")
    root = ensure_dataset("shapes", root=base, scenes=1, res=32, frames=12)
    return next(p for p in sorted(root.iterdir()) if p.is_dir())


def run(root: Path, run_dir: Path, *overrides: str, resume: bool = False) -> int:
    args = ["--config", PRESET, "--profile", "smoke", "--device", "cpu", "--run-dir", str(run_dir)]
    args += [f"data.root={root}", "eval.lpips_net=null", *overrides]
    return main(args + (["--resume"] if resume else []))


def train_records(run_dir: Path) -> list[dict]:
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    return [r for r in map(json.loads, lines) if r["split"] == "train"]


def test_smoke_overfits_a_tiny_scene(scene_root, tmp_path):
    assert (
        run(
            scene_root,
            tmp_path / "r",
            "train.iters=50",
            "train.lr_decay_steps=50",
            "train.log_every=10",
            "model.n_lamb_sigma=[8,8,8]",
            "model.upsamp_list=[20,35]",
            "model.update_AlphaMask_list=[25,40]",
            "train.batch_size=512",
        )
        == 0
    )
    records = train_records(tmp_path / "r")
    first, last = records[0]["values"]["psnr"], records[-1]["values"]["psnr"]
    assert last > first + 3, (first, last)
    report = json.loads((tmp_path / "r" / "test_metrics.json").read_text())
    assert report["mean"]["psnr"] > 14
    ckpt = load_checkpoint(latest_checkpoint(tmp_path / "r"))
    assert ckpt["model"]["_extra_state"]["alpha_mask"] is not None
    assert ckpt["sampler"]["n_rays"] < 12 * 32 * 32  # rays outside the box / the mask were dropped


def test_multiplex_adds_s3im(scene_root, tmp_path):
    assert run(scene_root, tmp_path / "m", "s3im.weight=1.0", "train.iters=2", "train.log_every=1") == 0
    values = train_records(tmp_path / "m")[0]["values"]
    assert 0 < values["s3im"] <= 2 and "mse" in values and "l1" in values


def test_resume_is_bit_exact_across_upsampling_shrink_and_ray_filter(scene_root, tmp_path, monkeypatch, capsys):
    # smoke: upsampling after iterations 1 and 3, alpha mask (shrink) after 2 and (ray filter) after 4;
    # the split at 3 falls right after the shrink (grids swapped into the optimizer), the split at 5 after the filter.
    # A few iterations grow no density above the mask threshold, so the dense alpha is a fixed ball of radius 0.6
    # (within the current mask), which makes the shrink and the filter act.
    dense_alpha = TensoRF.dense_alpha

    def ball_alpha(self, grid_size, chunk=65536):
        _, pts = dense_alpha(self, grid_size, chunk)
        inside = pts.norm(dim=-1) < 0.6
        if self.alpha_mask is not None:
            inside &= self.alpha_mask.occupied(pts.reshape(-1, 3)).view(inside.shape)
        return inside.float(), pts

    monkeypatch.setattr(TensoRF, "dense_alpha", ball_alpha)
    assert (
        run(scene_root, tmp_path / "straight", "train.iters=6", "train.checkpoint_every=1", "train.keep_last=null") == 0
    )
    for split in (3, 5):
        d = tmp_path / f"split{split}"
        assert run(scene_root, d, f"train.iters={split}", "train.checkpoint_every=1") == 0
        assert run(scene_root, d, "train.iters=6", "train.checkpoint_every=1", resume=True) == 0
        a = load_checkpoint(latest_checkpoint(tmp_path / "straight"))
        b = load_checkpoint(latest_checkpoint(d))
        assert a["step"] == b["step"] == 6
        for k, v in a["model"].items():
            if torch.is_tensor(v):
                assert torch.equal(v, b["model"][k]), k
        assert repr(a["model"]["_extra_state"]) == repr(b["model"]["_extra_state"])
        assert a["sampler"]["n_rays"] == b["sampler"]["n_rays"]
        la, lb = train_records(tmp_path / "straight")[-1], train_records(d)[-1]
        assert la["values"]["loss"] == lb["values"]["loss"]
    log = capsys.readouterr().out
    assert "box shrunk to" in log and "rays that meet the alpha mask" in log
