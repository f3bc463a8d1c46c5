"""DVGO as a model family of the experiment driver (``common.engine.experiment``).

* ``kind: contracted`` (S3IM's Replica / T&T setting): one stage, ``train.iters`` iterations,
  sampler ``ray_sampler`` (tt_default: flatten = a permutation over all training pixels).
* ``kind: bounded`` (Blender): the coarse stage (``coarse_iters``, its own ``ray_sampler``; no
  S3IM, as the official code adds S3IM in the fine stage only), then the fine stage built from the
  trained coarse model (``build_fine_from_coarse``), trained on the rays of its ``ray_sampler``
  (in_maskcache: only the rays that reach the coarse geometry).

Scene boxes are computed from every training ray, streamed in chunks from the ``RayBank``.
"""

from __future__ import annotations

import torch

from common.config import Config
from common.engine.experiment import ExperimentData, ModelFamily, Stage
from common.rays import RayBank
from s3im.models.dvgo.build import build_fine_from_coarse, build_model, resolve_stage_config


def select_in_maskcache(model, bank: RayBank) -> RayBank:
    """The rays of ``bank`` that have a sample in the model's occupied (mask-cache) space."""
    hits = [model.hit_mask_cache(c["rays_o"], c["rays_d"]) for c in bank.chunks(65536)]
    keep = torch.cat(hits).nonzero().squeeze(1)
    if len(keep) == 0:
        print("fine stage: no training ray reaches the coarse geometry; training on all rays")
        return bank
    print(f"fine stage: training on the {len(keep)} of {len(bank)} rays that reach the coarse geometry")
    return bank.restrict(keep)


def dvgo_stages(cfg: Config, data: ExperimentData, device: torch.device) -> list[Stage]:
    """[fine] for the contracted kind; [coarse, fine] for the bounded kind (see the module doc)."""
    model_cfg = cfg.model.to_dict()
    scene, bank = data.scene, data.train
    cams = torch.as_tensor(scene.c2w[bank.views][:, :3, 3], dtype=torch.float32)

    def first(_previous) -> torch.nn.Module:
        return build_model(model_cfg, bank, scene.near, scene.far, device, cam_centers=cams)

    if model_cfg.get("kind") == "contracted":
        sampler = resolve_stage_config(model_cfg)["ray_sampler"]
        return [Stage("", cfg.train.iters, first, sampler=sampler)]
    coarse_sampler = resolve_stage_config(model_cfg, "coarse")["ray_sampler"]
    fine_sampler = resolve_stage_config(model_cfg, "fine")["ray_sampler"]
    coarse = Stage("coarse", int(model_cfg.get("coarse_iters", 0) or 0), first, False, coarse_sampler)
    fine = Stage(
        "fine",
        cfg.train.iters,
        lambda prev: build_fine_from_coarse(prev, model_cfg, device),
        sampler=fine_sampler,
        select_rays=select_in_maskcache if fine_sampler == "in_maskcache" else None,
    )
    return [coarse, fine] if coarse.iters > 0 else [Stage("", cfg.train.iters, first, sampler=fine_sampler)]


DVGO = ModelFamily(stages=dvgo_stages, description="DirectVoxGO (bounded coarse+fine, or contracted)")
