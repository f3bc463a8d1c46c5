"""The training losses of Dynamic NeRF (official ``run_nerf.py`` / ``run_nerf_helpers.py``), written anew.

Per batch of R rays from one training frame (S samples per ray; M = static-pixel mask [R], 1 - motion mask):
  full         lambda_full  mse(C^full, C)                        (3.0; the "rgb" S3IM also sees)
  static       lambda_s     masked_mse(C^s, C, M)                 (1.0; sum(M (x - y)^2) / (sum M + 1e-8) / 3)
  dynamic      lambda_d     [mse(C^d) + mse(C^d_f) + mse(C^d_b)]  (1.0 each; + mse(C^d_ff) + mse(C^d_bb) when
                                                                   chaining 5 frames, after 2 decay periods)
  flow         lambda_flow Temp [mae(flow^ind_f, flow_f, m_f) + mae(flow^ind_b, flow_b, m_b)]     (0.02)
  depth        lambda_depth Temp  mse(norm(depth_d), norm(-disp)), norm(x) = (x - median x) / mean|x - median x|
  order        lambda_order mean over static rays of (depth_d - sg(depth_s))^2                  (0.1)
  slow         lambda_slow  [|s_b| + |s_f|] (means)                                             (0.01 Balloon1)
  smooth       lambda_smooth [ L2(s^w_f + s^w_b) on the first 90 % samples (temporal),
                               L1 of sample-to-sample differences of the world scene flow on the first 95 %
                               (spatial, forward and backward),
                               L2 temporal terms of (x^b, x, x^bb) and (x^f, x^ff, x) ]         (0.1)
  consistency  lambda_cons  [|s_f + s_b(x^f)| + |s_b + s_f(x^b)|]                               (1.0)
  mask         lambda_mask  [mean |b| over static rays' samples + mean |dynamicness - (1 - M)|]  (0.1, only
                                                                                 before the first decay)
  sparse       lambda_sparse [H(w^d) + H(b)], H(x) = -sum x log(x + 1e-19) / R                  (0.001)
with Temp = 10^-(step // decay_steps), world points by ``ndc_to_world``. Every returned term is already
weighted (the trainer sums them).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from s3im.models.dynamic_nerf.model import ndc_to_world


def masked_mse(x: Tensor, y: Tensor, mask: Tensor) -> Tensor:
    """sum(mask (x - y)^2) / (sum mask + 1e-8) / C for x, y [R, C], mask [R] (official ``img2mse`` with M)."""
    m = mask.reshape(-1, 1).to(x.dtype)
    return torch.sum((x - y) ** 2 * m) / (torch.sum(m) + 1e-8) / x.shape[-1]


def masked_mae(x: Tensor, y: Tensor, mask: Tensor) -> Tensor:
    """sum(mask |x - y|) / (sum mask + 1e-8) / C (official ``img2mae`` with M)."""
    m = mask.reshape(-1, 1).to(x.dtype)
    return torch.sum(torch.abs(x - y) * m) / (torch.sum(m) + 1e-8) / x.shape[-1]


def entropy(x: Tensor) -> Tensor:
    """-sum x log(x + 1e-19) / x.shape[0]."""
    return -torch.sum(x * torch.log(x + 1e-19)) / x.shape[0]


def normalized_depth_loss(pred: Tensor, prior: Tensor) -> Tensor:
    """mse of median / mean-absolute-deviation normalised maps (scale- and shift-invariant; official
    ``compute_depth_loss``)."""

    def norm(x: Tensor) -> Tensor:
        med = torch.median(x)
        return (x - med) / torch.mean(torch.abs(x - med))

    return torch.mean((norm(pred) - norm(prior)) ** 2)


def temporal_smoothness(pts: Tensor, pts_f: Tensor, pts_b: Tensor, hwf) -> Tensor:
    """mean ((X_f - X) + (X_b - X))^2 over the first int(0.9 S) samples, in world coordinates."""
    H, W, fx, fy = hwf
    n = int(pts.shape[1] * 0.9)
    x, xf, xb = (ndc_to_world(p[:, :n], H, W, fx, fy) for p in (pts, pts_f, pts_b))
    return torch.mean(((xf - x) + (xb - x)) ** 2)


def spatial_smoothness(pts1: Tensor, pts2: Tensor, hwf) -> Tensor:
    """mean |f_{i} - f_{i+1}| of the world scene flow f = X1 - X2 along the first int(0.95 S) samples."""
    H, W, fx, fy = hwf
    n = int(pts1.shape[1] * 0.95)
    flow = ndc_to_world(pts1[:, :n], H, W, fx, fy) - ndc_to_world(pts2[:, :n], H, W, fx, fy)
    return torch.mean(torch.abs(flow[:, :-1] - flow[:, 1:]))


def dynamic_nerf_losses(outputs: dict, batch: dict, cfg: dict, step: int, decay_steps: int, hwf) -> dict[str, Tensor]:
    """The weighted terms of the module doc (keys: full, static, dynamic, flow, depth, order, slow, smooth,
    consistency, sparse and, before the first decay, mask)."""
    target = batch["rgb"]
    static = batch["static"].to(target.dtype)  # [R] 1 on static pixels
    is_static = static > 0.5
    temp = 1.0 / (10 ** (int(step) // int(decay_steps)))
    lam = {k.removesuffix("_loss_lambda"): float(v) for k, v in cfg.items() if k.endswith("_loss_lambda")}
    o = outputs
    terms = {
        "full": lam["full"] * F.mse_loss(o["rgb"], target),
        "static": lam["static"] * masked_mse(o["rgb_s"], target, static),
    }
    dyn = F.mse_loss(o["rgb_d"], target) + F.mse_loss(o["rgb_d_f"], target) + F.mse_loss(o["rgb_d_b"], target)
    for key in ("rgb_d_ff", "rgb_d_bb"):
        if key in o:
            dyn = dyn + F.mse_loss(o[key], target)
    terms["dynamic"] = lam["dynamic"] * dyn
    flow = masked_mae(o["induced_flow_f"], batch["flow_fwd"], batch["mask_fwd"])
    flow = flow + masked_mae(o["induced_flow_b"], batch["flow_bwd"], batch["mask_bwd"])
    terms["flow"] = lam["flow"] * temp * flow
    terms["depth"] = lam["depth"] * temp * normalized_depth_loss(o["depth_d"], -batch["disp"])
    if bool(is_static.any()):
        order = torch.mean((o["depth_d"][is_static] - o["depth_s"].detach()[is_static]) ** 2)
        mask_blend = torch.mean(torch.abs(o["blending"][is_static]))
    else:
        order = mask_blend = o["depth_d"].sum() * 0.0
    terms["order"] = lam["order"] * order
    terms["slow"] = lam["slow"] * (torch.mean(torch.abs(o["sf_b"])) + torch.mean(torch.abs(o["sf_f"])))
    smooth = temporal_smoothness(o["pts"], o["pts_f"], o["pts_b"], hwf)
    smooth = smooth + spatial_smoothness(o["pts"], o["pts_f"], hwf) + spatial_smoothness(o["pts"], o["pts_b"], hwf)
    smooth = smooth + temporal_smoothness(o["pts_b"], o["pts"], o["pts_bb"], hwf)
    smooth = smooth + temporal_smoothness(o["pts_f"], o["pts_ff"], o["pts"], hwf)
    terms["smooth"] = lam["smooth"] * smooth
    terms["consistency"] = lam["consistency"] * (
        torch.mean(torch.abs(o["sf_f"] + o["sf_f_b"])) + torch.mean(torch.abs(o["sf_b"] + o["sf_b_f"]))
    )
    if int(step) < int(decay_steps):
        terms["mask"] = lam["mask"] * (mask_blend + torch.mean(torch.abs(o["dynamicness"] - (1.0 - static))))
    terms["sparse"] = lam["sparse"] * (entropy(o["weights_d"]) + entropy(o["blending"]))
    return terms
