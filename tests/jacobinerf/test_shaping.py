"""MI-shaping loss and adaptive threshold against brute-force references."""

from __future__ import annotations

import math

import torch

from jacobinerf.shaping import AdaptiveThreshold, abs_cosine, gradient_norm_loss, mig_infonce


def test_infonce_matches_explicit_loop():
    gen = torch.Generator().manual_seed(0)
    jac = torch.randn(6, 5, generator=gen, dtype=torch.float64)
    pos = torch.rand(6, 6, generator=gen) > 0.6
    pos |= torch.eye(6, dtype=torch.bool)
    pos[5] = True  # anchor 5 has no negative: excluded
    losses = []
    for i in range(6):
        p = n = 0.0
        for j in range(6):
            a = jac[i] @ jac[j] / (jac[i].norm() * jac[j].norm() + 1e-7)
            e = math.exp(abs(float(a)))
            if pos[i, j]:
                p += e
            else:
                n += e
        if p > 0 and n > 0:
            losses.append(-math.log(p / (p + n) + 1e-7))
    loss, used = mig_infonce(jac, pos)
    assert used == len(losses) == 5
    assert abs(float(loss) - sum(losses) / len(losses)) < 1e-12


def test_infonce_sign_invariant_and_prefers_aligned():
    gen = torch.Generator().manual_seed(1)
    jac = torch.randn(4, 8, generator=gen)
    pos = torch.tensor([[1, 1, 0, 0], [1, 1, 0, 0], [0, 0, 1, 1], [0, 0, 1, 1]], dtype=torch.bool)
    flipped = jac * torch.tensor([1.0, -1.0, 1.0, -1.0])[:, None]
    torch.testing.assert_close(mig_infonce(jac, pos)[0], mig_infonce(flipped, pos)[0])
    aligned = torch.stack([jac[0], -2 * jac[0], jac[2], 3 * jac[2]])
    assert mig_infonce(aligned, pos)[0] < mig_infonce(jac, pos)[0]


def test_abs_cosine_and_norm_loss():
    jac = torch.tensor([[3.0, 4.0], [-4.0, 3.0], [-6.0, -8.0]])
    cos = abs_cosine(jac)
    torch.testing.assert_close(cos[0, 1], torch.tensor(0.0))
    torch.testing.assert_close(cos[0, 2], torch.tensor(1.0), rtol=1e-6, atol=0)  # opposite: |cos| = 1
    torch.testing.assert_close(gradient_norm_loss(jac), torch.tensor((16 + 16 + 81) / 3.0))


def test_adaptive_threshold_per_anchor_updates():
    th = AdaptiveThreshold(tau=0.8)
    sim = torch.full((100, 100), 0.1)
    sim.fill_diagonal_(1.0)  # 1 positive per anchor < 5 %: tau decreases once per anchor
    mask = th.positives(sim)
    assert abs(th.tau - (0.8 - 100 * 0.001)) < 1e-9
    assert mask.sum() == 100
    th = AdaptiveThreshold(tau=0.505)
    th.positives(sim)
    assert abs(th.tau - 0.5) < 1e-9 or th.tau < 0.5  # stops once tau <= tau_min
    assert th.tau > 0.498
    many = torch.full((20, 20), 0.95)  # all positive > 15 %: increases up to tau_max
    th = AdaptiveThreshold(tau=0.895)
    th.positives(many)
    assert 0.9 <= th.tau < 0.9011


def test_adaptive_threshold_order_matters():
    """Anchor i uses the tau left by anchor i - 1 (the official in-loop update)."""
    th = AdaptiveThreshold(tau=0.8005, step=0.001, low=0.2)
    sim = torch.zeros(10, 10)
    sim[:, 0] = 0.8  # > 0.7995 but not > 0.8005
    sim.fill_diagonal_(1.0)
    mask = th.positives(sim)
    assert not mask[0, 1:].any() and bool(mask[1, 0])  # anchor 0 at 0.8005, anchor 1 at 0.7995
