from __future__ import annotations

import math

import pytest
import torch

from common.render import uniform_samples_in_aabb
from s3im.models.dvgo import DirectVoxGO, build_model
from s3im.models.dvgo.build import DEFAULTS


def stage_cfg(**kw):
    cfg = {**DEFAULTS, "num_voxels": 16**3, "num_voxels_base": 16**3, "pg_scale": [], "fast_color_thres": 0.0}
    cfg.update(kw)
    return cfg


def sphere_views(n_views=12, res=16, seed=0):
    """Rays from cameras on a sphere of radius 3 at a coloured unit-ish sphere (radius 0.8), white background."""
    g = torch.Generator().manual_seed(seed)
    f = res / (2 * math.tan(math.radians(25)))
    j, i = torch.meshgrid(torch.arange(res) + 0.5, torch.arange(res) + 0.5, indexing="ij")
    cam = torch.stack([(i - res / 2) / f, (j - res / 2) / f, torch.ones_like(i)], -1).reshape(-1, 3)
    os, ds = [], []
    for _ in range(n_views):
        c = torch.nn.functional.normalize(torch.randn(3, generator=g), dim=0) * 3
        fwd = -c / 3
        x = torch.nn.functional.normalize(torch.cross(torch.tensor([0.0, 0.0, 1.0]), fwd, dim=0), dim=0)
        R = torch.stack([x, torch.cross(fwd, x, dim=0), fwd], 1)
        ds.append(torch.nn.functional.normalize(cam @ R.T, dim=-1))
        os.append(c.expand(len(cam), 3))
    o, d = torch.cat(os), torch.cat(ds)
    b = (o * d).sum(-1)
    disc = b * b - ((o * o).sum(-1) - 0.64)
    hit = disc > 0
    p = o + d * (-b - disc.clamp(min=0).sqrt())[:, None]
    col = 0.5 + 0.45 * torch.stack([torch.sin(4 * p[:, 0]), torch.cos(3 * p[:, 1]), p[:, 2] / 0.8], -1)
    return o, d, torch.where(hit[:, None], col, torch.ones_like(col))


def test_alpha_at_zero_density_is_alpha_init():
    for alpha_init in (1e-6, 1e-4, 1e-2):
        m = DirectVoxGO(-torch.ones(3), torch.ones(3), stage_cfg(alpha_init=alpha_init), near=0.1)
        assert m.voxel_size_ratio == 1.0
        alpha = m.activate_density(torch.zeros(3), interval=1.0)
        torch.testing.assert_close(alpha, torch.full((3,), alpha_init), rtol=1e-4, atol=0)
        d = torch.tensor([-3.0, 0.5, 4.0])
        ref = 1 - (1 + torch.exp(d.double() + m.act_shift.double())) ** (-0.3)
        torch.testing.assert_close(m.activate_density(d, 0.3).double(), ref, rtol=1e-4, atol=1e-7)


def test_weights_plus_final_transmittance_is_one_and_marching_drops_only_masked_samples():
    torch.manual_seed(0)
    m = DirectVoxGO(-torch.ones(3), torch.ones(3), stage_cfg(rgbnet_dim=12), near=0.2)
    with torch.no_grad():
        m.density.grid.normal_(0, 3)
        m.mask_cache.mask[:, :, :8] = False  # z < 0 is known free space
    o = torch.randn(64, 3) * 0.2 + torch.tensor([0.0, 0.0, -3.0])
    d = torch.nn.functional.normalize(-o + torch.randn(64, 3) * 0.3, dim=-1)
    out = m({"rays_o": o, "rays_d": d})
    wsum = torch.zeros(64).index_add(0, out["ray_indices"], out["weights"])
    torch.testing.assert_close(wsum + out["final_transmittance"], torch.ones(64), atol=1e-5, rtol=0)
    pts, ri, t = uniform_samples_in_aabb(o, d, m.xyz_min, m.xyz_max, 0.2, 1e9, 0.5 * m.voxel_size, 1e-6)
    expected = m.mask_cache(pts)
    assert len(out["weights"]) == int(expected.sum())  # thres 0: only out-of-box and masked samples dropped
    torch.testing.assert_close(out["ray_indices"], ri[expected])
    # colour is the compositing of the kept samples over a white background
    m.cfg["white_bkgd"] = True
    out = m({"rays_o": o, "rays_d": d})
    rgb = torch.zeros(64, 3).index_add(0, out["ray_indices"], out["weights"][:, None] * out["raw_rgb"])
    torch.testing.assert_close(out["rgb"], rgb + out["final_transmittance"][:, None], atol=1e-5, rtol=0)
    # with a threshold, every kept sample has alpha and weight above it
    m.fast_color_thres = 1e-3
    out = m({"rays_o": o, "rays_d": d})
    assert out["weights"].min() > 1e-3


def test_progressive_scaling_hooks_and_state_dict_round_trip():
    torch.manual_seed(1)
    cfg = stage_cfg(num_voxels=20**3, num_voxels_base=20**3, pg_scale=[2, 4], rgbnet_dim=6, fast_color_thres=1e-4)
    m = DirectVoxGO(-torch.ones(3), torch.ones(3), cfg, near=0.1)
    assert m.world_size == (12, 12, 12)  # 20^3 / 2^2 voxels
    groups = m.param_groups()
    assert [(g["name"], g["lr"], g["skip_zero_grad"]) for g in groups] == [
        ("density", 0.1, True),
        ("k0", 0.1, True),
        ("rgbnet", 1e-3, False),
    ]
    shift0 = float(m.act_shift)
    assert m.before_step(0) is False
    assert m.before_step(1) is True  # global step 2
    assert m.world_size == (15, 15, 15) and m.density.grid.shape[2:] == (15, 15, 15)
    assert float(m.act_shift) == shift0 - 1.0
    with torch.no_grad():
        m.density.grid.normal_(0, 2)
        m.k0.grid.normal_()
        m.mask_cache.mask[0] = False
    state = m.state_dict()
    fresh = DirectVoxGO(-torch.ones(3), torch.ones(3), cfg, near=0.1)
    fresh.load_state_dict(state)
    assert fresh.world_size == m.world_size and fresh.voxel_size_ratio == m.voxel_size_ratio
    o = torch.randn(40, 3) * 0.1 + torch.tensor([0.0, -3.0, 0.0])
    d = torch.nn.functional.normalize(torch.randn(40, 3) * 0.2 + torch.tensor([0.0, 1.0, 0.0]), dim=-1)
    a, b = m.render_rays(o, d, chunk=16), fresh.render_rays(o, d, chunk=16)
    for k in ("rgb", "depth", "acc"):
        torch.testing.assert_close(a[k], b[k])
    opt = fresh.configure_optimizer()
    assert len(opt.param_groups) == 3 and opt.param_groups[0]["params"][0] is fresh.density.grid
    # occupancy refresh at global step 500: free space (alpha below threshold) leaves the mask
    with torch.no_grad():
        fresh.density.grid.fill_(-20.0)
    fresh.before_step(499)
    assert not fresh.mask_cache.mask.any()


def test_tv_injection_hook_scales_weight_like_the_official_code():
    cfg = stage_cfg(weight_tv_density=0.5, weight_tv_k0=0.0, tv_before=10, tv_dense_before=5)
    m = DirectVoxGO(-torch.ones(3), torch.ones(3), cfg, near=0.1)
    with torch.no_grad():
        m.density.grid.normal_()
    m._n_rays = 4
    m.after_backward(2)  # global step 3 < tv_dense_before: dense
    from s3im.models.dvgo.tv import tv_grad

    torch.testing.assert_close(m.density.grid.grad, tv_grad(m.density.grid.detach(), 0.5 * 16 / 128 / 4))
    assert m.k0.grid.grad is None
    m.density.grid.grad = None
    m.after_backward(9)  # global step 10 == tv_before: off
    assert m.density.grid.grad is None


def test_coarse_stage_overfits_a_tiny_scene():
    torch.manual_seed(0)
    o, d, rgb = sphere_views()
    model_cfg = {
        "kind": "bounded",
        "white_bkgd": True,
        "coarse": {
            "num_voxels": 24**3,
            "num_voxels_base": 24**3,
            "rgbnet_dim": 0,
            "alpha_init": 1e-3,
            "fast_color_thres": 1e-4,
            "pg_scale": [],
            "weight_entropy_last": 0.01,
            "weight_rgbper": 0.1,
            "skip_zero_grad_fields": [],
            "maskout_near_cam_vox": True,
            "world_bound_scale": 1.0,
        },
    }
    m = build_model(model_cfg, (o, d), near=1.5, far=4.5)
    opt = m.configure_optimizer()
    g = torch.Generator().manual_seed(0)
    for step in range(150):
        m.before_step(step)
        idx = torch.randint(len(o), (512,), generator=g)
        batch = {"rays_o": o[idx], "rays_d": d[idx], "viewdirs": d[idx], "rgb": rgb[idx]}
        loss = sum(m.losses(m(batch, step), batch, step).values())
        opt.zero_grad(set_to_none=True)
        loss.backward()
        m.after_backward(step)
        opt.step()
    pred = m.render_rays(o, d)["rgb"]
    psnr = -10 * math.log10(float(((pred - rgb) ** 2).mean()))
    const = -10 * math.log10(float(((rgb - rgb.mean(0)) ** 2).mean()))
    assert psnr > const + 8, (psnr, const)


def test_threshold_above_initial_alpha_is_rejected():
    with pytest.raises(ValueError, match="every sample would be skipped"):
        DirectVoxGO(-torch.ones(3), torch.ones(3), stage_cfg(alpha_init=1e-4, stepsize=0.5, fast_color_thres=1e-4), 0.1)


def brute_force_view_counts(m, views):
    """Official voxel_count_views by hand: every ray gets n fixed samples from its box entry (not clipped
    to the box); each sample splats its trilinear weights onto the in-grid corner nodes; a node counts
    a view when that view's summed weight exceeds 1."""
    size = torch.tensor(m.world_size)
    n = int(math.sqrt(float(((size + 1.0) ** 2).sum())) / m.cfg["stepsize"]) + 1
    count = torch.zeros(m.world_size, dtype=torch.long)
    for o, d in views:
        acc = torch.zeros(m.world_size, dtype=torch.float64)
        for r in range(len(o)):
            vec = torch.where(d[r] == 0, torch.full_like(d[r], 1e-6), d[r]).double()
            a, b = (m.xyz_max.double() - o[r]) / vec, (m.xyz_min.double() - o[r]) / vec
            t0 = float(torch.minimum(a, b).max().clamp(min=m.near, max=1e9))
            for k in range(n):
                p = o[r].double() + d[r].double() * (t0 + k * m.cfg["stepsize"] * m.voxel_size)
                x = (p - m.xyz_min.double()) / (m.xyz_max - m.xyz_min).double() * (size - 1)
                lo = torch.floor(x).long()
                f = x - lo
                for corner in range(8):
                    bits = torch.tensor([(corner >> 2) & 1, (corner >> 1) & 1, corner & 1])
                    idx = lo + bits
                    if bool(((idx < 0) | (idx >= size)).any()):
                        continue
                    wgt = torch.where(bits == 1, f, 1 - f).prod()
                    acc[idx[0], idx[1], idx[2]] += wgt
        count += (acc > 1).long()
    return count


def test_view_counts_equal_brute_force_and_set_per_voxel_lr_and_mask():
    cfg = stage_cfg(num_voxels=6**3, num_voxels_base=6**3, rgbnet_dim=0, stepsize=0.5)
    m = DirectVoxGO(-torch.ones(3), torch.ones(3), cfg, near=0.5)
    g = torch.Generator().manual_seed(4)
    views = []
    for c in ([0.0, 0.0, -3.0], [2.5, 0.5, 0.0], [0.3, 0.0, 0.9]):  # the last camera sits inside the box
        o = torch.tensor(c).expand(24, 3).clone()
        d = torch.nn.functional.normalize(-o + torch.randn(24, 3, generator=g) * 0.6, dim=-1)
        views.append((o, d))
    count = m.voxel_count_views(views)
    ref = brute_force_view_counts(m, views)
    assert count.max() >= 2 and (count == 0).any()
    assert torch.equal(count, ref)
    m.init_view_counts(views, maskout_nviews=1)
    torch.testing.assert_close(m.per_lr[0, 0], ref.float() / ref.max())
    assert torch.equal(m.mask_cache.mask, ref > 1)
    groups = {gr["name"]: gr for gr in m.param_groups()}
    assert groups["density"]["per_lr"] is m.per_lr and "per_lr" not in groups["k0"]
    state = m.state_dict()
    fresh = DirectVoxGO(-torch.ones(3), torch.ones(3), cfg, near=0.5)
    fresh.load_state_dict(state)
    torch.testing.assert_close(fresh.per_lr, m.per_lr)
    # maskout_lt_nviews: the rendering samples (inside the box), nodes seen by >= n views stay
    m2 = DirectVoxGO(-torch.ones(3), torch.ones(3), cfg, near=0.5)
    lt = m2.maskout_lt_nviews(views, 2)
    assert torch.equal(m2.mask_cache.mask, lt >= 2) and (lt >= 2).any() and not (lt >= 2).all()
