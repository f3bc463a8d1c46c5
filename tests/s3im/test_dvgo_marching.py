from __future__ import annotations

import math

import torch

from s3im.models.dvgo.marching import (
    contract,
    contracted_sample_distances,
    cumdist_keep,
    ray_aabb,
    sample_contracted,
    sample_in_box,
)


def random_rays(n, seed=0, spread=2.0):
    g = torch.Generator().manual_seed(seed)
    o = (torch.rand(n, 3, generator=g) - 0.5) * 2 * spread
    d = torch.nn.functional.normalize(torch.randn(n, 3, generator=g), dim=-1)
    return o, d


def test_ray_aabb_against_dense_marching():
    lo, hi = torch.tensor([-1.0, -0.5, 0.0]), torch.tensor([1.0, 0.5, 2.0])
    o, d = random_rays(200)
    t_min, t_max = ray_aabb(o, d, lo, hi, 0.0, 100.0)
    t = torch.linspace(0, 10, 20001)
    pts = o[:, None] + d[:, None] * t[None, :, None]
    inside = ((pts >= lo) & (pts <= hi)).all(-1)
    for r in range(len(o)):
        if inside[r].any():
            ts = t[inside[r]]
            assert abs(float(ts.min() - t_min[r])) < 1e-3 and abs(float(ts.max() - t_max[r])) < 1e-3
        else:
            assert t_min[r] >= t_max[r] - 1e-3
    t_min_n, _ = ray_aabb(o, d, lo, hi, 0.7, 100.0)
    assert torch.all(t_min_n >= 0.7)


def test_sample_in_box_steps_and_drops_only_outside_points():
    lo, hi = -torch.ones(3), torch.ones(3)
    o, d = random_rays(100, seed=1)
    stepdist = 0.05
    pts, ri, t = sample_in_box(o, d * 3.0, lo, hi, 0.0, 1e9, stepdist)  # direction length must not matter
    assert torch.all(ri[1:] >= ri[:-1])
    assert torch.all(((pts >= lo - 1e-6) & (pts <= hi + 1e-6)).all(-1))
    torch.testing.assert_close(pts, o[ri] + d[ri] * t[:, None])
    t_min, t_max = ray_aabb(o, d, lo, hi, 0.0, 1e9)
    for r in range(len(o)):
        tr = t[ri == r]
        n_all = max(math.ceil(float(t_max[r] - t_min[r]) / stepdist), 1)
        grid = t_min[r] + torch.arange(n_all) * stepdist
        p_all = o[r] + d[r] * grid[:, None]
        keep = ((p_all >= lo) & (p_all <= hi)).all(-1)
        torch.testing.assert_close(tr, grid[keep])


def test_contraction_maps_space_into_the_grid_box_and_is_identity_inside():
    torch.manual_seed(0)
    bg = 0.2
    far = torch.randn(1000, 3) * torch.logspace(-2, 6, 1000)[:, None]
    for norm in ("l2", "inf"):
        c, inner = contract(far, bg, norm)
        assert torch.all(c.abs() <= 1 + bg + 1e-5)
        n = far.norm(dim=-1) if norm == "l2" else far.abs().amax(-1)
        assert torch.equal(inner, n <= 1)
        torch.testing.assert_close(c[inner], far[inner])
        cn = c.norm(dim=-1) if norm == "l2" else c.abs().amax(-1)
        torch.testing.assert_close(cn[~inner], (1 + bg) - bg / n[~inner])  # radial map, direction kept
    p = torch.tensor([[0.0, 0.0, 4.0]])
    torch.testing.assert_close(contract(p, bg, "l2")[0], torch.tensor([[0.0, 0.0, 1.2 - 0.05]]))


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
    torch.testing.assert_close(pts, contract(raw, bg, "l2")[0])
    inner_all = (o[:, None] + d[:, None] * t[None, :, None]).norm(dim=-1) <= 1
    for r in range(50):  # every inner sample is kept, outer ones are thinned
        assert set(t[inner_all[r]].tolist()) <= set(tt[ri == r].tolist())
    assert len(pts) < 50 * len(t)
