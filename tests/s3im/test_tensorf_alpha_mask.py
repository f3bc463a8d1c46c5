"""Alpha mask: occupancy query, construction by max-pool + threshold, box of the set nodes (explicit loops)."""

from __future__ import annotations

import itertools

import numpy as np
import torch

from s3im.models.tensorf.alpha_mask import AlphaGridMask

AABB = torch.tensor([[-1.0, 0.0, -2.0], [1.0, 3.0, 2.0]])


def test_occupied_iff_a_set_corner_has_a_positive_weight():
    g = torch.Generator().manual_seed(0)
    vol = (torch.rand(5, 4, 6, generator=g) > 0.8).float()  # [Z, Y, X]
    mask = AlphaGridMask(AABB, vol)
    assert mask.grid_size == [6, 4, 5]
    pts = AABB[0] + torch.rand(400, 3, generator=g) * (AABB[1] - AABB[0])
    idx = torch.tensor([[2, 1, 3], [0, 0, 0], [5, 3, 4]])  # (x, y, z) node indices: points on grid nodes
    nodes = AABB[0] + idx / torch.tensor([5.0, 3.0, 4.0]) * (AABB[1] - AABB[0])
    pts = torch.cat([pts, nodes])
    got = mask.occupied(pts)
    size = np.array([6, 4, 5])
    for p, occ in zip(pts.numpy(), got.numpy()):
        f = (p - AABB[0].numpy()) / (AABB[1] - AABB[0]).numpy() * (size - 1)
        expect = False
        for corner in itertools.product(*[range(int(np.floor(c)), int(np.floor(c)) + 2) for c in f]):
            c = np.array(corner)
            if (c < 0).any() or (c >= size).any():
                continue
            weight = np.prod(np.clip(1 - np.abs(f - c), 0, None))
            expect |= bool(weight > 1e-6 and vol[c[2], c[1], c[0]] > 0)
        assert occ == expect, (p, f)


def test_from_alpha_dilates_by_one_node_then_thresholds():
    alpha = torch.zeros(4, 5, 6)
    alpha[1, 2, 3] = 0.5
    alpha[3, 4, 0] = 1e-5  # below the threshold: no effect
    mask = AlphaGridMask.from_alpha(AABB, alpha, 1e-4)
    expect = torch.zeros(4, 5, 6)
    expect[0:3, 1:4, 2:5] = 1
    assert torch.equal(mask.volume, expect)


def test_bbox_of_the_set_nodes_and_state_roundtrip():
    vol = torch.zeros(5, 4, 3)  # Z, Y, X
    vol[1, 2, 0] = 1
    vol[3, 1, 2] = 1
    mask = AlphaGridMask(AABB, vol)
    box = mask.bbox()
    # x nodes 0..2 of 3 -> [-1, 1]: 0 and 2; y nodes 1..2 of 4 -> [0, 3]: 1, 2; z nodes 1..3 of 5 -> [-2, 2]
    torch.testing.assert_close(box, torch.tensor([[-1.0, 1.0, -1.0], [1.0, 2.0, 1.0]]))
    assert AlphaGridMask(AABB, torch.zeros(2, 2, 2)).bbox() is None
    back = AlphaGridMask.from_state(mask.state())
    assert mask.state()["volume"].dtype == torch.bool
    assert torch.equal(back.volume, mask.volume) and torch.equal(back.aabb, mask.aabb)
