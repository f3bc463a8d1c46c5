"""Build DVGO models from the ``model:`` config subtree and the training rays (official run.py logic).

Config layout (see ``s3im/configs/dvgo_{replica,blender}.yaml``):
  * ``kind: contracted`` -> one ``DirectContractedVoxGO``; every other key is a stage key (``DEFAULTS``).
  * ``kind: bounded`` -> two stages: ``coarse:`` and ``fine:`` hold per-stage keys, keys at the top
    level are shared by both (a stage's own value wins), ``coarse_iters`` is the coarse stage length
    (read by the training driver; the fine stage length is ``train.iters``).
Scene boxes:
  * bounded (coarse): the box of all points o + d * near and o + d * far of the training rays;
  * fine: the nodes of the coarse grid with alpha > bbox_thres, and a mask cache
    max_pool3d_3x3x3(coarse alpha) >= mask_cache_thres resampled at the fine grid nodes;
  * contracted: the cube (half side = max half extent * unbounded_inner_r) around the box of the
    points o + d * near_clip of all training rays, i.e. around the camera centres.
  ``world_bound_scale`` then grows the box about its centre. Rays are unit-length here, so near and
  near_clip are distances (the official code scales its unnormalised pixel directions instead).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from common.fields import MaskGrid, grid_points, grid_resolution
from s3im.models.dvgo.contracted import DirectContractedVoxGO
from s3im.models.dvgo.model import DirectVoxGO

# Official defaults (configs/default.py fine stage + dcvgo arguments); the presets set every key.
DEFAULTS: dict = {
    "num_voxels": 160**3,  # voxel budget at the end of progressive scaling
    "num_voxels_base": 160**3,  # voxel budget defining voxel_size_base (interval scaling)
    "alpha_init": 1e-2,  # alpha of every voxel at init (sets act_shift)
    "stepsize": 0.5,  # ray-marching step in voxels
    "fast_color_thres": 1e-4,  # skip samples with alpha / weight <= this; a number or {step: value}
    "rgbnet_dim": 12,  # feature channels of k0 (0 = coarse colour grid, rgb = sigmoid(k0))
    "rgbnet_depth": 3,  # layers of the colour MLP
    "rgbnet_width": 128,  # width of the colour MLP
    "viewbase_pe": 4,  # frequencies of the view-direction encoding
    "bbox_thres": 1e-3,  # coarse alpha above which a node is inside the fine box
    "mask_cache_thres": 1e-3,  # coarse alpha at or above which the fine stage marches
    "maskout_near_cam_vox": False,  # density = -100 at nodes within `near` of a camera
    "world_bound_scale": 1.05,  # grow the scene box about its centre
    "white_bkgd": False,  # background colour 1 (else 0)
    "rand_bkgd": False,  # random background colour per ray while training
    "bg_len": 0.2,  # contracted model: width of the background shell
    "contracted_norm": "inf",  # contracted model: 'l2' or 'inf'
    "unbounded_inner_r": 1.0,  # contracted model: inner cube radius factor
    "near_clip": 0.05,  # contracted model: distance of the points that define the inner cube
    "lrate_density": 0.1,  # base lr of the density grid
    "lrate_k0": 0.1,  # base lr of the colour/feature grid
    "lrate_rgbnet": 1e-3,  # base lr of the colour MLP
    "weight_main": 1.0,  # MSE weight
    "weight_entropy_last": 1e-3,  # entropy of the final transmittance
    "weight_rgbper": 1e-2,  # per-point rgb loss
    "weight_distortion": 0.0,  # distortion loss
    "tv_every": 1,  # TV gradient every n steps
    "tv_after": 0,  # TV only for step > tv_after
    "tv_before": 0,  # TV only for step < tv_before
    "tv_dense_before": 0,  # dense TV for step < tv_dense_before, then only where grad != 0
    "weight_tv_density": 0.0,  # TV weight of the density grid
    "weight_tv_k0": 0.0,  # TV weight of the k0 grid
    "pg_scale": [1000, 2000, 3000, 4000],  # progressive scaling steps
    "decay_after_scale": 1.0,  # act_shift -= this after each scaling
    "skip_zero_grad_fields": ["density", "k0"],  # MaskedAdam updates only where grad != 0
    "ray_sampler": "in_maskcache",  # training ray sampler (read by the driver): random | flatten | in_maskcache
    "pervoxel_lr": False,  # bounded: density lr per voxel = view count / max count; nodes seen by <= 2 views masked
    "pervoxel_lr_downrate": 1,  # every n-th pixel row / column of each view is counted
    "maskout_lt_nviews": 0,  # bounded: > 0 keeps in the mask cache only nodes seen by >= this many views
}
KINDS = ("bounded", "contracted")
STAGES = ("coarse", "fine")


def _check_keys(cfg: dict, allowed, where: str) -> None:
    unknown = sorted(set(cfg) - set(allowed))
    if unknown:
        raise ValueError(f"unknown DVGO config key(s) {unknown} in {where}; valid keys: {sorted(allowed)}")


def resolve_stage_config(model_cfg: dict, stage: str | None = None) -> dict:
    """DEFAULTS <- shared top-level keys <- stage keys, validated. ``stage`` is 'coarse' / 'fine' for
    the bounded kind and None for the contracted kind."""
    kind = model_cfg.get("kind")
    if kind not in KINDS:
        raise ValueError(f"model.kind must be one of {KINDS}, got {kind!r}")
    top_allowed = set(DEFAULTS) | {"kind", "name"}
    if kind == "bounded":
        top_allowed |= {"coarse", "fine", "coarse_iters"}
    _check_keys(model_cfg, top_allowed, "model")
    shared = {k: v for k, v in model_cfg.items() if k in DEFAULTS}
    if kind == "contracted":
        if stage is not None:
            raise ValueError("the contracted DVGO has a single stage; call with stage=None")
        return {**DEFAULTS, **shared}
    if stage not in STAGES:
        raise ValueError(f"bounded DVGO stage must be one of {STAGES}, got {stage!r}")
    own = dict(model_cfg.get(stage) or {})
    _check_keys(own, DEFAULTS, f"model.{stage}")
    return {**DEFAULTS, **shared, **own}


def scale_box(xyz_min: Tensor, xyz_max: Tensor, factor: float) -> tuple[Tensor, Tensor]:
    """Grow the box by ``factor`` about its centre: shift = extent * (factor - 1) / 2."""
    shift = (xyz_max - xyz_min) * (factor - 1) / 2
    return xyz_min - shift, xyz_max + shift


def bbox_from_frustums(rays_o: Tensor, rays_d: Tensor, near: float, far: float) -> tuple[Tensor, Tensor]:
    """Box of o + d * near and o + d * far over all rays [P, 3] (d normalised) -> (xyz_min [3], xyz_max [3])."""
    d = rays_d / rays_d.norm(dim=-1, keepdim=True)
    pts = torch.cat([rays_o + d * near, rays_o + d * far])
    return pts.amin(0), pts.amax(0)


def _inner_points_box(rays_o: Tensor, rays_d: Tensor, near_clip: float) -> tuple[Tensor, Tensor]:
    pts = rays_o + rays_d * near_clip
    return pts.amin(0), pts.amax(0)


def _cube_around(lo: Tensor, hi: Tensor, inner_r: float) -> tuple[Tensor, Tensor]:
    center = (lo + hi) * 0.5
    radius = (center - lo).max() * inner_r
    return center - radius, center + radius


def unbounded_inner_cube(rays_o: Tensor, rays_d: Tensor, near_clip: float, inner_r: float) -> tuple[Tensor, Tensor]:
    """Cube around the box of o + d * near_clip: centre = box centre, half side = max(centre - box_min) * inner_r.

    d is used as given: the official code passes the un-normalised pixel directions K^-1 [u+0.5, v+0.5, 1]
    (rotated to world; length >= 1, camera z = 1), so pass those (``raw_ray_chunks``) to reproduce its
    inner cube exactly. Returns (cube_min [3], cube_max [3])."""
    return _cube_around(*_inner_points_box(rays_o, rays_d, near_clip), inner_r)


def raw_ray_chunks(rays, chunk: int = 65536):
    """(rays_o [C, 3], un-normalised pixel directions [C, 3]) in chunks, from a ``RayBank``
    (``rays_d * dir_norm`` = R K^-1 [u+0.5, v+0.5, 1], the directions the official code marches along)
    or from a pair of tensors (rays_o [P, 3], directions [P, 3]) used as given."""
    if isinstance(rays, tuple):
        o, d = rays
        for i in range(0, len(o), chunk):
            yield o[i : i + chunk], d[i : i + chunk]
        return
    for batch in rays.chunks(chunk):
        yield batch["rays_o"], batch["rays_d"] * batch["dir_norm"][:, None]


def streamed_box(chunks, box_fn) -> tuple[Tensor, Tensor]:
    """Elementwise min of ``box_fn(o, d)[0]`` and max of ``[1]`` over chunks: the box of all rays at
    once (min / max are exact, so chunking does not change it)."""
    lo = hi = None
    for o, d in chunks:
        a, b = box_fn(o.float().cpu(), d.float().cpu())
        lo = a if lo is None else torch.minimum(lo, a)
        hi = b if hi is None else torch.maximum(hi, b)
    if lo is None:
        raise ValueError("no training ray to build the DVGO scene box from")
    return lo, hi


@torch.no_grad()
def build_model(model_cfg: dict, rays, near: float, far: float, device=None, cam_centers: Tensor | None = None):
    """The first model to train: ``DirectContractedVoxGO`` (kind contracted) or the coarse
    ``DirectVoxGO`` (kind bounded), with the scene box from every training ray (``rays``: a
    ``common.rays.RayBank`` or a pair (rays_o, directions); see ``raw_ray_chunks``,
    ``unbounded_inner_cube`` and ``bbox_from_frustums``); cam_centers [N, 3] for
    ``maskout_near_cam_vox`` (default: the distinct ray origins)."""
    if model_cfg.get("kind") == "contracted":
        cfg = resolve_stage_config(model_cfg)
        lo, hi = streamed_box(raw_ray_chunks(rays), lambda o, d: _inner_points_box(o, d, cfg["near_clip"]))
        lo, hi = _cube_around(lo, hi, cfg["unbounded_inner_r"])
        lo, hi = scale_box(lo, hi, cfg["world_bound_scale"])
        return DirectContractedVoxGO(lo, hi, cfg).to(device)
    cfg = resolve_stage_config(model_cfg, "coarse")
    lo, hi = scale_box(
        *streamed_box(raw_ray_chunks(rays), lambda o, d: bbox_from_frustums(o, d, near, far)), cfg["world_bound_scale"]
    )
    model = DirectVoxGO(lo, hi, cfg, near)
    if cfg["maskout_near_cam_vox"]:
        if cam_centers is None:
            cam_centers = torch.unique(torch.cat([o.float().cpu() for o, _ in raw_ray_chunks(rays)]), dim=0)
        model.maskout_near_cam_vox(cam_centers.float().cpu(), near)
    return model.to(device)


@torch.no_grad()
def build_fine_from_coarse(coarse: DirectVoxGO, model_cfg: dict, device=None) -> DirectVoxGO:
    """The fine ``DirectVoxGO`` from a trained coarse one: box of the coarse nodes with
    alpha > bbox_thres (the coarse box if none), grown by world_bound_scale; mask cache =
    (max_pool3d_3x3x3(coarse alpha) >= mask_cache_thres) looked up at the fine grid nodes."""
    cfg = resolve_stage_config(model_cfg, "fine")
    alpha = coarse.dense_alpha()
    nodes = grid_points(coarse.xyz_min, coarse.xyz_max, coarse.world_size)
    active = nodes[alpha > cfg["bbox_thres"]]
    lo, hi = (active.amin(0), active.amax(0)) if len(active) else (coarse.xyz_min, coarse.xyz_max)
    lo, hi = scale_box(lo, hi, cfg["world_bound_scale"])
    pooled = F.max_pool3d(coarse.density.grid, kernel_size=3, padding=1, stride=1)
    occupied = coarse.activate_density(pooled)[0, 0] >= cfg["mask_cache_thres"]
    coarse_mask = MaskGrid(occupied, coarse.xyz_min, coarse.xyz_max)
    world_size = grid_resolution(lo, hi, int(cfg["num_voxels"] / 2 ** len(cfg["pg_scale"])))[1]
    mask = coarse_mask(grid_points(lo, hi, world_size)).cpu()
    return DirectVoxGO(lo.cpu(), hi.cpu(), cfg, coarse.near, mask=mask).to(device)
