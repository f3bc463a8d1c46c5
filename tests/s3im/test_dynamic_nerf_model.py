"""Dynamic NeRF model: NDC geometry, the static/dynamic composite, scene-flow warping and induced optical flow
against hand computations and brute-force loops."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from s3im.models.dynamic_nerf.model import (
    DynamicNeRF,
    alpha_of,
    composite_blend,
    composite_single,
    induced_flow,
    ndc_rays,
    ndc_to_world,
    project,
    resolve_config,
    sample_deltas,
)

H, W, FX, FY = 18, 32, 28.0, 27.0
TINY = {"netdepth": 2, "netwidth": 16, "skips": [0], "multires": 3, "multires_views": 2, "n_samples": 6}


def look_down_minus_z(t) -> np.ndarray:
    """OpenCV c2w looking along world -z (x right, y down in the image <-> world y up)."""
    c2w = np.eye(4)
    c2w[:3, :3] = np.diag([1.0, -1.0, -1.0])
    c2w[:3, 3] = t
    return c2w


def make_model(n_frames: int = 4, **cfg) -> DynamicNeRF:
    torch.manual_seed(0)
    c2w = np.stack([look_down_minus_z((0.1 * i, 0.0, 0.0)) for i in range(n_frames)])
    K = np.array([[FX, 0, W / 2], [0, FY, H / 2], [0, 0, 1.0]])
    return DynamicNeRF({**TINY, **cfg}, c2w, np.repeat(K[None], n_frames, 0), H, W)


def hand_ndc(x: np.ndarray) -> np.ndarray:
    """NDC (near 1) of a world point with x_z < 0, from the projective map written out."""
    return np.array([-2 * FX / W * x[0] / x[2], -2 * FY / H * x[1] / x[2], 1 + 2 / x[2]])


def test_ndc_rays_match_the_projective_map_of_world_points():
    o = torch.tensor([[0.1, -0.2, 0.3]], dtype=torch.float64)
    d = torch.tensor([[0.2, 0.1, -1.0]], dtype=torch.float64)
    o_n, d_n = ndc_rays(o, d * 3.7, H, W, FX, FY)  # the map does not depend on the norm of d
    for s in (1.3, 2.0, 5.0):
        x = (o + s * d)[0].numpy()
        z_ndc = 1 + 2 / x[2]
        z = (z_ndc - o_n[0, 2].item()) / d_n[0, 2].item()  # NDC ray parameter of that point
        np.testing.assert_allclose((o_n + z * d_n)[0].numpy(), hand_ndc(x), rtol=1e-10, atol=1e-12)
    assert o_n[0, 2].item() == pytest.approx(-1.0)  # origins moved onto the near plane z = -1


def test_ndc_to_world_inverts_the_projection():
    pts = np.array([[0.3, -0.4, -2.0], [-1.0, 0.5, -7.5], [0.0, 0.0, -1.2]])
    ndc = torch.tensor(np.stack([hand_ndc(p) for p in pts]))
    np.testing.assert_allclose(ndc_to_world(ndc, H, W, FX, FY).numpy(), pts, rtol=1e-10)


def test_composite_blend_equals_a_brute_force_loop():
    g = torch.Generator().manual_seed(1)
    R, S = 3, 7
    rgb_s, rgb_d = torch.rand(R, S, 3, generator=g), torch.rand(R, S, 3, generator=g)
    a_s, a_d, b = torch.rand(R, S, generator=g), torch.rand(R, S, generator=g), torch.rand(R, S, generator=g)
    z = torch.sort(torch.rand(R, S, generator=g), -1).values
    out = composite_blend(rgb_s, a_s, rgb_d, a_d, b, z)
    for r in range(R):
        T = Ts = Td = 1.0
        rgb, w_full, dyn, depth_d = np.zeros(3), [], 0.0, 0.0
        rgb_d_map = np.zeros(3)
        for i in range(S):
            ad, as_, bi = a_d[r, i].item(), a_s[r, i].item(), b[r, i].item()
            rgb += T * (bi * ad * rgb_d[r, i].numpy() + (1 - bi) * as_ * rgb_s[r, i].numpy())
            w = T * (bi * ad + (1 - bi) * as_)
            w_full.append(w)
            dyn += w * bi
            rgb_d_map += Td * ad * rgb_d[r, i].numpy()
            depth_d += Td * ad * z[r, i].item()
            T *= (1 - bi * ad) * (1 - (1 - bi) * as_) + 1e-10
            Td *= 1 - ad + 1e-10
            Ts *= 1 - as_ + 1e-10
        np.testing.assert_allclose(out["rgb_full"][r].numpy(), rgb, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(out["weights_full"][r].numpy(), w_full, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(out["dynamicness"][r].item(), dyn, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(out["rgb_d"][r].numpy(), rgb_d_map, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(out["depth_d"][r].item(), depth_d, rtol=1e-5, atol=1e-6)


def test_composite_blend_limits_are_the_single_fields():
    g = torch.Generator().manual_seed(2)
    rgb_s, rgb_d = torch.rand(2, 5, 3, generator=g), torch.rand(2, 5, 3, generator=g)
    a_s, a_d = torch.rand(2, 5, generator=g), torch.rand(2, 5, generator=g)
    z = torch.linspace(0, 1, 5).expand(2, 5)
    ones = torch.ones(2, 5)
    assert torch.allclose(
        composite_blend(rgb_s, a_s, rgb_d, a_d, ones, z)["rgb_full"], composite_single(rgb_d, a_d, z)["rgb"]
    )
    assert torch.allclose(
        composite_blend(rgb_s, a_s, rgb_d, a_d, 0 * ones, z)["rgb_full"], composite_single(rgb_s, a_s, z)["rgb"]
    )


def test_deltas_and_alpha():
    z = torch.tensor([[0.0, 0.25, 1.0]])
    d = torch.tensor([[0.0, 3.0, 4.0]])
    np.testing.assert_allclose(sample_deltas(z, d).numpy(), [[1.25, 3.75, 5e10]], rtol=1e-6)
    assert alpha_of(torch.tensor([-1.0, 2.0]), torch.tensor([1.0, 0.5])).tolist() == pytest.approx(
        [0.0, 1 - math.e**-1]
    )


def test_induced_flow_is_the_projection_by_hand():
    c2w = np.eye(4)
    angle = 0.2
    c2w[:3, :3] = np.array([[1, 0, 0], [0, math.cos(angle), -math.sin(angle)], [0, math.sin(angle), math.cos(angle)]])
    c2w[:3, :3] = c2w[:3, :3] @ np.diag([1.0, -1.0, -1.0])
    c2w[:3, 3] = [0.3, -0.1, 0.2]
    K = np.array([[FX, 0, 15.0], [0, FY, 9.5], [0, 0, 1]])
    X = np.array([0.5, 0.2, -3.0])  # world point the ray's weights pick
    S = 5
    pts = torch.zeros(1, S, 3, dtype=torch.float64)
    pts[0, 2] = torch.tensor(hand_ndc(X))
    w = torch.zeros(1, S, dtype=torch.float64)
    w[0, 2] = 1.0
    pixel = torch.tensor([[10.5, 4.5]], dtype=torch.float64)
    flow = induced_flow(w, pts, torch.tensor(K)[None], torch.tensor(c2w)[None], pixel, (H, W, FX, FY))
    cam = c2w[:3, :3].T @ (X - c2w[:3, 3])
    u, v = FX * cam[0] / cam[2] + 15.0, FY * cam[1] / cam[2] + 9.5
    np.testing.assert_allclose(flow[0].numpy(), [u - 10.5, v - 4.5], rtol=1e-9)
    assert project(torch.tensor(X)[None], torch.tensor(K)[None], torch.tensor(c2w)[None])[0].tolist() == pytest.approx(
        [u, v]
    )


def rays(n: int = 5, frame: int = 1, n_frames: int = 4) -> dict:
    g = torch.Generator().manual_seed(3)
    d = torch.nn.functional.normalize(torch.cat([0.2 * torch.randn(n, 2, generator=g), -torch.ones(n, 1)], -1), dim=-1)
    return {
        "rays_o": torch.zeros(n, 3),
        "rays_d": d,
        "time": torch.full((n,), frame / n_frames),
        "frame": torch.full((n,), frame),
        "pixel": torch.randint(0, 16, (n, 2), generator=g),
        "rgb": torch.rand(n, 3, generator=g),
    }


def test_scene_flow_warps_points_to_the_neighbour_times():
    model = make_model(pretrain=False, perturb=False, raw_noise_std=0.0)
    calls = []
    real = model.dynamic.forward
    sf = torch.tensor([0.01, -0.02, 0.03])

    def stub(x, t, d):
        calls.append((x.detach().clone(), t.detach().clone()))
        rgb, sigma, _, _, b = real(x, t, d)
        return rgb, sigma, (-sf).expand_as(x), sf.expand_as(x), b

    model.dynamic.forward = stub
    out = model(rays(), step=0)
    assert torch.allclose(out["pts_f"], out["pts"] + sf)
    assert torch.allclose(out["pts_b"], out["pts"] - sf)
    assert torch.allclose(out["pts_ff"], out["pts"] + 2 * sf)
    t = 2 * 1 / 4 - 1  # official time of frame 1 of 4
    times = [c[1].unique().tolist() for c in calls]
    assert times[:3] == [[pytest.approx(t)], [pytest.approx(t + 0.5)], [pytest.approx(t - 0.5)]]
    assert torch.allclose(calls[1][0].view_as(out["pts"]), out["pts"] + sf)  # F_d queried at the warped points
    assert "rgb_d_ff" not in out
    out = model(rays(), step=2 * model.decay_steps)  # chain_5frames after two decay periods
    assert "rgb_d_ff" in out and "rgb_d_bb" in out


def test_phases_train_the_right_parameters():
    model = make_model()
    assert model.phase == "static"
    assert {id(p) for p in model.trained_parameters()} == {id(p) for p in model.static.parameters()}
    out = model(rays(), step=0)
    assert set(out) == {"rgb", "depth", "acc"}
    model.losses(out, rays())["static"].backward()
    assert all(p.grad is None for p in model.dynamic.parameters())
    model.set_phase("dynamic")
    assert not any(p.requires_grad for p in model.static.parameters())
    assert {id(p) for p in model.trained_parameters()} == {id(p) for p in model.dynamic.parameters()}
    opt = model.configure_optimizer((0.9, 0.99), 1e-8)
    assert opt.param_groups[0]["betas"] == (0.9, 0.999)


def test_render_shapes_and_inference():
    model = make_model(pretrain=False)
    out = model.render({k: v for k, v in rays(7).items() if k in ("rays_o", "rays_d", "time")}, chunk=3)
    assert out["rgb"].shape == (7, 3) and out["depth"].shape == (7,) and out["rgb_static"].shape == (7, 3)
    assert model.training  # restored


def test_unknown_config_key_is_refused():
    with pytest.raises(ValueError, match="unknown Dynamic NeRF config key"):
        resolve_config({"netdepht": 3})


def test_zero_init_flow_starts_static_and_still_learns_the_flow():
    out = make_model(pretrain=False, zero_init_flow=True)(rays(), step=0)
    assert torch.equal(out["sf_f"], torch.zeros_like(out["sf_f"])) and torch.equal(out["pts_f"], out["pts"])
    model = make_model(pretrain=False, zero_init_flow=True)
    model(rays(), step=0)["sf_f"].sum().backward()  # tanh'(0) = 1: the zero layer still gets gradients
    assert model.dynamic.flow.weight.grad.abs().sum() > 0
    default = make_model(pretrain=False)(rays(), step=0)  # official: torch's default init
    assert default["sf_f"].abs().min() > 0
