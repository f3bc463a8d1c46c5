"""The frozen autoencoder: the real taef2 weights (shared data), the random test architecture, errors."""

from pathlib import Path

import pytest
import torch

from sparsefusion.autoencoder import TAESD_DEFAULT, load_autoencoder, load_taef2, random_tiny_autoencoder

SHARED = Path(__file__).resolve().parents[3] / "shared" / "data" / "taesd-taef2-weights"


def test_random_architecture_shapes_and_frozen():
    ae = random_tiny_autoencoder()
    x = torch.rand(1, 3, 32, 32)
    z = ae.encode(x)
    assert z.shape == (1, 32, 4, 4) and ae.decode(z).shape == (1, 3, 32, 32)
    assert not any(p.requires_grad for p in ae.parameters())
    ae.train()
    assert not ae.training


@pytest.mark.realdata
def test_taef2_loads_and_reconstructs_smooth_images():
    if not (SHARED / "taef2_encoder.pth").is_file():
        pytest.skip("../shared/data/taesd-taef2-weights is absent")
    ae = load_taef2(SHARED)
    assert "taef2" in ae.name and TAESD_DEFAULT.name == SHARED.name
    u = torch.linspace(0, 1, 64)
    img = torch.stack([u[None].expand(64, 64), u[:, None].expand(64, 64), torch.full((64, 64), 0.5)])[None]
    with torch.no_grad():
        rec = ae.decode(ae.encode(img))
    psnr = -10 * torch.log10(((rec - img) ** 2).mean())
    rnd = random_tiny_autoencoder()
    with torch.no_grad():
        psnr_random = -10 * torch.log10(((rnd.decode(rnd.encode(img)) - img) ** 2).mean())
    # the pool branch is reconstructed (see the module doc): far better than random weights, not SD-VAE quality
    assert psnr > 17 and psnr > psnr_random + 5, f"taef2 {psnr:.1f} dB vs random {psnr_random:.1f} dB"


def test_missing_weights_name_the_files(tmp_path, monkeypatch):
    with pytest.raises(FileNotFoundError, match="taef2_encoder.pth"):
        load_taef2(tmp_path)
    monkeypatch.delenv("SF_SD_VAE", raising=False)
    with pytest.raises(FileNotFoundError, match="SF_SD_VAE"):
        load_autoencoder("sd-vae")
