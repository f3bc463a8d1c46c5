from __future__ import annotations

import math

import torch

from s3im.models.dvgo.optim import MaskedAdam


def reference_step(p, g, m, v, t, lr, b1, b2, eps, skip):
    """Element loop of the official adam_upd / masked_adam_upd kernels."""
    step_size = lr * math.sqrt(1 - b2**t) / (1 - b1**t)
    for i in range(p.numel()):
        if skip and g[i] == 0:
            continue
        m[i] = b1 * m[i] + (1 - b1) * g[i]
        v[i] = b2 * v[i] + (1 - b2) * g[i] * g[i]
        p[i] -= step_size * m[i] / (math.sqrt(v[i]) + eps)


def test_masked_adam_matches_official_update_rule():
    torch.manual_seed(0)
    for skip in (False, True):
        a = torch.nn.Parameter(torch.randn(12, dtype=torch.float64))
        p_ref, m_ref, v_ref = (
            a.detach().clone(),
            torch.zeros(12, dtype=torch.float64),
            torch.zeros(12, dtype=torch.float64),
        )
        opt = MaskedAdam([{"params": [a], "lr": 0.1, "skip_zero_grad": skip}], betas=(0.9, 0.99), eps=1e-8)
        for t in range(1, 5):
            g = torch.randn(12, dtype=torch.float64)
            g[t::3] = 0
            a.grad = g.clone()
            opt.step()
            reference_step(p_ref, g, m_ref, v_ref, t, 0.1, 0.9, 0.99, 1e-8, skip)
            torch.testing.assert_close(a.detach(), p_ref)
        torch.testing.assert_close(opt.state[a]["exp_avg_sq"], v_ref)


def test_masked_adam_without_skip_equals_torch_adam_up_to_eps():
    torch.manual_seed(1)
    a = torch.nn.Parameter(torch.randn(50, dtype=torch.float64))
    b = torch.nn.Parameter(a.detach().clone())
    opt_a = MaskedAdam([a], lr=0.01, eps=0.0)
    opt_b = torch.optim.Adam([b], lr=0.01, betas=(0.9, 0.99), eps=0.0)
    for _ in range(5):
        g = torch.randn(50, dtype=torch.float64)
        a.grad, b.grad = g.clone(), g.clone()
        opt_a.step()
        opt_b.step()
    torch.testing.assert_close(a, b)
