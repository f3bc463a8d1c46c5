"""pi-GAN's losses: non-saturating logistic loss, R1, pose (position) loss, generator top-k.

    D:  softplus(D(G(z))) + softplus(-D(x)) + 0.5 r1_lambda ||d D(x) / d x||^2 + pos_lambda MSE(pose_fake, pose)
    G:  softplus(-topk(D(G(z)))) + pos_lambda MSE(pose_fake, pose)
with the top-k fraction max(0.99^(step / topk_interval), topk_v) of the fake logits kept for G.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor


def d_logistic_loss(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    """mean softplus(fake) + mean softplus(-real)."""
    return F.softplus(fake_logits).mean() + F.softplus(-real_logits).mean()


def g_nonsaturating_loss(fake_logits: Tensor) -> Tensor:
    """mean softplus(-fake)."""
    return F.softplus(-fake_logits).mean()


def r1_penalty(real_logits: Tensor, real_images: Tensor) -> Tensor:
    """mean over the batch of ||d sum(D(x)) / d x_b||^2 (``real_images`` must require grad); differentiable."""
    (grad,) = torch.autograd.grad(real_logits.sum(), real_images, create_graph=True)
    return grad.reshape(grad.shape[0], -1).pow(2).sum(1).mean()


def topk_fraction(step: int, interval: float | None, floor: float) -> float:
    """max(0.99^(step / interval), floor); 1 when ``interval`` is falsy (no top-k)."""
    return 1.0 if not interval else max(0.99 ** (step / interval), floor)


def topk_logits(fake_logits: Tensor, fraction: float) -> Tensor:
    """The ceil(fraction * B) largest of fake logits [B, 1] (along the batch)."""
    k = max(1, math.ceil(fraction * fake_logits.shape[0]))
    return torch.topk(fake_logits, k, dim=0).values


def pose_loss(pred_position: Tensor, position: Tensor) -> Tensor:
    """MSE between predicted and sampled (pitch, yaw) [B, 2]."""
    return F.mse_loss(pred_position, position)
