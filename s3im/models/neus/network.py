"""NeuS networks (official ``models/fields.py``): SDF network, colour network ('idr' mode), variance, NeRF++ background.

SDFNetwork: x [N, 3] -> PE (multires 6, input included: 39) -> 8 x 256 Softplus(beta=100) layers, the input
re-injected before layer 4 as cat([h, PE]) / sqrt(2) -> Linear(256, 1 + 256) = (sdf, feature). Weight norm
on every layer; geometric init (an sdf of the sphere of radius ``bias``, positive outside; with
``inside_outside`` negated: positive inside, for rooms seen from within); parameter names lin0..lin8 with
weight_g / weight_v as in the official state dicts.
Grid encoding (``grid`` given, ``model.sdf_encoding: grid``): the input is cat([PE(x), grid(x)]) with a
``MultiResDenseGrid`` (s3im.models.neus.grid_encoding); the geometric init zeroes the first layer's weights on
everything but xyz, so the initial SDF is the same sphere. Gradient d sdf / d x: ``gradient="analytic"``
(closed form in the forward pass: the grid's Jacobian pushed through the MLP in forward mode,
t <- (t W^T) * sigmoid(100 z) per Softplus layer; the eikonal loss then needs first-order backward only) or
``"numerical"`` (central differences with step ``fd_eps``, Neuralangelo: g_k = (f(x + eps e_k) - f(x - eps e_k))
/ (2 eps)). Without the grid, "analytic" is autograd with create_graph (the official double backward).
ColorNetwork ('idr'): cat([x, PE_4(view dir) (27), normal (3), feature (256)]) = 289 -> 4 x 256 ReLU -> 3, sigmoid.
SingleVariance: one scalar v (init 0.3); inv_s = exp(10 v).
BackgroundNeRF (NeRF++ outside model): input (x / |x|, 1 / |x|) (4-D, PE multires 10 -> 84), 8 x 256 ReLU with
the input re-injected after layer 4, view PE 4; returns (raw density [N], rgb logits [N, 3]).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from common.fields.encoding import encoding_dim, positional_encoding
from s3im.models.neus.blas import BACKENDS, linear
from s3im.models.neus.grid_encoding import MultiResDenseGrid

GRADIENTS = ("analytic", "numerical")


class WeightNormLinear(nn.Module):
    """Linear layer with weight normalisation W = g * v / ||v|| (rows), as ``nn.utils.weight_norm(dim=0)``.

    Parameters ``weight_g`` [out, 1], ``weight_v`` [out, in], ``bias`` [out] (the official state-dict names).
    With ``weight_norm=False`` it is a plain linear layer whose weight is ``weight_v`` (g unused, frozen at 1).
    """

    backend = "numpy"  # CPU matrix products (``s3im.models.neus.blas``); set per model by ``set_backend``

    def __init__(self, in_dim: int, out_dim: int, weight_norm: bool = True):
        super().__init__()
        ref = nn.Linear(in_dim, out_dim)  # torch's default init
        self.weight_v = nn.Parameter(ref.weight.detach().clone())
        self.bias = nn.Parameter(ref.bias.detach().clone())
        self.weight_g = nn.Parameter(self.weight_v.detach().norm(dim=1, keepdim=True), requires_grad=weight_norm)
        self.weight_norm = weight_norm

    def reset_g(self) -> None:
        """g = ||v|| (call after changing v, as weight_norm does when it is applied)."""
        with torch.no_grad():
            self.weight_g.copy_(self.weight_v.norm(dim=1, keepdim=True))

    def weight(self) -> Tensor:
        if not self.weight_norm:
            return self.weight_v
        return self.weight_v * (self.weight_g / self.weight_v.norm(dim=1, keepdim=True))

    def forward(self, x: Tensor) -> Tensor:
        return linear(x, self.weight(), self.bias, self.backend)


def set_backend(module: nn.Module, backend: str) -> None:
    """Use ``backend`` ("numpy" | "torch") for the products of every WeightNormLinear inside ``module``."""
    if backend not in BACKENDS:
        raise ValueError(f"matmul backend must be one of {BACKENDS}, got {backend!r}")
    for m in module.modules():
        if isinstance(m, WeightNormLinear):
            m.backend = backend


class SDFNetwork(nn.Module):
    """forward(x [N, 3]) -> [N, 1 + d_feature] = (sdf, feature); see the module doc."""

    def __init__(
        self,
        d_feature: int = 256,
        d_hidden: int = 256,
        n_layers: int = 8,
        skip_in: Sequence[int] = (4,),
        multires: int = 6,
        bias: float = 0.5,
        scale: float = 1.0,
        geometric_init: bool = True,
        weight_norm: bool = True,
        inside_outside: bool = False,
        grid: MultiResDenseGrid | None = None,
        gradient: str = "analytic",
        fd_eps: float = 1e-3,
    ):
        super().__init__()
        if gradient not in GRADIENTS:
            raise ValueError(f"NeuS sdf_gradient must be one of {GRADIENTS}, got {gradient!r}")
        self.multires, self.scale = int(multires), float(scale)
        self.skip_in = tuple(int(s) for s in skip_in)
        self.grid, self.gradient, self.fd_eps = grid, gradient, float(fd_eps)
        d_in = (encoding_dim(3, self.multires) if self.multires > 0 else 3) + (grid.out_dim if grid else 0)
        dims = [d_in] + [d_hidden] * n_layers + [1 + d_feature]
        self.num_layers = len(dims)
        self.d_in = d_in
        for layer in range(self.num_layers - 1):
            out_dim = dims[layer + 1] - dims[0] if layer + 1 in self.skip_in else dims[layer + 1]
            lin = WeightNormLinear(dims[layer], out_dim, weight_norm)
            if geometric_init:
                v = lin.weight_v.data
                nn.init.constant_(lin.bias, 0.0)
                if layer == self.num_layers - 2:
                    sign = -1.0 if inside_outside else 1.0
                    nn.init.normal_(v, mean=sign * math.sqrt(math.pi) / math.sqrt(dims[layer]), std=1e-4)
                    nn.init.constant_(lin.bias, -sign * bias)
                elif d_in > 3 and layer == 0:
                    nn.init.normal_(v[:, :3], 0.0, math.sqrt(2) / math.sqrt(out_dim))
                    nn.init.constant_(v[:, 3:], 0.0)
                elif d_in > 3 and layer in self.skip_in:
                    nn.init.normal_(v, 0.0, math.sqrt(2) / math.sqrt(out_dim))
                    nn.init.constant_(v[:, -(dims[0] - 3) :], 0.0)
                else:
                    nn.init.normal_(v, 0.0, math.sqrt(2) / math.sqrt(out_dim))
                lin.reset_g()
            setattr(self, f"lin{layer}", lin)

    def encode(self, x: Tensor) -> Tensor:
        """[N, d_in] = cat([PE(scale x) (or scale x), grid(x)])."""
        xs = x * self.scale
        h = positional_encoding(xs, self.multires) if self.multires > 0 else xs
        return torch.cat([h, self.grid(x)], -1) if self.grid is not None else h

    def forward(self, x: Tensor) -> Tensor:
        inputs = self.encode(x)
        h = inputs
        for layer in range(self.num_layers - 1):
            if layer in self.skip_in:
                h = torch.cat([h, inputs], -1) / math.sqrt(2)
            h = getattr(self, f"lin{layer}")(h)
            if layer < self.num_layers - 2:
                h = F.softplus(h, beta=100)
        return torch.cat([h[..., :1] / self.scale, h[..., 1:]], -1)

    def _forward_with_gradient(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """(forward(x) [N, 1 + F], d sdf / d x [N, 3]) with the forward-mode tangents of the module doc (grid only)."""
        xs = x * self.scale
        feat, dfeat = self.grid.lookup(x, jacobian=True)  # [N, G], [3, N, G]
        eye = torch.eye(3, dtype=x.dtype, device=x.device)[:, None, :] * self.scale  # d xs / d x_k [3, 1, 3]
        if self.multires > 0:
            freqs = 2.0 ** torch.arange(self.multires, dtype=x.dtype, device=x.device)
            emb = xs[:, None, :] * freqs[:, None]  # [N, L, 3], as ``positional_encoding`` (nerf layout)
            sin, cos = emb.sin(), emb.cos()  # once, for the values and their tangents
            head = torch.cat([xs, torch.stack([sin, cos], -2).flatten(-3)], -1)
            dsc = torch.stack([cos, -sin], -2) * freqs[:, None, None]  # [N, L, 2, 3]
            dsc = (dsc[None] * eye[:, :, None, None, :]).flatten(-3)  # [3, N, L * 2 * 3]
            dhead = torch.cat([eye.expand(3, len(x), 3), dsc], -1)
        else:
            head, dhead = xs, eye.expand(3, len(x), 3)
        inputs, dinputs = torch.cat([head, feat], -1), torch.cat([dhead, dfeat], -1)
        h, t = inputs, dinputs
        for layer in range(self.num_layers - 1):
            if layer in self.skip_in:
                h = torch.cat([h, inputs], -1) / math.sqrt(2)
                t = torch.cat([t, dinputs], -1) / math.sqrt(2)
            lin = getattr(self, f"lin{layer}")
            w = lin.weight()
            last = layer == self.num_layers - 2
            h = linear(h, w, lin.bias, lin.backend)
            t = linear(t.reshape(-1, t.shape[-1]), w[:1] if last else w, None, lin.backend).reshape(3, len(x), -1)
            if not last:
                t = t * torch.sigmoid(100.0 * h)
                h = F.softplus(h, beta=100)
        t = t[..., 0]  # d out_0 / d x_k: [3, N]
        out = torch.cat([h[..., :1] / self.scale, h[..., 1:]], -1)
        return out, t.T / self.scale

    def sdf(self, x: Tensor) -> Tensor:
        """[N, 1] signed distances."""
        return self.forward(x)[..., :1]

    def sdf_and_gradient(self, x: Tensor, create_graph: bool = True) -> tuple[Tensor, Tensor, Tensor]:
        """(sdf [N, 1], feature [N, F], gradient d sdf / d x [N, 3]) from ONE forward pass.

        Analytic: autograd with ``create_graph`` (the eikonal loss and the colour network differentiate
        through it); under ``torch.no_grad`` it is still computed (gradients enabled locally). Numerical: the
        central differences of the module doc (6 more SDF evaluations, in the current grad mode).
        """
        if self.grid is not None and self.gradient == "analytic":
            out, grad = self._forward_with_gradient(x)
            return out[..., :1], out[..., 1:], grad
        if self.gradient == "numerical":
            out = self.forward(x)
            shifts = torch.eye(3, dtype=x.dtype, device=x.device) * self.fd_eps  # [3, 3]
            pm = torch.stack([shifts, -shifts], 1).reshape(6, 3)  # +e0, -e0, +e1, ...
            s = self.sdf((x[:, None, :] + pm).reshape(-1, 3)).reshape(-1, 6)
            return out[..., :1], out[..., 1:], (s[:, 0::2] - s[:, 1::2]) / (2.0 * self.fd_eps)
        with torch.enable_grad():
            x = x.detach().requires_grad_(True)
            out = self.forward(x)
            sdf = out[..., :1]
            (grad,) = torch.autograd.grad(sdf, x, torch.ones_like(sdf), create_graph=create_graph)
        return sdf, out[..., 1:], grad


class ColorNetwork(nn.Module):
    """'idr' mode: forward(points, normals, view_dirs [N, 3], feature [N, F]) -> rgb [N, 3] in (0, 1)."""

    def __init__(
        self,
        d_feature: int = 256,
        d_hidden: int = 256,
        n_layers: int = 4,
        multires_view: int = 4,
        weight_norm: bool = True,
    ):
        super().__init__()
        self.multires_view = int(multires_view)
        d_view = encoding_dim(3, self.multires_view) if self.multires_view > 0 else 3
        dims = [3 + d_view + 3 + d_feature] + [d_hidden] * n_layers + [3]
        self.num_layers = len(dims)
        for layer in range(self.num_layers - 1):
            setattr(self, f"lin{layer}", WeightNormLinear(dims[layer], dims[layer + 1], weight_norm))

    def forward(self, points: Tensor, normals: Tensor, view_dirs: Tensor, feature: Tensor) -> Tensor:
        if self.multires_view > 0:
            view_dirs = positional_encoding(view_dirs, self.multires_view)
        h = torch.cat([points, view_dirs, normals, feature], -1)
        for layer in range(self.num_layers - 1):
            h = getattr(self, f"lin{layer}")(h)
            if layer < self.num_layers - 2:
                h = F.relu(h)
        return torch.sigmoid(h)


class SingleVariance(nn.Module):
    """The learned sharpness: inv_s = exp(10 * variance), variance initialised to ``init_val`` (0.3)."""

    def __init__(self, init_val: float = 0.3):
        super().__init__()
        self.variance = nn.Parameter(torch.tensor(float(init_val)))

    def inv_s(self) -> Tensor:
        """Scalar inv_s clipped to [1e-6, 1e6] (as ``render_core``)."""
        return torch.exp(self.variance * 10.0).clip(1e-6, 1e6)


class BackgroundNeRF(nn.Module):
    """NeRF++ outside model: forward(x4 [N, 4], dirs [N, 3]) -> (raw density [N], rgb logits [N, 3])."""

    def __init__(self, depth: int = 8, width: int = 256, multires: int = 10, multires_view: int = 4, skips=(4,)):
        super().__init__()
        self.multires, self.multires_view, self.skips = int(multires), int(multires_view), tuple(skips)
        d_in, d_view = encoding_dim(4, self.multires), encoding_dim(3, self.multires_view)
        self.pts_linears = nn.ModuleList(
            [nn.Linear(d_in, width)]
            + [nn.Linear(width + d_in if i in self.skips else width, width) for i in range(depth - 1)]
        )
        self.views_linears = nn.ModuleList([nn.Linear(d_view + width, width // 2)])
        self.feature_linear = nn.Linear(width, width)
        self.alpha_linear = nn.Linear(width, 1)
        self.rgb_linear = nn.Linear(width // 2, 3)

    def forward(self, x4: Tensor, dirs: Tensor) -> tuple[Tensor, Tensor]:
        inputs = positional_encoding(x4, self.multires)
        h = inputs
        for i, layer in enumerate(self.pts_linears):
            h = F.relu(layer(h))
            if i in self.skips:
                h = torch.cat([inputs, h], -1)
        density = self.alpha_linear(h)[..., 0]
        h = torch.cat([self.feature_linear(h), positional_encoding(dirs, self.multires_view)], -1)
        for layer in self.views_linears:
            h = F.relu(layer(h))
        return density, self.rgb_linear(h)
