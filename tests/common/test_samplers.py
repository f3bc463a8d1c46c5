from __future__ import annotations

import numpy as np
import pytest
import torch

from common.cameras import intrinsics_matrix, look_at
from common.data.scene import SceneData
from common.rays import RayBank
from common.samplers import RaySampler

H, W, V = 6, 7, 3
N = V * H * W


def make_bank() -> RayBank:
    rng = np.random.default_rng(0)
    eyes = [[3.0, 0.5, 1.0], [-1.0, 2.5, 0.5], [0.7, -2.2, 1.9]]
    scene = SceneData(
        images=rng.integers(0, 256, (V, H, W, 3), dtype=np.uint8).astype(np.float32) / 255.0,
        K=np.stack([intrinsics_matrix(8.0, 8.0, 3.5, 3.0)] * V).astype(np.float32),
        c2w=np.stack([look_at(np.array(e), np.zeros(3)) for e in eyes]).astype(np.float32),
        height=H,
        width=W,
        splits={"train": [0, 1, 2]},
        near=0.5,
        far=6.0,
        bbox=np.array([[-1.0, -1.0, -1.0], [1.0, 1.0, 1.0]], dtype=np.float32),
    )
    return RayBank(scene, "train")


def old_permutation_indices(n: int, batch_size: int, generator: torch.Generator, n_batches: int) -> list[torch.Tensor]:
    """The former RaySampler "permutation" mode, written out: concatenated randperm(n) cut into batches."""
    perm, pos, out = None, 0, []
    for _ in range(n_batches):
        batch = []
        while len(batch) < batch_size:
            if perm is None or pos == n:
                perm, pos = torch.randperm(n, generator=generator).tolist(), 0
            batch.append(perm[pos])
            pos += 1
        out.append(torch.tensor(batch))
    return out


def sampler_for(mode: str, bank: RayBank, batch_size: int = 18) -> RaySampler:
    return RaySampler(bank, batch_size, mode, patch_size=3 if mode == "patch" else None)


@pytest.mark.parametrize("batch_size", [1, 8, 7, 100, N])
def test_permutation_equals_the_former_sampler(batch_size):
    sampler = RaySampler(make_bank(), batch_size)
    g, g_ref = torch.Generator().manual_seed(4), torch.Generator().manual_seed(4)
    n_batches = 3 * N // batch_size + 2
    ref = old_permutation_indices(N, batch_size, g_ref, n_batches)
    for expected in ref:
        got = sampler.next_indices(g)
        assert got.dtype == torch.int64 and torch.equal(got, expected)
    assert torch.equal(g.get_state(), g_ref.get_state())


@pytest.mark.parametrize("batch_size", [8, 7, 100])
def test_permutation_covers_every_ray_once_per_epoch(batch_size):
    sampler = RaySampler(make_bank(), batch_size)
    g = torch.Generator().manual_seed(0)
    idx = torch.cat([sampler.next_indices(g) for _ in range(3 * N // batch_size + 2)])
    for epoch in range(3):
        assert sorted(idx[epoch * N : (epoch + 1) * N].tolist()) == list(range(N))
    assert sampler.epoch >= 2


def test_permutation_on_a_restricted_bank_uses_positions():
    bank = make_bank().restrict(torch.tensor([10, 3, 99, 4, 50]))
    sampler = RaySampler(bank, 4)
    g = torch.Generator().manual_seed(1)
    idx = torch.cat([sampler.next_indices(g) for _ in range(5)])
    assert sorted(idx.tolist()) == sorted(list(range(5)) * 4)
    batch = sampler(5, g)
    assert set((batch["view"] * H * W + batch["pixel"][:, 1] * W + batch["pixel"][:, 0]).tolist()) <= {10, 3, 99, 4, 50}


def test_iid_equals_randint():
    sampler = RaySampler(make_bank(), 9, "iid")
    g, g_ref = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    for _ in range(4):
        assert torch.equal(sampler.next_indices(g), torch.randint(N, (9,), generator=g_ref))


@pytest.mark.parametrize("mode", RaySampler.MODES)
def test_deterministic_given_the_generator(mode):
    bank = make_bank()
    a, b, c = (sampler_for(mode, bank) for _ in range(3))
    ga, gb, gc = (torch.Generator().manual_seed(s) for s in (5, 5, 6))
    for step in range(6):
        ba, bb = a(step, ga), b(step, gb)
        assert set(ba) == set(bb) and ba["rgb"].shape == (18, 3)
        assert all(torch.equal(ba[k], bb[k]) for k in ba)
    a_more = [a.next_indices(ga) for _ in range(3)]
    c_more = [c.next_indices(gc) for _ in range(3)]
    assert not all(torch.equal(x, y) for x, y in zip(a_more, c_more))


def test_image_mode_walks_a_permutation_of_views_one_per_batch():
    sampler = RaySampler(make_bank(), 50, "image")
    g, g_ref = torch.Generator().manual_seed(2), torch.Generator().manual_seed(2)
    views = []
    for step in range(4 * V + 1):
        batch = sampler(step, g)
        if step % V == 0:  # reference: NeuS's image_perm, redrawn after each pass over the views
            order = torch.randperm(V, generator=g_ref).tolist()
        k = order[step % V]
        u, v = torch.randint(W, (50,), generator=g_ref), torch.randint(H, (50,), generator=g_ref)
        assert batch["view"].tolist() == [k] * 50  # the bank stores scene views 0, 1, 2
        assert torch.equal(batch["pixel"], torch.stack([u, v], -1))
        views.append(k)
    for p in range(4):
        assert sorted(views[p * V : (p + 1) * V]) == list(range(V))
    assert sampler.epoch == 4


@pytest.mark.parametrize("p", [1, 2, 3, 6])
def test_patch_mode_gives_contiguous_squares_inside_the_image(p):
    n = 4
    sampler = RaySampler(make_bank(), n * p * p, "patch", patch_size=p)
    g = torch.Generator().manual_seed(7)
    corners = set()
    for step in range(10):
        batch = sampler(step, g)
        view = batch["view"].reshape(n, p * p)
        pix = batch["pixel"].reshape(n, p, p, 2)  # patch, dy, dx, (u, v)
        for j in range(n):
            assert view[j].unique().numel() == 1
            u0, v0 = pix[j, 0, 0].tolist()
            assert 0 <= u0 <= W - p and 0 <= v0 <= H - p
            for dy in range(p):
                for dx in range(p):
                    assert pix[j, dy, dx].tolist() == [u0 + dx, v0 + dy]
            corners.add((view[j, 0].item(), u0, v0))
    assert len(corners) > n  # patches move between batches


@pytest.mark.parametrize("mode", RaySampler.MODES)
def test_state_dict_resumes_the_same_batches(mode):
    bank = make_bank()
    sampler = sampler_for(mode, bank)
    g = torch.Generator().manual_seed(11)
    for step in range(9):  # crosses an epoch boundary (126 rays) in permutation mode
        sampler(step, g)
    state, g_state = sampler.state_dict(), g.get_state()
    expected = [sampler(step, g) for step in range(9, 20)]
    resumed = sampler_for(mode, bank)
    resumed.load_state_dict(state)
    g2 = torch.Generator()
    g2.set_state(g_state)
    for step, exp in zip(range(9, 20), expected):
        got = resumed(step, g2)
        assert all(torch.equal(got[k], exp[k]) for k in exp)
    for value in state.values():
        assert value is None or isinstance(value, (int, str, torch.Tensor))
    with pytest.raises(ValueError, match="rays"):
        RaySampler(bank.restrict(torch.arange(10)), 18).load_state_dict(state)  # other rays (and mode)


def test_bad_arguments():
    bank = make_bank()
    with pytest.raises(ValueError, match="mode"):
        RaySampler(bank, 4, "sequential")
    with pytest.raises(ValueError, match="batch_size"):
        RaySampler(bank, 0)
    with pytest.raises(ValueError, match="patch_size"):
        RaySampler(bank, 9, "patch")
    with pytest.raises(ValueError, match="multiple of patch_size"):
        RaySampler(bank, 10, "patch", patch_size=3)
    with pytest.raises(ValueError, match="exceeds the image size"):
        RaySampler(bank, 49, "patch", patch_size=7)
    with pytest.raises(ValueError, match="only used by mode 'patch'"):
        RaySampler(bank, 9, "image", patch_size=3)
    restricted = bank.restrict(torch.arange(20))
    for mode in ("image", "patch"):
        with pytest.raises(ValueError, match="unrestricted"):
            RaySampler(restricted, 9, mode, patch_size=3 if mode == "patch" else None)
    with pytest.raises(TypeError, match="Generator"):
        RaySampler(bank, 4).next_indices(np.random.default_rng(0))
