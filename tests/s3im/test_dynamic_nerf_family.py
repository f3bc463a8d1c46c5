"""Dynamic NeRF as a model family: the balanced sampler with its per-ray priors, stages, and smoke training through
the CLI (standard with resume, multiplex) on the synthetic nvidia_dynamic sequence."""

from __future__ import annotations

import json

import numpy as np
import torch

from common.data.scene import SceneData
from common.rays import RayBank
from s3im.models import REGISTRY
from s3im.models.dynamic_nerf.family import DynamicRaySampler
from s3im.train import main as train_main

H, W, N = 6, 8, 3


def tiny_scene():
    g = np.random.default_rng(0)
    moving = np.zeros((N, H, W), bool)
    moving[:, :2, :3] = True  # 6 moving pixels per frame
    priors = {
        "disp": g.random((N, H, W)).astype(np.float32),
        "flow_fwd": g.random((N, H, W, 2)).astype(np.float32),
        "flow_bwd": g.random((N, H, W, 2)).astype(np.float32),
        "mask_fwd": np.ones((N, H, W), np.float32),
        "mask_bwd": np.ones((N, H, W), np.float32),
        "motion_mask": moving,
    }
    K = np.array([[8.0, 0, W / 2], [0, 8.0, H / 2], [0, 0, 1]], np.float32)
    scene = SceneData(
        images=g.random((N, H, W, 3)).astype(np.float32),
        K=np.repeat(K[None], N, 0),
        c2w=np.repeat(np.eye(4, dtype=np.float32)[None], N, 0),
        height=H,
        width=W,
        splits={"train": list(range(N))},
        near=1.0,
        far=5.0,
        bbox=np.array([[-1, -1, -1], [1, 1, 1]], np.float32),
        times=np.arange(N, dtype=np.float32) / N,
    )
    return scene, priors


def test_balanced_sampler_takes_half_moving_pixels_with_their_priors():
    scene, priors = tiny_scene()
    sampler = DynamicRaySampler(RayBank(scene, "train"), priors, 16, "balanced")
    g = torch.Generator().manual_seed(0)
    batch = sampler(0, g)
    k = int(batch["frame"][0])
    assert (batch["frame"] == k).all() and torch.allclose(batch["time"], torch.tensor(k / N))
    assert batch["static"].tolist() == [1.0] * 10 + [0.0] * 6  # min(B / 2, 6 moving) moving, static first
    u, v = batch["pixel"][:, 0].numpy(), batch["pixel"][:, 1].numpy()
    assert len(set(zip(u, v))) == 16  # without replacement
    np.testing.assert_allclose(batch["disp"].numpy(), priors["disp"][k, v, u])
    np.testing.assert_allclose(batch["flow_bwd"].numpy(), priors["flow_bwd"][k, v, u])
    np.testing.assert_allclose(batch["rgb"].numpy(), scene.images[k, v, u], atol=1 / 255)
    again = DynamicRaySampler(RayBank(scene, "train"), priors, 16, "balanced")(0, torch.Generator().manual_seed(0))
    assert torch.equal(again["pixel"], batch["pixel"])  # deterministic given the generator


def test_static_sampler_draws_static_pixels_only():
    scene, priors = tiny_scene()
    batch = DynamicRaySampler(RayBank(scene, "train"), priors, 32, "static")(0, torch.Generator().manual_seed(1))
    assert batch["static"].min() == 1.0 and len(batch["static"]) == 32


def run_cli(tmp_path, monkeypatch, name, *extra):
    monkeypatch.setenv("NF_DATA_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("WANDB_MODE", "disabled")
    run = tmp_path / name
    args = ["--config", "s3im/configs/dynamic_nerf.yaml", "--profile", "smoke", "--device", "cpu"]
    assert train_main([*args, "--run-dir", str(run), *extra]) == 0
    return run


def test_smoke_training_through_the_cli_and_resume(tmp_path, monkeypatch):
    assert "dynamic_nerf" in REGISTRY
    run = run_cli(tmp_path, monkeypatch, "std")
    report = json.loads((run / "test_metrics.json").read_text())
    assert report["data_source"] == "synthetic" and report["mean"]["psnr"] > 5
    assert report["priors"] == "priors: generator ground truth (MiDaS/RAFT substitutes)"
    assert len(report["per_image"]) == 12 and report["per_image"][0]["name"] == "v000_t000"
    assert (run / "static" / "done.json").is_file()  # the static pre-training stage
    lines = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    train = [x["values"] for x in lines if x["split"] == "train"]
    assert {"full", "flow", "depth", "consistency", "smooth", "sparse"} <= set(train[-1])
    again = run_cli(tmp_path, monkeypatch, "std", "--resume")
    assert json.loads((again / "test_metrics.json").read_text())["mean"] == report["mean"]


def test_smoke_multiplex_adds_s3im_on_the_dynamic_stage_only(tmp_path, monkeypatch):
    run = run_cli(tmp_path, monkeypatch, "mx", "s3im.weight=1.0")
    dyn = [json.loads(x)["values"] for x in (run / "metrics.jsonl").read_text().splitlines()]
    static = [json.loads(x)["values"] for x in (run / "static" / "metrics.jsonl").read_text().splitlines()]
    assert any("s3im" in v for v in dyn) and not any("s3im" in v for v in static)
