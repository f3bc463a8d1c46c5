"""TensoRF's colour heads (official ``MLPRender_Fea``, ``MLPRender_PE``, ``MLPRender``).

PE(x, F) = [sin(x_d 2^k), ..., cos(x_d 2^k), ...] with the sin block then the cos block, each ordered
dimension-major (d, then k = 0..F-1); no identity term (the raw inputs are concatenated separately).
``MLP_Fea`` input: [feat (app_dim), viewdir (3), PE(feat, fea_pe), PE(viewdir, view_pe)]
-> Linear(featureC)-ReLU-Linear(featureC)-ReLU-Linear(3) (last bias 0) -> sigmoid.
With app_dim 27, fea_pe 2, view_pe 2: 27 + 3 + 108 + 12 = 150 inputs.
``MLP_PE`` replaces PE(feat) by [PE(xyz, pos_pe)] (points in normalised coordinates): input
[feat, viewdir, PE(xyz, pos_pe), PE(viewdir, view_pe)]; ``MLP``: [feat, viewdir, PE(viewdir, view_pe)].

Speed: the head runs on every sample of weight > rm_weight_mask_thre, all in-box samples early in
training (~490k per 4096-ray step). ``ColourMLP`` computes the same function with a hand-written
backward: the input matrix X [N, I] is written once (each block into its columns, no concatenation),
and the backward reuses the saved X, H1, H2 and rgb: sigmoid' = rgb (1 - rgb),
ReLU' = [H > 0], d sin(2^k f) / df = 2^k cos(2^k f) read from X (autograd evaluates cos and sin again),
and the input gradient only for the feature columns (the view-direction and point columns carry none).
Exactness against autograd: ``tests/s3im/test_tensorf_shading.py``.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

MODES = ("MLP_Fea", "MLP_PE", "MLP")


def pe_freqs(n_freqs: int, like: Tensor) -> Tensor:
    """[F] frequencies 2^k, k < F, in the dtype and on the device of ``like``."""
    return 2.0 ** torch.arange(n_freqs, dtype=like.dtype, device=like.device)


def tensorf_pe(x: Tensor, n_freqs: int) -> Tensor:
    """[..., 2 D F] sin/cos encoding of x [..., D] with frequencies 2^k, k < F (official layout)."""
    pts = (x[..., None] * pe_freqs(n_freqs, x)).reshape(*x.shape[:-1], x.shape[-1] * n_freqs)
    return torch.cat([torch.sin(pts), torch.cos(pts)], -1)


def write_pe(out: Tensor, x: Tensor, n_freqs: int) -> None:
    """Write ``tensorf_pe(x, n_freqs)`` into the columns ``out`` [N, 2 D F] (a view of the input matrix)."""
    n, d = x.shape
    pts = (x[:, :, None] * pe_freqs(n_freqs, x)).reshape(n, d * n_freqs)
    out[:, : d * n_freqs] = torch.sin(pts)  # contiguous, then copied: sin / cos into strided columns vectorise worse
    out[:, d * n_freqs :] = torch.cos(pts)


def pe_backward(grad: Tensor, pe: Tensor, n_freqs: int) -> Tensor:
    """d/dx of sum(grad * PE(x)) [N, D] from the saved PE values ``pe`` [N, 2 D F] and ``grad`` [N, 2 D F]:
    sum_k 2^k (cos_k g_sin_k - sin_k g_cos_k)."""
    n, width = pe.shape
    d = width // (2 * n_freqs)
    half = d * n_freqs
    sin, cos = pe[:, :half].reshape(n, d, n_freqs), pe[:, half:].reshape(n, d, n_freqs)
    g_sin, g_cos = grad[:, :half].reshape(n, d, n_freqs), grad[:, half:].reshape(n, d, n_freqs)
    return ((cos * g_sin).sub_(sin * g_cos) * pe_freqs(n_freqs, pe)).sum(-1)


class ColourMLP(torch.autograd.Function):
    """rgb = sigmoid(W3 relu(W2 relu(W1 X + b1) + b2) + b3) for the input matrix ``x`` [N, I]: the forward
    writes the features [N, C] into its first C columns and PE(features) into the columns ``pe_cols`` =
    (start, n_freqs) (None: no feature PE); the other columns arrive written. Gradients for the features
    and the six weights (see the module doc)."""

    @staticmethod
    def forward(ctx, features, x, pe_cols, w1, b1, w2, b2, w3, b3):
        c = features.shape[1]
        x[:, :c] = features
        if pe_cols is not None:
            start, n_freqs = pe_cols
            write_pe(x[:, start : start + 2 * c * n_freqs], features, n_freqs)
        h1 = torch.addmm(b1, x, w1.t()).relu_()
        h2 = torch.addmm(b2, h1, w2.t()).relu_()
        rgb = torch.addmm(b3, h2, w3.t()).sigmoid_()
        ctx.save_for_backward(x, h1, h2, rgb, w1, w2, w3)
        ctx.c, ctx.pe_cols = c, pe_cols
        return rgb

    @staticmethod
    def backward(ctx, g_rgb):
        x, h1, h2, rgb, w1, w2, w3 = ctx.saved_tensors
        g_out = g_rgb * rgb * (1 - rgb)
        g_w3, g_b3 = g_out.t() @ h2, g_out.sum(0)
        g_h2 = torch.ops.aten.threshold_backward(g_out @ w3, h2, 0)
        g_w2, g_b2 = g_h2.t() @ h1, g_h2.sum(0)
        g_h1 = torch.ops.aten.threshold_backward(g_h2 @ w2, h1, 0)
        del g_h2
        g_w1, g_b1 = g_h1.t() @ x, g_h1.sum(0)
        g_feat = None
        if ctx.needs_input_grad[0]:
            c = ctx.c
            g_feat = g_h1 @ w1[:, :c]
            if ctx.pe_cols is not None:
                start, n_freqs = ctx.pe_cols
                cols = slice(start, start + 2 * c * n_freqs)
                g_feat += pe_backward(g_h1 @ w1[:, cols], x[:, cols], n_freqs)
        return g_feat, None, None, g_w1, g_b1, g_w2, g_b2, g_w3, g_b3


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
        """rgb [N, 3] through ``ColourMLP`` (same values as ``forward_autograd``)."""
        n, c = features.shape
        x = features.new_empty(n, self.mlp[0].in_features)
        x[:, c : c + 3] = viewdirs
        col, pe_cols = c + 3, None
        if self.mode == "MLP_Fea" and self.fea_pe > 0:
            pe_cols = (col, self.fea_pe)
            col += 2 * c * self.fea_pe
        if self.mode == "MLP_PE" and self.pos_pe > 0:
            write_pe(x[:, col : col + 6 * self.pos_pe], xyz, self.pos_pe)
            col += 6 * self.pos_pe
        if self.view_pe > 0:
            write_pe(x[:, col : col + 6 * self.view_pe], viewdirs, self.view_pe)
        l1, l2, l3 = self.mlp[0], self.mlp[2], self.mlp[4]
        return ColourMLP.apply(features, x, pe_cols, l1.weight, l1.bias, l2.weight, l2.bias, l3.weight, l3.bias)

    def forward_autograd(self, features: Tensor, viewdirs: Tensor, xyz: Tensor | None = None) -> Tensor:
        """The official forward: concatenated inputs through ``self.mlp`` and autograd."""
        parts = [features, viewdirs]
        if self.mode == "MLP_Fea" and self.fea_pe > 0:
            parts.append(tensorf_pe(features, self.fea_pe))
        if self.mode == "MLP_PE" and self.pos_pe > 0:
            parts.append(tensorf_pe(xyz, self.pos_pe))
        if self.view_pe > 0:
            parts.append(tensorf_pe(viewdirs, self.view_pe))
        return torch.sigmoid(self.mlp(torch.cat(parts, -1)))
