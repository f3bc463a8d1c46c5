"""Dynamic NeRF losses against explicit formulas and their invariances."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from s3im.models.dynamic_nerf.losses import (
    dynamic_nerf_losses,
    entropy,
    masked_mae,
    masked_mse,
    normalized_depth_loss,
    spatial_smoothness,
    temporal_smoothness,
)
from s3im.models.dynamic_nerf.model import DEFAULTS

HWF = (18, 32, 28.0, 27.0)


def test_masked_means_follow_the_official_formulas():
    g = torch.Generator().manual_seed(0)
    x, y = torch.rand(6, 3, generator=g), torch.rand(6, 3, generator=g)
    m = torch.tensor([1.0, 0, 1, 1, 0, 0])
    sel = m.bool()
    assert masked_mse(x, y, m).item() == pytest.approx(((x - y)[sel] ** 2).mean().item(), rel=1e-6)
    assert masked_mae(x, y, m).item() == pytest.approx((x - y)[sel].abs().mean().item(), rel=1e-6)
    assert masked_mae(x, y, torch.zeros(6)).item() == 0.0  # a frame without flow (first / last) adds nothing
    p = torch.tensor([[0.5, 0.5], [1.0, 0.0]])
    assert entropy(p).item() == pytest.approx(-(2 * 0.5 * np.log(0.5)) / 2, rel=1e-6)


def test_depth_loss_is_scale_and_shift_invariant():
    g = torch.Generator().manual_seed(1)
    x = torch.rand(50, generator=g)
    assert normalized_depth_loss(3.0 * x + 2.0, x).item() == pytest.approx(0.0, abs=1e-10)
    assert normalized_depth_loss(-x, x).item() > 1.0


def ndc(points: np.ndarray) -> torch.Tensor:
    H, W, fx, fy = HWF
    x, y, z = points[..., 0], points[..., 1], points[..., 2]
    return torch.tensor(np.stack([-2 * fx / W * x / z, -2 * fy / H * y / z, 1 + 2 / z], -1))


def test_smoothness_terms_vanish_on_smooth_motion():
    g = np.random.default_rng(2)
    world = np.concatenate([g.uniform(-1, 1, (4, 10, 2)), g.uniform(-6, -2, (4, 10, 1))], -1)
    step = np.array([0.05, -0.02, 0.1])
    p, pf, pb = ndc(world), ndc(world + step), ndc(world - step)
    assert temporal_smoothness(p, pf, pb, HWF).item() == pytest.approx(0.0, abs=1e-12)  # f + b = 0
    assert spatial_smoothness(p, pf, HWF).item() == pytest.approx(0.0, abs=1e-12)  # same flow on every sample
    assert temporal_smoothness(p, pf, pf, HWF).item() == pytest.approx(np.mean((2 * step) ** 2), rel=1e-9)
    rough = ndc(world + step * np.arange(10)[None, :, None] ** 2)
    assert spatial_smoothness(p, rough, HWF).item() > 0


def outputs_and_batch(R: int = 8, S: int = 5):
    g = torch.Generator().manual_seed(3)

    def r(*shape):
        return torch.rand(*shape, generator=g)

    pts = torch.cat([r(R, S, 2) - 0.5, torch.linspace(-0.9, 0.9, S).expand(R, S)[..., None]], -1)
    out = {
        "rgb": r(R, 3),
        "rgb_s": r(R, 3),
        "rgb_d": r(R, 3),
        "rgb_d_f": r(R, 3),
        "rgb_d_b": r(R, 3),
        "depth_s": r(R),
        "depth_d": r(R),
        "weights_d": r(R, S) / S,
        "blending": r(R, S),
        "dynamicness": r(R),
        "sf_f": r(R, S, 3) * 0.01,
        "sf_b": -r(R, S, 3) * 0.01,
        "sf_f_b": r(R, S, 3) * 0.01,
        "sf_b_f": r(R, S, 3) * 0.01,
        "induced_flow_f": r(R, 2),
        "induced_flow_b": r(R, 2),
        "pts": pts,
    }
    out["pts_f"], out["pts_b"] = pts + out["sf_f"], pts + out["sf_b"]
    out["pts_ff"], out["pts_bb"] = out["pts_f"] + 0.01, out["pts_b"] - 0.01
    batch = {
        "rgb": r(R, 3),
        "static": (torch.arange(R) < R // 2).float(),
        "disp": r(R),
        "flow_fwd": r(R, 2),
        "flow_bwd": r(R, 2),
        "mask_fwd": torch.ones(R),
        "mask_bwd": torch.ones(R),
    }
    return out, batch


def test_loss_terms_weights_and_schedule():
    out, batch = outputs_and_batch()
    cfg = dict(DEFAULTS)
    early = dynamic_nerf_losses(out, batch, cfg, step=0, decay_steps=10, hwf=HWF)
    late = dynamic_nerf_losses(out, batch, cfg, step=10, decay_steps=10, hwf=HWF)
    assert set(early) - set(late) == {"mask"}  # the mask loss stops after the first decay
    assert late["flow"].item() == pytest.approx(0.1 * early["flow"].item(), rel=1e-6)  # Temp = 0.1
    assert late["depth"].item() == pytest.approx(0.1 * early["depth"].item(), rel=1e-6)
    assert early["full"].item() == pytest.approx(3.0 * ((out["rgb"] - batch["rgb"]) ** 2).mean().item(), rel=1e-6)
    expected_cons = (out["sf_f"] + out["sf_f_b"]).abs().mean() + (out["sf_b"] + out["sf_b_f"]).abs().mean()
    assert early["consistency"].item() == pytest.approx(expected_cons.item(), rel=1e-6)
    s = batch["static"].bool()
    order = ((out["depth_d"][s] - out["depth_s"][s]) ** 2).mean()
    assert early["order"].item() == pytest.approx(0.1 * order.item(), rel=1e-6)
    flow = (out["induced_flow_f"] - batch["flow_fwd"]).abs().mean() + (
        out["induced_flow_b"] - batch["flow_bwd"]
    ).abs().mean()
    assert early["flow"].item() == pytest.approx(0.02 * flow.item(), rel=1e-5)
