from __future__ import annotations

import math

import torch

from common.fields import OccupancyGrid


def ball_occ(x: torch.Tensor) -> torch.Tensor:
    """Occupancy 1 inside the ball |x - (0.2, 0, 0)| < 0.5, else 0."""
    return ((x - torch.tensor([0.2, 0.0, 0.0])).norm(dim=-1) < 0.5).float()


def test_update_ema_threshold_and_query_against_brute_force():
    grid = OccupancyGrid(
        -torch.ones(3), torch.ones(3), resolution=8, decay=0.5, threshold=0.01, update_every=2, warmup_steps=4, seed=0
    )
    assert grid.binaries.all()  # everything occupied before the first update
    seen = []
    assert grid.update(lambda x: (seen.append(x.clone()), ball_occ(x))[1], step=0)
    assert not grid.update(ball_occ, step=1)
    x = seen[0]
    assert x.shape == (512, 3)
    # one point per cell, inside its cell (cell i covers -1 + [i, i + 1] / 4)
    ijk = ((x + 1) * 4).floor().long()
    flat = ijk[:, 0] * 64 + ijk[:, 1] * 8 + ijk[:, 2]
    assert torch.equal(flat, torch.arange(512))
    occ = ball_occ(x).reshape(8, 8, 8)
    assert torch.equal(grid.occs, occ) and torch.equal(grid.binaries, occ > 0.01)
    # EMA: occs = max(occs * decay, new); a cell leaves once its value falls below min(mean, threshold)
    grid.update(lambda x: torch.zeros(len(x)), step=2)
    torch.testing.assert_close(grid.occs, occ * 0.5)
    assert torch.equal(grid.binaries, occ > 0)
    for step in (4, 6, 8, 10, 12, 14, 16):  # after warm-up: a subset of cells, decayed only where evaluated
        before = grid.occs.clone()
        grid.update(lambda x: torch.zeros(len(x)), step=step)
        changed = grid.occs != before
        assert torch.all(grid.occs[changed] == before[changed] * 0.5)
    assert grid.occs.max() < 0.5
    # query: nearest cell, outside the box False
    pts = torch.tensor([[0.2, 0.0, 0.0], [0.9, 0.9, 0.9], [1.5, 0.0, 0.0], [-1.0, -1.0, -1.0]])
    grid.binaries.zero_()
    grid.binaries[4, 4, 4] = True
    grid.binaries[0, 0, 0] = True
    assert grid.query(pts).tolist() == [True, False, False, True]


def test_seeded_updates_and_state_round_trip():
    def run(grid, steps):
        for step in steps:
            grid.update(lambda x: torch.sin(5 * x).prod(-1).abs(), step)

    a = OccupancyGrid(-torch.ones(3), torch.ones(3), resolution=6, update_every=1, warmup_steps=2, seed=3)
    run(a, range(3))
    b = OccupancyGrid(-torch.ones(3), torch.ones(3), resolution=6, update_every=1, warmup_steps=2, seed=7)
    b.load_state_dict(a.state_dict())
    run(a, range(3, 6))
    run(b, range(3, 6))
    assert torch.equal(a.occs, b.occs) and torch.equal(a.binaries, b.binaries)


def test_march_against_brute_force():
    g = torch.Generator().manual_seed(0)
    grid = OccupancyGrid(torch.tensor([-1.0, -1.0, -0.5]), torch.tensor([1.0, 1.0, 0.5]), resolution=8)
    grid.binaries.copy_(torch.rand(8, 8, 8, generator=g) < 0.3)
    o = (torch.rand(60, 3, generator=g) - 0.5) * 4
    d = torch.nn.functional.normalize(-o + torch.randn(60, 3, generator=g) * 0.7, dim=-1)  # most rays hit the box
    near, far, step = 0.1, 4.0, 0.05
    ri, t0, t1 = grid.march(o, d, near, far, step)
    assert torch.all(ri[1:] >= ri[:-1]) and torch.all(t1 > t0) and torch.all(t1 - t0 <= step + 1e-6)
    n_rays_with_samples = 0
    for r in range(60):
        # brute force: dense sampling of [near, far] for the part inside the box, then the same steps
        t = torch.linspace(near, far, 40001, dtype=torch.float64)
        p = o[r].double() + d[r].double() * t[:, None]
        inside = ((p >= grid.aabb_min.double()) & (p <= grid.aabb_max.double())).all(-1)
        sel = ri == r
        if not inside.any():
            assert not sel.any()
            continue
        a, b = float(t[inside].min()), float(t[inside].max())
        n = math.ceil((b - a) / step - 1e-6)
        starts = a + torch.arange(n, dtype=torch.float64) * step
        ends = torch.clamp(starts + step, max=b)
        mids = o[r].double() + d[r].double() * ((starts + ends) / 2)[:, None]
        keep = grid.query(mids.float())
        assert int(sel.sum()) == int(keep.sum())
        torch.testing.assert_close(t0[sel].double(), starts[keep], atol=1e-3, rtol=0)
        torch.testing.assert_close(t1[sel].double(), ends[keep], atol=1e-3, rtol=0)
        n_rays_with_samples += int(sel.any())
    assert n_rays_with_samples > 30
