"""Bijective Deformation Field (BDF): forward map F to a template NeRF, backward map B from it.

For a NeRF N_i (modulations m_i = (gamma_i, beta_i), condition c_i) and the template N_0 (the mean modulations)::

    x0 = F(x, c_i) = x + W_F([PE(x), c_i])       (Eq. 3, instance -> template)
    y  = B(x0, c_i) = x0 + W_B([PE(x0), c_i])    (Eq. 4, template -> instance)

W_F, W_B: 3 fully connected ReLU layers of width 256 (App. B) on the positional encoding of the point and the
condition; the last layer starts at zero, so both maps start as the identity.

Losses (means over the sampled points; the paper sums, which only rescales every term by the same count)::

    L_F     = mean_x  T(t_x) (1 - cos(f(x; m_i), f(F(x); m_0)))                     x in P_Ni   (Eq. 5)
    L_B     = mean_y  T(t_y) (1 - cos(f(y; m_0), f(B(y); m_i)))                     y in P_N0   (Eq. 6)
    L_cycle = mean_x ||B(F(x)) - x||^2 + mean_y ||F(B(y)) - y||^2                               (Eq. 7)
    L_pair  = mean_(x1,x2) (|x1 - x2| - |F(x1) - F(x2)|)^2 + mean_(y1,y2) (|y1 - y2| - |B(y1) - B(y2)|)^2 (Eq. 8)
    L       = L_F + L_B + lambda_cycle L_cycle + lambda_pair L_pair,   lambda_cycle 0.5, lambda_pair 1e-4 (Eq. 9)

Pairs: each point with the point at a random permutation of its set. Curriculum (Eqs. 10-11): the trained
NeRFs have modulations m_i(t) = m_0 + t (m_i - m_0), t rising linearly from 0 to ``t_max`` (paper 0.6) over
``curriculum_steps``; their condition is c_i = t z_i (zero for the template itself, z_i at t = 1).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from common.fields.encoding import PositionalEncoding
from common.fields.mlp import MLP
from nerf_correspondence.features import PointSet, point_features
from nerf_correspondence.siren import FiLMSiren


class DeformationField(nn.Module):
    """(x [B, N, 3], c [B, C]) -> offset [B, N, 3]: an MLP of 3 linear layers (ReLU) on [PE(x), c]."""

    def __init__(self, cond_dim: int, width: int = 256, n_freqs: int = 6):
        super().__init__()
        self.encoding = PositionalEncoding(3, n_freqs)
        self.mlp = MLP(self.encoding.out_dim + cond_dim, 3, width=width, depth=2)
        nn.init.zeros_(self.mlp.output.weight)
        nn.init.zeros_(self.mlp.output.bias)

    def forward(self, x: Tensor, c: Tensor) -> Tensor:
        cond = c[:, None, :].expand(*x.shape[:2], c.shape[-1])
        return self.mlp(torch.cat([self.encoding(x), cond], -1))


class BDF(nn.Module):
    """The pair of deformation fields; ``forward_map`` = F, ``backward_map`` = B (with the identity added)."""

    def __init__(self, cond_dim: int, width: int = 256, n_freqs: int = 6):
        super().__init__()
        self.F = DeformationField(cond_dim, width, n_freqs)
        self.B = DeformationField(cond_dim, width, n_freqs)

    def forward_map(self, x: Tensor, c: Tensor) -> Tensor:
        return x + self.F(x, c)

    def backward_map(self, y: Tensor, c: Tensor) -> Tensor:
        return y + self.B(y, c)

    def transfer(self, x: Tensor, c_src: Tensor, c_dst: Tensor) -> Tensor:
        """Points of NeRF src [B, N, 3] -> their correspondences in NeRF dst: B(F(x, c_src), c_dst)."""
        return self.backward_map(self.forward_map(x, c_src), c_dst)


def weighted_cosine_loss(fa: Tensor, fb: Tensor, weights: Tensor) -> Tensor:
    """mean(w (1 - cos(fa, fb))) over the points; fa, fb [..., C], weights [...]."""
    return (weights * (1 - F.cosine_similarity(fa, fb, dim=-1))).mean()


def cycle_loss(x: Tensor, x_back: Tensor) -> Tensor:
    """mean ||x_back - x||^2 over the points [..., 3]."""
    return (x_back - x).pow(2).sum(-1).mean()


def pair_loss(x: Tensor, mapped: Tensor, perm: Tensor) -> Tensor:
    """mean over pairs (x_k, x_perm[k]) of (|x_k - x_perm[k]| - |mapped_k - mapped_perm[k]|)^2; x, mapped [B, N, 3]."""
    d_src = (x - x[:, perm]).norm(dim=-1)
    d_dst = (mapped - mapped[:, perm]).norm(dim=-1)
    return (d_src - d_dst).pow(2).mean()


def curriculum_t(step: int, t_max: float, steps: int) -> float:
    """Blend factor t(step) = t_max min(1, step / steps) (``steps`` 0: t_max from the start)."""
    return t_max if steps <= 0 else t_max * min(1.0, step / steps)


def blend(m0: Tensor, mi: Tensor, t: float) -> Tensor:
    """m_i(t) = m_0 + t (m_i - m_0) (Eqs. 10-11); m0 [M] or [1, M], mi [B, M]."""
    return m0 + t * (mi - m0)


@dataclass(frozen=True)
class BDFLossConfig:
    lambda_cycle: float = 0.5
    lambda_pair: float = 1e-4
    feature_layers: tuple[int, ...] = (4, 5, 6, 7, 8)


def bdf_losses(bdf: BDF, siren: FiLMSiren, inst: PointSet, tmpl: PointSet, gi: Tensor, bi: Tensor, g0: Tensor,
               b0: Tensor, c: Tensor, cfg: BDFLossConfig, generator: torch.Generator | None = None
               ) -> dict[str, Tensor]:  # fmt: skip
    """The terms of Eq. 9 for B NeRFs: inst points of N_i [B, N, 3], tmpl points of N_0 [B, N, 3]; gi, bi [B, M]
    instance modulations; g0, b0 [B, M] template modulations; c [B, C] conditions. Returns the weighted terms
    ("feature_F", "feature_B", "cycle", "pair") and their sum "loss" (terms with weight 0 are skipped)."""
    layers = cfg.feature_layers
    x, y = inst.points, tmpl.points
    with torch.no_grad():
        fx, _ = point_features(siren, x, inst.dirs, gi, bi, layers)
        fy, _ = point_features(siren, y, tmpl.dirs, g0, b0, layers)
    x0 = bdf.forward_map(x, c)
    yi = bdf.backward_map(y, c)
    f_x0, _ = point_features(siren, x0, inst.dirs, g0, b0, layers)
    f_yi, _ = point_features(siren, yi, tmpl.dirs, gi, bi, layers)
    terms = {
        "feature_F": weighted_cosine_loss(fx, f_x0, inst.transmittance),
        "feature_B": weighted_cosine_loss(fy, f_yi, tmpl.transmittance),
    }
    if cfg.lambda_cycle > 0:
        cyc = cycle_loss(x, bdf.backward_map(x0, c)) + cycle_loss(y, bdf.forward_map(yi, c))
        terms["cycle"] = cfg.lambda_cycle * cyc
    if cfg.lambda_pair > 0:
        perm = torch.randperm(x.shape[1], generator=generator)
        terms["pair"] = cfg.lambda_pair * (pair_loss(x, x0, perm) + pair_loss(y, yi, perm))
    terms["loss"] = sum(terms.values())
    return terms


class BDFModel(nn.Module):
    """BDF trained against a frozen generator: a driver model (``configure_optimizers`` + ``train_step``).

    ``draw(step) -> (z [B, Z], inst PointSet, tmpl PointSet, gi, bi, g0, b0, c)`` supplies the NeRFs of a step
    (latents, curriculum-blended modulations, conditions, point sets); the batch the trainer passes is unused
    except for its step. The generator's parameters are frozen and not part of this module's state.
    """

    def __init__(self, bdf: BDF, siren: FiLMSiren, draw: Callable[[int], tuple], loss_cfg: BDFLossConfig, lr: float):
        super().__init__()
        self.bdf = bdf
        self._siren = [siren.requires_grad_(False)]  # a list: not a submodule (not trained, not checkpointed)
        self.draw, self.loss_cfg, self.lr = draw, loss_cfg, lr

    @property
    def siren(self) -> FiLMSiren:
        return self._siren[0]

    def configure_optimizers(self, betas, eps) -> dict[str, torch.optim.Optimizer]:
        return {"bdf": torch.optim.Adam(self.bdf.parameters(), lr=self.lr, betas=betas, eps=eps)}

    def train_step(self, batch, step: int, optimizers: dict) -> dict[str, Tensor]:
        _, inst, tmpl, gi, bi, g0, b0, c = self.draw(step)
        opt = optimizers["bdf"]
        opt.zero_grad(set_to_none=True)
        terms = bdf_losses(self.bdf, self.siren, inst, tmpl, gi, bi, g0, b0, c, self.loss_cfg)
        terms["loss"].backward()
        opt.step()
        return {k: v.detach() for k, v in terms.items()}
