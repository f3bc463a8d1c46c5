"""TensoRF's colour heads (official ``MLPRender_Fea``, ``MLPRender_PE``, ``MLPRender``).

PE(x, F) = [sin(x_d 2^k), ..., cos(x_d 2^k), ...] with the sin block then the cos block, each ordered
dimension-major (d, then k = 0..F-1); no identity term (the raw inputs are concatenated separately).
``MLP_Fea`` input: [feat (app_dim), viewdir (3), PE(feat, fea_pe), PE(viewdir, view_pe)]
-> Linear(featureC)-ReLU-Linear(featureC)-ReLU-Linear(3) (last bias 0) -> sigmoid.
With app_dim 27, fea_pe 2, view_pe 2: 27 + 3 + 108 + 12 = 150 inputs.
``MLP_PE`` replaces PE(feat) by [PE(xyz, pos_pe)] (points in normalised coordinates): input
[feat, viewdir, PE(xyz, pos_pe), PE(viewdir, view_pe)]; ``MLP``: [feat, viewdir, PE(viewdir, view_pe)].
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

MODES = ("MLP_Fea", "MLP_PE", "MLP")


def tensorf_pe(x: Tensor, n_freqs: int) -> Tensor:
    """[..., 2 D F] sin/cos encoding of x [..., D] with frequencies 2^k, k < F (official layout)."""
    freqs = 2.0 ** torch.arange(n_freqs, dtype=x.dtype, device=x.device)
    pts = (x[..., None] * freqs).reshape(*x.shape[:-1], x.shape[-1] * n_freqs)
    return torch.cat([torch.sin(pts), torch.cos(pts)], -1)


class MLPRender(nn.Module):
    """Colour head: rgb [N, 3] in (0, 1) from features [N, app_dim], view directions [N, 3] and (for
    MLP_PE) normalised points [N, 3]; ``mode`` one of MODES."""

    def __init__(self, mode: str, app_dim: int, view_pe: int = 2, fea_pe: int = 2, pos_pe: int = 6, width: int = 128):
        super().__init__()
        if mode not in MODES:
            raise ValueError(f"shading_mode must be one of {MODES}, got {mode!r}")
        self.mode, self.view_pe, self.fea_pe, self.pos_pe = mode, int(view_pe), int(fea_pe), int(pos_pe)
        n_in = app_dim + 3 + 6 * self.view_pe
        if mode == "MLP_Fea":
            n_in += 2 * self.fea_pe * app_dim
        elif mode == "MLP_PE":
            n_in += 6 * self.pos_pe
        self.mlp = nn.Sequential(
            nn.Linear(n_in, width),
            nn.ReLU(inplace=True),
            nn.Linear(width, width),
            nn.ReLU(inplace=True),
            nn.Linear(width, 3),
        )
        nn.init.constant_(self.mlp[-1].bias, 0)

    def forward(self, features: Tensor, viewdirs: Tensor, xyz: Tensor | None = None) -> Tensor:
        parts = [features, viewdirs]
        if self.mode == "MLP_Fea" and self.fea_pe > 0:
            parts.append(tensorf_pe(features, self.fea_pe))
        if self.mode == "MLP_PE" and self.pos_pe > 0:
            parts.append(tensorf_pe(xyz, self.pos_pe))
        if self.view_pe > 0:
            parts.append(tensorf_pe(viewdirs, self.view_pe))
        return torch.sigmoid(self.mlp(torch.cat(parts, -1)))
