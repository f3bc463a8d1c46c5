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
/ (2 eps)). Without the grid, "analytic" is the same gradient as the official autograd double backward, computed
explicitly (``_SoftplusMLPWithGradient``): one forward pass keeping z_l's softplus h_l and its derivative
s_l = sigmoid(100 z_l), the reverse sweep v_{l-1} = (v_l * s_l) W_l through the skip connection and the PE
Jacobian, and a hand-written first-order backward of both; ``explicit = False`` restores autograd with
create_graph. The no-grad ``sdf`` (up-sampling, meshes) evaluates only the sdf row of the output layer.
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
from s3im.models.neus.blas import BACKENDS, linear, mm
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


# ---------------------------------------------------------------- explicit value + input gradient (PE / any input)
class _MLPPlan:
    """Static structure of a Softplus MLP for ``_SoftplusMLPWithGradient`` (linear layers 0..L, L the output).

    Layer l computes z_l = c_l (h_{l-1} W_l,h^T + inputs W_l,x^T) + b_l: the h-part for l >= 1, the input part for
    layer 0 and the skip layers (c_l = 1 / sqrt(2) there, else 1); h_l = softplus_beta(z_l) for l < L.
    """

    def __init__(self, skip: Sequence[int], n_linear: int, d_in: int, beta: float, block: int, backend: str):
        self.L = int(n_linear) - 1
        skip = {int(s) for s in skip if 0 < int(s) <= self.L}
        self.x_layers = tuple(sorted({0, *skip}))
        self.c = [1.0 / math.sqrt(2) if l in skip else 1.0 for l in range(self.L + 1)]
        self.d_in, self.beta, self.block, self.backend = int(d_in), float(beta), max(1, int(block)), backend

    def split(self, weights: Sequence[Tensor]) -> tuple[list, list]:
        """(Wh, Wx) per layer, scaled by c_l: the h-part [out, in - d_in] (None for layer 0), the input part
        [out, d_in] (None outside layer 0 and the skip layers)."""
        wh, wx = [], []
        for l, w in enumerate(weights):
            c = self.c[l]
            if l == 0:
                wh.append(None)
                wx.append(w.contiguous())
            elif l in self.x_layers:
                n = w.shape[1] - self.d_in
                wh.append(w[:, :n] * c)
                wx.append(w[:, n:] * c)
            else:
                wh.append(w * c if c != 1.0 else w.contiguous())
                wx.append(None)
        return wh, wx


def _acc(grads: list, l: int, value: Tensor) -> None:
    """grads[l] += value (first value kept)."""
    if grads[l] is None:
        grads[l] = value
    else:
        grads[l].add_(value)


def _softplus_mlp(plan: _MLPPlan, inputs: Tensor, wh: list, wx: list, biases: Sequence[Tensor], with_gradient: bool):
    """Blocked forward of ``plan`` (no autograd): (out [N, M], gin [N, d_in] or None, (H, S, GH) kept for the
    backward or None, input-part column offsets); the reverse sweep of ``_SoftplusMLPWithGradient`` when
    ``with_gradient``."""
    L, beta, bk = plan.L, plan.beta, plan.backend
    offs, o = {}, 0
    for l in plan.x_layers:  # all input parts in one product: columns offs[l] of X
        offs[l] = (o, o + wx[l].shape[0])
        o += wx[l].shape[0]
    xw_t = torch.cat([wx[l] for l in plan.x_layers], 0).t()
    xb = torch.cat([biases[l] for l in plan.x_layers], 0)
    N = inputs.shape[0]
    opts = {"dtype": inputs.dtype, "device": inputs.device}
    out = torch.empty(N, wh[L].shape[0], **opts)
    gin = torch.empty(N, plan.d_in, **opts) if with_gradient else None
    if with_gradient:
        H = [torch.empty(N, wh[l + 1].shape[1], **opts) for l in range(L)]
        S = [torch.empty_like(h) for h in H]
        GH = [torch.empty_like(h) for h in H[: L - 1]]
    v_last = wh[L][0]  # gh_{L-1}
    for i in range(0, N, plan.block):
        j = min(N, i + plan.block)
        X = mm(inputs[i:j], xw_t, backend=bk).add_(xb)
        h = None
        for l in range(L + 1):
            if l == 0:
                z = X[:, offs[0][0] : offs[0][1]]
            else:
                z = mm(h, wh[l].t(), out=out[i:j] if l == L else None, backend=bk)
                z.add_(X[:, offs[l][0] : offs[l][1]] if l in offs else biases[l])
            if l < L:
                if not with_gradient:
                    h = F.softplus(z, beta, 20.0)
                    continue
                h = H[l][i:j]
                h.copy_(F.softplus(z, beta, 20.0))
                s = torch.sigmoid(z.mul_(beta), out=S[l][i:j])
                if s.dtype == torch.float64:  # softplus is linear above beta z = 20 (in float32 sigmoid is 1 there)
                    s.masked_fill_(z > 20.0, 1.0)
        if not with_gradient:
            continue
        g, first = gin[i:j], True
        if L in offs:
            g.copy_(wx[L][0].expand_as(g))
            first = False
        for l in range(L - 1, -1, -1):
            gz = S[l][i:j] * (v_last if l == L - 1 else GH[l][i:j])
            if l in offs:
                if first:
                    mm(gz, wx[l], out=g, backend=bk)
                    first = False
                else:
                    g.add_(mm(gz, wx[l], backend=bk))
            if l >= 1:
                mm(gz, wh[l], out=GH[l - 1][i:j], backend=bk)
    return out, gin, ((H, S, GH) if with_gradient else None), offs


class _SoftplusMLPWithGradient(torch.autograd.Function):
    """(out [N, M], gin [N, d_in]) = (MLP(inputs), d out[:, 0] / d inputs), with a hand-written first-order backward.

    Forward: one pass keeping h_l = softplus(z_l) and s_l = sigmoid(beta z_l) (the softplus derivative), then the
    explicit reverse sweep gz_l = gh_l s_l, gh_{l-1} = gz_l W_l,h (gh_{L-1} = W_L,h[0]), gin = sum of gz_l W_l,x over
    the input layers (+ W_L,x[0]). Backward (first order; the loss differentiates both outputs): the adjoint of the
    reverse sweep bottom-up, P_l = dL/dgz_l = D_{l-1} W_l,h^T + Gin W_l,x^T, D_l = dL/dgh_l = P_l s_l,
    dS_l = P_l gh_l; then the forward chain top-down, dL/dz_l = dL/dh_l s_l + dS_l beta s_l (1 - s_l). The same
    products as autograd's double backward minus the ones it throws away (weight gradients of the inner backward,
    the dense [N, M] product of the output layer). Rows run in blocks of ``plan.block`` so that the element-wise
    passes work on cache-resident blocks; matrix products through ``blas.mm`` (numpy BLAS on the CPU).
    """

    @staticmethod
    def forward(ctx, plan: _MLPPlan, inputs: Tensor, *params: Tensor):
        n_w = len(params) // 2
        weights, biases = params[:n_w], params[n_w:]
        wh, wx = plan.split(weights)
        inputs = inputs.contiguous()
        out, gin, (H, S, GH), offs = _softplus_mlp(plan, inputs, wh, wx, biases, with_gradient=True)
        ctx.plan, ctx.wh, ctx.wx, ctx.offs, ctx.H, ctx.S, ctx.GH = plan, wh, wx, offs, H, S, GH
        ctx.save_for_backward(inputs)
        ctx.set_materialize_grads(False)
        return out, gin

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, d_out: Tensor | None, d_gin: Tensor | None):
        plan, wh, wx, offs, H, S, GH = ctx.plan, ctx.wh, ctx.wx, ctx.offs, ctx.H, ctx.S, ctx.GH
        (inputs,) = ctx.saved_tensors
        L, beta, bk = plan.L, plan.beta, plan.backend
        N = inputs.shape[0]
        v_last = wh[L][0]
        d_out = d_out.contiguous() if d_out is not None else None
        d_gin = d_gin.contiguous() if d_gin is not None else None
        d_wh, d_wx, d_b = [None] * (L + 1), [None] * (L + 1), [None] * (L + 1)
        d_inputs = torch.zeros_like(inputs) if ctx.needs_input_grad[1] else None
        for i in range(0, N, plan.block):
            j = min(N, i + plan.block)
            xin = inputs[i:j]
            dS = [None] * L
            if d_gin is not None:  # adjoint of the reverse sweep, bottom-up
                G, D = d_gin[i:j], None
                for l in range(L):
                    P = mm(D, wh[l].t(), backend=bk) if l >= 1 else None
                    gh, s = (v_last if l == L - 1 else GH[l][i:j]), S[l][i:j]
                    gz = s * gh
                    if l in offs:
                        px = mm(G, wx[l].t(), backend=bk)
                        P = px if P is None else P.add_(px)
                        _acc(d_wx, l, mm(gz.t(), G, backend=bk))
                    if l >= 1:
                        _acc(d_wh, l, mm(gz.t(), D, backend=bk))
                    dS[l] = P * gh
                    D = P.mul_(s)
                if d_wh[L] is None:
                    d_wh[L] = torch.zeros_like(wh[L])
                d_wh[L][0].add_(D.sum(0))
                if L in offs:
                    if d_wx[L] is None:
                        d_wx[L] = torch.zeros_like(wx[L])
                    d_wx[L][0].add_(G.sum(0))
            dh = None
            if d_out is not None:  # forward chain, top-down
                E = d_out[i:j]
                _acc(d_wh, L, mm(E.t(), H[L - 1][i:j], backend=bk))
                _acc(d_b, L, E.sum(0))
                if L in offs:
                    _acc(d_wx, L, mm(E.t(), xin, backend=bk))
                    if d_inputs is not None:
                        d_inputs[i:j].add_(mm(E, wx[L], backend=bk))
                dh = mm(E, wh[L], backend=bk)
            for l in range(L - 1, -1, -1):
                s = S[l][i:j]
                if dS[l] is not None and dh is not None:
                    E = dh.addcmul_(dS[l], torch.sub(1.0, s), value=beta).mul_(s)
                elif dS[l] is not None:
                    E = dS[l].mul_(torch.sub(1.0, s)).mul_(s).mul_(beta)
                elif dh is not None:
                    E = dh.mul_(s)
                else:
                    continue
                _acc(d_b, l, E.sum(0))
                if l >= 1:
                    _acc(d_wh, l, mm(E.t(), H[l - 1][i:j], backend=bk))
                if l in offs:
                    _acc(d_wx, l, mm(E.t(), xin, backend=bk))
                    if d_inputs is not None:
                        d_inputs[i:j].add_(mm(E, wx[l], backend=bk))
                dh = mm(E, wh[l], backend=bk) if l >= 1 else None
        d_w = []
        for l in range(L + 1):
            parts = [
                p if p is not None else torch.zeros_like(w)
                for p, w in ((d_wh[l], wh[l]), (d_wx[l], wx[l]))
                if w is not None
            ]
            g = torch.cat(parts, 1) if len(parts) > 1 else parts[0]
            d_w.append(g.mul_(plan.c[l]) if plan.c[l] != 1.0 else g)
        d_b = [d if d is not None else torch.zeros_like(w[:, 0]) for d, w in zip(d_b, d_w)]
        return (None, d_inputs, *d_w, *d_b)


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
        self.explicit = True  # analytic gradient without grid: hand-differentiated (False: autograd double backward)
        self.block = 1024  # rows per block of the explicit path (cache-resident element-wise passes)
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

    def _pe_parts(self, xs: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """(PE(xs) [N, 3 + 6 L] as ``positional_encoding`` (nerf layout), freqs [L], sin, cos [N, L, 3]): sin / cos
        computed once, for the encoding and its Jacobian."""
        freqs = 2.0 ** torch.arange(self.multires, dtype=xs.dtype, device=xs.device)
        emb = xs[:, None, :] * freqs[:, None]  # [N, L, 3]
        sin, cos = emb.sin(), emb.cos()
        return torch.cat([xs, torch.stack([sin, cos], -2).flatten(-3)], -1), freqs, sin, cos

    def _forward_with_gradient(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """(forward(x) [N, 1 + F], d sdf / d x [N, 3]) with the forward-mode tangents of the module doc (grid only)."""
        xs = x * self.scale
        feat, dfeat = self.grid.lookup(x, jacobian=True)  # [N, G], [3, N, G]
        eye = torch.eye(3, dtype=x.dtype, device=x.device)[:, None, :] * self.scale  # d xs / d x_k [3, 1, 3]
        if self.multires > 0:
            head, freqs, sin, cos = self._pe_parts(xs)
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

    # ------------------------------------------------------------------ explicit (hand-differentiated) path
    def _plan(self, x: Tensor) -> _MLPPlan:
        block = self.block if x.device.type == "cpu" else len(x)  # blocks: CPU caches; one launch per op elsewhere
        return _MLPPlan(self.skip_in, self.num_layers - 1, self.d_in, 100.0, block, self.lin0.backend)

    def _encode_with_jacobian(self, x: Tensor):
        """(inputs [N, d_in] of ``encode`` (no grid), a function gin [N, d_in] -> d / d x [N, 3])."""
        xs = x * self.scale
        if self.multires <= 0:
            return xs, lambda gin: gin
        inputs, freqs, sin, cos = self._pe_parts(xs)

        def pullback(gin: Tensor) -> Tensor:  # d out / d xs (= d (out / scale) / d x)
            gsc = gin[:, 3:].reshape(len(gin), self.multires, 2, 3)
            return gin[:, :3] + ((gsc[:, :, 0] * cos - gsc[:, :, 1] * sin) * freqs[:, None]).sum(1)

        return inputs, pullback

    def _explicit_ok(self, x: Tensor) -> bool:
        return self.grid is None and self.num_layers >= 3 and x.dim() == 2

    def _explicit_sdf_and_gradient(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """(sdf, feature, gradient) of ``sdf_and_gradient`` from ``_SoftplusMLPWithGradient`` (differentiable once)."""
        inputs, pullback = self._encode_with_jacobian(x.detach())  # as autograd's path: no gradient to x
        lins = [getattr(self, f"lin{i}") for i in range(self.num_layers - 1)]
        params = [lin.weight() for lin in lins] + [lin.bias for lin in lins]
        out, gin = _SoftplusMLPWithGradient.apply(self._plan(x), inputs, *params)
        return out[:, :1] / self.scale, out[:, 1:], pullback(gin)

    @torch.no_grad()
    def _sdf_values(self, x: Tensor) -> Tensor:
        """[N, 1] signed distances without autograd: the blocked forward, the output layer's sdf row only."""
        inputs = self.encode(x).contiguous()
        lins = [getattr(self, f"lin{i}") for i in range(self.num_layers - 1)]
        plan = self._plan(x)
        wh, wx = plan.split([lin.weight() for lin in lins])
        wh[-1] = wh[-1][:1].contiguous()
        wx[-1] = wx[-1][:1].contiguous() if wx[-1] is not None else None
        biases = [lin.bias for lin in lins[:-1]] + [lins[-1].bias[:1]]
        out = _softplus_mlp(plan, inputs, wh, wx, biases, with_gradient=False)[0]
        return out / self.scale

    def sdf(self, x: Tensor) -> Tensor:
        """[N, 1] signed distances."""
        if self.explicit and self._explicit_ok(x) and not torch.is_grad_enabled():
            return self._sdf_values(x)
        return self.forward(x)[..., :1]

    def sdf_and_gradient(self, x: Tensor, create_graph: bool = True) -> tuple[Tensor, Tensor, Tensor]:
        """(sdf [N, 1], feature [N, F], gradient d sdf / d x [N, 3]) from ONE forward pass.

        Analytic without the grid: the explicit gradient of ``_SoftplusMLPWithGradient`` (``explicit``, default;
        the loss needs first-order backward only) or autograd with ``create_graph`` (the official double
        backward; ``explicit = False``); under ``torch.no_grad`` or with ``create_graph=False`` the values carry no
        graph. Grid: the forward-mode tangents of the module doc. Numerical: the central differences of the
        module doc (6 more SDF evaluations, in the current grad mode).
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
        if self.explicit and self._explicit_ok(x):
            if create_graph:
                return self._explicit_sdf_and_gradient(x)
            with torch.no_grad():
                return self._explicit_sdf_and_gradient(x)
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

    def encode_view(self, view_dirs: Tensor) -> Tensor:
        """PE_multires_view(view_dirs) (the view dirs themselves when multires_view is 0)."""
        return positional_encoding(view_dirs, self.multires_view) if self.multires_view > 0 else view_dirs

    def forward(
        self, points: Tensor, normals: Tensor, view_dirs: Tensor, feature: Tensor, view_encoded: bool = False
    ) -> Tensor:
        """``view_encoded``: ``view_dirs`` already went through ``encode_view`` (NeuS encodes each ray once)."""
        if not view_encoded:
            view_dirs = self.encode_view(view_dirs)
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
