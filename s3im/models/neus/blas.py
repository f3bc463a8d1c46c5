"""A linear layer whose CPU matrix products go through NumPy's BLAS, differentiable to any order.

On the AMD CPUs this project is built on, torch's CPU float32 GEMM (MKL) runs measurably slower than the
OpenBLAS GEMM that NumPy ships (about 1.35x for [8192, 256] x [256, 256] at one thread; see
``benchmarks/bench_neus.py``). ``linear(x, W, b)`` computes y = x W^T + b with ``numpy.matmul`` on CPU
tensors (zero-copy views) and falls back to ``torch.nn.functional.linear`` elsewhere (GPU, other dtypes,
or ``backend="torch"``). Its backward is expressed with the same product function, so double
backward (the eikonal loss differentiates the SDF gradient) works:

    dL/dx = g W,   dL/dW = g^T x,   dL/db = sum_rows g.

``mm`` is the plain product (no autograd) for hand-written backward passes (``network._SoftplusMLPWithGradient``).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

BACKENDS = ("numpy", "torch")


def _np_ok(*tensors: Tensor) -> bool:
    return all(t.device.type == "cpu" and t.dtype in (torch.float32, torch.float64) for t in tensors)


class _MatMul(torch.autograd.Function):
    """a [N, K] @ b [K, M] through numpy.matmul; backward uses _MatMul again (differentiable)."""

    @staticmethod
    def forward(ctx, a: Tensor, b: Tensor) -> Tensor:
        ctx.save_for_backward(a, b)
        return torch.from_numpy(np.matmul(a.detach().numpy(), b.detach().numpy()))

    @staticmethod
    def backward(ctx, g: Tensor):
        a, b = ctx.saved_tensors
        ga = matmul(g, b.t()) if ctx.needs_input_grad[0] else None
        gb = matmul(a.t(), g) if ctx.needs_input_grad[1] else None
        return ga, gb


def matmul(a: Tensor, b: Tensor) -> Tensor:
    """a [N, K] @ b [K, M]: numpy BLAS for CPU float tensors, torch otherwise."""
    if _np_ok(a, b) and a.dtype == b.dtype:
        return _MatMul.apply(a, b)
    return a @ b


def linear(x: Tensor, weight: Tensor, bias: Tensor | None = None, backend: str = "numpy") -> Tensor:
    """y [..., out] = x [..., in] W^T + b (``backend`` "numpy": numpy BLAS on CPU; "torch": F.linear)."""
    if backend == "torch" or not _np_ok(x, weight) or x.dtype != weight.dtype:
        return F.linear(x, weight, bias)
    y = matmul(x.reshape(-1, x.shape[-1]), weight.t())
    if bias is not None:
        y = y + bias
    return y.reshape(*x.shape[:-1], weight.shape[0])


def mm(a: Tensor, b: Tensor, out: Tensor | None = None, backend: str = "numpy") -> Tensor:
    """a [N, K] @ b [K, M] WITHOUT autograd (hand-written backward passes): numpy BLAS for CPU float tensors of
    one dtype under ``backend`` "numpy" (transposed views go to BLAS as such, no copy), else ``torch.mm``.
    ``out``: a C-contiguous [N, M] tensor written in place (returned)."""
    if backend == "numpy" and _np_ok(a, b) and a.dtype == b.dtype:
        if out is None:
            return torch.from_numpy(np.matmul(a.detach().numpy(), b.detach().numpy()))
        np.matmul(a.detach().numpy(), b.detach().numpy(), out=out.detach().numpy())
        return out
    if out is None:
        return torch.mm(a, b)
    return torch.mm(a, b, out=out)
