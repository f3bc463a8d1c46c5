"""Cosine schedule against its closed form and diffusers; PLMS against diffusers' own PNDM scheduler run."""

import math

import numpy as np
import pytest
import torch

from common.compat import import_diffusers
from sparsefusion.diffusion import (
    alpha_bar,
    denoise_from,
    distillation_weight,
    log_snr,
    plms,
    predict_x0,
    q_sample,
    time_grid,
)


def test_alpha_bar_is_the_closed_form_cosine():
    t = torch.linspace(0.0, 0.99, 23, dtype=torch.float64)
    closed = torch.cos((t + 0.008) / 1.008 * math.pi / 2) ** 2
    torch.testing.assert_close(alpha_bar(t), closed, rtol=1e-6, atol=2e-5)  # log clamp 1e-5 only near t = 0
    torch.testing.assert_close(log_snr(t[5:]), torch.log(closed[5:] / (1 - closed[5:])))
    # where cos^2 = 1/2: t = 0.5 (1 + s) - s
    torch.testing.assert_close(
        alpha_bar(torch.tensor(0.5 * 1.008 - 0.008, dtype=torch.float64)), torch.tensor(0.5, dtype=torch.float64)
    )


def test_schedule_matches_diffusers_squaredcos_cap_v2():
    diffusers = import_diffusers()
    sched = diffusers.DDPMScheduler(num_train_timesteps=1000, beta_schedule="squaredcos_cap_v2")
    t = torch.arange(1, 1001, dtype=torch.float64) / 1000
    ours = alpha_bar(t) / alpha_bar(torch.tensor(0.0, dtype=torch.float64))
    ref = sched.alphas_cumprod.double()
    np.testing.assert_allclose(ours[:990].numpy(), ref[:990].numpy(), rtol=1e-3, atol=1e-6)


def test_q_sample_and_x0_prediction_invert():
    g = torch.Generator().manual_seed(0)
    z0, eps = torch.randn(3, 4, 2, 2, generator=g), torch.randn(3, 4, 2, 2, generator=g)
    t = torch.tensor([0.1, 0.5, 0.9])
    zt = q_sample(z0, t, eps)
    for i in range(3):
        torch.testing.assert_close(predict_x0(zt[i], alpha_bar(t[i]), eps[i]), z0[i], rtol=1e-4, atol=1e-4)


def test_distillation_weight_is_one_minus_alpha_bar():
    t = torch.tensor([0.02, 0.3, 0.5 * 1.008 - 0.008, 0.98])
    w = distillation_weight(t)
    torch.testing.assert_close(w, 1 - torch.cos((t + 0.008) / 1.008 * math.pi / 2) ** 2, rtol=1e-5, atol=1e-5)
    assert abs(float(w[2]) - 0.5) < 1e-5 and bool((w[1:] > w[:-1]).all())


@pytest.mark.parametrize("steps", [1, 2, 3, 4, 10])
def test_plms_matches_diffusers_pndm_run(steps):
    diffusers = import_diffusers()
    sched = diffusers.PNDMScheduler(
        num_train_timesteps=1000, beta_schedule="squaredcos_cap_v2", skip_prk_steps=True, set_alpha_to_one=True
    )
    sched.set_timesteps(steps)

    def eps_fn(x, t):  # a smooth, time-dependent stand-in for the denoiser
        return torch.tanh(0.7 * x + 0.001 * float(t)) + 0.1 * torch.sin(torch.as_tensor(float(t)) / 100)

    g = torch.Generator().manual_seed(1)
    x0 = torch.randn(2, 3, 4, 4, generator=g, dtype=torch.float64)
    x = x0.clone()
    for t in sched.timesteps:
        x = sched.step(eps_fn(x, t), t, x).prev_sample
    grid = [int(t) for t in sched._timesteps[::-1]]  # the distinct timesteps, decreasing
    alphas = [sched.alphas_cumprod[t].double() for t in grid]
    ours = plms(x0.clone(), [torch.tensor(t) for t in grid], alphas, eps_fn, final_alpha=1.0)
    torch.testing.assert_close(ours, x, rtol=1e-6, atol=1e-6)


def test_denoise_from_recovers_x0_with_an_exact_denoiser():
    g = torch.Generator().manual_seed(2)
    x0, noise = (
        torch.randn(1, 4, 3, 3, generator=g, dtype=torch.float64),
        torch.randn(1, 4, 3, 3, generator=g, dtype=torch.float64),
    )
    t = 0.6
    zt = q_sample(x0, torch.tensor([t], dtype=torch.float64), noise)

    def oracle(z, s):  # the noise that maps z back to x0 at time s
        a = alpha_bar(torch.as_tensor(s, dtype=torch.float64))
        return (z - a.sqrt() * x0) / (1 - a).sqrt()

    for n in (1, 5, 20):
        torch.testing.assert_close(denoise_from(zt, t, n, oracle), x0, rtol=1e-4, atol=1e-4)  # float32 grid
    assert time_grid(0.6, 3) == pytest.approx([0.6, 0.4, 0.2])


def test_x0_clipping_bounds_the_implied_clean_sample():
    x = torch.full((1, 2), 5.0, dtype=torch.float64)
    a = torch.tensor(0.3, dtype=torch.float64)
    eps = torch.zeros(1, 2, dtype=torch.float64)  # implies x0 = 5 / sqrt(0.3) ~ 9.1
    out = plms(x, [torch.tensor(0.5)], [a], lambda z, t: eps, final_alpha=1.0, clip=3.0)
    torch.testing.assert_close(out, torch.full((1, 2), 3.0, dtype=torch.float64))
    unclipped = plms(x, [torch.tensor(0.5)], [a], lambda z, t: eps, final_alpha=1.0)
    torch.testing.assert_close(unclipped, x / a.sqrt())
