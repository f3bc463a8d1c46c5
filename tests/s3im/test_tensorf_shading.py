"""s3im.models.tensorf.shading: the official PE layout, and ColourMLP (hand-written backward) against autograd."""

from __future__ import annotations

import pytest
import torch

from s3im.models.tensorf.shading import MODES, MLPRender, pe_backward, tensorf_pe, write_pe


def official_pe(x: torch.Tensor, n_freqs: int) -> torch.Tensor:
    """The official ``positional_encoding``, element by element: sin block, then cos block, (d, k) order."""
    n, d = x.shape
    out = torch.empty(n, 2 * d * n_freqs, dtype=x.dtype)
    for i in range(d):
        for k in range(n_freqs):
            out[:, i * n_freqs + k] = torch.sin(x[:, i] * 2.0**k)
            out[:, d * n_freqs + i * n_freqs + k] = torch.cos(x[:, i] * 2.0**k)
    return out


def test_pe_layout_and_write_pe():
    x = torch.randn(7, 5, dtype=torch.float64)
    ref = official_pe(x, 3)
    torch.testing.assert_close(tensorf_pe(x, 3), ref)
    buf = torch.zeros(7, 40, dtype=torch.float64)
    write_pe(buf[:, 4:34], x, 3)  # a column window of a wider matrix, as in the MLP input
    torch.testing.assert_close(buf[:, 4:34], ref)
    assert buf[:, :4].abs().sum() == 0 and buf[:, 34:].abs().sum() == 0


def test_pe_backward_matches_autograd():
    x = torch.randn(6, 4, dtype=torch.float64, requires_grad=True)
    g = torch.randn(6, 24, dtype=torch.float64)
    pe = tensorf_pe(x, 3)
    (auto,) = torch.autograd.grad(pe, x, g)
    torch.testing.assert_close(pe_backward(g, pe.detach(), 3), auto)


def make_head(mode: str, seed: int = 0) -> MLPRender:
    torch.manual_seed(seed)
    head = MLPRender(mode, app_dim=5, view_pe=2, fea_pe=2, pos_pe=3, width=16).double()
    with torch.no_grad():
        for p in head.parameters():  # weights large enough that some ReLUs are off and the sigmoid is not flat
            p.copy_(torch.randn_like(p) * 0.5)
    return head


@pytest.mark.parametrize("mode", MODES)
def test_colour_mlp_values_and_gradients_equal_autograd(mode):
    head = make_head(mode)
    n = 50
    feats = torch.randn(n, 5, dtype=torch.float64, requires_grad=True)
    view = torch.nn.functional.normalize(torch.randn(n, 3, dtype=torch.float64), dim=-1)
    xyz = torch.rand(n, 3, dtype=torch.float64) * 2 - 1
    g = torch.randn(n, 3, dtype=torch.float64)
    params = [feats, *head.parameters()]
    fused = head(feats, view, xyz)
    ref = head.forward_autograd(feats, view, xyz)
    torch.testing.assert_close(fused, ref, rtol=1e-12, atol=1e-12)
    grads_fused = torch.autograd.grad(fused, params, g)
    grads_ref = torch.autograd.grad(ref, params, g)
    for a, b in zip(grads_fused, grads_ref):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)


def test_colour_mlp_gradcheck():
    head = make_head("MLP_Fea", seed=1)
    feats = torch.randn(8, 5, dtype=torch.float64, requires_grad=True)
    view = torch.nn.functional.normalize(torch.randn(8, 3, dtype=torch.float64), dim=-1)
    assert torch.autograd.gradcheck(lambda f, *w: head(f, view), (feats, *head.parameters()))


def test_no_feature_gradient_when_not_needed():
    head = make_head("MLP_Fea")
    feats = torch.randn(4, 5, dtype=torch.float64)
    view = torch.nn.functional.normalize(torch.randn(4, 3, dtype=torch.float64), dim=-1)
    head(feats, view).sum().backward()
    assert feats.grad is None and head.mlp[0].weight.grad is not None


def test_float32_close_to_autograd():
    torch.manual_seed(2)
    head = MLPRender("MLP_Fea", app_dim=27, width=128)
    feats = torch.randn(300, 27, requires_grad=True)
    view = torch.nn.functional.normalize(torch.randn(300, 3), dim=-1)
    fused, ref = head(feats, view), head.forward_autograd(feats, view)
    torch.testing.assert_close(fused, ref)
    (ga,) = torch.autograd.grad(fused.sum(), feats)
    (gb,) = torch.autograd.grad(ref.sum(), feats)
    torch.testing.assert_close(ga, gb, rtol=1e-4, atol=1e-6)
