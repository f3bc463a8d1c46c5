from __future__ import annotations

from pathlib import Path

import pytest
import torch

from common.config import load_config
from s3im.models.dvgo import DirectVoxGO, build_fine_from_coarse, build_model, resolve_stage_config
from s3im.models.dvgo.build import DEFAULTS, bbox_from_frustums, scale_box

CONFIGS = Path(__file__).resolve().parents[2] / "s3im" / "configs"


def bounded_cfg():
    return {
        "kind": "bounded",
        "white_bkgd": True,
        "stepsize": 1.0,
        "coarse": {
            "num_voxels": 16**3,
            "num_voxels_base": 16**3,
            "rgbnet_dim": 0,
            "pg_scale": [],
            "world_bound_scale": 1.0,
            "maskout_near_cam_vox": True,
            "alpha_init": 1e-6,
            "fast_color_thres": 1e-7,
        },
        "fine": {"num_voxels": 20**3, "num_voxels_base": 20**3, "pg_scale": [5], "world_bound_scale": 1.05},
    }


def test_stage_resolution_and_validation():
    cfg = bounded_cfg()
    coarse = resolve_stage_config(cfg, "coarse")
    fine = resolve_stage_config(cfg, "fine")
    assert coarse["stepsize"] == fine["stepsize"] == 1.0 and coarse["white_bkgd"] is True
    assert coarse["rgbnet_dim"] == 0 and fine["rgbnet_dim"] == DEFAULTS["rgbnet_dim"]
    with pytest.raises(ValueError, match="unknown DVGO config key.*'num_voxel'.*valid keys"):
        resolve_stage_config({**cfg, "fine": {"num_voxel": 3}}, "fine")
    with pytest.raises(ValueError, match="model.kind"):
        resolve_stage_config({"kind": "nerf"})
    with pytest.raises(ValueError, match="unknown DVGO config key"):
        resolve_stage_config({"kind": "contracted", "coarse": {}})


def test_bbox_helpers():
    o = torch.tensor([[0.0, 0.0, 0.0], [1.0, 0.0, 0.0]])
    d = torch.tensor([[0.0, 0.0, 2.0], [0.0, 1.0, 0.0]])
    lo, hi = bbox_from_frustums(o, d, 1.0, 3.0)
    torch.testing.assert_close(lo, torch.tensor([0.0, 0.0, 0.0]))
    torch.testing.assert_close(hi, torch.tensor([1.0, 3.0, 3.0]))
    lo2, hi2 = scale_box(lo, hi, 1.5)
    torch.testing.assert_close(hi2 - lo2, (hi - lo) * 1.5)
    torch.testing.assert_close((hi2 + lo2) / 2, (hi + lo) / 2)


def test_coarse_build_masks_near_camera_voxels_and_fine_stage_follows_coarse_geometry():
    torch.manual_seed(0)
    cams = torch.tensor([[0.0, 0.0, -3.0], [3.0, 0.0, 0.0]])
    o = cams.repeat_interleave(50, 0)
    d = torch.nn.functional.normalize(-o + torch.randn(100, 3) * 0.3, dim=-1)
    coarse = build_model(bounded_cfg(), (o, d), near=1.0, far=5.0)
    assert isinstance(coarse, DirectVoxGO) and coarse.rgbnet is None and coarse.k0.channels == 3
    nodes = torch.stack(
        torch.meshgrid(
            *[
                torch.linspace(float(a), float(b), n)
                for a, b, n in zip(coarse.xyz_min, coarse.xyz_max, coarse.world_size)
            ],
            indexing="ij",
        ),
        -1,
    )
    near_cam = torch.cdist(nodes.reshape(-1, 3), cams).amin(-1).reshape(coarse.world_size) <= 1.0
    assert near_cam.any()
    assert torch.all(coarse.density.grid[0, 0][near_cam] == -100) and torch.all(
        coarse.density.grid[0, 0][~near_cam] == 0
    )
    with torch.no_grad():  # a dense blob in [-0.5, 0.5]^3
        coarse.density.grid.fill_(-100.0)
        blob = (nodes.abs() <= 0.5).all(-1)
        coarse.density.grid[0, 0][blob] = 10.0
    fine = build_fine_from_coarse(coarse, bounded_cfg())
    occupied = nodes[blob]
    lo, hi = scale_box(occupied.amin(0), occupied.amax(0), 1.05)
    torch.testing.assert_close(fine.xyz_min, lo)
    torch.testing.assert_close(fine.xyz_max, hi)
    assert fine.rgbnet is not None and fine.world_size == fine.mask_cache.mask.shape
    assert fine.mask_cache.mask.any() and fine.near == 1.0
    pts = torch.tensor([[0.0, 0.0, 0.0], [float(hi[0]) - 1e-3, float(hi[1]) - 1e-3, float(hi[2]) - 1e-3]])
    assert fine.mask_cache(pts)[0]


@pytest.mark.parametrize("name", ["dvgo_replica.yaml", "dvgo_blender.yaml"])
@pytest.mark.parametrize("profile", ["paper", "quick", "smoke"])
def test_presets_resolve(name, profile):
    model = load_config(CONFIGS / name, profile).to_dict()["model"]
    stages = [None] if model["kind"] == "contracted" else ["coarse", "fine"]
    for stage in stages:
        cfg = resolve_stage_config(model, stage)
        assert cfg["num_voxels"] > 0 and cfg["lrate_density"] == 0.1
    if profile == "paper" and name == "dvgo_replica.yaml":
        assert model["num_voxels"] == 320**3 and model["pg_scale"] == [1000, 2000, 3000, 4000, 5000, 6000, 7000]
        assert model["weight_distortion"] == 0.01 and model["contracted_norm"] == "l2"


def test_blender_paper_profile_keeps_the_official_stage_settings():
    model = load_config(CONFIGS / "dvgo_blender.yaml", "paper").to_dict()["model"]
    coarse, fine = resolve_stage_config(model, "coarse"), resolve_stage_config(model, "fine")
    assert coarse["alpha_init"] == 1e-6 and coarse["fast_color_thres"] == 1e-7 and coarse["stepsize"] == 0.5
    assert coarse["pervoxel_lr"] is True and coarse["pervoxel_lr_downrate"] == 1 and coarse["maskout_lt_nviews"] == 0
    assert fine["alpha_init"] == 1e-2 and fine["fast_color_thres"] == 1e-4 and fine["stepsize"] == 0.5
    assert fine["pervoxel_lr"] is False and fine["rgbnet_width"] == 128 and model["coarse_iters"] == 5000
