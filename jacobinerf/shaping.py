"""MI-shaping losses (paper Eq. 7-8, official ``trainer.step`` with ``--contrastive_abs --adaptive_threshold
--gradient_norm_loss``).

Given flattened Jacobians J [R, D] of R rays and their L2-normalised features f [R, F]:
  * feature similarity sim_ij = f_i . f_j; positives of anchor i: P_i = { j : sim_ij > tau } (i itself included),
    negatives the rest;
  * adaptive threshold, per anchor in order i = 0 .. R-1 (so anchor i sees the tau left by anchor i - 1, and
    tau persists across steps): after forming P_i, if |P_i| < low R and tau > tau_min: tau -= step; elif
    |P_i| > high R and tau < tau_max: tau += step (official low 0.05, high 0.15, step 0.001, tau in [0.5, 0.9],
    start 0.8);
  * a_ij = |cos(J_i, J_j)| with cos = J_i . J_j / (||J_i|| ||J_j|| + 1e-7) (no temperature);
    loss_i = -log( P / (P + N) + 1e-7 ), P = sum_{j in P_i} exp(a_ij), N = sum_{j not in P_i} exp(a_ij);
    L_MIG = mean of loss_i over anchors with both a positive and a negative;
  * gradient-norm term: mean_i (||J_i|| - 1)^2.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor


@dataclass
class AdaptiveThreshold:
    """The persistent feature-similarity threshold (checkpointed through ``state_dict``)."""

    tau: float = 0.8
    tau_min: float = 0.5
    tau_max: float = 0.9
    step: float = 0.001
    low: float = 0.05
    high: float = 0.15

    def positives(self, sim: Tensor) -> Tensor:
        """Positive mask [R, R] for similarities sim [R, R], updating ``tau`` anchor by anchor (module doc)."""
        n = sim.shape[0]
        rows = sim.detach().cpu()
        mask = torch.zeros(n, n, dtype=torch.bool)
        for i in range(n):
            mask[i] = rows[i] > self.tau
            count = int(mask[i].sum())
            if count < self.low * n and self.tau > self.tau_min:
                self.tau -= self.step
            elif count > self.high * n and self.tau < self.tau_max:
                self.tau += self.step
        return mask.to(sim.device)

    def state_dict(self) -> dict:
        return {"tau": self.tau}

    def load_state_dict(self, state: dict) -> None:
        self.tau = float(state["tau"])


def abs_cosine(jac: Tensor, eps: float = 1e-7) -> Tensor:
    """|cos(J_i, J_j)| [R, R] for J [R, D] (official eps placement: dot / (||a|| ||b|| + eps))."""
    norms = jac.norm(dim=-1)
    return (jac @ jac.T).abs() / (norms[:, None] * norms[None, :] + eps)


def mig_infonce(jac: Tensor, positives: Tensor) -> tuple[Tensor, int]:
    """(L_MIG, number of anchors used) for J [R, D] and the positive mask [R, R] (module doc)."""
    e = torch.exp(abs_cosine(jac))
    pos = (e * positives).sum(-1)
    neg = (e * ~positives).sum(-1)
    valid = positives.any(-1) & (~positives).any(-1)
    if not bool(valid.any()):
        return jac.sum() * 0.0, 0
    loss = -torch.log(pos / (pos + neg) + 1e-7)
    return loss[valid].mean(), int(valid.sum())


def gradient_norm_loss(jac: Tensor) -> Tensor:
    """mean_i (||J_i|| - 1)^2 for J [R, D]."""
    return ((jac.norm(dim=-1) - 1.0) ** 2).mean()


def feature_similarity(features: Tensor) -> Tensor:
    """sim [R, R] = f_i . f_j of L2-normalised features [R, F]."""
    f = torch.nn.functional.normalize(features, dim=-1)
    return f @ f.T
