"""NeRF through the S3IM training CLI: registry entry, a smoke run that fits a tiny scene, bit-exact resume."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from common.config import load_config
from common.data.synthetic import ensure_dataset
from common.engine.checkpoint import latest_checkpoint, load_checkpoint
from s3im.models import REGISTRY
from s3im.models.nerf.model import resolve_config
from s3im.train import main

PRESET = "s3im/configs/nerf_blender.yaml"


@pytest.fixture(scope="module")
def scene_root(tmp_path_factory) -> Path:
    root = ensure_dataset("shapes", root=tmp_path_factory.mktemp("shapes"), scenes=1, res=32, frames=12)
    return next(p for p in sorted(root.iterdir()) if p.is_dir())


def run(root: Path, run_dir: Path, *overrides: str, resume: bool = False) -> int:
    args = ["--config", PRESET, "--profile", "smoke", "--device", "cpu", "--run-dir", str(run_dir)]
    args += [f"data.root={root}", "data.downscale=1", "eval.lpips_net=null", *overrides]
    return main(args + (["--resume"] if resume else []))


def train_records(run_dir: Path) -> list[dict]:
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    return [r for r in map(json.loads, lines) if r["split"] == "train"]


def test_registry_has_nerf_and_every_profile_of_the_presets_resolves():
    assert "nerf" in REGISTRY
    for preset in (PRESET, "s3im/configs/nerf_tnt.yaml"):
        for profile in ("paper", "quick", "smoke"):
            cfg = load_config(preset, profile)
            model = resolve_config(cfg.model.to_dict())
            assert cfg.model.name == "nerf" and model["n_samples"] >= 2, (preset, profile)
    paper = load_config(PRESET, "paper")  # nerf-pytorch configs/lego.txt
    assert (paper.train.batch_size, paper.model.n_samples, paper.model.n_importance) == (1024, 64, 128)
    assert paper.train.lr_decay_steps == 500 * 1000 and paper.model.lrate == 5e-4


def test_smoke_run_fits_a_tiny_scene_with_both_losses(scene_root, tmp_path):
    assert run(scene_root, tmp_path / "r", "train.iters=30", "train.log_every=1", "s3im.weight=1.0") == 0
    recs = train_records(tmp_path / "r")
    assert len(recs) == 30 and {"mse", "mse_coarse", "s3im"} <= set(recs[0]["values"])
    first = sum(r["values"]["mse"] for r in recs[:5]) / 5
    last = sum(r["values"]["mse"] for r in recs[-5:]) / 5
    assert last < 0.5 * first, (first, last)
    report = json.loads((tmp_path / "r" / "test_metrics.json").read_text())
    assert report["mean"]["psnr"] > 10.0


def test_crop_ray_ids_are_the_central_pixels_of_every_view(scene_root):
    from common.data import load_scene
    from common.rays import RayBank
    from s3im.models.nerf.family import crop_ray_ids

    bank = RayBank(load_scene("blender", scene_root), "train")
    H, W = bank.height, bank.width
    ids = crop_ray_ids(bank, 0.5)
    expected = [
        k * H * W + v * W + u
        for k in range(len(bank.views))
        for v in range(H)
        for u in range(W)
        if H // 2 - H // 4 <= v < H // 2 + H // 4 and W // 2 - W // 4 <= u < W // 2 + W // 4
    ]
    assert ids.tolist() == expected


def test_precrop_phase_then_all_rays_and_bit_exact_resume_across_it(scene_root, tmp_path):
    over = ("train.iters=6", "train.checkpoint_every=3", "model.precrop_iters=2", "train.sampler=permutation")
    assert run(scene_root, tmp_path / "straight", *over) == 0
    assert run(scene_root, tmp_path / "split", *over[1:], "train.iters=3") == 0
    assert run(scene_root, tmp_path / "split", *over, resume=True) == 0
    a = load_checkpoint(latest_checkpoint(tmp_path / "straight"))
    b = load_checkpoint(latest_checkpoint(tmp_path / "split"))
    assert set(a["sampler"]) == {"crop", "full", "iters"}
    assert a["sampler"]["crop"]["n_rays"] < a["sampler"]["full"]["n_rays"]
    assert a["step"] == b["step"] == 6
    assert any(k.startswith("fields.fine.") for k in a["model"])
    for k, v in a["model"].items():
        assert torch.equal(v, b["model"][k]), k
    loss = [train_records(tmp_path / name)[-1]["values"]["loss"] for name in ("straight", "split")]
    assert loss[0] == loss[1]
