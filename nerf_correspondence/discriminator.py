"""pi-GAN's progressive discriminator (``CCSEncoderDiscriminator``) with fade-in.

Blocks (official channels 32, 64, 128, 256, 400, 400, 400, 400 -> 7 residual CoordConv blocks)::

    ResidualCCBlock(c_in, c_out): y = LReLU(CoordConv(c_out, 3x3)(LReLU(CoordConv(c_in -> c_out, 3x3)(x))))
                                  y = AvgPool2(y); out = (y + Conv1x1_stride2(x)) / sqrt(2)

CoordConv concatenates the pixel coordinates (x, y in [-1, 1]) before the convolution. An image of side
``2^(k)`` enters at block ``start = n_blocks - (k - 1)`` through ``fromRGB[start]`` (1x1 conv + LReLU(0.2)); with
fade-in alpha < 1 the output of the first block is blended with the next adapter on the 2x downsampled image:
``x = alpha * block_start(fromRGB[start](img)) + (1 - alpha) * fromRGB[start + 1](downsample(img))``. After the
last block (2x2) a Conv2d(C, 1 + Z + 2, 2) gives (logit [B, 1], latent [B, Z], position (pitch, yaw) [B, 2]).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

OFFICIAL_CHANNELS = (32, 64, 128, 256, 400, 400, 400, 400)


def add_coords(x: Tensor) -> Tensor:
    """[B, C, H, W] -> [B, C + 2, H, W] with x and y coordinates in [-1, 1]."""
    b, _, h, w = x.shape
    ys = torch.linspace(-1, 1, h, dtype=x.dtype, device=x.device)[:, None].expand(h, w)
    xs = torch.linspace(-1, 1, w, dtype=x.dtype, device=x.device)[None, :].expand(h, w)
    return torch.cat([x, torch.stack([xs, ys])[None].expand(b, 2, h, w)], 1)


class CoordConv(nn.Module):
    def __init__(self, c_in: int, c_out: int, kernel: int, padding: int):
        super().__init__()
        self.conv = nn.Conv2d(c_in + 2, c_out, kernel, padding=padding)

    def forward(self, x: Tensor) -> Tensor:
        return self.conv(add_coords(x))


class ResidualCCBlock(nn.Module):
    """[B, c_in, H, W] -> [B, c_out, H / 2, W / 2]; see the module docstring."""

    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        self.conv1, self.conv2 = CoordConv(c_in, c_out, 3, 1), CoordConv(c_out, c_out, 3, 1)
        self.proj = nn.Conv2d(c_in, c_out, 1, stride=2)

    def forward(self, x: Tensor) -> Tensor:
        y = F.leaky_relu(self.conv2(F.leaky_relu(self.conv1(x), 0.2)), 0.2)
        return (F.avg_pool2d(y, 2) + self.proj(x)) / math.sqrt(2)


class ProgressiveDiscriminator(nn.Module):
    """forward(img [B, 3, H, H] in [-1, 1], alpha) -> (logit [B, 1], latent [B, Z], position [B, 2]).

    ``channels`` has n + 1 entries for n blocks; the largest accepted side is 2^(n + 1).
    """

    def __init__(self, channels: tuple[int, ...] = OFFICIAL_CHANNELS, z_dim: int = 256):
        super().__init__()
        self.channels, self.z_dim = tuple(channels), z_dim
        self.layers = nn.ModuleList([ResidualCCBlock(a, b) for a, b in zip(channels[:-1], channels[1:])])
        self.fromRGB = nn.ModuleList([nn.Sequential(nn.Conv2d(3, c, 1), nn.LeakyReLU(0.2)) for c in channels])
        self.final_layer = nn.Conv2d(channels[-1], 1 + z_dim + 2, 2)

    def start_block(self, side: int) -> int:
        """Index of the first block used for images of side ``side`` (a power of two, 4 .. 2^(n + 1))."""
        k = int(round(math.log2(side)))
        start = len(self.layers) - (k - 1)
        if 2**k != side or not 0 <= start <= len(self.layers) - 1:
            raise ValueError(f"discriminator takes square images of side 4 .. {2 ** (len(self.layers) + 1)} "
                             f"(a power of two), got {side}")  # fmt: skip
        return start

    def forward(self, img: Tensor, alpha: float = 1.0) -> tuple[Tensor, Tensor, Tensor]:
        start = self.start_block(img.shape[-1])
        x = self.fromRGB[start](img)
        for i, layer in enumerate(self.layers[start:]):
            if i == 1 and alpha < 1:
                skip = self.fromRGB[start + 1](F.interpolate(img, scale_factor=0.5, mode="nearest"))
                x = alpha * x + (1 - alpha) * skip
            x = layer(x)
        out = self.final_layer(x).reshape(img.shape[0], -1)
        return out[:, :1], out[:, 1 : 1 + self.z_dim], out[:, 1 + self.z_dim :]
