from __future__ import annotations

import torch

from common.render import contract
from s3im.models.dvgo.marching import (
    contracted_sample_distances,
    cumdist_keep,
    sample_contracted,
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
