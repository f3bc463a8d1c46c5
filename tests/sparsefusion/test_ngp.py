"""NGP field: hash grid against a brute-force table lookup, density blob, rendering bounds."""

import math

import torch

from common.fields.hashgrid import PRIMES
from sparsefusion.ngp import NGP


def brute_force(grid, x):
    """Trilinear blend of the 8 corner rows, each looked up by an explicit per-vertex index rule."""
    out = []
    for level, n in enumerate(grid.resolutions):
        pos = [float(c) * n for c in x]
        cell = [min(math.floor(p), n - 1) for p in pos]
        feat = torch.zeros(grid.n_features)
        for corner in range(8):
            bits = [(corner >> 2) & 1, (corner >> 1) & 1, corner & 1]
            v = [c + b for c, b in zip(cell, bits)]
            w = 1.0
            for p, c, b in zip(pos, cell, bits):
                w *= (p - c) if b else (1 - (p - c))
            if (n + 1) ** 3 <= grid.table_size:
                idx = v[0] + v[1] * (n + 1) + v[2] * (n + 1) ** 2
            else:
                idx = ((v[0] * PRIMES[0]) ^ (v[1] * PRIMES[1]) ^ (v[2] * PRIMES[2])) % grid.table_size
            feat += w * grid.embeddings[int(grid.offsets[level]) + idx].detach()
        out.append(feat)
    return torch.cat(out)


def test_hash_grid_matches_brute_force_lookup():
    torch.manual_seed(0)
    ngp = NGP(bound=1.5, levels=4, log2_table=13, max_resolution=64)
    with torch.no_grad():
        ngp.grid.embeddings.normal_()
    assert not all(ngp.grid.dense) and any(ngp.grid.dense)
    pts = torch.rand(5, 3) * 3 - 1.5
    got = ngp.grid((pts + 1.5) / 3)
    for p, g in zip(pts, got):
        torch.testing.assert_close(g.detach(), brute_force(ngp.grid, (p + 1.5) / 3), rtol=1e-4, atol=1e-4)


def test_density_blob_and_render_bounds():
    ngp = NGP(bound=1.5, levels=2, log2_table=10, max_resolution=32, samples=16, blob_density=5.0, blob_radius=0.2)
    x = torch.tensor([[0.0, 0, 0], [1.0, 0, 0]])
    torch.testing.assert_close(ngp.blob(x), torch.tensor([5.0, 5.0 * math.exp(-1 / 0.08)]))
    o = torch.tensor([[0.0, 0, -3], [3.0, 3.0, -3]])
    d = torch.tensor([[0.0, 0, 1], [0.0, 0, 1]])
    out = ngp.render(o, d, torch.Generator().manual_seed(0))
    assert out["rgb"].shape == (2, 3) and ((out["opacity"] >= 0) & (out["opacity"] <= 1)).all()
    assert out["opacity"][1] == 0  # misses the box: nothing rendered
    assert out["opacity"][0] > 0.5  # through the density blob at the centre
