"""DVGO as a model family of the experiment driver (``common.engine.experiment``).

* ``kind: contracted`` (S3IM's Replica / T&T setting): one stage, ``train.iters`` iterations,
  sampler ``ray_sampler`` (tt_default: flatten = a permutation over all training pixels).
* ``kind: bounded`` (Blender): the coarse stage (``coarse_iters``, its own ``ray_sampler``; no
  S3IM, as the official code adds S3IM in the fine stage only; with ``pervoxel_lr`` the view counts
  set the density grid's per-voxel lr and mask, see ``init_view_counts``), then the fine stage built from the
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


def view_rays(bank: RayBank, downrate: int = 1):
    """(rays_o [P, 3], rays_d [P, 3]) of each view of an unrestricted ``bank``, every ``downrate``-th pixel
    row and column (the official per-view loops of ``voxel_count_views``)."""
    H, W = bank.height, bank.width
    v, u = torch.meshgrid(torch.arange(0, H, downrate), torch.arange(0, W, downrate), indexing="ij")
    pix = (v * W + u).reshape(-1).to(bank.device)
    for k in range(len(bank.views)):
        rays = bank.gather(pix + k * H * W)
        yield rays["rays_o"], rays["rays_d"]


def init_view_counts(model, stage_cfg: dict, bank: RayBank):
    """The official per-stage view-count set-up of a bounded model (``pervoxel_lr``, ``maskout_lt_nviews``)."""
    if bank.restricted:
        raise ValueError("view counts need the full training bank (one image per view)")
    if stage_cfg["pervoxel_lr"]:
        count = model.init_view_counts(view_rays(bank, int(stage_cfg["pervoxel_lr_downrate"])))
        print(f"pervoxel_lr: view counts max {int(count.max())}, {int((count <= 2).sum())} nodes seen by <= 2 views")
    if stage_cfg["maskout_lt_nviews"] > 0:
        model.maskout_lt_nviews(view_rays(bank), int(stage_cfg["maskout_lt_nviews"]))
    return model


def dvgo_stages(cfg: Config, data: ExperimentData, device: torch.device) -> list[Stage]:
    """[fine] for the contracted kind; [coarse, fine] for the bounded kind (see the module doc)."""
    model_cfg = cfg.model.to_dict()
    scene, bank = data.scene, data.train
    cams = torch.as_tensor(scene.c2w[bank.views][:, :3, 3], dtype=torch.float32)

    def first(_previous) -> torch.nn.Module:
        model = build_model(model_cfg, bank, scene.near, scene.far, device, cam_centers=cams)
        if model_cfg.get("kind") == "bounded":
            init_view_counts(model, resolve_stage_config(model_cfg, "coarse"), bank)
        return model

    def fine_from(previous) -> torch.nn.Module:
        model = build_fine_from_coarse(previous, model_cfg, device)
        return init_view_counts(model, resolve_stage_config(model_cfg, "fine"), bank)

    if model_cfg.get("kind") == "contracted":
        sampler = resolve_stage_config(model_cfg)["ray_sampler"]
        return [Stage("", cfg.train.iters, first, sampler=sampler)]
    coarse_sampler = resolve_stage_config(model_cfg, "coarse")["ray_sampler"]
    fine_sampler = resolve_stage_config(model_cfg, "fine")["ray_sampler"]
    coarse = Stage("coarse", int(model_cfg.get("coarse_iters", 0) or 0), first, False, coarse_sampler)
    fine = Stage(
        "fine",
        cfg.train.iters,
        fine_from,
        sampler=fine_sampler,
        select_rays=select_in_maskcache if fine_sampler == "in_maskcache" else None,
    )
    return [coarse, fine] if coarse.iters > 0 else [Stage("", cfg.train.iters, first, sampler=fine_sampler)]


DVGO = ModelFamily(stages=dvgo_stages, description="DirectVoxGO (bounded coarse+fine, or contracted)")
