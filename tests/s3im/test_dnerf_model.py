"""D-NeRF model (s3im.models.dnerf): deformation network, zero canonical, training steps, the real lego sample."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
import torch

from common.data import load_scene
from common.rays import RayBank, RaySampler
from s3im.models.dnerf.model import DeformationNet, DNeRF, resolve_config

SMALL = {
    "netdepth": 3,
    "netwidth": 32,
    "skips": [1],
    "multires": 4,
    "multires_time": 4,
    "multires_views": 2,
    "n_samples": 8,
    "n_importance": 8,
    "lrate": 5e-3,
}
LEGO = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "dnerf-lego-test-val"


def rays(n: int, time: float) -> dict:
    g = torch.Generator().manual_seed(0)
    d = torch.nn.functional.normalize(torch.randn(n, 3, generator=g) * 0.1 + torch.tensor([0.0, 0.0, -1.0]), dim=-1)
    return {
        "rays_o": torch.tensor([0.0, 0.0, 4.0]).expand(n, 3),
        "rays_d": d,
        "viewdirs": d,
        "time": torch.full((n,), time),
        "rgb": torch.full((n, 3), 0.3),
    }


def test_deformation_net_layout_and_skip():
    net = DeformationNet(depth=8, width=256, multires=10, multires_time=10, skips=(4,))
    assert net.layers[0].in_features == 63 + 21  # PE_10(x) + PE_10(t)
    assert net.layers[5].in_features == 256 + 63  # position encoding re-injected after layer 4
    assert net(torch.zeros(5, 3), torch.zeros(5, 1)).shape == (5, 3)


def test_zero_canonical_and_time_dependence():
    torch.manual_seed(0)
    model = DNeRF(SMALL, 2.0, 6.0).eval()
    pts, views = torch.rand(4, 5, 3), torch.nn.functional.normalize(torch.randn(4, 3), dim=-1)
    _, _, dx0 = model.query(pts, torch.zeros(4), views)
    assert (dx0 == 0).all()
    rgb_a, sig_a, dx = model.query(pts, torch.full((4,), 0.5), views)
    assert dx.abs().sum() > 0
    # the canonical network evaluated at the deformed points gives the same outputs
    rgb_b, sig_b = model.canonical((pts + dx).reshape(-1, 3), views[:, None].expand(4, 5, 3).reshape(-1, 3))
    assert torch.allclose(rgb_a.reshape(-1, 3), rgb_b, atol=1e-6) and torch.allclose(
        sig_a.reshape(-1), sig_b, atol=1e-5
    )


def test_training_reduces_the_loss_and_render_needs_times():
    torch.manual_seed(0)
    model = DNeRF(SMALL, 2.0, 6.0)
    batch = rays(32, 0.3)
    opt = torch.optim.Adam(model.parameters(), 5e-3)
    losses = []
    for step in range(12):
        terms = model.losses(model(batch, step), batch, step)
        assert set(terms) == {"mse", "mse_coarse"}
        loss = sum(terms.values())
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss))
    assert losses[-1] < 0.5 * losses[0]
    out = model.render(batch, chunk=16)
    assert out["rgb"].shape == (32, 3)
    with pytest.raises(ValueError, match="times"):
        model.render({k: v for k, v in batch.items() if k != "time"})
    with pytest.raises(ValueError, match="unknown D-NeRF"):
        resolve_config({"bogus": 1})


@pytest.mark.realdata
def test_real_dnerf_lego_sample_loads_and_trains_a_few_steps():
    if not LEGO.is_dir():
        pytest.skip(f"real D-NeRF lego sample not found at {LEGO}")
    scene = load_scene("dnerf", str(LEGO), splits=("val",), downscale=16)  # the real views at 50 x 50
    assert scene.times is not None and scene.times.min() >= 0 and scene.times.max() <= 1
    assert len(set(scene.times.tolist())) > 1  # an animation: different times
    scene = replace(scene, splits={"train": scene.splits["val"], "test": scene.splits["val"]})
    sampler = RaySampler(RayBank(scene, "train"), 64, mode="image")
    torch.manual_seed(0)
    model = DNeRF(SMALL, scene.near, scene.far)
    opt = torch.optim.Adam(model.parameters(), 5e-3)
    g = torch.Generator().manual_seed(0)
    for step in range(3):
        batch = sampler(step, g)
        assert "time" in batch and batch["time"].unique().numel() == 1  # one image (one time) per batch
        loss = sum(model.losses(model(batch, step), batch, step).values())
        opt.zero_grad()
        loss.backward()
        opt.step()
        assert torch.isfinite(loss)
