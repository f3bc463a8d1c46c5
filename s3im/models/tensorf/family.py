"""TensoRF as a model family of the experiment driver (``common.engine.experiment``).

One stage of ``train.iters`` iterations over the training rays whose line crosses the initial box
(official ``filtering_rays(bbox_only=True)``), drawn by ``train.sampler`` (the official SimpleSampler
is a permutation over all kept rays). Box: ``model.aabb`` or the scene's bbox * ``model.aabb_scale``;
near / far: the scene's. The TV weights decay with the per-step factor of the ``train`` lr schedule
(exponential: 0.1^(1 / lr_decay_steps); the official lr_decay_target_ratio 0.1 over n_iters is
``train.lr_decay_steps = train.iters``).
"""

from __future__ import annotations

import torch

from common.config import Config
from common.engine.experiment import ExperimentData, ModelFamily, Stage
from common.engine.schedules import LrSchedule, lr_factor
from common.rays import RayBank
from s3im.models.tensorf.model import TensoRF, resolve_config


def build_model(model_cfg: dict, scene, tv_decay: float = 1.0, device: str | torch.device = "cpu") -> TensoRF:
    """TensoRF for ``scene`` (SceneData: bbox, near, far) from the ``model:`` config subtree."""
    cfg = resolve_config(model_cfg)
    if cfg["aabb"] is not None:
        aabb = torch.as_tensor(cfg["aabb"], dtype=torch.float32).reshape(2, 3)
    else:
        aabb = torch.as_tensor(scene.bbox, dtype=torch.float32).reshape(2, 3) * float(cfg["aabb_scale"])
    return TensoRF(model_cfg, aabb, scene.near, scene.far, tv_decay=tv_decay).to(device)


def select_bbox_rays(model: TensoRF, bank: RayBank, chunk: int = 65536) -> RayBank:
    """The rays of ``bank`` whose line crosses the model's box."""
    keep = torch.cat([model.hits_bbox(c["rays_o"], c["rays_d"]) for c in bank.chunks(chunk)]).nonzero().squeeze(1)
    if len(keep) == 0:
        raise ValueError("tensorf: no training ray crosses the scene box; check model.aabb / the scene bbox")
    if len(keep) < len(bank):
        print(f"tensorf: training on the {len(keep)} of {len(bank)} rays that cross the box")
        return bank.restrict(keep)
    return bank


def tensorf_stages(cfg: Config, data: ExperimentData, device: torch.device) -> list[Stage]:
    """[one stage]: build the model, keep the rays that cross its box."""
    schedule = LrSchedule.from_config(cfg.train, cfg.train.iters)
    tv_decay = lr_factor(schedule, 1) if schedule.kind == "exponential" else 1.0
    model_cfg = cfg.model.to_dict()

    def build(_previous) -> torch.nn.Module:
        return build_model(model_cfg, data.scene, tv_decay, device)

    return [Stage("", cfg.train.iters, build, select_rays=select_bbox_rays)]


TENSORF = ModelFamily(stages=tensorf_stages, description="TensoRF (VM decomposition)")
