"""The rearranged NeRF evaluation equals the plain ``common.fields.NeRF`` forward, values and gradients."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from common.fields.encoding import positional_encoding
from common.fields.nerf import NeRF
from s3im.models.nerf.network import evaluate_nerf


def _case(use_viewdirs: bool, skips, depth: int, seed: int = 0):
    torch.manual_seed(seed)
    net = NeRF(depth=depth, width=24, pos_freqs=5, view_freqs=3, skips=skips, use_viewdirs=use_viewdirs).double()
    for p in net.parameters():  # non-zero biases everywhere, so a dropped bias term would show
        torch.nn.init.normal_(p, std=0.3)
    n_rays, n_samples = 4, 6
    points = torch.randn(n_rays, n_samples, 3, dtype=torch.float64)
    dirs = F.normalize(torch.randn(n_rays, 3, dtype=torch.float64), dim=-1)
    return net, points, dirs, n_rays, n_samples


@pytest.mark.parametrize(
    ("use_viewdirs", "skips", "depth"), [(True, (4,), 8), (False, (4,), 8), (True, (1, 3), 5), (True, (), 3)]
)
def test_evaluate_nerf_equals_plain_forward_and_its_gradients(use_viewdirs, skips, depth):
    net, points, dirs, n_rays, n_samples = _case(use_viewdirs, skips, depth)
    rgb_ref, sigma_ref = net(points, dirs[:, None].expand(n_rays, n_samples, 3))
    pe = positional_encoding(points, net.pos_freqs).reshape(n_rays * n_samples, -1)
    view_pe = positional_encoding(dirs, net.view_freqs) if use_viewdirs else None
    rgb, sigma = evaluate_nerf(net, pe, view_pe, n_rays, n_samples)
    assert rgb.shape == (n_rays, n_samples, 3) and sigma.shape == (n_rays, n_samples)
    torch.testing.assert_close(rgb, rgb_ref, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(sigma, sigma_ref, rtol=1e-12, atol=1e-12)
    weights = torch.randn(n_rays, n_samples, 4, dtype=torch.float64)  # an arbitrary linear functional
    params = [p for p in net.parameters()]

    def grads(r, s):
        value = (r * weights[..., :3]).sum() + (s * weights[..., 3]).sum()
        return torch.autograd.grad(value, params, allow_unused=True)

    for name_p, g_ref, g in zip([n for n, _ in net.named_parameters()], grads(rgb_ref, sigma_ref), grads(rgb, sigma)):
        if g_ref is None:
            assert g is None or torch.count_nonzero(g) == 0, name_p
        else:
            torch.testing.assert_close(g, g_ref, rtol=1e-10, atol=1e-12, msg=name_p)


def test_evaluate_nerf_needs_view_encoding_when_the_network_uses_views():
    net, points, _, n_rays, n_samples = _case(True, (4,), 8)
    pe = positional_encoding(points, net.pos_freqs).reshape(n_rays * n_samples, -1)
    with pytest.raises(ValueError, match="view_pe"):
        evaluate_nerf(net, pe, None, n_rays, n_samples)
