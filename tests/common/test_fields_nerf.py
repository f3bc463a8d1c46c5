from __future__ import annotations

import torch
import torch.nn.functional as F

from common.fields import NeRF, NeRFFields, apply_skip_linears

NERF_PYTORCH_SHAPES = {
    **{f"pts_linears.{i}.weight": (256, 256) for i in range(1, 8)},
    **{f"pts_linears.{i}.bias": (256,) for i in range(8)},
    "pts_linears.0.weight": (256, 63),
    "pts_linears.5.weight": (256, 256 + 63),
    "views_linears.0.weight": (128, 256 + 27),
    "views_linears.0.bias": (128,),
    "feature_linear.weight": (256, 256),
    "feature_linear.bias": (256,),
    "alpha_linear.weight": (1, 256),
    "alpha_linear.bias": (1,),
    "rgb_linear.weight": (3, 128),
    "rgb_linear.bias": (3,),
}


def embed(x, n_freqs):
    """nerf-pytorch's Embedder: [x, sin(x), cos(x), sin(2x), cos(2x), ...]."""
    out = [x]
    for k in range(n_freqs):
        out += [torch.sin(x * 2.0**k), torch.cos(x * 2.0**k)]
    return torch.cat(out, -1)


def test_parameter_names_and_shapes_equal_nerf_pytorch():
    net = NeRF()
    assert {k: tuple(v.shape) for k, v in net.state_dict().items()} == NERF_PYTORCH_SHAPES
    plain = {k: tuple(v.shape) for k, v in NeRF(use_viewdirs=False).state_dict().items()}
    assert plain["output_linear.weight"] == (4, 256) and "rgb_linear.weight" not in plain
    assert plain["views_linears.0.weight"] == (128, 256 + 27)


def test_forward_equals_the_reference_loop():
    torch.manual_seed(0)
    net = NeRF(depth=8, width=32)
    sd = net.state_dict()
    pts = torch.randn(2, 5, 3)
    dirs = F.normalize(torch.randn(2, 5, 3), dim=-1)
    x, v = embed(pts, 10), embed(dirs, 4)
    h = x
    for i in range(8):
        h = F.relu(h @ sd[f"pts_linears.{i}.weight"].T + sd[f"pts_linears.{i}.bias"])
        if i == 4:
            h = torch.cat([x, h], -1)
    sigma = (h @ sd["alpha_linear.weight"].T + sd["alpha_linear.bias"])[..., 0]
    feat = h @ sd["feature_linear.weight"].T + sd["feature_linear.bias"]
    h = F.relu(torch.cat([feat, v], -1) @ sd["views_linears.0.weight"].T + sd["views_linears.0.bias"])
    rgb = torch.sigmoid(h @ sd["rgb_linear.weight"].T + sd["rgb_linear.bias"])
    out_rgb, out_sigma = net(pts, dirs)
    assert out_rgb.shape == (2, 5, 3) and out_sigma.shape == (2, 5)
    torch.testing.assert_close(out_rgb, rgb)
    torch.testing.assert_close(out_sigma, sigma)
    plain = NeRF(width=32, use_viewdirs=False)
    raw = plain.output_linear(apply_skip_linears(plain.pts_linears, x, (4,)))
    p_rgb, p_sigma = plain(pts)
    torch.testing.assert_close(p_rgb, torch.sigmoid(raw[..., :3]))
    torch.testing.assert_close(p_sigma, raw[..., 3])


def test_coarse_fine_pair():
    torch.manual_seed(1)
    fields = NeRFFields(width=16)
    assert fields.fine is not None and fields.coarse is not fields.fine
    pts, dirs = torch.randn(4, 3), F.normalize(torch.randn(4, 3), dim=-1)
    torch.testing.assert_close(fields(pts, dirs, "fine")[0], fields.fine(pts, dirs)[0])
    torch.testing.assert_close(fields(pts, dirs)[1], fields.coarse(pts, dirs)[1])
    assert not torch.allclose(fields(pts, dirs, "fine")[0], fields(pts, dirs, "coarse")[0])
    single = NeRFFields(with_fine=False, width=16)
    assert single.fine is None and single.network("fine") is single.coarse
