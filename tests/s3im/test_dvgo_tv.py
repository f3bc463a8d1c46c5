from __future__ import annotations

import torch
import torch.nn.functional as F

from s3im.models.dvgo.tv import add_tv_grad_, tv_grad


def huber_energy(v, weight):
    """w / 6 * sum over neighbour pairs of smooth_l1(v_a - v_b) (beta 1): the energy the injection descends."""
    e = 0.0
    for dim in (2, 3, 4):
        n = v.shape[dim]
        a, b = v.narrow(dim, 1, n - 1), v.narrow(dim, 0, n - 1)
        e = e + F.smooth_l1_loss(a, b, reduction="sum", beta=1.0)
    return e * weight / 6


def test_tv_grad_equals_autograd_of_huber_energy():
    torch.manual_seed(0)
    v = (torch.randn(1, 2, 5, 4, 6, dtype=torch.float64) * 1.5).requires_grad_(True)
    huber_energy(v, 0.7).backward()
    torch.testing.assert_close(tv_grad(v.detach(), 0.7), v.grad)


def test_tv_injection_dense_and_sparse_modes():
    torch.manual_seed(1)
    p = torch.nn.Parameter(torch.randn(1, 1, 4, 4, 4))
    g0 = torch.zeros_like(p)
    g0[0, 0, 1, 2, 3] = 0.5
    p.grad = g0.clone()
    add_tv_grad_(p, 2.0, dense=False)
    expected = g0.clone()
    expected[0, 0, 1, 2, 3] += tv_grad(p.detach(), 2.0)[0, 0, 1, 2, 3]
    torch.testing.assert_close(p.grad, expected)
    p.grad = g0.clone()
    add_tv_grad_(p, 2.0, dense=True)
    torch.testing.assert_close(p.grad, g0 + tv_grad(p.detach(), 2.0))
    q = torch.nn.Parameter(torch.randn(1, 1, 3, 3, 3))
    add_tv_grad_(q, 1.0, dense=False)
    assert q.grad is None
    add_tv_grad_(q, 1.0, dense=True)
    torch.testing.assert_close(q.grad, tv_grad(q.detach(), 1.0))
