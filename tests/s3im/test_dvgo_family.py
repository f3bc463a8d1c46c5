from __future__ import annotations

import numpy as np
import torch

from common.data.scene import SceneData
from common.rays import RayBank
from s3im.models.dvgo.family import view_rays


def tiny_scene(n_views=3, h=4, w=6):
    K = np.tile(np.array([[5.0, 0, 3], [0, 5.0, 2], [0, 0, 1]], dtype=np.float32), (n_views, 1, 1))
    c2w = np.tile(np.eye(4, dtype=np.float32), (n_views, 1, 1))
    c2w[:, 0, 3] = np.arange(n_views)
    images = np.random.default_rng(0).random((n_views, h, w, 3)).astype(np.float32)
    return SceneData(
        images=images,
        K=K,
        c2w=c2w,
        height=h,
        width=w,
        splits={"train": list(range(n_views))},
        near=0.1,
        far=5.0,
        bbox=np.array([[-1.0] * 3, [1.0] * 3], dtype=np.float32),
    )


def test_view_rays_yields_each_views_subsampled_pixels():
    scene = tiny_scene()
    bank = RayBank(scene, "train")
    out = list(view_rays(bank, downrate=2))
    assert len(out) == 3
    for k, (o, d) in enumerate(out):
        assert o.shape == (6, 3) and d.shape == (6, 3)  # rows 0, 2 x columns 0, 2, 4
        torch.testing.assert_close(o, torch.tensor([float(k), 0.0, 0.0]).expand(6, 3))
        full = bank.gather(torch.arange(k * 24, (k + 1) * 24))["rays_d"].reshape(4, 6, 3)
        torch.testing.assert_close(d, full[::2, ::2].reshape(-1, 3))
