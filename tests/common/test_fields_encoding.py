from __future__ import annotations

import math

import pytest
import torch

from common.fields import PositionalEncoding, encoding_dim, positional_encoding


def loop_reference(x: torch.Tensor, n_freqs: int, include_input: bool, layout: str) -> torch.Tensor:
    """Encoding of one point x [D] by explicit loops over channels and frequencies (math.sin / math.cos)."""
    vals = list(x.tolist()) if include_input else []
    if layout == "nerf":
        for k in range(n_freqs):
            vals += [math.sin(v * 2**k) for v in x.tolist()] + [math.cos(v * 2**k) for v in x.tolist()]
    else:
        vals += [math.sin(v * 2**k) for v in x.tolist() for k in range(n_freqs)]
        vals += [math.cos(v * 2**k) for v in x.tolist() for k in range(n_freqs)]
    return torch.tensor(vals, dtype=torch.float64)


@pytest.mark.parametrize("layout", ["nerf", "dvgo"])
@pytest.mark.parametrize("include_input", [True, False])
def test_against_loops(layout, include_input):
    x = torch.randn(4, 5, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    out = positional_encoding(x, 4, include_input, layout)
    assert out.shape == (4, 5, encoding_dim(3, 4, include_input))
    for idx in [(0, 0), (3, 4), (2, 1)]:
        torch.testing.assert_close(out[idx], loop_reference(x[idx], 4, include_input, layout))


def test_worked_example_and_module():
    out = positional_encoding(torch.tensor([0.5]), 2)
    torch.testing.assert_close(out, torch.tensor([0.5, math.sin(0.5), math.cos(0.5), math.sin(1.0), math.cos(1.0)]))
    enc = PositionalEncoding(3, 10)
    assert enc.out_dim == 63 and PositionalEncoding(3, 4, layout="dvgo").out_dim == 27
    assert enc(torch.zeros(7, 3)).shape == (7, 63) and len(list(enc.parameters())) == 0
    assert PositionalEncoding(3, 10, include_input=False).out_dim == 60
    with pytest.raises(ValueError, match="layout"):
        positional_encoding(torch.zeros(3), 2, layout="other")


def test_dvgo_layout_equals_the_dvgo_view_embedding_bitwise():
    v = torch.nn.functional.normalize(torch.randn(100, 3, generator=torch.Generator().manual_seed(1)), dim=-1)
    freq = 2.0 ** torch.arange(4, dtype=torch.float32)
    emb = (v.unsqueeze(-1) * freq).flatten(-2)
    assert torch.equal(positional_encoding(v, 4, layout="dvgo"), torch.cat([v, emb.sin(), emb.cos()], -1))
