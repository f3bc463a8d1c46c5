"""Baselines of Tables 1-3, given the same labelled pixels as JacobiNeRF.

* Semantic-NeRF (S-NeRF): a semantic branch on the NeRF trunk, Linear(W, W/2)-ReLU-Linear(W/2, K) per sample, whose
  logits are volume-rendered with the NeRF's weights (Semantic-NeRF's ``raw_semantic`` path) and trained with
  cross-entropy on the labelled pixels only. Here the branch is trained on the trunk of the pretrained (unshaped)
  NeRF, kept frozen (Semantic-NeRF trains branch and trunk jointly from scratch).
* DINO-2D: the feature source applied to the source and target images; each target pixel takes the label of the
  labelled pixel with the most similar feature (cosine, 1-NN).
* DINO-NeRF (feature-field distillation, Kobayashi et al.): a feature branch Linear(W, W)-ReLU-Linear(W, D) on the
  frozen trunk, volume-rendered and fitted (L2) to the 2D features of random training pixels; labels by 1-NN between
  rendered features of the target view and of the labelled pixels.
All return class indices into ``classes`` per target pixel.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from jacobinerf.propagation import ViewCache


class SampleHead(nn.Module):
    """Per-sample head on trunk features [R, S, W] -> rendered output sum_i w_i head(trunk_i) [R, out]."""

    def __init__(self, width: int, hidden: int, out: int):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(width, hidden), nn.ReLU(), nn.Linear(hidden, out))

    def forward(self, trunk: Tensor, weights: Tensor) -> Tensor:
        return (weights[..., None] * self.net(trunk)).sum(1)


def _fit(head: SampleHead, trunk: Tensor, weights: Tensor, loss_fn, iters: int, batch: int, seed: int) -> SampleHead:
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(head.parameters(), lr=1e-3)
    n = trunk.shape[0]
    for _ in range(iters):
        idx = torch.randint(0, n, (min(batch, n),), generator=gen) if n > batch else torch.arange(n)
        loss = loss_fn(head(trunk[idx], weights[idx]), idx)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return head.eval()


def train_semantic_head(
    labelled: ViewCache, targets: Tensor, k: int, iters: int, seed: int = 0, batch: int = 256
) -> SampleHead:
    """S-NeRF branch from the labelled rays' cache (trunk [N, S, W], weights) and class indices targets [N]."""
    torch.manual_seed(seed)
    width = labelled.trunk.shape[-1]
    head = SampleHead(width, max(8, width // 2), k)
    return _fit(
        head, labelled.trunk, labelled.weights, lambda out, idx: F.cross_entropy(out, targets[idx]), iters, batch, seed
    )


def train_feature_head(rays: ViewCache, features: Tensor, iters: int, seed: int = 0, batch: int = 256) -> SampleHead:
    """DINO-NeRF branch fitted to features [N, D] of the cached rays."""
    torch.manual_seed(seed)
    width = rays.trunk.shape[-1]
    head = SampleHead(width, width, features.shape[-1])
    return _fit(head, rays.trunk, rays.weights, lambda out, idx: F.mse_loss(out, features[idx]), iters, batch, seed)


@torch.no_grad()
def head_output(head: SampleHead, cache: ViewCache, chunk: int = 2048) -> Tensor:
    return torch.cat(
        [head(cache.trunk[i : i + chunk], cache.weights[i : i + chunk]) for i in range(0, len(cache.trunk), chunk)]
    )


@torch.no_grad()
def nearest_label(target: Tensor, labelled: Tensor, labels: Tensor, chunk: int = 4096) -> Tensor:
    """For features target [N, D], the label [N] of the most cosine-similar of labelled [M, D] (labels [M])."""
    a, b = F.normalize(target, dim=-1), F.normalize(labelled, dim=-1)
    out = [labels[(a[i : i + chunk] @ b.T).argmax(1)] for i in range(0, a.shape[0], chunk)]
    return torch.cat(out)
