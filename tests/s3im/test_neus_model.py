"""NeuS networks, rendering formulas, BLAS linear, mesh extraction and the model step (s3im.models.neus)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from common.geometry import Normalization
from s3im.models.neus.blas import linear
from s3im.models.neus.mesh import extract_mesh
from s3im.models.neus.model import NeuS, resolve_config
from s3im.models.neus.network import (
    ColorNetwork,
    SDFNetwork,
    WeightNormLinear,
    _MLPPlan,
    _SoftplusMLPWithGradient,
    set_backend,
)
from s3im.models.neus.renderer import (
    near_far_from_sphere,
    sample_pdf,
    sdf_alpha,
    up_sample,
    up_sample_weights,
    weights_from_alpha,
)

SMALL = {
    "sdf_hidden": 48,
    "sdf_layers": 3,
    "skip_in": [2],
    "d_feature": 8,
    "color_hidden": 16,
    "color_layers": 2,
    "n_samples": 16,
    "n_importance": 16,
    "up_sample_steps": 2,
    "mask_weight": 0.0,
}


def test_blas_linear_matches_torch_to_second_order():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(7, 5, dtype=torch.float64, generator=g, requires_grad=True)
    w = torch.randn(4, 5, dtype=torch.float64, generator=g, requires_grad=True)
    b = torch.randn(4, dtype=torch.float64, generator=g, requires_grad=True)
    assert torch.allclose(linear(x, w, b), torch.nn.functional.linear(x, w, b))
    assert torch.autograd.gradcheck(lambda x, w, b: linear(x, w, b), (x, w, b))
    assert torch.autograd.gradgradcheck(lambda x, w, b: torch.tanh(linear(x, w, b)), (x, w, b))


def test_weight_norm_linear_is_torch_weight_norm():
    lin = WeightNormLinear(6, 3)
    with torch.no_grad():
        lin.weight_g.mul_(torch.tensor([[2.0], [0.5], [1.0]]))
    ref = torch.nn.utils.parametrizations.weight_norm(torch.nn.Linear(6, 3))
    with torch.no_grad():
        ref.parametrizations.weight.original0.copy_(lin.weight_g)
        ref.parametrizations.weight.original1.copy_(lin.weight_v)
        ref.bias.copy_(lin.bias)
    x = torch.randn(5, 6)
    assert torch.allclose(lin(x), ref(x), atol=1e-6)


@pytest.mark.parametrize("inside_outside", [False, True])
def test_geometric_init_is_a_sphere_sdf(inside_outside):
    torch.manual_seed(0)
    net = SDFNetwork(inside_outside=inside_outside)
    dirs = torch.nn.functional.normalize(torch.randn(200, 3), dim=-1)
    sign = -1.0 if inside_outside else 1.0
    # approximately |x| - 0.5 (softplus, not ReLU): about zero on the sphere on average, rising with |x|
    with torch.no_grad():
        means = [float(sign * net.sdf(dirs * r).mean()) for r in (0.2, 0.5, 0.8)]
    assert abs(means[1]) < 0.05 and means[0] < -0.1 and means[2] > 0.2
    sdf, feat, grad = net.sdf_and_gradient(dirs * 0.7)
    assert feat.shape == (200, 256)
    radial = (grad * dirs).sum(-1)  # gradient of |x| - 0.5 is the radial unit vector (on average)
    assert abs(float(radial.detach().mean()) - sign) < 0.15


def test_sdf_gradient_matches_finite_differences():
    torch.manual_seed(1)
    net = SDFNetwork(d_hidden=64, n_layers=3, skip_in=(2,), d_feature=4).double()
    x = torch.rand(6, 3, dtype=torch.float64) - 0.5
    _, _, grad = net.sdf_and_gradient(x, create_graph=False)
    eps = 1e-6
    for k in range(3):
        e = torch.zeros(3, dtype=torch.float64)
        e[k] = eps
        fd = (net.sdf(x + e) - net.sdf(x - e))[:, 0] / (2 * eps)
        assert torch.allclose(grad[:, k], fd, atol=1e-6)


def _randomized(net: torch.nn.Module, seed: int, std: float = 0.3) -> torch.nn.Module:
    """Perturb every parameter (weights away from the geometric init) in place; returns ``net``."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in net.parameters():
            p.add_(torch.randn(p.shape, generator=g, dtype=p.dtype) * std * (p.abs().mean() + 0.1))
    return net


def _sdf_terms_and_grads(net: SDFNetwork, x: torch.Tensor, explicit: bool):
    """(sdf, feature, gradient) and the parameter gradients of a loss using all three (eikonal among them)."""
    net.explicit = explicit
    net.zero_grad()
    sdf, feat, grad = net.sdf_and_gradient(x)
    w = torch.linspace(-1.0, 1.0, feat.shape[1], dtype=x.dtype)
    loss = (
        ((grad.norm(dim=-1) - 1.0) ** 2).mean()
        + 0.3 * (sdf**2).sum()
        + 0.1 * (feat * w).sum()
        + (grad * torch.tensor([0.3, -1.0, 2.0], dtype=x.dtype)).sum()
    )
    loss.backward()
    grads = {n: p.grad.clone() for n, p in net.named_parameters() if p.grad is not None}
    return (sdf.detach(), feat.detach(), grad.detach()), grads


@pytest.mark.parametrize(
    "cfg",
    [
        {"d_hidden": 32, "n_layers": 4, "skip_in": (2,), "d_feature": 5, "multires": 2},  # PE + skip, official-like
        {"d_hidden": 24, "n_layers": 3, "skip_in": (), "d_feature": 3, "multires": 0, "scale": 1.7},  # xyz input
        {"d_hidden": 48, "n_layers": 4, "skip_in": (2, 4), "d_feature": 2, "scale": 0.8},  # skip into the output
    ],
)
@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_explicit_sdf_gradient_matches_autograd_double_backward(cfg, backend):
    torch.manual_seed(0)
    net = _randomized(SDFNetwork(**cfg).double(), seed=1)
    set_backend(net, backend)
    net.block = 7  # several row blocks and a remainder
    x = torch.rand(23, 3, dtype=torch.float64) * 2.0 - 1.0
    (vals_a, grads_a), (vals_e, grads_e) = (_sdf_terms_and_grads(net, x, e) for e in (False, True))
    for a, e in zip(vals_a, vals_e):
        assert torch.allclose(a, e, rtol=1e-12, atol=1e-12)
    assert set(grads_a) == set(grads_e)
    for name in grads_a:
        assert torch.allclose(grads_a[name], grads_e[name], rtol=1e-10, atol=1e-12), name
    with torch.no_grad():  # the no-grad sdf (output layer's sdf row only)
        assert torch.allclose(net.sdf(x), net.forward(x)[:, :1], rtol=1e-12, atol=1e-12)
    _, _, g_nograd = net.sdf_and_gradient(x, create_graph=False)
    assert not g_nograd.requires_grad and torch.allclose(g_nograd, vals_e[2], rtol=1e-12, atol=1e-12)


def test_explicit_mlp_function_gradcheck():
    """First-order derivatives of both outputs (value, input gradient) w.r.t. inputs, weights and biases."""
    g = torch.Generator().manual_seed(3)
    d_in, dims = 4, [(6, 4), (5, 6 + 4), (3, 5)]  # layer 1 is a skip layer (h-part 6 + input part 4)
    plan = _MLPPlan((1,), 3, d_in, beta=5.0, block=3, backend="numpy")
    inputs = torch.randn(7, d_in, dtype=torch.float64, generator=g, requires_grad=True)
    weights = [torch.randn(o, i, dtype=torch.float64, generator=g, requires_grad=True) for o, i in dims]
    biases = [torch.randn(o, dtype=torch.float64, generator=g, requires_grad=True) for o, _ in dims]
    assert torch.autograd.gradcheck(
        lambda *a: _SoftplusMLPWithGradient.apply(plan, *a), (inputs, *weights, *biases), atol=1e-6
    )


def test_explicit_model_step_matches_autograd_step():
    """A whole NeuS training step (float64, random weights): same losses and parameter gradients either way."""
    torch.manual_seed(0)
    model = _randomized(NeuS({**SMALL, "mask_weight": 0.1}).double(), seed=2, std=0.05)
    g = torch.Generator().manual_seed(4)
    d = torch.nn.functional.normalize(torch.randn(32, 3, generator=g, dtype=torch.float64) * 0.3 + 1.0, dim=-1)
    batch = {
        "rays_o": -2.5 * d,
        "rays_d": d,
        "rgb": torch.rand(32, 3, generator=g, dtype=torch.float64),
        "mask": (torch.rand(32, generator=g) > 0.3).double(),
    }
    results = []
    for explicit in (False, True):
        model.sdf_network.explicit = explicit
        model.zero_grad()
        torch.manual_seed(5)  # same jitter
        terms = model.losses(model(batch, 0), batch, 0)
        sum(terms.values()).backward()
        results.append(
            ({k: float(v.detach()) for k, v in terms.items()}, {n: p.grad.clone() for n, p in model.named_parameters()})
        )
    (terms_a, grads_a), (terms_e, grads_e) = results
    assert terms_a == pytest.approx(terms_e, rel=1e-12, abs=1e-14)
    for name in grads_a:
        assert torch.allclose(grads_a[name], grads_e[name], rtol=1e-9, atol=1e-12), name


def test_color_network_input_layout():
    net = ColorNetwork(d_feature=8, d_hidden=16, n_layers=2, multires_view=4)
    assert net.lin0.weight_v.shape == (16, 3 + 27 + 3 + 8)
    out = net(torch.randn(5, 3), torch.randn(5, 3), torch.randn(5, 3), torch.randn(5, 8))
    assert out.shape == (5, 3) and ((out > 0) & (out < 1)).all()


def test_near_far_from_sphere_brackets_the_closest_approach():
    o = torch.tensor([[0.0, 0.0, -3.0], [2.0, 0.5, 0.0]])
    d = torch.nn.functional.normalize(torch.tensor([[0.0, 0.0, 1.0], [-1.0, 0.0, 0.0]]), dim=-1)
    near, far = near_far_from_sphere(o, d)
    assert torch.allclose(near[:, 0], torch.tensor([2.0, 1.0])) and torch.allclose(far[:, 0], torch.tensor([4.0, 3.0]))
    # a camera inside the sphere (a room): no sample behind it
    near, far = near_far_from_sphere(torch.tensor([[0.0, 0.0, 0.3]]), torch.tensor([[0.0, 0.0, 1.0]]))
    assert float(near) == 0.0 and float(far) == pytest.approx(0.7)


def test_sdf_alpha_peaks_at_a_plane_crossing_and_weights_sum_to_one():
    # plane sdf f(t) = 1.0 - t crossed at t = 1 along the ray; gradient of f wrt x is -d (cos = -1)
    t = torch.linspace(0.0, 2.0, 129)[None]
    dists = torch.full_like(t, 2.0 / 128)
    mid = t + dists / 2
    sdf = 1.0 - mid
    dirs = torch.tensor([0.0, 0.0, 1.0]).expand(1, 129, 3)
    alpha = sdf_alpha(sdf, -dirs, dirs, dists, torch.tensor(200.0), cos_anneal_ratio=1.0)
    w = weights_from_alpha(alpha)
    assert abs(float(mid[0, w[0].argmax()]) - 1.0) < 2.0 / 128 + 1e-6
    assert float(w.sum()) == pytest.approx(1.0, abs=1e-3)
    # closed form with r = 1: alpha_i = (Phi(f - cos d / 2)... ) = 1 - Phi(f(t_{i+1})) / Phi(f(t_i)) up to eps
    phi = torch.sigmoid(200.0 * (1.0 - torch.cat([t, t[:, -1:] + 2.0 / 128], -1)))
    closed = ((phi[:, :-1] - phi[:, 1:] + 1e-5) / (phi[:, :-1] + 1e-5)).clip(0, 1)
    assert torch.allclose(alpha, closed, atol=1e-5)


def test_up_sample_concentrates_near_the_surface_and_uses_fixed_inv_s():
    o = torch.tensor([[0.0, 0.0, -0.9]])
    d = torch.tensor([[0.0, 0.0, 1.0]])
    t = torch.linspace(0.0, 1.8, 33)[None]
    sdf = 0.3 - (o[:, 2:] + t).abs()  # sphere of radius 0.3 seen from outside along z: crossing at t = 0.6
    sdf = (o[:, 2:] + t).abs() - 0.3
    new = up_sample(o, d, t, sdf, 16, 64.0)
    assert ((new - 0.6).abs() < 0.15).float().mean() > 0.9
    w64, w512 = up_sample_weights(o, d, t, sdf, 64.0), up_sample_weights(o, d, t, sdf, 512.0)
    assert w512.max() > w64.max()  # sharper with the larger fixed inv_s (64 * 2^i in the rounds)


def test_sample_pdf_deterministic_midpoints():
    bins = torch.tensor([[0.0, 1.0, 2.0]])
    out = sample_pdf(bins, torch.tensor([[1.0, 1.0]]), 4, det=True)
    assert torch.allclose(out, torch.tensor([[0.25, 0.75, 1.25, 1.75]]), atol=1e-4)


def test_config_rejects_unknown_keys_and_bad_importance():
    with pytest.raises(ValueError, match="unknown NeuS config key"):
        resolve_config({"name": "neus", "bogus": 1})
    with pytest.raises(ValueError, match="multiple of up_sample_steps"):
        resolve_config({"n_importance": 10, "up_sample_steps": 4})


def test_model_step_learns_and_render_matches_forward_in_eval():
    torch.manual_seed(0)
    model = NeuS(SMALL)
    o = torch.tensor([0.0, 0.0, -2.5]).expand(64, 3)
    d = torch.nn.functional.normalize(torch.randn(64, 3) * 0.2 + torch.tensor([0.0, 0.0, 1.0]), dim=-1)
    batch = {"rays_o": o, "rays_d": d, "rgb": torch.full((64, 3), 0.8)}
    opt = torch.optim.Adam(model.parameters(), 1e-2)
    first = None
    for step in range(15):
        out = model(batch, step)
        terms = model.losses(out, batch, step)
        assert set(terms) == {"color", "eikonal"}
        loss = sum(terms.values())
        first = float(loss) if first is None else first
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert float(loss) < 0.5 * first
    model.eval()
    with torch.no_grad():
        rendered = model.render(batch, chunk=16)
    direct = model(batch, None)
    assert torch.allclose(rendered["rgb"], direct["rgb"].detach(), atol=1e-5)
    assert rendered["normal"].shape == (64, 3) and rendered["acc"].shape == (64,)


def test_mask_loss_needs_masks():
    model = NeuS({**SMALL, "mask_weight": 0.1})
    batch = {"rays_o": torch.zeros(4, 3), "rays_d": torch.eye(3)[[0, 1, 2, 0]], "rgb": torch.rand(4, 3)}
    out = model(batch, 0)
    with pytest.raises(ValueError, match="mask"):
        model.losses(out, batch, 0)
    batch["mask"] = torch.tensor([1.0, 0.0, 1.0, 0.0])
    assert set(model.losses(out, batch, 0)) == {"color", "eikonal", "mask"}


def test_background_model_composites_outside_the_sphere():
    torch.manual_seed(0)
    model = NeuS({**SMALL, "n_outside": 8})
    batch = {"rays_o": torch.tensor([[0.0, 0.0, -3.0]]).expand(8, 3), "rays_d": torch.eye(3)[[2] * 8]}
    out = model.render(batch, 8)
    assert out["rgb"].shape == (8, 3) and torch.isfinite(out["rgb"]).all()


def test_mesh_extraction_of_a_sphere_in_world_units():
    def sdf(p):
        return torch.linalg.norm(p, dim=-1) - 0.5

    norm = Normalization(scale=0.25, center=(1.0, 2.0, 3.0))  # world = x / 0.25 + c
    v, f = extract_mesh(sdf, 48, normalization=norm)
    assert len(f) > 100
    radius = np.linalg.norm(v - np.array([1.0, 2.0, 3.0]), axis=1)
    assert np.allclose(radius, 0.5 / 0.25, atol=0.05)
    v0, f0 = extract_mesh(lambda p: torch.linalg.norm(p, dim=-1) + 1.0, 16)
    assert len(f0) == 0 and math.isfinite(float(v0.sum()))
