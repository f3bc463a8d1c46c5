from __future__ import annotations

import math

import torch

from common.render import contract
from s3im.models.dvgo import DirectContractedVoxGO, build_model
from s3im.models.dvgo.build import DEFAULTS
from s3im.models.dvgo.marching import contracted_sample_distances


def room_rays(n_views=16, res=12, seed=0):
    """Cameras inside the textured room [-1, 1]^3 (an analytic Replica stand-in): rays and wall colours."""
    g = torch.Generator().manual_seed(seed)
    f = res / (2 * math.tan(math.radians(35)))
    j, i = torch.meshgrid(torch.arange(res) + 0.5, torch.arange(res) + 0.5, indexing="ij")
    cam = torch.stack([(i - res / 2) / f, (j - res / 2) / f, torch.ones_like(i)], -1).reshape(-1, 3)
    os, ds = [], []
    for _ in range(n_views):
        fwd = torch.nn.functional.normalize(torch.randn(3, generator=g), dim=0)
        x = torch.nn.functional.normalize(torch.cross(torch.tensor([0.3, 1.0, 0.1]), fwd, dim=0), dim=0)
        R = torch.stack([x, torch.cross(fwd, x, dim=0), fwd], 1)
        ds.append(torch.nn.functional.normalize(cam @ R.T, dim=-1))
        os.append(((torch.rand(3, generator=g) - 0.5) * 0.6).expand(len(cam), 3))
    o, d = torch.cat(os), torch.cat(ds)
    t_exit = torch.maximum((1 - o) / d, (-1 - o) / d).amin(-1)
    p = o + d * t_exit[:, None]
    rgb = 0.5 + 0.4 * torch.stack(
        [torch.sin(3 * p[:, 0] + p[:, 2]), torch.cos(2.5 * p[:, 1]), torch.sin(2 * p[:, 2])], -1
    )
    return o, d, rgb, t_exit


def contracted_cfg(**kw):
    cfg = {
        "kind": "contracted",
        "num_voxels": 24**3,
        "num_voxels_base": 24**3,
        "alpha_init": 1e-4,
        "stepsize": 1.0,
        "fast_color_thres": {"0": 1e-4},
        "contracted_norm": "l2",
        "white_bkgd": True,
        "rand_bkgd": True,
        "weight_distortion": 0.01,
        "world_bound_scale": 1.0,
        "pg_scale": [],
    }
    cfg.update(kw)
    return cfg


def test_grid_box_and_inner_cube_from_training_rays():
    o, d, _, _ = room_rays()
    m = build_model(contracted_cfg(), (o, d), near=0.0, far=10.0)
    assert isinstance(m, DirectContractedVoxGO)
    torch.testing.assert_close(m.xyz_min, torch.full((3,), -1.2))
    torch.testing.assert_close(m.xyz_max, torch.full((3,), 1.2))
    pts = o + d * 0.05
    center = (pts.amin(0) + pts.amax(0)) / 2
    torch.testing.assert_close(m.scene_center, center)
    torch.testing.assert_close(m.scene_radius, ((center - pts.amin(0)).max()).expand(3))


def test_samples_depth_and_distortion_inputs():
    torch.manual_seed(0)
    cfg = {**DEFAULTS, **contracted_cfg(fast_color_thres=0.0, rand_bkgd=False)}
    m = DirectContractedVoxGO(-0.5 * torch.ones(3), 0.5 * torch.ones(3), cfg)
    with torch.no_grad():
        m.density.grid.normal_(0, 2)
    o = torch.randn(32, 3) * 0.1
    d = torch.nn.functional.normalize(torch.randn(32, 3), dim=-1)
    out = m({"rays_o": o, "rays_d": d})
    t_all = contracted_sample_distances(0.2, m.world_size[0], 1.0)
    torch.testing.assert_close(out["delta_s"], torch.tensor(1.0 / len(t_all)))
    t = 1 / (1 - out["s"]) - 1  # s = 1 - 1 / (1 + t)
    assert set(torch.round(t, decimals=3).tolist()) <= set(torch.round(t_all, decimals=3).tolist())
    wsum = torch.zeros(32).index_add(0, out["ray_indices"], out["weights"])
    torch.testing.assert_close(wsum + out["final_transmittance"], torch.ones(32), atol=1e-5, rtol=0)
    depth = torch.zeros(32).index_add(0, out["ray_indices"], out["weights"] * t * 0.5)  # world t = t * radius
    torch.testing.assert_close(out["depth"], depth, atol=1e-4, rtol=1e-4)
    raw = (o[out["ray_indices"]] / 0.5) + d[out["ray_indices"]] * t[:, None]
    assert torch.all(contract(raw, "l2", 0.2).abs() <= 1.2 + 1e-5)


def test_random_background_only_while_training():
    cfg = {**DEFAULTS, **contracted_cfg(rand_bkgd=True, white_bkgd=True)}
    m = DirectContractedVoxGO(-torch.ones(3), torch.ones(3), cfg)  # alpha_init 1e-4: rays mostly transparent
    batch = {"rays_o": torch.zeros(64, 3), "rays_d": torch.nn.functional.normalize(torch.randn(64, 3), dim=-1)}
    train_rgb = m(batch)["rgb"]
    assert train_rgb.std() > 0.1
    ev = m.render_rays(batch["rays_o"], batch["rays_d"])["rgb"]
    assert torch.all(ev > 0.9)  # white background at evaluation


def test_smoke_training_fits_the_room():
    torch.manual_seed(0)
    o, d, rgb, _ = room_rays()
    m = build_model(contracted_cfg(pg_scale=[60]), (o, d), near=0.0, far=10.0)
    opt = m.configure_optimizer()
    g = torch.Generator().manual_seed(0)
    for step in range(150):
        if m.before_step(step):
            opt = m.configure_optimizer()
        idx = torch.randint(len(o), (512,), generator=g)
        batch = {"rays_o": o[idx], "rays_d": d[idx], "viewdirs": d[idx], "rgb": rgb[idx]}
        terms = m.losses(m(batch, step), batch, step)
        assert set(terms) == {"mse", "entropy_last", "rgbper", "distortion"}
        opt.zero_grad(set_to_none=True)
        sum(terms.values()).backward()
        m.after_backward(step)
        opt.step()
    assert m.world_size == (24, 24, 24)
    pred = m.render_rays(o, d)["rgb"]
    psnr = -10 * math.log10(float(((pred - rgb) ** 2).mean()))
    const = -10 * math.log10(float(((rgb - rgb.mean(0)) ** 2).mean()))
    assert psnr > const + 8, (psnr, const)
