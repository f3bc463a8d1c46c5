import math

import pytest
import torch
import yaml

from nerf_correspondence.pigan import PiGAN, pixel_swd, sample_grid, sliced_wasserstein, validate_model_config


def tiny_cfg(**kw):
    cfg = yaml.safe_load(open("nerf_correspondence/configs/pigan_base.yaml"))["model"]
    cfg.update(width=16, depth=2, mapping_hidden=16, z_dim=8, img_size=8, num_steps=4, fade_steps=4,
               disc_channels=[8, 8, 8], topk_interval=2, topk_v=0.5)  # fmt: skip
    cfg.update(kw)
    return cfg


def test_optimizers_named_with_official_betas_and_mapping_lr():
    model = PiGAN(tiny_cfg())
    opts = model.configure_optimizers((0.9, 0.99), 1e-8)
    assert set(opts) == {"generator", "discriminator"}
    g = opts["generator"]
    assert g.defaults["betas"] == (0.0, 0.9)
    lrs = {grp["name"]: grp["lr"] for grp in g.param_groups}
    assert math.isclose(lrs["mapping_network"], lrs["generator"] * 0.05)
    n_gen = sum(p.numel() for p in model.generator.parameters())
    assert sum(p.numel() for grp in g.param_groups for p in grp["params"]) == n_gen


def test_train_step_updates_both_networks_and_logs_finite_terms():
    torch.manual_seed(0)
    model = PiGAN(tiny_cfg())
    opts = model.configure_optimizers((0.9, 0.99), 1e-8)
    g0 = [p.detach().clone() for p in model.generator.parameters()]
    d0 = [p.detach().clone() for p in model.discriminator.parameters()]
    out = model.train_step({"images": torch.rand(3, 1, 16, 16, 3)}, 1, opts)
    assert all(math.isfinite(float(v)) for v in out.values())
    assert out["alpha"] == 0.25 and out["r1"] >= 0
    assert any(not torch.equal(a, b) for a, b in zip(g0, model.generator.parameters()))
    assert any(not torch.equal(a, b) for a, b in zip(d0, model.discriminator.parameters()))


def test_real_images_resize_and_range():
    model = PiGAN(tiny_cfg())
    img = model.real_images({"images": torch.rand(2, 1, 16, 16, 3)})
    assert img.shape == (2, 3, 8, 8) and img.min() >= -1 and img.max() <= 1


def test_sample_grid_and_swd():
    torch.manual_seed(0)
    model = PiGAN(tiny_cfg())
    grid = sample_grid(model.generator, 4, seed=0, psi=0.7)
    assert grid.shape == (4, 8, 8, 3) and grid.min() >= 0 and grid.max() <= 1
    a = torch.randn(64, 3)
    assert sliced_wasserstein(a, a) == 0.0
    assert abs(sliced_wasserstein(a, a + torch.tensor([1.0, 0, 0]), projections=4096) - 0.5) < 0.02  # E|cos| = 1/2
    assert pixel_swd(torch.zeros(4, 8, 8, 3), torch.zeros(4, 8, 8, 3)) == 0.0


def test_config_validation():
    with pytest.raises(ValueError, match="model.num_steps"):
        validate_model_config(tiny_cfg(num_steps=1))
    with pytest.raises(ValueError, match="ray_start"):
        validate_model_config(tiny_cfg(ray_start=2.0, ray_end=1.0))


def test_density_scale_and_bias_init():
    torch.manual_seed(0)
    official = PiGAN(tiny_cfg())
    bound = 1 / math.sqrt(16)
    assert 0 < official.generator.siren.final_layer.bias.abs().item() <= bound  # torch's default, as official
    torch.manual_seed(0)
    quick = PiGAN(tiny_cfg(density_scale=30.0, density_bias_init=0.0))
    assert quick.generator.siren.final_layer.bias.item() == 0.0
    g, b = quick.generator.siren.modulations(torch.randn(1, 8))
    pts, dirs = torch.randn(1, 6, 3) * 0.1, torch.randn(1, 6, 3)
    raw, _, _ = quick.generator.siren.forward_with_modulations(pts, g, b, dirs)
    assert torch.allclose(quick.generator.field(g, b)(pts, dirs)[0], 30.0 * raw)
