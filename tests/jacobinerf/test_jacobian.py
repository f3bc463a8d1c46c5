"""Closed-form batched Jacobian vs per-ray autograd (first and second order, finite differences)."""

from __future__ import annotations

import torch
from jnerf_fixtures import tiny_model, tiny_rays

from jacobinerf.jacobian import flat, grey_jacobian, per_ray_autograd_jacobian
from jacobinerf.shaping import gradient_norm_loss, mig_infonce


def _closed(model, rays):
    out = model.render_rays(rays, keep_samples=True)
    return out, grey_jacobian(out["weights"], out["logits"], out["h"])


def test_closed_form_equals_per_ray_autograd(model, rays):
    out, jac = _closed(model, rays)
    grey = out["rgb"].mean(-1)
    ref = per_ray_autograd_jacobian(grey, model.rgb_layer, create_graph=False)
    assert jac.shape == (7, 3, 8)
    assert ref.abs().max() > 1e-3  # non-trivial
    torch.testing.assert_close(jac, ref, atol=1e-5, rtol=0)


def test_closed_form_in_float32_within_1e5():
    model, rays = tiny_model(dtype=torch.float32), tiny_rays(dtype=torch.float32)
    out, jac = _closed(model, rays)
    ref = per_ray_autograd_jacobian(out["rgb"].mean(-1), model.rgb_layer, create_graph=False)
    torch.testing.assert_close(jac, ref, atol=1e-5, rtol=0)


def _loss(jac):
    pos = torch.eye(jac.shape[0], dtype=torch.bool)
    pos[0, 1] = pos[1, 0] = pos[2, 3] = True
    return mig_infonce(flat(jac), pos)[0] + gradient_norm_loss(flat(jac))


def test_second_order_gradient_equals_per_ray_autograd(rays):
    grads = []
    for closed in (True, False):
        model = tiny_model()
        out = model.render_rays(rays, keep_samples=True)
        if closed:
            jac = grey_jacobian(out["weights"], out["logits"], out["h"])
        else:
            jac = per_ray_autograd_jacobian(out["rgb"].mean(-1), model.rgb_layer, create_graph=True)
        _loss(jac).backward()
        grads.append({n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None})
    assert set(grads[0]) == set(grads[1])
    assert "fields.fine.pts_linears.0.weight" in grads[0]  # reaches the trunk (through h and the weights)
    for name in grads[0]:
        torch.testing.assert_close(grads[0][name], grads[1][name], atol=1e-8, rtol=1e-6)


def test_second_order_gradient_equals_finite_differences(rays):
    model = tiny_model()
    out = model.render_rays(rays, keep_samples=True)
    _loss(grey_jacobian(out["weights"], out["logits"], out["h"])).backward()
    for name in (
        "fields.fine.rgb_linear.weight",
        "fields.fine.views_linears.0.weight",
        "fields.fine.alpha_linear.bias",
    ):
        param = dict(model.named_parameters())[name]
        gen = torch.Generator().manual_seed(3)
        direction = torch.randn(param.shape, generator=gen, dtype=param.dtype)
        eps = 1e-6

        def value(sign, param=param, direction=direction, eps=eps):
            with torch.no_grad():
                param.add_(sign * eps * direction)
                o = model.render_rays(rays, keep_samples=True)
                v = _loss(grey_jacobian(o["weights"], o["logits"], o["h"])).item()
                param.sub_(sign * eps * direction)
            return v

        fd = (value(1) - value(-1)) / (2 * eps)
        assert abs(fd - float((param.grad * direction).sum())) < 1e-6 * max(1.0, abs(fd))
