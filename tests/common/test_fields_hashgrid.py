from __future__ import annotations

import math

import torch

from common.fields import HashGrid, level_resolutions

PRIMES = (1, 2654435761, 805459861)


def brute_force(grid: HashGrid, x: torch.Tensor) -> torch.Tensor:
    """Encoding of one point x [3] in [0, 1]^3 by python loops over levels and corners."""
    table = grid.embeddings.detach().double()
    out, offset = [], 0
    for level in range(grid.n_levels):
        n = grid.resolutions[level]  # checked separately against the closed form
        dense = (n + 1) ** 3 <= grid.table_size
        size = (n + 1) ** 3 if dense else grid.table_size
        pos = [float(c) * n for c in x]
        cell = [min(math.floor(p), n - 1) for p in pos]
        feat = torch.zeros(grid.n_features, dtype=torch.float64)
        for corner in range(8):
            bits = [(corner >> 2) & 1, (corner >> 1) & 1, corner & 1]
            v = [cell[a] + bits[a] for a in range(3)]
            if dense:
                idx = v[0] + v[1] * (n + 1) + v[2] * (n + 1) ** 2
            else:
                idx = ((v[0] * PRIMES[0]) ^ (v[1] * PRIMES[1]) ^ (v[2] * PRIMES[2])) % 2**32 % grid.table_size
            w = 1.0
            for a in range(3):
                f = pos[a] - cell[a]
                w *= f if bits[a] else 1 - f
            feat += w * table[offset + idx]
        out.append(feat)
        offset += size
    return torch.cat(out)


def test_level_resolutions_closed_form():
    b = math.exp((math.log(2048) - math.log(16)) / 15)
    assert level_resolutions(16, 16, 2048) == [math.floor(16 * b**level) for level in range(16)]
    assert level_resolutions(16, 16, 2048)[0] == 16 and level_resolutions(16, 16, 2048)[-1] in (2047, 2048)
    assert level_resolutions(1, 8, 64) == [8]


def test_against_brute_force_loop_dense_and_hashed_levels():
    grid = HashGrid(
        n_levels=6,
        n_features=2,
        log2_table_size=10,
        base_resolution=2,
        max_resolution=64,
        generator=torch.Generator().manual_seed(0),
    )
    assert grid.dense[:2] == [True, True] and not any(grid.dense[3:])  # (N+1)^3 <= 1024 only for N <= 9
    assert grid.embeddings.shape == (sum((n + 1) ** 3 if d else 1024 for n, d in zip(grid.resolutions, grid.dense)), 2)
    assert grid.embeddings.abs().max() <= 1e-4
    with torch.no_grad():
        grid.embeddings.normal_(generator=torch.Generator().manual_seed(1))
    g = torch.Generator().manual_seed(2)
    x = torch.cat([torch.rand(40, 3, generator=g), torch.tensor([[0.0, 0.0, 0.0], [1.0, 1.0, 1.0], [1.0, 0.5, 0.0]])])
    out = grid(x.reshape(43, 1, 3))
    assert out.shape == (43, 1, 12)
    for i in range(len(x)):
        torch.testing.assert_close(out[i, 0].double(), brute_force(grid, x[i]), atol=1e-5, rtol=1e-5)


def test_hash_matches_uint32_arithmetic_at_large_coordinates():
    grid = HashGrid(n_levels=2, n_features=1, log2_table_size=19, base_resolution=1024, max_resolution=4096)
    v = torch.tensor([[[4000, 3999, 4096], [4096, 1, 2]]])  # [1, L=2, 3]
    idx = grid.table_indices(v)
    for level in range(2):
        a, b, c = v[0, level].tolist()
        ref = ((a * PRIMES[0]) % 2**32 ^ (b * PRIMES[1]) % 2**32 ^ (c * PRIMES[2]) % 2**32) % 2**19
        assert int(idx[0, level]) - int(grid.offsets[level]) == ref


def test_gradcheck_float64():
    grid = HashGrid(
        n_levels=3,
        n_features=2,
        log2_table_size=6,
        base_resolution=2,
        max_resolution=8,
        dtype=torch.float64,
        generator=torch.Generator().manual_seed(3),
    )
    assert grid.dense[0] and not grid.dense[-1]  # (N + 1)^3 <= 64: dense; 9^3 > 64: hashed
    with torch.no_grad():
        grid.embeddings.normal_(generator=torch.Generator().manual_seed(4))
    x = torch.rand(5, 3, generator=torch.Generator().manual_seed(5), dtype=torch.float64) * 0.8 + 0.1
    x = x.requires_grad_(True)
    # the table enters as the module's own parameter
    assert torch.autograd.gradcheck(lambda points, table: grid(points), (x, grid.embeddings))
    grid(x).sum().backward()
    # trilinear weights sum to 1: each of the 5 points x 3 levels adds 1 to every feature column
    torch.testing.assert_close(grid.embeddings.grad.sum(0), torch.full((2,), 15.0, dtype=torch.float64))
