import math

import torch

from nerf_correspondence.gan_losses import (
    d_logistic_loss,
    g_nonsaturating_loss,
    r1_penalty,
    topk_fraction,
    topk_logits,
)


def test_r1_matches_hand_gradient_of_a_tiny_discriminator():
    """D(x) = sum_i tanh(a x_i): dD/dx_i = a sech^2(a x_i), so R1 = mean_b sum_i a^2 sech^4(a x_bi)."""
    torch.manual_seed(0)
    a = torch.tensor(1.7, requires_grad=True)
    x = torch.randn(3, 2, 4, 4).requires_grad_(True)
    logits = torch.tanh(a * x).flatten(1).sum(1, keepdim=True)
    r1 = r1_penalty(logits, x)
    sech2 = 1 / torch.cosh(a.detach() * x.detach()) ** 2
    ref = (a.detach() ** 2 * sech2**2).flatten(1).sum(1).mean()
    assert torch.allclose(r1, ref, rtol=1e-5)
    # R1 is differentiable in the discriminator's parameters (create_graph): check against finite differences
    (g,) = torch.autograd.grad(r1, a)

    def r1_at(v):
        s = 1 / torch.cosh(v * x.detach()) ** 2
        return (v**2 * s**2).flatten(1).sum(1).mean()

    h = 1e-3
    fd = (r1_at(a.detach() + h) - r1_at(a.detach() - h)) / (2 * h)
    assert torch.allclose(g, fd, rtol=1e-3)


def test_r1_of_a_linear_discriminator_is_the_squared_weight_norm():
    w = torch.randn(48)
    x = torch.randn(5, 3, 4, 4).requires_grad_(True)
    logits = (x.flatten(1) @ w)[:, None]
    assert torch.allclose(r1_penalty(logits, x), w.pow(2).sum(), rtol=1e-6)


def test_logistic_losses_and_topk():
    real, fake = torch.tensor([[2.0], [0.0]]), torch.tensor([[-1.0], [3.0]])
    sp = lambda v: math.log1p(math.exp(v))  # noqa: E731
    assert math.isclose(d_logistic_loss(real, fake).item(), (sp(-1) + sp(3)) / 2 + (sp(-2) + sp(0)) / 2, rel_tol=1e-6)
    assert math.isclose(g_nonsaturating_loss(fake).item(), (sp(1) + sp(-3)) / 2, rel_tol=1e-6)
    assert topk_fraction(0, 2000, 0.6) == 1.0
    assert math.isclose(topk_fraction(2000, 2000, 0.6), 0.99)
    assert topk_fraction(10**7, 2000, 0.6) == 0.6 and topk_fraction(5, None, 0.6) == 1.0
    logits = torch.tensor([[0.1], [0.5], [-2.0], [0.3], [0.2]])
    assert torch.equal(topk_logits(logits, 0.5), torch.tensor([[0.5], [0.3], [0.2]]))  # ceil(2.5) = 3
