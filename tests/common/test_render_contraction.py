from __future__ import annotations

import pytest
import torch

from common.render import contract, contract_with_inner, contraction_norm


def test_mipnerf360_closed_form():
    torch.manual_seed(0)
    x = torch.randn(500, 3, dtype=torch.float64) * torch.logspace(-2, 4, 500, dtype=torch.float64)[:, None]
    n = x.norm(dim=-1, keepdim=True)
    ref = torch.where(n <= 1, x, (2 - 1 / n) * x / n)
    torch.testing.assert_close(contract(x), ref)
    ninf = x.abs().amax(-1, keepdim=True)
    torch.testing.assert_close(contract(x, "inf"), torch.where(ninf <= 1, x, (2 - 1 / ninf) * x / ninf))
    torch.testing.assert_close(contract(torch.tensor([[0.0, 0.0, 4.0]])), torch.tensor([[0.0, 0.0, 1.75]]))
    torch.testing.assert_close(
        contract(torch.tensor([[4.0, -2.0, 1.0]]), "inf"), torch.tensor([[1.75, -0.875, 0.4375]])
    )


def test_shell_width_maps_space_into_the_box_and_is_identity_inside():
    torch.manual_seed(0)
    bg = 0.2
    far = torch.randn(1000, 3) * torch.logspace(-2, 6, 1000)[:, None]
    for norm in ("l2", "inf"):
        c, inner = contract_with_inner(far, norm, bg)
        assert torch.all(c.abs() <= 1 + bg + 1e-5)
        n = far.norm(dim=-1) if norm == "l2" else far.abs().amax(-1)
        assert torch.equal(inner, n <= 1) and 0 < int(inner.sum()) < len(far)
        torch.testing.assert_close(c[inner], far[inner])
        cn = c.norm(dim=-1) if norm == "l2" else c.abs().amax(-1)
        torch.testing.assert_close(cn[~inner], (1 + bg) - bg / n[~inner])  # radial map
        cos = torch.nn.functional.cosine_similarity(c[~inner], far[~inner], dim=-1)
        torch.testing.assert_close(cos, torch.ones_like(cos))  # direction kept
    torch.testing.assert_close(contract(torch.tensor([[0.0, 0.0, 4.0]]), "l2", bg), torch.tensor([[0.0, 0.0, 1.15]]))


@pytest.mark.parametrize("norm", ["l2", "inf"])
@pytest.mark.parametrize("bg_len", [1.0, 0.2])
def test_continuity_and_jacobian_at_the_unit_sphere(norm, bg_len):
    g = torch.Generator().manual_seed(1)
    u = torch.randn(20, 3, generator=g, dtype=torch.float64)
    if norm == "inf":
        u = u / u.abs().amax(-1, keepdim=True)  # on the unit cube, inside a face (|u_i| < 1 elsewhere)
        u = torch.where(u.abs() == 1, u, u * 0.9)
    else:
        u = u / u.norm(dim=-1, keepdim=True)
    for eps in (1e-6, -1e-6):
        x = u * (1 + eps)
        torch.testing.assert_close(contract(x, norm, bg_len), u, atol=2e-6, rtol=0)
    # just outside: J = I + (bg_len - 1) * radial part, the radial part d(norm)/dx outer u / |u|
    for p in u:
        x = p * (1 + 1e-9)
        jac = torch.autograd.functional.jacobian(lambda y: contract(y, norm, bg_len), x)
        grad_n = torch.autograd.functional.jacobian(lambda y: contraction_norm(y, norm)[0], x)
        ref = torch.eye(3, dtype=torch.float64) + (bg_len - 1) * torch.outer(p, grad_n)
        torch.testing.assert_close(jac, ref, atol=1e-6, rtol=0)
        jac_in = torch.autograd.functional.jacobian(lambda y: contract(y, norm, bg_len), p * (1 - 1e-9))
        torch.testing.assert_close(jac_in, torch.eye(3, dtype=torch.float64))
    if bg_len == 1.0:  # mip-NeRF 360: C^1 across the sphere
        torch.testing.assert_close(jac, torch.eye(3, dtype=torch.float64), atol=1e-6, rtol=0)


def test_unknown_norm_is_rejected():
    with pytest.raises(ValueError, match="l2"):
        contract(torch.zeros(1, 3), "l1")
