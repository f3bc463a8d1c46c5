from __future__ import annotations

import math

import pytest
import torch

from common.render import packed_uniform_steps, ray_aabb_intersect, uniform_samples_in_aabb


def random_rays(n, seed=0, spread=2.0):
    g = torch.Generator().manual_seed(seed)
    o = (torch.rand(n, 3, generator=g) - 0.5) * 2 * spread
    d = torch.nn.functional.normalize(torch.randn(n, 3, generator=g), dim=-1)
    return o, d


def dense_reference(o, d, lo, hi, t_max=10.0, n=20001):
    """Per ray, the smallest and largest t of a dense sampling of [0, t_max] inside the box (None if none)."""
    t = torch.linspace(0, t_max, n, dtype=torch.float64)
    pts = o.double()[:, None] + d.double()[:, None] * t[None, :, None]
    inside = ((pts >= lo.double()) & (pts <= hi.double())).all(-1)
    return [(float(t[m].min()), float(t[m].max())) if m.any() else None for m in inside]


@pytest.mark.parametrize("zero_direction", [None, 1e-6])
def test_intersection_against_dense_sampling(zero_direction):
    lo, hi = torch.tensor([-1.0, -0.5, 0.0]), torch.tensor([1.0, 0.5, 2.0])
    o, d = random_rays(200)
    t_near, t_far, hit = ray_aabb_intersect(o, d, lo, hi, 0.0, 100.0, zero_direction)
    ref = dense_reference(o, d, lo, hi)
    assert sum(r is not None for r in ref) > 30 and sum(r is None for r in ref) > 20
    assert sum(bool((((o >= lo) & (o <= hi)).all(-1))[r]) for r in range(200)) > 5  # rays starting inside
    for r, span in enumerate(ref):
        if span is None:
            assert not hit[r] and t_near[r] >= t_far[r] - 1e-3
        else:
            assert hit[r]
            assert abs(span[0] - float(t_near[r])) < 1e-3 and abs(span[1] - float(t_far[r])) < 1e-3
    t_near_n, t_far_n, hit_n = ray_aabb_intersect(o, d, lo, hi, 0.7, 100.0, zero_direction)
    assert torch.all(t_near_n >= 0.7) and torch.equal(hit_n, hit & (t_far >= 0.7))


def test_rays_parallel_to_slabs_and_tensor_near_far():
    lo, hi = -torch.ones(3), torch.ones(3)
    o = torch.tensor([[-3.0, 0.0, 0.5], [-3.0, 2.0, 0.0], [0.0, 0.0, 0.0], [-3.0, 1.0, 1.0], [0.0, 0.0, 5.0]])
    d = torch.tensor([[1.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    t_near, t_far, hit = ray_aabb_intersect(o, d, lo, hi)
    # inside both parallel slabs; outside the y slab; starting inside; on the slab faces; box behind
    assert hit.tolist() == [True, False, True, True, False]
    torch.testing.assert_close(t_near[hit], torch.tensor([2.0, 0.0, 2.0]))
    torch.testing.assert_close(t_far[hit], torch.tensor([4.0, 1.0, 4.0]))
    near, far = torch.tensor([2.5, 0.0, 0.5, 0.0, 0.0]), torch.tensor([3.0, 9.0, 0.75, 1.0, 9.0])
    t_near, t_far, hit = ray_aabb_intersect(o, d, lo, hi, near, far)
    assert hit.tolist() == [True, False, True, False, False]
    torch.testing.assert_close(t_near[[0, 2]], torch.tensor([2.5, 0.5]))
    torch.testing.assert_close(t_far[[0, 2]], torch.tensor([3.0, 0.75]))
    assert torch.all(t_near[~hit] >= t_far[~hit])


def test_packed_uniform_steps_worked_example():
    ri, t = packed_uniform_steps(torch.tensor([0.0, 1.0, 2.0]), torch.tensor([0.25, 1.0, 1.0]), 0.1, min_steps=1)
    assert ri.tolist() == [0, 0, 0, 1, 2]
    torch.testing.assert_close(t, torch.tensor([0.0, 0.1, 0.2, 1.0, 2.0]))
    ri, t = packed_uniform_steps(torch.tensor([0.0, 1.0, 2.0]), torch.tensor([0.25, 1.0, 1.0]), 0.1)
    assert ri.tolist() == [0, 0, 0] and len(t) == 3


def test_uniform_samples_steps_and_drops_only_outside_points():
    lo, hi = -torch.ones(3), torch.ones(3)
    o, d = random_rays(100, seed=1)
    step = 0.05
    pts, ri, t = uniform_samples_in_aabb(o, d * 3.0, lo, hi, 0.0, 1e9, step)  # direction length must not matter
    assert torch.all(ri[1:] >= ri[:-1])
    assert torch.all(((pts >= lo - 1e-6) & (pts <= hi + 1e-6)).all(-1))
    torch.testing.assert_close(pts, o[ri] + d[ri] * t[:, None])
    n_hit = 0
    for r in range(len(o)):
        span = dense_reference(o[r : r + 1], d[r : r + 1], lo, hi)[0]
        tr = t[ri == r].double()
        if span is None:
            assert len(tr) == 0
            continue
        n_hit += 1
        n_all = max(math.ceil((span[1] - span[0]) / step), 1)
        grid = span[0] + torch.arange(n_all, dtype=torch.float64) * step
        p_all = o[r].double() + d[r].double() * grid[:, None]
        keep = ((p_all >= lo - 1e-4) & (p_all <= hi + 1e-4)).all(-1)
        assert abs(len(tr) - int(keep.sum())) <= 1  # up to a sample on the box face
        torch.testing.assert_close(tr, grid[: len(tr)], atol=2e-3, rtol=0)
    assert n_hit > 20
