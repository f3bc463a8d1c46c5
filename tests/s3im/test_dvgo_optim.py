from __future__ import annotations

import math

import torch

from s3im.models.dvgo.optim import MaskedAdam


def reference_step(p, g, m, v, t, lr, b1, b2, eps, skip, per_lr=None):
    """Element loop of the official adam_upd / masked_adam_upd / adam_upd_with_perlr kernels."""
    step_size = lr * math.sqrt(1 - b2**t) / (1 - b1**t)
    for i in range(p.numel()):
        if skip and g[i] == 0:
            continue
        m[i] = b1 * m[i] + (1 - b1) * g[i]
        v[i] = b2 * v[i] + (1 - b2) * g[i] * g[i]
        r = 1.0 if per_lr is None else per_lr[i]
        p[i] -= step_size * r * m[i] / (math.sqrt(v[i]) + eps)


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


def test_masked_adam_sparse_gradients_and_per_voxel_lr_match_the_element_loop():
    torch.manual_seed(2)
    n = 40
    per_lr = torch.rand(n, dtype=torch.float64)
    for skip, use_per_lr in ((True, False), (False, True), (True, True)):
        a = torch.nn.Parameter(torch.randn(n, dtype=torch.float64))
        p_ref, m_ref, v_ref = (
            a.detach().clone(),
            torch.zeros(n, dtype=torch.float64),
            torch.zeros(n, dtype=torch.float64),
        )
        group = {"params": [a], "lr": 0.1, "skip_zero_grad": skip}
        if use_per_lr:
            group["per_lr"] = per_lr
        opt = MaskedAdam([group], betas=(0.9, 0.99), eps=1e-8)
        for t in range(1, 6):
            g = torch.zeros(n, dtype=torch.float64)
            g[torch.randperm(n)[: 3 + t]] = torch.randn(3 + t, dtype=torch.float64)  # < half non-zero: index path
            a.grad = g.clone()
            opt.step()
            # per_lr updates every element (the official per-lr kernel has no skip)
            reference_step(
                p_ref, g, m_ref, v_ref, t, 0.1, 0.9, 0.99, 1e-8, skip and not use_per_lr, per_lr if use_per_lr else None
            )
            torch.testing.assert_close(a.detach(), p_ref)
        torch.testing.assert_close(opt.state[a]["exp_avg"], m_ref)


def test_masked_adam_dense_path_leaves_untouched_entries_exactly_and_finite():
    """Most entries touched (in-place full-tensor path), eps = 0: the never-touched entries (m = v = 0) keep their
    values exactly, no 0 / 0 leaks into them, and the touched ones follow the element loop."""
    torch.manual_seed(3)
    n = 30
    a = torch.nn.Parameter(torch.randn(n, dtype=torch.float64))
    start = a.detach().clone()
    p_ref, m_ref, v_ref = start.clone(), torch.zeros(n, dtype=torch.float64), torch.zeros(n, dtype=torch.float64)
    opt = MaskedAdam([{"params": [a], "lr": 0.1, "skip_zero_grad": True}], betas=(0.9, 0.99), eps=0.0)
    for t in range(1, 4):
        g = torch.randn(n, dtype=torch.float64)
        g[:5] = 0  # 25 of 30 touched: above DENSE_FRACTION
        a.grad = g.clone()
        opt.step()
        reference_step(p_ref, g, m_ref, v_ref, t, 0.1, 0.9, 0.99, 0.0, True)
    assert torch.isfinite(a).all()
    assert torch.equal(a.detach()[:5], start[:5])
    torch.testing.assert_close(a.detach(), p_ref)
    torch.testing.assert_close(opt.state[a]["exp_avg"], m_ref)


def test_masked_adam_absurd_lr_gives_non_finite_values_on_both_paths_not_an_error():
    """An lr beyond float32 (1e39) makes the touched entries non-finite (the trainer's non-finite check then stops
    the run with one line); the update itself must not raise on the gather path or the full-tensor path."""
    for n_zero in (25, 5):  # 5 of 30 touched (gathers), 25 of 30 touched (full-tensor passes)
        a = torch.nn.Parameter(torch.zeros(30))
        opt = MaskedAdam([{"params": [a], "lr": 1e39, "skip_zero_grad": True}])
        g = torch.ones(30)
        g[:n_zero] = 0
        a.grad = g
        opt.step()
        assert not torch.isfinite(a[n_zero:]).any() and torch.equal(a.detach()[:n_zero], torch.zeros(n_zero))
