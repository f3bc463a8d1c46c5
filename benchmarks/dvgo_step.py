"""One DVGO training step on a synthetic Replica-like scene, for timing (used by bench_s3im.py).

The model is the contracted DVGO of ``s3im/configs/dvgo_replica.yaml`` (quick profile: 64^3 voxels,
no further progressive scaling), trained for a few warm-up steps so that free-space skipping is in
its steady state before timing.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import torch

from common.config import load_config
from common.data import load_scene
from common.data.synthetic import ensure_dataset
from common.rays import RayBank, RaySampler
from s3im.models.dvgo import build_model


def make_dvgo_step(n_rays: int, device: str, warmup: int = 30):
    """Returns ``step(s3im_or_None)`` running forward, losses (+ S3IM), backward, TV and the optimizer."""
    cache = Path(tempfile.gettempdir()) / "nf-bench-synthetic"
    root = ensure_dataset("replica_monosdf", root=cache, scenes=1, res=64, frames=40) / "scan1"
    cfg = load_config("s3im/configs/dvgo_replica.yaml", "quick", overrides=["model.pg_scale=[]"])
    scene = load_scene("replica_monosdf", root)
    torch.manual_seed(0)
    rays = RayBank(scene, "train", device)
    model = build_model(cfg.model.to_dict(), rays, scene.near, scene.far, device)
    optimizer = model.configure_optimizer((0.9, 0.99), 1e-8)
    sampler = RaySampler(rays, n_rays)
    generator = torch.Generator().manual_seed(0)
    counter = {"step": 0}

    def step(s3im=None) -> None:
        i = counter["step"]
        model.before_step(i)
        batch = sampler(i, generator)
        outputs = model(batch, i)
        loss = sum(model.losses(outputs, batch, i).values())
        if s3im is not None:
            loss = loss + s3im(outputs["rgb"], batch["rgb"])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        model.after_backward(i)
        optimizer.step()
        counter["step"] += 1

    for _ in range(warmup):
        step()
    return step
