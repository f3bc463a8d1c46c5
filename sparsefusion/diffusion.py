"""Continuous-time cosine noise schedule and the PLMS sampler (pseudo linear multistep, Liu et al. 2022).

Schedule (imagen-pytorch ``alpha_cosine_log_snr``, s = 0.008), t in [0, 1]:
    log SNR(t) = -log(cos((t + s) / (1 + s) * pi / 2)^-2 - 1)      (clamped at 1e-5 inside the log)
    alpha_bar(t) = sigmoid(log SNR(t)) = cos^2((t + s) / (1 + s) * pi / 2)
    z_t = sqrt(alpha_bar) z_0 + sqrt(1 - alpha_bar) eps.
Distillation weight: w(t) = 1 - alpha_bar(t) = 1 - sigmoid(log SNR(t)).

PLMS on a decreasing time grid t_k > ... > t_0 with alpha_bar values a_k .. a_0, noise predictions e:
    transfer(x, a, a', e) = sqrt(a'/a) x - (a' - a) e / (a sqrt(1 - a') + sqrt(a (1 - a) a'))
    first step: e1 = eps(x, t_k); x' = transfer(x, a_k, a_k-1, e1); e' = eps(x', t_k-1);
                x <- transfer(x, a_k, a_k-1, (e1 + e') / 2)             (improved Euler)
    later steps with the history h of eps at the grid points (h_1 = e1, h_j = eps at step j):
        2 values: (3 h_-1 - h_-2) / 2;  3: (23 h_-1 - 16 h_-2 + 5 h_-3) / 12;
        >= 4: (55 h_-1 - 59 h_-2 + 37 h_-3 - 9 h_-4) / 24.
This is the update of diffusers' ``PNDMScheduler(skip_prk_steps=True)`` written for any time grid, so a
denoising run can start at an intermediate t (diffusion distillation); the tests run diffusers' scheduler
on its own grid beside it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
from torch import Tensor

S = 0.008


def log_snr(t: Tensor, s: float = S) -> Tensor:
    """log SNR(t) of the cosine schedule (see the module docstring)."""
    return -torch.log((torch.cos((t + s) / (1 + s) * math.pi * 0.5) ** -2 - 1).clamp(min=1e-5))


def alpha_bar(t: Tensor, s: float = S) -> Tensor:
    """alpha_bar(t) = sigmoid(log SNR(t))."""
    return torch.sigmoid(log_snr(t, s))


def distillation_weight(t: Tensor) -> Tensor:
    """w(t) = 1 - alpha_bar(t) (official: 1 - sigmoid(log SNR(t)))."""
    return 1 - alpha_bar(t)


def q_sample(z0: Tensor, t: Tensor, noise: Tensor) -> Tensor:
    """z_t = sqrt(alpha_bar(t)) z0 + sqrt(1 - alpha_bar(t)) noise; t [B]."""
    a = alpha_bar(t).view(-1, *([1] * (z0.dim() - 1)))
    return a.sqrt() * z0 + (1 - a).sqrt() * noise


def predict_x0(z_t: Tensor, a: Tensor | float, eps: Tensor) -> Tensor:
    """x0 = (z_t - sqrt(1 - a) eps) / sqrt(a)."""
    a = torch.as_tensor(a, dtype=z_t.dtype, device=z_t.device)
    return (z_t - (1 - a).sqrt() * eps) / a.sqrt()


def clip_eps(x: Tensor, a: Tensor, eps: Tensor, clip: float | None) -> Tensor:
    """The noise estimate whose x0 prediction is clamped to [-clip, clip] (imagen's x0 clipping; None: as is)."""
    if clip is None:
        return eps
    x0 = predict_x0(x, a, eps).clamp(-clip, clip)
    return (x - a.sqrt() * x0) / (1 - a).sqrt()


def transfer(x: Tensor, a: Tensor | float, a_prev: Tensor | float, eps: Tensor, clip: float | None = None) -> Tensor:
    """The PNDM transfer from alpha_bar ``a`` to ``a_prev`` with noise estimate ``eps`` (DDIM, eta = 0);
    with ``clip`` the x0 implied by (x, eps) is clamped to [-clip, clip] first."""
    a = torch.as_tensor(a, dtype=x.dtype, device=x.device)
    a_prev = torch.as_tensor(a_prev, dtype=x.dtype, device=x.device)
    eps = clip_eps(x, a, eps, clip)
    denom = a * (1 - a_prev).sqrt() + (a * (1 - a) * a_prev).sqrt()
    return (a_prev / a).sqrt() * x - (a_prev - a) * eps / denom


def plms_combine(history: Sequence[Tensor]) -> Tensor:
    """The multistep noise estimate from the last (up to 4) noise predictions."""
    h = history
    if len(h) == 1:
        return h[-1]
    if len(h) == 2:
        return (3 * h[-1] - h[-2]) / 2
    if len(h) == 3:
        return (23 * h[-1] - 16 * h[-2] + 5 * h[-3]) / 12
    return (55 * h[-1] - 59 * h[-2] + 37 * h[-3] - 9 * h[-4]) / 24


def plms(
    x: Tensor,
    timesteps: Sequence,
    alphas: Sequence,
    eps_fn: Callable[[Tensor, object], Tensor],
    final_alpha: float | Tensor = 1.0,
    clip: float | None = None,
) -> Tensor:
    """Run PLMS from ``x`` at ``timesteps[0]`` down through every grid point to ``final_alpha``.

    timesteps: decreasing model times t_k .. t_1 (passed to ``eps_fn(x, t)`` as given); alphas: their
    alpha_bar values; after the last grid point the sample moves to ``final_alpha`` (1.0: the clean sample).
    ``clip``: clamp every implied x0 to [-clip, clip] (None: diffusers' unclipped update).
    """
    targets = [*alphas[1:], final_alpha]
    history: list[Tensor] = []
    for i, (t, a, a_prev) in enumerate(zip(timesteps, alphas, targets)):
        e = eps_fn(x, t)
        if i == 0:
            history.append(e)
            x_mid = transfer(x, a, a_prev, e, clip)
            if len(timesteps) == 1:
                return x_mid
            t_next = timesteps[1]
            e = (e + eps_fn(x_mid, t_next)) / 2
            x = transfer(x, a, a_prev, e, clip)
            continue
        history.append(e)
        x = transfer(x, a, a_prev, plms_combine(history[-4:]), clip)
    return x


def time_grid(t_start: float, n_steps: int) -> list[float]:
    """n_steps evenly spaced times from t_start down to (but excluding) 0: t_start, ..., t_start / n_steps."""
    return [t_start * (n_steps - i) / n_steps for i in range(n_steps)]


def denoise_from(
    z_t: Tensor, t: float, n_steps: int, eps_fn: Callable[[Tensor, Tensor], Tensor], clip: float | None = None
) -> Tensor:
    """Multi-step PLMS reconstruction z_hat_0 of z_t at time ``t`` on ``n_steps`` evenly spaced times to 0
    (``n_steps`` = 1: the single-step prediction x0 = (z_t - sqrt(1 - a) eps) / sqrt(a)); ``clip`` clamps x0."""
    if n_steps <= 1:
        a = alpha_bar(torch.tensor(t))
        x0 = predict_x0(z_t, a, eps_fn(z_t, torch.tensor(t)))
        return x0 if clip is None else x0.clamp(-clip, clip)
    grid = time_grid(t, n_steps)
    alphas = [alpha_bar(torch.tensor(g)) for g in grid]
    return plms(z_t, [torch.tensor(g) for g in grid], alphas, eps_fn, final_alpha=1.0, clip=clip)
