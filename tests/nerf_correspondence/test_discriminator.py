import pytest
import torch

from nerf_correspondence.discriminator import ProgressiveDiscriminator, add_coords


def test_output_split_and_start_blocks():
    torch.manual_seed(0)
    d = ProgressiveDiscriminator((8, 16, 16, 16), z_dim=5)
    for side, start in ((16, 0), (8, 1), (4, 2)):
        assert d.start_block(side) == start
        logit, latent, pos = d(torch.randn(2, 3, side, side), alpha=1.0)
        assert logit.shape == (2, 1) and latent.shape == (2, 5) and pos.shape == (2, 2)
    with pytest.raises(ValueError, match="power of two"):
        d.start_block(12)
    with pytest.raises(ValueError):
        d.start_block(32)


def test_fade_in_blends_the_next_adapter_on_the_downsampled_image():
    torch.manual_seed(0)
    d = ProgressiveDiscriminator((4, 8, 8, 8), z_dim=3)
    img = torch.randn(2, 3, 16, 16)
    x_new = d.layers[0](d.fromRGB[0](img))
    x_old = d.fromRGB[1](torch.nn.functional.interpolate(img, scale_factor=0.5, mode="nearest"))
    for alpha in (0.0, 0.3, 1.0):
        x = alpha * x_new + (1 - alpha) * x_old
        for layer in d.layers[1:]:
            x = layer(x)
        ref = d.final_layer(x).reshape(2, -1)[:, :1]
        assert torch.allclose(d(img, alpha)[0], ref, atol=1e-6)
    # alpha = 0: the highest-resolution block has no influence
    assert torch.allclose(d(img, 0.0)[0], d.final_layer(d.layers[2](d.layers[1](x_old))).reshape(2, -1)[:, :1],
                          atol=1e-6)  # fmt: skip


def test_add_coords():
    out = add_coords(torch.zeros(1, 1, 2, 3))
    assert torch.equal(out[0, 1], torch.tensor([[-1.0, 0.0, 1.0]] * 2))
    assert torch.equal(out[0, 2], torch.tensor([[-1.0] * 3, [1.0] * 3]))
