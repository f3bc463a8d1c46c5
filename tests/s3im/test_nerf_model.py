"""VanillaNeRF against a brute-force per-ray reference of nerf-pytorch's hierarchical sampling."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from s3im.models.nerf.model import VanillaNeRF, resolve_config

SMALL = {
    "netdepth": 4,
    "netwidth": 16,
    "skips": [2],
    "multires": 3,
    "multires_views": 2,
    "n_samples": 6,
    "n_importance": 5,
}


def make_model(bbox=None, **kw) -> VanillaNeRF:
    torch.manual_seed(0)
    model = VanillaNeRF({**SMALL, **kw}, near=2.0, far=6.0, bbox=bbox).double()
    for p in model.parameters():  # densities of both signs, visible colours
        torch.nn.init.normal_(p, std=0.4)
    return model


def make_rays(n: int = 5, seed: int = 0) -> dict:
    g = torch.Generator().manual_seed(seed)
    o = F.normalize(torch.randn(n, 3, generator=g, dtype=torch.float64), dim=-1) * 4
    d = F.normalize(-o + 0.5 * torch.randn(n, 3, generator=g, dtype=torch.float64), dim=-1)
    norm = 1.0 + 0.2 * torch.rand(n, generator=g, dtype=torch.float64)
    rgb = torch.rand(n, 3, generator=g, dtype=torch.float64)
    return {"rays_o": o, "rays_d": d, "viewdirs": d, "dir_norm": norm, "rgb": rgb}


def ray_colour(net, o, d, t, background):
    """(colour [3], weights list) of one ray: the network on each sample point, then front-to-back
    alpha compositing, alpha_i = 1 - exp(-relu(sigma_i) delta_i), the last delta 1e10."""
    rgb, sigma = net(o + t[:, None] * d, d.expand(len(t), 3))
    col, trans, weights = torch.zeros(3, dtype=t.dtype), 1.0, []
    for i in range(len(t)):
        delta = float(t[i + 1] - t[i]) if i + 1 < len(t) else 1e10
        alpha = 1.0 - math.exp(-max(float(sigma[i]), 0.0) * delta)
        col = col + trans * alpha * rgb[i]
        weights.append(trans * alpha)
        trans *= 1.0 - alpha
    return col + trans * background, weights


def inverse_cdf(bins: list[float], weights: list[float], n: int) -> list[float]:
    """nerf-pytorch sample_pdf (det) for one ray, written as a loop."""
    w = [x + 1e-5 for x in weights]
    cdf = [0.0]
    for x in w:
        cdf.append(cdf[-1] + x / sum(w))
    out = []
    for k in range(n):
        u = k / (n - 1)
        j = min(max(i for i in range(len(cdf)) if cdf[i] <= u), len(bins) - 2)
        frac = (u - cdf[j]) / (cdf[j + 1] - cdf[j])
        out.append(bins[j] + frac * (bins[j + 1] - bins[j]))
    return out


def brute_force(model: VanillaNeRF, rays: dict, t_coarse=None, t_all=None):
    """(fine rgb [R, 3], coarse rgb [R, 3], t_all [R, S]); eval-mode samples unless t's are given."""
    fine_rgb, coarse_rgb, ts = [], [], []
    for r in range(len(rays["rays_o"])):
        o, d, scale = rays["rays_o"][r], rays["rays_d"][r], float(rays["dir_norm"][r])
        near, far = model.near * scale, model.far * scale
        n_c = model.n_samples
        if t_coarse is not None:
            tc = t_coarse[r]
        else:
            tc = torch.tensor([near + (far - near) * i / (n_c - 1) for i in range(n_c)], dtype=torch.float64)
        col_c, w_c = ray_colour(model.fields.coarse, o, d, tc, 1.0)
        if t_all is not None:
            ta = t_all[r]
        else:
            mids = [(float(tc[i]) + float(tc[i + 1])) / 2 for i in range(n_c - 1)]
            tf = inverse_cdf(mids, w_c[1:-1], model.n_importance)
            ta = torch.tensor(sorted([float(x) for x in tc] + tf), dtype=torch.float64)
        col_f, _ = ray_colour(model.fields.fine, o, d, ta, 1.0)
        fine_rgb.append(col_f)
        coarse_rgb.append(col_c)
        ts.append(ta)
    return torch.stack(fine_rgb), torch.stack(coarse_rgb), torch.stack(ts)


def test_eval_rendering_equals_the_per_ray_reference():
    model, rays = make_model(), make_rays()
    model.eval()
    with torch.no_grad():
        out = model.render_rays(rays)
        ref_fine, ref_coarse, ref_t = brute_force(model, rays)
    torch.testing.assert_close(out["t"], ref_t, rtol=1e-9, atol=1e-9)
    torch.testing.assert_close(out["rgb_coarse"], ref_coarse, rtol=1e-9, atol=1e-9)
    torch.testing.assert_close(out["rgb"], ref_fine, rtol=1e-9, atol=1e-9)
    rendered = model.render(rays, chunk=2)  # chunked evaluation API
    torch.testing.assert_close(rendered["rgb"], ref_fine, rtol=1e-9, atol=1e-9)


def test_training_samples_are_hierarchical_and_losses_match_the_reference():
    model, rays = make_model(), make_rays(8, seed=1)
    model.train()
    out = model(rays, 0)
    near, far = 2.0 * rays["dir_norm"], 6.0 * rays["dir_norm"]
    t_c, t = out["t_coarse"], out["t"]
    assert t.shape == (8, model.n_samples + model.n_importance)
    for ts in (t_c, t):
        assert bool((ts[:, 1:] >= ts[:, :-1]).all())
        assert bool((ts >= near[:, None] - 1e-12).all() and (ts <= far[:, None] + 1e-12).all())
    with torch.no_grad():
        t_eval = model.eval().render_rays(rays)["t_coarse"]
    model.train()
    assert not torch.allclose(t_c, t_eval)  # jittered in training
    for r in range(8):  # every coarse sample is among the fine pass's samples
        assert all(bool(torch.isclose(t[r], x).any()) for x in t_c[r])
    with torch.no_grad():
        ref_fine, ref_coarse, _ = brute_force(model, rays, t_coarse=t_c, t_all=t)
    torch.testing.assert_close(out["rgb"].detach(), ref_fine, rtol=1e-9, atol=1e-9)
    torch.testing.assert_close(out["rgb_coarse"].detach(), ref_coarse, rtol=1e-9, atol=1e-9)
    terms = model.losses(out, rays)
    assert set(terms) == {"mse", "mse_coarse"}
    n = 8 * 3
    mse_f = sum(float((ref_fine[r, c] - rays["rgb"][r, c]) ** 2) for r in range(8) for c in range(3)) / n
    mse_c = sum(float((ref_coarse[r, c] - rays["rgb"][r, c]) ** 2) for r in range(8) for c in range(3)) / n
    assert float(terms["mse"].detach()) == pytest.approx(mse_f, rel=1e-9)
    assert float(terms["mse_coarse"].detach()) == pytest.approx(mse_c, rel=1e-9)
    sum(terms.values()).backward()
    assert all(p.grad is not None for p in model.fields.coarse.parameters())
    assert all(p.grad is not None for p in model.fields.fine.parameters())


def test_raw_noise_only_in_training():
    rays = make_rays(6, seed=2)
    noisy, clean = make_model(raw_noise_std=1.0, perturb=False), make_model(raw_noise_std=0.0, perturb=False)
    with torch.no_grad():
        torch.testing.assert_close(noisy.render(rays)["rgb"], clean.render(rays)["rgb"], rtol=0, atol=0)
        noisy.train(), clean.train()
        torch.manual_seed(5)
        a = noisy(rays, 0)["rgb"]
        torch.manual_seed(5)
        b = clean(rays, 0)["rgb"]
    assert not torch.allclose(a, b)
    clean.eval()
    with torch.no_grad():  # without noise and jitter, training and evaluation render the same
        torch.testing.assert_close(b, clean.render(rays)["rgb"], rtol=0, atol=0)


def test_near_far_modes():
    rays = make_rays(4)
    for mode, scale in (("z_depth", rays["dir_norm"]), ("distance", torch.ones(4, dtype=torch.float64))):
        model = make_model(near_far=mode).eval()
        with torch.no_grad():
            t = model.render_rays(rays)["t_coarse"]
        torch.testing.assert_close(t[:, 0], 2.0 * scale)
        torch.testing.assert_close(t[:, -1], 6.0 * scale)
    assert make_model(near=0.5).near == 0.5 and make_model().far == 6.0


def slab_interval(o, d, lo, hi, near, far):
    """(t0, t1) of one ray through the box [lo, hi] clipped to [near, far], or None when it misses (a loop)."""
    t0, t1 = near, far
    for a in range(3):
        if d[a] == 0:
            if not lo[a] <= o[a] <= hi[a]:
                return None
            continue
        ta, tb = (lo[a] - o[a]) / d[a], (hi[a] - o[a]) / d[a]
        t0, t1 = max(t0, min(ta, tb)), min(t1, max(ta, tb))
    return (t0, t1) if t1 > t0 else None


def test_clip_bbox_samples_inside_the_box_and_leaves_missing_rays_to_the_background():
    rays = make_rays(12, seed=3)
    rays["rays_d"][:3] = -rays["rays_d"][:3]  # pointing away from the box: these miss
    rays["viewdirs"] = rays["rays_d"]
    lo, hi = [-0.8, -0.6, -0.7], [0.9, 0.5, 0.8]
    model = make_model(bbox=[lo, hi], clip_bbox=True, near_far="distance").eval()
    spans = [slab_interval(rays["rays_o"][r].tolist(), rays["rays_d"][r].tolist(), lo, hi, 2.0, 6.0) for r in range(12)]
    assert sum(s is None for s in spans) >= 3 and sum(s is not None for s in spans) >= 3
    with torch.no_grad():
        out = model.render_rays(rays)
    for r, span in enumerate(spans):
        if span is None:
            assert out["rgb"][r].tolist() == [1.0, 1.0, 1.0] and float(out["acc"][r]) == 0.0
            continue
        tc = torch.linspace(span[0], span[1], model.n_samples, dtype=torch.float64)
        # the box is stored in float32: bounds agree to its rounding
        torch.testing.assert_close(out["t_coarse"][r], tc, rtol=1e-6, atol=1e-6)
        ref, _ = ray_colour(model.fields.coarse, rays["rays_o"][r], rays["rays_d"][r], out["t_coarse"][r], 1.0)
        torch.testing.assert_close(out["rgb_coarse"][r], ref, rtol=1e-9, atol=1e-9)
    model.train()
    out = model(rays, 0)
    sum(model.losses(out, rays).values()).backward()
    assert all(p.grad is not None for p in model.fields.parameters())
    with pytest.raises(ValueError, match="bbox"):
        make_model(clip_bbox=True)


def test_without_fine_network_the_coarse_output_is_rgb():
    model, rays = make_model(n_importance=0), make_rays(3)
    assert model.fields.fine is None
    out = model(rays, 0)
    assert "rgb_coarse" not in out and set(model.losses(out, rays)) == {"mse"}


def test_config_is_validated_and_the_optimizer_uses_its_betas():
    with pytest.raises(ValueError, match="unknown NeRF config"):
        resolve_config({"n_sample": 3})
    with pytest.raises(ValueError, match="near_far"):
        resolve_config({"near_far": "ndc"})
    opt = make_model(adam_betas=[0.8, 0.9]).configure_optimizer((0.9, 0.99), 1e-8)
    assert opt.param_groups[0]["betas"] == (0.8, 0.9) and opt.param_groups[0]["lr"] == 5e-4


def test_network_chunks_do_not_change_the_result():
    rays = make_rays(7, seed=3)
    whole, chunked = make_model(netchunk=10**6).eval(), make_model(netchunk=13).eval()
    with torch.no_grad():
        torch.testing.assert_close(chunked.render(rays)["rgb"], whole.render(rays)["rgb"], rtol=1e-12, atol=1e-12)


def test_bf16_precision_stays_close_to_fp32():
    rays = {k: v.float() for k, v in make_rays(6, seed=4).items()}
    model = make_model().float().eval()
    with torch.no_grad():
        full = model.render(rays)["rgb"]
        model.cfg["precision"] = "bf16"
        half = model.render(rays)["rgb"]
    assert half.dtype == torch.float32
    torch.testing.assert_close(half, full, rtol=0, atol=0.05)
    assert not torch.equal(half, full)  # the networks did run in bfloat16
