"""Per-scene optimisation of an Instant-NGP: diffusion distillation (SparseFusion) and the mean-seeking fits.

``optimize_ngp(scene, cache, model, settings, mode, generator)``; every iteration makes two optimiser steps:
  1. reconstruction on a random INPUT view (render at ``render_res``, GT area-downsampled):
     huber(rgb, I) + huber(opacity, mask) + opacity_weight * mean(sqrt(opacity^2 + 0.01));
  2. a step on a random CACHED view (the 32 scene cameras + ``circle_views`` on the camera circle), the
     render upsampled to the image size, x = f_theta(pi):
     - mode "distill", iteration < bootstrap_iters, and mode "eft": huber(x, EFT render) + huber(opacity,
       EFT mask (mean colour > 0.1));
     - mode "distill" afterwards (Eq. 5): z0 = E(x), t ~ U(0.02, 0.98), z_t = q(z0, t), z_hat = PLMS
       reconstruction from t with n = min(int(100 t), max_denoise_steps) steps (``multistep``; else the
       one-step x0 prediction), x_hat = D(z_hat), both without gradient, and
         pixel space:  w(t) |x - x_hat|_1 + perceptual_weight LPIPS(x, x_hat),  w(t) = 1 - alpha_bar(t)
         latent space: w(t) |E(x) - z_hat|_1 (gradient through the frozen encoder) + the same LPIPS term
       (LPIPS only when ``perceptual``) + opacity regulariser;
     - mode "samples" (Table 5, mean seeking): huber(x, a fixed VLDM sample of that view).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from sparsefusion.diffusion import denoise_from, distillation_weight, q_sample
from sparsefusion.ngp import NGP


@dataclass(frozen=True)
class DistillSettings:
    loss_space: str = "pixel"  # "pixel" | "latent"
    multistep: bool = True
    perceptual: bool = True

    @property
    def key(self) -> str:
        return f"{self.loss_space}_{'multi' if self.multistep else 'single'}" + (
            "_perceptual" if self.perceptual else ""
        )


def opacity_reg(opacity: Tensor) -> Tensor:
    return torch.sqrt(opacity**2 + 0.01).mean()


def distill_loss(x: Tensor, x_hat: Tensor, t: Tensor, lpips_fn=None, weight: float = 0.1) -> Tensor:
    """Pixel-space distillation loss: (1 - alpha_bar(t)) mean |x - x_hat| + weight LPIPS(x, x_hat) (when given)."""
    loss = distillation_weight(t) * (x - x_hat).abs().mean()
    if lpips_fn is not None:
        loss = loss + weight * lpips_fn(x, x_hat).mean()
    return loss


def build_ngp(cfg: dict) -> NGP:
    return NGP(
        bound=cfg["bound"], levels=cfg["levels"], log2_table=cfg["log2_table"], max_resolution=cfg["max_resolution"],
        mlp_width=cfg["mlp_width"], blob_density=cfg["blob_density"], blob_radius=cfg["blob_radius"],
        samples=cfg["samples"],
    )  # fmt: skip


def optimize_ngp(
    scene: dict,
    cache: dict,
    cfg: dict,
    mode: str,
    generator: torch.Generator,
    model=None,
    settings: DistillSettings = DistillSettings(),
    lpips_fn=None,
) -> NGP:
    """Optimise a fresh NGP for one scene; see the module docstring.

    scene: inputs "images" [V, 3, S, S], "masks" [V, 1, S, S], "K" [V, 3, 3], "c2w" [V, 4, 4].
    cache: "K" [M, 3, 3], "c2w" [M, 4, 4], "eft_rgb" [M, 3, S, S], "features" [M, F, h, w] (VLDM condition),
    "samples" [M, 3, S, S] (mode "samples"). model: the trained SparseFusionModel (mode "distill").
    """
    if mode not in ("distill", "eft", "samples"):
        raise ValueError(f"mode {mode!r}; expected distill, eft or samples")
    ngp = build_ngp(cfg)
    opt = torch.optim.Adam(ngp.param_groups(cfg["lr"], cfg["encoder_lr_mult"]), betas=(0.9, 0.99), eps=1e-15)
    size, res = scene["images"].shape[-1], cfg["render_res"]
    small = F.interpolate(scene["images"], size=(res, res), mode="area")
    small_mask = F.interpolate(scene["masks"], size=(res, res), mode="area")
    eft_mask = (cache["eft_rgb"].mean(1, keepdim=True) > 0.1).float()

    def step(loss: Tensor) -> None:
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    for it in range(cfg["iters"]):
        i = int(torch.randint(len(small), (1,), generator=generator))
        out = ngp.render_image(scene["K"][i], scene["c2w"][i], size, res, generator)
        loss = F.huber_loss(out["rgb"], small[i]) + F.huber_loss(out["opacity"], small_mask[i, 0])
        step(loss + cfg["opacity_weight"] * opacity_reg(out["opacity"]))

        j = int(torch.randint(len(cache["c2w"]), (1,), generator=generator))
        out = ngp.render_image(cache["K"][j], cache["c2w"][j], size, res, generator)
        x = F.interpolate(out["rgb"][None], size=(size, size), mode="bilinear", align_corners=False)
        op = F.interpolate(out["opacity"][None, None], size=(size, size), mode="bilinear", align_corners=False)
        if mode == "eft" or (mode == "distill" and it < cfg["bootstrap_iters"]):
            loss = F.huber_loss(x, cache["eft_rgb"][j : j + 1]) + F.huber_loss(op, eft_mask[j : j + 1])
        elif mode == "samples":
            loss = F.huber_loss(x, cache["samples"][j : j + 1])
        else:
            loss = diffusion_term(x, cache["features"][j : j + 1], model, cfg, settings, generator, lpips_fn)
        step(loss + cfg["opacity_weight"] * opacity_reg(out["opacity"]))
    return ngp


def diffusion_term(x: Tensor, cond: Tensor, model, cfg: dict, settings: DistillSettings, generator, lpips_fn):
    """The distillation term of Eq. 5 for one render x [1, 3, S, S] (see the module docstring)."""
    ae, vldm = model.autoencoder, model.vldm
    t = 0.02 + 0.96 * torch.rand((), generator=generator)
    n = min(int(100 * float(t)), cfg["max_denoise_steps"]) if settings.multistep else 1
    with torch.no_grad():
        z0 = ae.encode(x)
        noise = torch.randn(z0.shape, generator=generator)
        z_t = q_sample(z0, t.reshape(1), noise)
        z_hat = denoise_from(z_t, float(t), max(n, 1), lambda z, s: vldm(z, s.reshape(1), cond), vldm.clip_x0)
        x_hat = ae.decode(z_hat)
    perceptual = lpips_fn if settings.perceptual else None
    if settings.loss_space == "pixel":
        return distill_loss(x, x_hat, t, perceptual, cfg["perceptual_weight"])
    loss = distillation_weight(t) * (ae.encode(x) - z_hat).abs().mean()
    if perceptual is not None:
        loss = loss + cfg["perceptual_weight"] * perceptual(x, x_hat).mean()
    return loss
