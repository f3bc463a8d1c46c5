from __future__ import annotations

import torch

from common.render import distortion_loss, segment_exclusive_cumsum


def packed_example(seed=0):
    g = torch.Generator().manual_seed(seed)
    counts = torch.tensor([3, 0, 5, 1, 7])
    ray_indices = torch.repeat_interleave(torch.arange(len(counts)), counts)
    w = torch.rand(len(ray_indices), generator=g, dtype=torch.float64) * 0.3
    s = torch.cat([torch.sort(torch.rand(int(c), generator=g, dtype=torch.float64))[0] for c in counts])
    return w, s, ray_indices, len(counts)


def distortion_brute_force(w, s, delta, ray_indices, n_rays):
    """The O(S^2) double sum of mip-NeRF 360 per ray, averaged over rays."""
    total = 0.0
    for r in range(n_rays):
        sel = ray_indices == r
        wr, sr = w[sel], s[sel]
        dr = delta[sel] if torch.is_tensor(delta) and delta.dim() == 1 else delta
        for i in range(len(wr)):
            for j in range(len(wr)):
                total = total + wr[i] * wr[j] * (sr[i] - sr[j]).abs()
        total = total + (wr.pow(2) * dr).sum() / 3
    return total / n_rays


def test_segment_exclusive_cumsum():
    v = torch.tensor([1.0, 2.0, 3.0, 4.0, 5.0])
    ri = torch.tensor([0, 0, 2, 2, 2])
    assert segment_exclusive_cumsum(v, ri, 3).tolist() == [0.0, 1.0, 0.0, 3.0, 7.0]


def test_worked_example():
    w = torch.tensor([0.5, 0.5])
    torch.testing.assert_close(
        distortion_loss(w, torch.tensor([0.0, 1.0]), 0.0, torch.zeros(2, dtype=torch.long), 1), torch.tensor(0.5)
    )


def test_linear_form_equals_quadratic_form_and_gradients():
    w, s, ri, n = packed_example()
    for delta in (0.01, torch.rand(len(w), dtype=torch.float64) * 0.1):
        w1 = w.clone().requires_grad_(True)
        w2 = w.clone().requires_grad_(True)
        s1 = s.clone().requires_grad_(True)
        s2 = s.clone().requires_grad_(True)
        fast = distortion_loss(w1, s1, delta, ri, n)
        slow = distortion_brute_force(w2, s2, delta, ri, n)
        torch.testing.assert_close(fast, slow)
        fast.backward()
        slow.backward()
        torch.testing.assert_close(w1.grad, w2.grad)
        torch.testing.assert_close(s1.grad, s2.grad)
