"""Diffusion distillation: the loss weight 1 - alpha_bar(t), gradient paths, every optimisation mode."""

import math

import pytest
import torch

from sparsefusion.autoencoder import random_tiny_autoencoder
from sparsefusion.distill import DistillSettings, distill_loss, optimize_ngp
from sparsefusion.geometry import look_at
from sparsefusion.vldm import VLDM

CFG = {
    "iters": 2,
    "bootstrap_iters": 1,
    "render_res": 8,
    "lr": 1e-2,
    "encoder_lr_mult": 1.0,
    "samples": 8,
    "max_denoise_steps": 3,
    "perceptual_weight": 0.1,
    "opacity_weight": 1e-3,
    "levels": 2,
    "log2_table": 10,
    "max_resolution": 32,
    "mlp_width": 8,
    "bound": 1.5,
    "blob_density": 5.0,
    "blob_radius": 0.2,
}


def test_loss_weight_is_one_minus_alpha_bar():
    x = torch.full((1, 3, 4, 4), 0.5, requires_grad=True)
    x_hat = torch.zeros(1, 3, 4, 4)
    for t in (0.1, 0.5 * 1.008 - 0.008, 0.9):
        expected = (1 - math.cos((t + 0.008) / 1.008 * math.pi / 2) ** 2) * 0.5
        torch.testing.assert_close(
            distill_loss(x, x_hat, torch.tensor(t)), torch.tensor(expected), rtol=1e-5, atol=1e-6
        )
    loss = distill_loss(x, x_hat, torch.tensor(0.9), lpips_fn=lambda a, b: (a - b).pow(2).mean((1, 2, 3)), weight=0.1)
    torch.testing.assert_close(
        loss, torch.tensor((1 - math.cos(0.908 / 1.008 * math.pi / 2) ** 2) * 0.5 + 0.1 * 0.25), rtol=1e-5, atol=1e-6
    )
    loss.backward()
    assert x.grad is not None and (x.grad > 0).all()


class Tiny:
    """The parts of SparseFusionModel the distillation uses."""

    def __init__(self):
        torch.manual_seed(0)
        self.autoencoder = random_tiny_autoencoder()
        self.vldm = VLDM(32, 4, 4, block_out_channels=(16,), layers_per_block=1, norm_groups=8).eval()


def scene_and_cache():
    c2w = look_at(
        torch.tensor([[3.0, 0, 0.5], [0, 3.0, 0.5], [-3.0, 0, 0.5]]), torch.zeros(3), torch.tensor([0.0, 0, 1])
    )
    K = torch.tensor([[40.0, 0, 16], [0, 40.0, 16], [0, 0, 1]]).expand(3, 3, 3)
    scene = {"images": torch.rand(2, 3, 32, 32), "masks": torch.ones(2, 1, 32, 32), "K": K[:2], "c2w": c2w[:2]}
    cache = {
        "K": K,
        "c2w": c2w,
        "eft_rgb": torch.rand(3, 3, 32, 32),
        "features": torch.randn(3, 4, 4, 4),
        "samples": torch.rand(3, 3, 32, 32),
    }
    return scene, cache


@pytest.mark.parametrize("settings", [DistillSettings(), DistillSettings("latent", False, False)])
def test_distillation_modes_run_and_change_the_field(settings):
    scene, cache = scene_and_cache()
    ngp = optimize_ngp(
        scene,
        cache,
        CFG,
        "distill",
        torch.Generator().manual_seed(0),
        Tiny(),
        settings,
        lpips_fn=lambda a, b: (a - b).abs().mean((1, 2, 3)),
    )
    out = ngp.render_image(cache["K"][0], cache["c2w"][0], 32, 8)
    assert torch.isfinite(out["rgb"]).all()
    for mode in ("eft", "samples"):
        assert optimize_ngp(scene, cache, CFG, mode, torch.Generator().manual_seed(0)) is not None
    with pytest.raises(ValueError, match="mode"):
        optimize_ngp(scene, cache, CFG, "nope", torch.Generator())
