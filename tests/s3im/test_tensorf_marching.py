"""Packed ray marching against the official dense sampling and compositing, restated here."""

from __future__ import annotations

import torch

from s3im.models.tensorf.marching import bbox_hits, sample_packed, weights_packed

AABB = torch.tensor([[-1.0, -0.5, -0.8], [1.2, 0.7, 0.9]])


def rays(n=300, seed=0):
    g = torch.Generator().manual_seed(seed)
    o = torch.randn(n, 3, generator=g) * 2.5
    target = torch.rand(n, 3, generator=g) * 3 - 1.5
    d = torch.nn.functional.normalize(target - o, dim=-1)
    d[:5, 1] = 0  # axis-parallel components (the 1e-6 replacement)
    d[:5] = torch.nn.functional.normalize(d[:5], dim=-1)
    return o, d


def official_dense(o, d, aabb, near, far, step, n, u):
    """The official sample_ray: [R, n] candidates from the clamped box entry, in-box mask, dists."""
    vec = torch.where(d == 0, torch.full_like(d, 1e-6), d)
    t_min = torch.minimum((aabb[1] - o) / vec, (aabb[0] - o) / vec).amax(-1).clamp(min=near, max=far)
    rng = torch.arange(n)[None].float().repeat(o.shape[0], 1) + u[:, None]
    z = t_min[:, None] + step * rng
    pts = o[:, None] + d[:, None] * z[..., None]
    inside = ~((aabb[0] > pts) | (pts > aabb[1])).any(-1)
    dists = torch.cat([z[:, 1:] - z[:, :-1], torch.zeros_like(z[:, :1])], -1)
    return pts, z, inside, dists


def test_bbox_hits_never_drops_a_ray_that_enters_the_box():
    o, d = rays(2000, seed=3)
    hit = bbox_hits(o, d, AABB)
    t = torch.linspace(-20, 20, 8001)  # step 0.005, below the 0.02 margin
    pts = o[:, None] + d[:, None] * t[None, :, None]  # the whole line, both directions (no near clamp)
    inside = ((pts > AABB[0]) & (pts < AABB[1])).all(-1).any(-1)
    assert inside.any() and (~inside).any()
    assert bool(hit[inside].all())  # brute force: every ray with a point strictly inside is kept
    margin = ((pts > AABB[0] - 0.02) & (pts < AABB[1] + 0.02)).all(-1).any(-1)
    assert not bool(hit[~margin].any())  # rays that stay away from the box are dropped


def test_packed_samples_equal_the_official_in_box_samples():
    o, d = rays()
    g = torch.Generator().manual_seed(5)
    u = torch.rand(o.shape[0], generator=g)
    near, far, step, n = 0.5, 6.0, 0.037, 80  # n small enough that some rays end inside the box
    for jitter in (u, None):
        uu = jitter if jitter is not None else torch.zeros(o.shape[0])
        pts, z, inside, dists = official_dense(o, d, AABB, near, far, step, n, uu)
        s = sample_packed(o, d, AABB, near, far, step, n, jitter)
        ray_idx, k = inside.nonzero(as_tuple=True)
        assert torch.equal(s["ray_indices"], ray_idx) and torch.equal(s["k"], k)
        torch.testing.assert_close(s["z"], z[ray_idx, k], rtol=0, atol=0)
        torch.testing.assert_close(s["pts"], pts[ray_idx, k], rtol=0, atol=0)
        torch.testing.assert_close(s["delta"], dists[ray_idx, k], rtol=0, atol=1e-6)
        assert (s["delta"][s["k"] == n - 1] == 0).all()


def test_packed_weights_equal_the_official_dense_cumprod():
    torch.manual_seed(0)
    o, d = rays(64, seed=7)
    s = sample_packed(o, d, AABB, 0.5, 6.0, 0.05, 200, None)
    m = s["ray_indices"].shape[0]
    sigma = torch.rand(m, dtype=torch.float64) * 3
    alpha, w = weights_packed(sigma, s["delta"].double(), s["ray_indices"], 64, 25.0)
    for r in range(64):
        sel = s["ray_indices"] == r
        if not sel.any():
            continue
        a = 1 - torch.exp(-sigma[sel] * s["delta"][sel].double() * 25)
        trans = torch.cumprod(torch.cat([torch.ones(1, dtype=torch.float64), 1 - a]), 0)[:-1]
        torch.testing.assert_close(alpha[sel], a, rtol=1e-10, atol=1e-12)
        torch.testing.assert_close(w[sel], a * trans, rtol=1e-8, atol=1e-12)
