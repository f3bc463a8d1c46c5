"""The frozen pretrained image autoencoder of the VLDM: x in [0, 1] [B, 3, H, W] <-> latent z [B, C, H/8, W/8].

Which one (``load_autoencoder``), in order:
  1. the Stable Diffusion KL-f8 VAE (diffusers ``AutoencoderKL``, 4 latent channels) from ``$SF_SD_VAE``: a
     diffusers folder (``config.json`` + weights) or a single checkpoint file (``.ckpt`` / ``.safetensors``,
     read with ``from_single_file``); z = mode(q(z | 2x - 1)) * 0.18215, as the official code.
  2. the real tiny autoencoder ``taef2`` (TAESD architecture distilled from the FLUX.2 VAE, 32 latent
     channels) from ``../shared/data/taesd-taef2-weights`` (or ``$SF_TAESD_DIR``): z = E(x), x = D(z).
     diffusers' ``AutoencoderTiny`` cannot load these files: their last-level blocks carry an extra branch
     ``pool`` (1x1 conv 64->256 without bias, a normalisation with weight and bias, an activation, 1x1 conv
     256->64 without bias) that the published taesd.py and diffusers lack. ``TinyBlock`` adds that branch
     as ``fuse(conv(x) + skip(x) + pool(x))`` with GroupNorm(32) and GELU: of the variants tried (global vs
     per-pixel branch, GroupNorm(1 / 32) / channel LayerNorm, ReLU / GELU / SiLU) it reconstructs images
     best (``benchmarks/bench_sparsefusion_autoencoder.py`` prints the reconstruction PSNR). It is a
     reconstruction of an undocumented module: outputs name it "taef2 (pool branch reconstructed)".
  3. nothing: one error line naming the files to provide.

``random_tiny_autoencoder`` builds the taef2 architecture with random weights (tests only; named so).
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import Tensor, nn

from common.compat import import_diffusers

SD_VAE_ENV = "SF_SD_VAE"
TAESD_ENV = "SF_TAESD_DIR"
TAESD_DEFAULT = Path(__file__).resolve().parents[2] / "shared" / "data" / "taesd-taef2-weights"
SD_SCALE = 0.18215


def _conv(n_in: int, n_out: int, **kwargs) -> nn.Conv2d:
    return nn.Conv2d(n_in, n_out, 3, padding=1, **kwargs)


class TinyBlock(nn.Module):
    """TAESD block: fuse(conv(x) + skip(x) [+ pool(x)]), conv = 3 x (3x3 conv) with ReLUs between."""

    def __init__(self, channels: int = 64, pool: bool = False):
        super().__init__()
        c = channels
        self.conv = nn.Sequential(_conv(c, c), nn.ReLU(), _conv(c, c), nn.ReLU(), _conv(c, c))
        self.skip = nn.Identity()
        self.fuse = nn.ReLU()
        self.pool = (
            nn.Sequential(
                nn.Conv2d(c, 4 * c, 1, bias=False),
                nn.GroupNorm(32, 4 * c),
                nn.GELU(),
                nn.Conv2d(4 * c, c, 1, bias=False),
            )
            if pool
            else None
        )

    def forward(self, x: Tensor) -> Tensor:
        h = self.conv(x) + self.skip(x)
        return self.fuse(h if self.pool is None else h + self.pool(x))


class Clamp(nn.Module):
    def forward(self, x: Tensor) -> Tensor:
        return torch.tanh(x / 3) * 3


def tiny_encoder(latent: int = 32, pool_last: bool = True) -> nn.Sequential:
    """TAESD encoder layout (indices as the checkpoint's keys); x in [0, 1] -> z at 1/8 resolution."""
    last = [TinyBlock(64, pool_last) for _ in range(3)]
    return nn.Sequential(
        _conv(3, 64), TinyBlock(),
        _conv(64, 64, stride=2, bias=False), TinyBlock(), TinyBlock(), TinyBlock(),
        _conv(64, 64, stride=2, bias=False), TinyBlock(), TinyBlock(), TinyBlock(),
        _conv(64, 64, stride=2, bias=False), *last,
        _conv(64, latent),
    )  # fmt: skip


def tiny_decoder(latent: int = 32, pool_first: bool = True) -> nn.Sequential:
    """TAESD decoder layout (indices as the checkpoint's keys); z -> x in [0, 1] (unclamped)."""
    first = [TinyBlock(64, pool_first) for _ in range(3)]
    up = [nn.Upsample(scale_factor=2), _conv(64, 64, bias=False)]
    return nn.Sequential(
        Clamp(), _conv(latent, 64), nn.ReLU(),
        *first, *up,
        TinyBlock(), TinyBlock(), TinyBlock(), nn.Upsample(scale_factor=2), _conv(64, 64, bias=False),
        TinyBlock(), TinyBlock(), TinyBlock(), nn.Upsample(scale_factor=2), _conv(64, 64, bias=False),
        TinyBlock(), _conv(64, 3),
    )  # fmt: skip


class FrozenAutoencoder(nn.Module):
    """encode(x [B, 3, H, W] in [0, 1]) -> z [B, C, H/8, W/8]; decode(z) -> x in [0, 1]. No trainable parameters."""

    factor = 8

    def __init__(self, kind: str, name: str, latent_channels: int, encoder=None, decoder=None, vae=None):
        super().__init__()
        self.kind, self.name, self.latent_channels = kind, name, latent_channels
        self.encoder, self.decoder, self.vae = encoder, decoder, vae
        self.requires_grad_(False)
        self.eval()

    def train(self, mode: bool = True) -> FrozenAutoencoder:
        return super().train(False)

    def encode(self, x: Tensor) -> Tensor:
        if self.kind == "sd-vae":
            return self.vae.encode(2 * x - 1).latent_dist.mode() * SD_SCALE
        return self.encoder(x)

    def decode(self, z: Tensor) -> Tensor:
        if self.kind == "sd-vae":
            return ((self.vae.decode(z / SD_SCALE).sample + 1) / 2).clamp(0, 1)
        return self.decoder(z).clamp(0, 1)


def _half_to_float(state: dict) -> dict:
    return {k: v.float() for k, v in state.items()}


def load_taef2(folder: str | Path) -> FrozenAutoencoder:
    folder = Path(folder)
    enc_path, dec_path = folder / "taef2_encoder.pth", folder / "taef2_decoder.pth"
    for path in (enc_path, dec_path):
        if not path.is_file():
            raise FileNotFoundError(f"{path}: missing; expected the taef2 state dict from madebyollin/taesd")
    enc, dec = tiny_encoder(32), tiny_decoder(32)
    enc.load_state_dict(_half_to_float(torch.load(enc_path, map_location="cpu", weights_only=True)))
    dec.load_state_dict(_half_to_float(torch.load(dec_path, map_location="cpu", weights_only=True)))
    return FrozenAutoencoder("taef2", "taef2 (real tiny autoencoder, pool branch reconstructed)", 32, enc, dec)


def load_sd_vae(path: str | Path) -> FrozenAutoencoder:
    diffusers = import_diffusers()
    path = Path(path)
    if path.is_dir():
        vae = diffusers.AutoencoderKL.from_pretrained(path, local_files_only=True)
    elif path.is_file():
        vae = diffusers.AutoencoderKL.from_single_file(path, local_files_only=True)
    else:
        raise FileNotFoundError(f"{path}: ${SD_VAE_ENV} names no file or folder; expected the SD KL-f8 VAE")
    return FrozenAutoencoder("sd-vae", f"Stable Diffusion KL-f8 VAE ({path.name})", 4, vae=vae)


def random_tiny_autoencoder(latent: int = 32, seed: int = 0) -> FrozenAutoencoder:
    """The taef2 architecture with random weights (for tests)."""
    torch.manual_seed(seed)
    return FrozenAutoencoder(
        "random", "taef2 architecture, random weights (test only)", latent, tiny_encoder(latent), tiny_decoder(latent)
    )


def load_autoencoder(kind: str = "auto") -> FrozenAutoencoder:
    """``auto``: the SD VAE when ``$SF_SD_VAE`` is set, else taef2; ``sd-vae`` / ``taef2``: that one; ``random``:
    random taef2 architecture. Raises FileNotFoundError (one line naming the files) when weights are missing."""
    if kind == "random":
        return random_tiny_autoencoder()
    if kind == "sd-vae" or (kind == "auto" and os.environ.get(SD_VAE_ENV)):
        if not os.environ.get(SD_VAE_ENV):
            raise FileNotFoundError(f"set ${SD_VAE_ENV} to the SD KL-f8 VAE (diffusers folder or sd-v1-x checkpoint)")
        return load_sd_vae(os.environ[SD_VAE_ENV])
    if kind in ("taef2", "auto"):
        return load_taef2(os.environ.get(TAESD_ENV) or TAESD_DEFAULT)
    raise ValueError(f"autoencoder kind {kind!r}; expected auto, sd-vae, taef2 or random")
