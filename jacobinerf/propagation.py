"""Label propagation by weight perturbation along Jacobians (paper Sec. 3.4, App. 6.2; official ``render_propagate``).

For a labelled pixel set with Jacobians J_k [3, C] (one per class k; the mean over the class's clicks), the fine
``rgb_linear`` weight is perturbed in place, W <- W + t J_k (``perturbed``; the saved weight is copied back
afterwards, so it is bit-identical), and the target view is re-rendered:
  * 2D response: R_k(p) = mean_c |I_k(p) - I(p)|_c;
  * 3D response: R_k(p) = sum_i w_i(p) |mean_c (c_k,i(p) - c_i(p))|, the per-sample colour change volume-rendered
    with the unperturbed weights w_i;
  * post-processing of each map (official): clip at 0.8, 3 x 3 Gaussian blur; a map whose blurred values have std < 0.05
    and mean < 0.01 is zeroed, the others divided by their max; label = argmax_k.
Re-rendering uses a ``ViewCache``: only the colours of the fine pass depend on ``rgb_linear`` (samples, densities,
weights and the layer input h do not), so the perturbed image is sum_i w_i sigmoid((W + t J_k) h_i + b), which is
exactly what rendering the perturbed network gives (tested against ``model.render_rays``).

Dense setting: ``adaptive_selection`` (App. 6.2.3: rounds of ``candidates`` random combinations, one labelled pixel
per class each; a combination is kept when the mean of the kept responses with it predicts the labelled view with a
higher mIoU than before) and ``ResponseAggregator`` (official Linear(K, 128)-ReLU-Linear(128, 64)-ReLU-Linear(64, K),
cross-entropy on the labelled pixels, Adam 1e-3).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from common.metrics.segmentation import confusion_matrix, iou_from_confusion
from jacobinerf.jacobian import grey_jacobian
from jacobinerf.model import ShapedNeRF, trunk_features

GAUSS3 = torch.tensor([0.25, 0.5, 0.25])  # cv2.GaussianBlur(ksize 3, sigma 0) kernel


@contextmanager
def perturbed(layer: nn.Linear, delta: Tensor) -> Iterator[nn.Linear]:
    """W <- W + delta in place for the block; afterwards the saved W is copied back (bit-identical)."""
    saved = layer.weight.detach().clone()
    with torch.no_grad():
        layer.weight.add_(delta.to(layer.weight))
    try:
        yield layer
    finally:
        with torch.no_grad():
            layer.weight.copy_(saved)


@dataclass
class ViewCache:
    """The fine pass of a set of rays [R]: h [R, S, C], weights [R, S], logits [R, S, 3], rgb [R, 3]; trunk
    [R, S, W] (input of the heads of the baselines) when asked; background (None = black)."""

    h: Tensor
    weights: Tensor
    logits: Tensor
    rgb: Tensor
    trunk: Tensor | None
    background: float | None


@torch.no_grad()
def cache_rays(model: ShapedNeRF, rays: dict, chunk: int = 1024, trunk: bool = False) -> ViewCache:
    """Render ``rays`` in eval mode keeping the fine pass (module doc)."""
    was = model.training
    model.eval()
    parts = []
    for i in range(0, rays["rays_o"].shape[0], chunk):
        out = model.render_rays({k: rays[k][i : i + chunk] for k in ("rays_o", "rays_d", "viewdirs")}, True)
        if trunk:
            out["trunk"] = trunk_features(model.fine, out["pe"])
        parts.append(out)
    model.train(was)
    keys = ("h", "weights", "logits", "rgb") + (("trunk",) if trunk else ())
    cat = {k: torch.cat([p[k] for p in parts]) for k in keys}
    bg = 1.0 if model.cfg["white_bkgd"] else None
    return ViewCache(cat["h"], cat["weights"], cat["logits"], cat["rgb"], cat.get("trunk"), bg)


def render_cached(cache: ViewCache, layer: nn.Linear) -> tuple[Tensor, Tensor]:
    """(image [R, 3], per-sample colours [R, S, 3]) with the layer's current weights."""
    colours = torch.sigmoid(F.linear(cache.h, layer.weight, layer.bias))
    image = (cache.weights[..., None] * colours).sum(1)
    if cache.background is not None:
        image = image + (1.0 - cache.weights.sum(1, keepdim=True)) * cache.background
    return image, colours


@torch.no_grad()
def responses(layer: nn.Linear, cache: ViewCache, deltas: Tensor) -> tuple[Tensor, Tensor]:
    """(2D [K, R], 3D [K, R]) responses to the perturbations deltas [K, 3, C] (module doc)."""
    base_img, base_col = render_cached(cache, layer)
    r2, r3 = [], []
    for delta in deltas:
        with perturbed(layer, delta):
            img, col = render_cached(cache, layer)
        r2.append((img - base_img).abs().mean(-1))
        r3.append((cache.weights * (col - base_col).mean(-1).abs()).sum(-1))
    return torch.stack(r2), torch.stack(r3)


def postprocess(maps: Tensor) -> Tensor:
    """Official response post-processing of maps [K, H, W] (module doc) -> [K, H, W] in [0, 1]."""
    x = maps.clamp(max=0.8)[:, None]
    k = (GAUSS3[:, None] * GAUSS3[None, :]).to(x)[None, None]
    x = F.conv2d(F.pad(x, (1, 1, 1, 1), mode="reflect"), k)[:, 0]  # cv2 default border: reflect-101 = torch reflect
    flat = (x.flatten(1).std(1) < 0.05) & (x.flatten(1).mean(1) < 0.01)
    x = x / x.flatten(1).max(1).values.clamp_min(1e-12)[:, None, None]
    return torch.where(flat[:, None, None], torch.zeros_like(x), x)


def view_jacobians(cache: ViewCache) -> Tensor:
    """J [R, 3, C] of every ray of a cached view (closed form, ``jacobinerf.jacobian``)."""
    return grey_jacobian(cache.weights, cache.logits, cache.h)


def sparse_clicks(labels: np.ndarray, classes: list[int], gen: np.random.Generator) -> list[int]:
    """One random pixel (flat index) of each class in ``classes`` of the label map labels [H, W]."""
    flat = labels.reshape(-1)
    return [int(gen.choice(np.flatnonzero(flat == c))) for c in classes]


def miou_seen(pred: np.ndarray, gt: np.ndarray, classes: list[int]) -> float:
    """mIoU over ``classes`` (pixels of other labels ignored), pred / gt class ids."""
    lut = {c: i for i, c in enumerate(classes)}
    g = np.array([lut.get(int(v), -1) for v in gt.reshape(-1)])
    p = np.array([lut.get(int(v), -1) for v in pred.reshape(-1)])
    p[p < 0] = 0
    cm = confusion_matrix(p, g, len(classes))
    return float(np.nanmean(iou_from_confusion(cm)))


def adaptive_selection(
    layer: nn.Linear,
    cache: ViewCache,
    jac: Tensor,
    labels: np.ndarray,
    classes: list[int],
    t: float,
    rounds: int = 5,
    candidates: int = 20,
    gen: np.random.Generator | None = None,
    pixels: np.ndarray | None = None,
) -> tuple[list[list[int]], list[float]]:
    """Adaptive gradient selection (module doc) on one labelled view.

    cache / jac [R, 3, C] / labels [H, W] of the labelled view (void = -1; ``pixels``: flat indices that are labelled,
    default every non-void pixel). Returns (selected combinations: each a list of one pixel per class, the mIoU on the
    labelled view after each kept round). At most ``3 rounds`` rounds are tried.
    """
    gen = gen or np.random.default_rng(0)
    H, W = labels.shape
    flat = labels.reshape(-1)
    usable = np.flatnonzero(flat >= 0) if pixels is None else pixels
    per_class = [usable[flat[usable] == c] for c in classes]
    selected: list[list[int]] = []
    gains: list[float] = []
    best, total = 0.0, None
    for _ in range(3 * rounds):
        if len(selected) == rounds:
            break
        round_best = (best, None, None)
        for _ in range(candidates):
            combo = [int(gen.choice(p)) for p in per_class]
            r2, _ = responses(layer, cache, t * jac[combo])
            acc = r2 if total is None else total + r2
            pred = postprocess((acc / (len(selected) + 1)).view(-1, H, W)).argmax(0).numpy()
            score = miou_seen(np.asarray(classes)[pred], labels, classes)
            if score > round_best[0]:
                round_best = (score, combo, r2)
        if round_best[1] is not None:
            best = round_best[0]
            selected.append(round_best[1])
            gains.append(best)
            total = round_best[2] if total is None else total + round_best[2]
    return selected, gains


class ResponseAggregator(nn.Module):
    """Official response decoder: Linear(K, 128)-ReLU-Linear(128, 64)-ReLU-Linear(64, K); x [N, K] -> logits."""

    def __init__(self, k: int):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(k, 128), nn.ReLU(), nn.Linear(128, 64), nn.ReLU(), nn.Linear(64, k))

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)


def train_aggregator(x: Tensor, y: Tensor, iters: int, seed: int = 0, lr: float = 1e-3) -> ResponseAggregator:
    """Fit the aggregator on responses x [N, K] and class indices y [N] (-1 ignored), full batch, Adam."""
    torch.manual_seed(seed)
    agg = ResponseAggregator(x.shape[1])
    opt = torch.optim.Adam(agg.parameters(), lr=lr)
    for _ in range(iters):
        loss = F.cross_entropy(agg(x), y, ignore_index=-1)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return agg.eval()


@torch.no_grad()
def recolour(layer: nn.Linear, cache: ViewCache, jac: Tensor, colour: tuple[float, float, float], t: float) -> Tensor:
    """Re-coloured image [R, 3]: W <- W + t diag(colour) J (official diag(r, g, b) / 255 with colour in [0, 1])."""
    delta = t * torch.tensor(colour, dtype=jac.dtype)[:, None] * jac
    with perturbed(layer, delta):
        image, _ = render_cached(cache, layer)
    return image


def select_entity(response: Tensor, threshold: float = 0.5) -> Tensor:
    """One-click selection mask [H, W] (bool): the post-processed response of the click above ``threshold``."""
    return postprocess(response[None])[0] > threshold
