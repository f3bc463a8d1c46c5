"""VLDM: UNet2DModel conditioned by concatenation, conditioning dropout, loss and sampling."""

import pytest
import torch

from sparsefusion.diffusion import alpha_bar, log_snr
from sparsefusion.vldm import VLDM


def small(cond_drop=0.1):
    torch.manual_seed(0)
    return VLDM(4, 3, 8, block_out_channels=(16, 32), layers_per_block=1, cond_drop=cond_drop, norm_groups=8)


def test_concatenation_conditioning_and_shapes():
    m = small().eval()
    z, t = torch.randn(2, 4, 8, 8), torch.tensor([0.3, 0.7])
    c1, c2 = torch.randn(2, 3, 8, 8), torch.randn(2, 3, 8, 8)
    assert m.unet.config.in_channels == 7 and m.unet.config.out_channels == 4
    e1, e2 = m(z, t, c1), m(z, t, c2)
    assert e1.shape == z.shape and not torch.allclose(e1, e2)
    torch.testing.assert_close(m(z, t, c1), m.unet(torch.cat([z, c1], 1), 1000 * t).sample)


def test_conditioning_dropout_one_ignores_the_condition():
    m = small(cond_drop=1.0)
    z0 = torch.randn(2, 4, 8, 8)
    l1 = m.loss(z0, torch.randn(2, 3, 8, 8), torch.Generator().manual_seed(3))
    l2 = m.loss(z0, torch.randn(2, 3, 8, 8) * 5, torch.Generator().manual_seed(3))
    torch.testing.assert_close(l1, l2)
    m0 = small(cond_drop=0.0)
    a = m0.loss(z0, torch.randn(2, 3, 8, 8), torch.Generator().manual_seed(3))
    b = m0.loss(z0, torch.randn(2, 3, 8, 8) * 5, torch.Generator().manual_seed(3))
    assert not torch.allclose(a, b)


def test_loss_backpropagates_into_the_condition_and_sampling_shapes():
    m = small()
    cond = torch.randn(1, 3, 8, 8, requires_grad=True)
    loss = m.loss(torch.randn(1, 4, 8, 8), cond, torch.Generator().manual_seed(0))
    loss.backward()
    assert torch.isfinite(loss) and cond.grad is not None
    s = m.sample(torch.randn(2, 3, 8, 8), 3, torch.Generator().manual_seed(0))
    assert s.shape == (2, 4, 8, 8) and torch.isfinite(s).all()


class Oracle(VLDM):
    """A denoiser that reads z0 from its condition (cond = z0) and returns the exact noise."""

    def forward(self, z_t, t, cond):
        a = alpha_bar(t).view(-1, 1, 1, 1)
        return (z_t - a.sqrt() * cond) / (1 - a).sqrt()


def test_condition_use_separates_a_denoiser_that_reads_its_condition():
    torch.manual_seed(0)
    m = Oracle(4, 4, 8, block_out_channels=(16,), layers_per_block=1, norm_groups=8)
    z0 = torch.randn(3, 4, 8, 8) * 0.7 + 0.2
    rows = m.condition_use(z0, z0, [0.3, 0.9], torch.Generator().manual_seed(0))
    assert [r["t"] for r in rows] == [0.3, 0.9]
    for r in rows:
        assert r["x0_mse_cond"] < 1e-8  # the condition is z0: exact
        # null condition: eps_hat = z_t / sqrt(1 - a), so x0_hat = 0 and the error is mean z0^2
        torch.testing.assert_close(r["x0_mse_null"], float((z0**2).mean()), rtol=1e-4, atol=1e-6)
        torch.testing.assert_close(r["x0_mse_mean"], float(z0.var((0, 2, 3), unbiased=False).mean()))


def test_v_prediction_returns_the_noise_estimate_and_trains_on_v():
    torch.manual_seed(0)
    m = VLDM(4, 3, 8, block_out_channels=(16, 32), layers_per_block=1, norm_groups=8, prediction="v")
    z0, cond, gen = torch.randn(3, 4, 8, 8), torch.randn(3, 3, 8, 8), torch.Generator().manual_seed(5)
    t = torch.tensor([0.2, 0.6, 0.95])
    a = alpha_bar(t).view(-1, 1, 1, 1)
    z_t = torch.randn(3, 4, 8, 8)
    v = m.output(z_t, t, cond)
    torch.testing.assert_close(m(z_t, t, cond), a.sqrt() * v + (1 - a).sqrt() * z_t)
    # the loss by hand: the same draws as VLDM.loss (t, noise, dropout), target v = sqrt(a) eps - sqrt(1 - a) z0
    g = torch.Generator().manual_seed(5)
    tt, noise = torch.rand(3, generator=g), torch.randn(z0.shape, generator=g)
    keep = (torch.rand(3, generator=g) >= m.cond_drop).float().view(-1, 1, 1, 1)
    at = alpha_bar(tt).view(-1, 1, 1, 1)
    out = m.output(at.sqrt() * z0 + (1 - at).sqrt() * noise, tt, cond * keep)
    per = ((out - (at.sqrt() * noise - (1 - at).sqrt() * z0)) ** 2).mean((1, 2, 3))
    torch.testing.assert_close(m.loss(z0, cond, gen), ((1 + log_snr(tt).exp()) ** -0.5 * per).mean())


class OracleV(VLDM):
    """A v-predicting denoiser that reads z0 from its condition and returns the exact v."""

    def output(self, z_t, t, cond):
        a = alpha_bar(t.reshape(-1)).view(-1, 1, 1, 1)
        eps = (z_t - a.sqrt() * cond) / (1 - a).sqrt()
        return a.sqrt() * eps - (1 - a).sqrt() * cond


def test_v_prediction_oracle_recovers_x0_through_the_noise_estimate():
    torch.manual_seed(0)
    m = OracleV(4, 4, 8, block_out_channels=(16,), layers_per_block=1, norm_groups=8, prediction="v")
    z0 = torch.randn(3, 4, 8, 8)
    for r in m.condition_use(z0, z0, [0.1, 0.5, 0.9], torch.Generator().manual_seed(0)):
        assert r["x0_mse_cond"] < 1e-8


def test_unknown_prediction_is_refused():
    with pytest.raises(ValueError, match="vldm.prediction"):
        VLDM(4, 3, 8, block_out_channels=(16,), layers_per_block=1, norm_groups=8, prediction="x")
