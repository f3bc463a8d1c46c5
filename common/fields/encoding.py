"""NeRF positional encoding gamma(x) = [x, sin(2^k x), cos(2^k x)], k = 0 .. L-1.

Two orders of the same features (D input channels, L frequencies):
  * ``"nerf"`` (nerf-pytorch's Embedder): [x, sin(2^0 x), cos(2^0 x), sin(2^1 x), cos(2^1 x), ...],
    each block D wide;
  * ``"dvgo"`` (DVGO's view embedding): [x, sin(x_d 2^k) for (d, k), cos(x_d 2^k) for (d, k)], i.e.
    all sines then all cosines, channel-major inside each.
Output width D * (include_input + 2 L). Example (D = 1, L = 2, x = 0.5, nerf): [0.5, sin 0.5,
cos 0.5, sin 1, cos 1].
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

LAYOUTS = ("nerf", "dvgo")


def encoding_dim(in_dim: int, n_freqs: int, include_input: bool = True) -> int:
    """Width of the encoding: in_dim * (include_input + 2 n_freqs)."""
    return in_dim * (int(include_input) + 2 * n_freqs)


def positional_encoding(x: Tensor, n_freqs: int, include_input: bool = True, layout: str = "nerf") -> Tensor:
    """gamma(x) [..., encoding_dim(D, n_freqs, include_input)] of x [..., D] with frequencies 2^k, k < n_freqs.

    See the module docstring for the two layouts. The frequencies are exact powers of two.
    """
    if layout not in LAYOUTS:
        raise ValueError(f"positional encoding layout must be one of {LAYOUTS}, got {layout!r}")
    freqs = 2.0 ** torch.arange(n_freqs, dtype=x.dtype, device=x.device)
    head = [x] if include_input else []
    if layout == "dvgo":
        emb = (x.unsqueeze(-1) * freqs).flatten(-2)  # [..., D * L], index d * L + k
        return torch.cat([*head, emb.sin(), emb.cos()], -1)
    emb = x.unsqueeze(-2) * freqs[:, None]  # [..., L, D]
    sincos = torch.stack([emb.sin(), emb.cos()], -2).flatten(-3)  # [..., L * 2 * D]
    return torch.cat([*head, sincos], -1)


class PositionalEncoding(nn.Module):
    """``positional_encoding`` as a module (no parameters); ``out_dim`` is the output width."""

    def __init__(self, in_dim: int, n_freqs: int, include_input: bool = True, layout: str = "nerf"):
        super().__init__()
        if layout not in LAYOUTS:
            raise ValueError(f"positional encoding layout must be one of {LAYOUTS}, got {layout!r}")
        self.in_dim, self.n_freqs, self.include_input, self.layout = int(in_dim), int(n_freqs), include_input, layout
        self.out_dim = encoding_dim(self.in_dim, self.n_freqs, include_input)

    def forward(self, x: Tensor) -> Tensor:
        return positional_encoding(x, self.n_freqs, self.include_input, self.layout)

    def extra_repr(self) -> str:
        return f"in_dim={self.in_dim}, n_freqs={self.n_freqs}, include_input={self.include_input}, layout={self.layout}"
