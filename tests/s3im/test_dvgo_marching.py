from __future__ import annotations

import torch

from common.render import contract
from s3im.models.dvgo.marching import (
    contracted_sample_distances,
    cumdist_keep,
    sample_contracted,
    segment_first_index,
    weights_from_optical_depth,
)


def random_rays(n, seed=0, spread=2.0):
    g = torch.Generator().manual_seed(seed)
    o = (torch.rand(n, 3, generator=g) - 0.5) * 2 * spread
    d = torch.nn.functional.normalize(torch.randn(n, 3, generator=g), dim=-1)
    return o, d


def test_cumdist_keep_equals_sequential_reference():
    torch.manual_seed(2)
    dist = torch.rand(7, 30) * 0.1
    keep = cumdist_keep(dist, 0.17)
    for r in range(7):
        cum = 0.0
        for i in range(30):
            cum += float(dist[r, i])
            over = cum > 0.17
            assert bool(keep[r, i]) == over
            cum = 0.0 if over else cum


def test_sample_contracted_layout():
    bg, world_len, stepsize = 0.2, 24, 0.5
    t = contracted_sample_distances(bg, world_len, stepsize)
    n_inner = int(2 / 2.4 * world_len / stepsize) + 1
    assert len(t) == 2 * n_inner and torch.all(t[1:] > t[:-1])
    assert abs(float(t[n_inner - 1]) - (2 - 1 / n_inner)) < 1e-5 and float(t[-1]) < 256
    o, d = random_rays(50, seed=3, spread=0.5)
    pts, ri, tt, n_max = sample_contracted(o, d, bg, world_len, stepsize, "l2")
    assert n_max == len(t) and torch.all(ri[1:] >= ri[:-1])
    raw = o[ri] + d[ri] * tt[:, None]
    torch.testing.assert_close(pts, contract(raw, "l2", bg))
    inner_all = (o[:, None] + d[:, None] * t[None, :, None]).norm(dim=-1) <= 1
    for r in range(50):  # every inner sample is kept, outer ones are thinned
        assert set(t[inner_all[r]].tolist()) <= set(tt[ri == r].tolist())
    assert len(pts) < 50 * len(t)


def test_segment_first_index_examples():
    assert segment_first_index(torch.tensor([0, 0, 2, 2, 2])).tolist() == [0, 0, 2, 2, 2]
    assert segment_first_index(torch.tensor([1, 3, 3])).tolist() == [0, 1, 1]
    assert segment_first_index(torch.zeros(0, dtype=torch.long)).numel() == 0


def reference_weights(tau, ray_indices, n_rays, eps):
    """Per-ray loop: T *= (1 - alpha) sample by sample, stopping after T drops below eps."""
    w, final = torch.zeros_like(tau), torch.ones(n_rays, dtype=tau.dtype)
    for r in range(n_rays):
        trans = 1.0
        for i in torch.nonzero(ray_indices == r).squeeze(1).tolist():
            if trans < eps:
                break
            alpha = 1 - torch.exp(-tau[i])
            w[i] = trans * alpha
            trans = trans * (1 - alpha)
        final[r] = trans
    return w, final


def test_weights_from_optical_depth_equals_sequential_loop_and_gradients_of_alpha_form():
    g = torch.Generator().manual_seed(3)
    counts = torch.tensor([0, 5, 1, 12, 0, 7])
    ray_indices = torch.repeat_interleave(torch.arange(6), counts)
    tau = (torch.rand(len(ray_indices), generator=g, dtype=torch.float64) * 1.5).requires_grad_(True)
    tau.data[3] = 0.0  # alpha exactly 0
    tau.data[10] = 60.0  # alpha == 1 in float64: everything behind it gets weight 0
    for eps in (None, 1e-3):
        w, final, alpha = weights_from_optical_depth(tau, ray_indices, 6, eps)
        w_ref, final_ref = reference_weights(tau.detach(), ray_indices, 6, -1.0 if eps is None else eps)
        torch.testing.assert_close(w.detach(), w_ref)
        torch.testing.assert_close(final.detach(), final_ref)
        torch.testing.assert_close(alpha.detach(), -torch.expm1(-tau.detach()))
        sums = torch.zeros(6, dtype=torch.float64).index_add(0, ray_indices, w.detach())
        torch.testing.assert_close(sums + final.detach(), torch.ones(6, dtype=torch.float64))
    # gradient of a loss through weights and final T against the product form on alpha (autograd)
    coef = torch.rand(len(tau), generator=g, dtype=torch.float64)
    w, final, _ = weights_from_optical_depth(tau, ray_indices, 6, None)
    (grad,) = torch.autograd.grad((w * coef).sum() + final.pow(2).sum(), tau)
    tau2 = tau.detach().clone().requires_grad_(True)
    keep = torch.exp(-tau2)
    w2, fin2 = [], torch.ones(6, dtype=torch.float64)
    for r in range(6):
        idx = torch.nonzero(ray_indices == r).squeeze(1)
        if len(idx) == 0:
            continue
        cp = torch.cumprod(keep[idx], 0)
        trans = torch.cat([torch.ones(1, dtype=torch.float64), cp[:-1]])
        w2.append(trans * (1 - keep[idx]))
        fin2 = fin2.index_put((torch.tensor([r]),), cp[-1:])
    (grad2,) = torch.autograd.grad((torch.cat(w2) * coef).sum() + fin2.pow(2).sum(), tau2)
    torch.testing.assert_close(grad, grad2)
