"""timm and diffusers import on this torch (the CPU build lacks torchvision's operators) and build models."""

import torch

from common.compat import ensure_torchvision, import_diffusers, import_timm


def test_timm_builds_a_model_offline():
    timm = import_timm()
    ensure_torchvision()  # idempotent
    model = timm.create_model("resnet18", pretrained=False, num_classes=0).eval()
    with torch.no_grad():
        assert model(torch.zeros(1, 3, 32, 32)).shape == (1, 512)


def test_diffusers_builds_a_unet_from_a_config():
    diffusers = import_diffusers()
    unet = diffusers.UNet2DModel(
        sample_size=8, in_channels=4, out_channels=4, block_out_channels=(8, 16), norm_num_groups=4, layers_per_block=1,
        down_block_types=("DownBlock2D", "DownBlock2D"), up_block_types=("UpBlock2D", "UpBlock2D"),
    )  # fmt: skip
    with torch.no_grad():
        assert unet(torch.zeros(1, 4, 8, 8), 10).sample.shape == (1, 4, 8, 8)
