"""The vanilla NeRF network (Mildenhall et al. 2020) in nerf-pytorch's layout, and its coarse + fine pair.

Parameters (defaults D = 8, W = 256, xyz PE L = 10 -> 63 inputs, view PE L = 4 -> 27 inputs):
  pts_linears   8 layers: Linear(63, 256), Linear(256, 256) x 4, Linear(256 + 63, 256) (input concat
                after layer 4, skips = [4]), Linear(256, 256) x 2; ReLU after each;
  with use_viewdirs:
    alpha_linear   Linear(256, 1)            raw density from the trunk;
    feature_linear Linear(256, 256)          (no activation), concatenated with the view encoding;
    views_linears  [Linear(256 + 27, 128)]   ReLU;
    rgb_linear     Linear(128, 3);
  without: output_linear Linear(256, 4) = (rgb logits, raw density). ``views_linears`` exists in both
  cases, as in nerf-pytorch, so state dicts match.
The encodings are nerf-pytorch's (``positional_encoding`` layout "nerf", input included).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from common.fields.encoding import encoding_dim, positional_encoding
from common.fields.mlp import apply_skip_linears, skip_linears


class NeRF(nn.Module):
    """NeRF MLP: ``forward(points [..., 3], viewdirs [..., 3] | None) -> (rgb [..., 3], sigma_raw [...])``.

    rgb = sigmoid(logits) in [0, 1]; sigma_raw is the density before its activation (nerf-pytorch
    applies relu(sigma_raw + noise) in ``raw2outputs``). viewdirs are unit directions (required when
    ``use_viewdirs``, ignored otherwise). Points are encoded as given (no scaling).
    """

    def __init__(
        self,
        depth: int = 8,
        width: int = 256,
        pos_freqs: int = 10,
        view_freqs: int = 4,
        skips: Sequence[int] = (4,),
        use_viewdirs: bool = True,
    ):
        super().__init__()
        self.pos_freqs, self.view_freqs = int(pos_freqs), int(view_freqs)
        self.skips = tuple(int(s) for s in skips)
        self.use_viewdirs = bool(use_viewdirs)
        self.input_ch = encoding_dim(3, self.pos_freqs)
        self.input_ch_views = encoding_dim(3, self.view_freqs)
        self.pts_linears = skip_linears(self.input_ch, width, depth, self.skips)
        self.views_linears = nn.ModuleList([nn.Linear(self.input_ch_views + width, width // 2)])
        if self.use_viewdirs:
            self.feature_linear = nn.Linear(width, width)
            self.alpha_linear = nn.Linear(width, 1)
            self.rgb_linear = nn.Linear(width // 2, 3)
        else:
            self.output_linear = nn.Linear(width, 4)

    def forward(self, points: Tensor, viewdirs: Tensor | None = None) -> tuple[Tensor, Tensor]:
        h = apply_skip_linears(self.pts_linears, positional_encoding(points, self.pos_freqs), self.skips)
        if not self.use_viewdirs:
            out = self.output_linear(h)
            return torch.sigmoid(out[..., :3]), out[..., 3]
        if viewdirs is None:
            raise ValueError("NeRF(use_viewdirs=True) needs viewdirs")
        sigma_raw = self.alpha_linear(h)[..., 0]
        h = torch.cat([self.feature_linear(h), positional_encoding(viewdirs, self.view_freqs)], -1)
        for layer in self.views_linears:
            h = F.relu(layer(h))
        return torch.sigmoid(self.rgb_linear(h)), sigma_raw


class NeRFFields(nn.Module):
    """The coarse and fine networks of hierarchical sampling (nerf-pytorch ``network_fn`` and
    ``network_fine``); both are ``NeRF(**kwargs)``, ``fine`` is None when ``with_fine`` is False.

    ``forward(points, viewdirs, level)`` evaluates the coarse (level "coarse") or fine network; the
    fine level falls back to the coarse network when there is none (nerf-pytorch with N_importance 0).
    """

    def __init__(self, with_fine: bool = True, **kwargs):
        super().__init__()
        self.coarse = NeRF(**kwargs)
        self.fine = NeRF(**kwargs) if with_fine else None

    def network(self, level: str) -> NeRF:
        if level == "coarse":
            return self.coarse
        if level == "fine":
            return self.fine if self.fine is not None else self.coarse
        raise ValueError(f"NeRFFields level must be 'coarse' or 'fine', got {level!r}")

    def forward(self, points: Tensor, viewdirs: Tensor | None = None, level: str = "coarse") -> tuple[Tensor, Tensor]:
        return self.network(level)(points, viewdirs)
