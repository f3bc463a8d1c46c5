"""Vanilla NeRF as a model family of the experiment driver (``common.engine.experiment``).

One stage of ``train.iters`` iterations on the scene's training rays; the model is
``VanillaNeRF(cfg.model, scene.near, scene.far, scene.bbox)`` (the ``model:`` keys are listed in
``s3im.models.nerf.model.DEFAULTS``). S3IM, when enabled, is added on the fine "rgb" output.

Sampler: ``train.sampler`` over all training rays, preceded, when ``model.precrop_iters`` > 0, by
nerf-pytorch's precrop phase: for the first ``precrop_iters`` steps the rays come from the central
crop of every training image, rows H/2 - dH .. H/2 + dH - 1 and columns W/2 - dW .. W/2 + dW - 1 with
dH = int(H/2 * precrop_frac), dW = int(W/2 * precrop_frac) (so that a white-background object scene
does not start by fitting empty space everywhere). The crop phase draws with mode "permutation"
(or "iid" when ``train.sampler`` is "iid") over the crop pixels of all views.
"""

from __future__ import annotations

import torch

from common.config import Config
from common.engine.experiment import ExperimentData, ModelFamily, Stage, default_sampler
from common.rays import RayBank, RaySampler
from s3im.models.nerf.model import VanillaNeRF, resolve_config


def crop_ray_ids(bank: RayBank, frac: float) -> torch.Tensor:
    """Flat ray ids [V * 2dH * 2dW] of the central crop of every view of an unrestricted ``bank``."""
    H, W, V = bank.height, bank.width, len(bank.views)
    dh, dw = max(1, int(H // 2 * frac)), max(1, int(W // 2 * frac))
    rows = torch.arange(H // 2 - dh, H // 2 + dh)
    cols = torch.arange(W // 2 - dw, W // 2 + dw)
    pix = (rows[:, None] * W + cols[None, :]).reshape(-1)
    return (torch.arange(V)[:, None] * (H * W) + pix[None, :]).reshape(-1)


class PrecropSampler:
    """``crop`` sampler for steps < ``iters``, then ``full``; both states are checkpointed."""

    def __init__(self, crop: RaySampler, full, iters: int):
        self.crop, self.full, self.iters = crop, full, int(iters)

    def __call__(self, step: int, generator: torch.Generator) -> dict:
        return (self.crop if step < self.iters else self.full)(step, generator)

    def state_dict(self) -> dict:
        return {"crop": self.crop.state_dict(), "full": self.full.state_dict(), "iters": self.iters}

    def load_state_dict(self, state: dict) -> None:
        self.crop.load_state_dict(state["crop"])
        self.full.load_state_dict(state["full"])


def nerf_sampler(cfg: Config, data: ExperimentData, stage: Stage, bank: RayBank):
    """The driver's default sampler, behind a precrop phase when ``model.precrop_iters`` > 0."""
    full = default_sampler(cfg, data, stage, bank)
    model_cfg = resolve_config(cfg.model.to_dict())
    iters = int(model_cfg["precrop_iters"])
    if iters <= 0:
        return full
    if bank.restricted:
        raise ValueError("model.precrop_iters needs the unrestricted training rays")
    mode = "iid" if cfg.train.sampler in ("iid", "random") else "permutation"
    crop_bank = bank.restrict(crop_ray_ids(bank, float(model_cfg["precrop_frac"])).to(bank.device))
    return PrecropSampler(RaySampler(crop_bank, cfg.train.batch_size, mode=mode), full, iters)


def nerf_stages(cfg: Config, data: ExperimentData, device: torch.device) -> list[Stage]:
    """[one stage] building the coarse + fine model from the scene's near / far."""
    model_cfg = cfg.model.to_dict()
    scene = data.scene

    def build(_previous) -> torch.nn.Module:
        return VanillaNeRF(model_cfg, scene.near, scene.far, scene.bbox).to(device)

    return [Stage("", cfg.train.iters, build)]


NERF = ModelFamily(
    stages=nerf_stages,
    sampler=nerf_sampler,
    description="vanilla NeRF, coarse + fine hierarchical sampling (nerf-pytorch)",
)
