"""A tiny JacobiNeRF and a ray batch for the tests (no data set needed)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from jacobinerf.model import ShapedNeRF

TINY = {
    "netdepth": 2,
    "netwidth": 16,
    "skips": [],
    "multires": 2,
    "multires_views": 1,
    "n_samples": 6,
    "n_importance": 5,
    "raw_noise_std": 0.0,
}


def tiny_model(seed: int = 0, dtype=torch.float64) -> ShapedNeRF:
    torch.manual_seed(seed)
    model = ShapedNeRF(TINY, 0.5, 3.0).to(dtype)
    with torch.no_grad():  # a denser field than the initialisation gives non-trivial weights
        model.fields.fine.alpha_linear.bias.fill_(2.0)
        model.fields.coarse.alpha_linear.bias.fill_(2.0)
    return model.eval()


def tiny_rays(n: int = 7, seed: int = 1, dtype=torch.float64) -> dict:
    gen = torch.Generator().manual_seed(seed)
    o = torch.randn(n, 3, generator=gen, dtype=dtype) * 0.1
    d = F.normalize(torch.randn(n, 3, generator=gen, dtype=dtype), dim=-1)
    return {"rays_o": o, "rays_d": d, "viewdirs": d}
