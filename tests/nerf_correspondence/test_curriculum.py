import pytest
import torch

from common.config import ConfigError, load_config
from nerf_correspondence.curriculum import fade_alpha, last_upsample_step, stage_at, validate_curriculum
from nerf_correspondence.pigan import PiGAN

# pi-GAN's CARLA curriculum (curriculums.py), written as our stages
CARLA = {
    "img_size": 32, "num_steps": 48, "gen_lr": 4e-5, "disc_lr": 4e-4, "fade_steps": 10000,
    "curriculum": [
        {"start": 10000, "img_size": 64, "batch_size": 14, "gen_lr": 2e-5, "disc_lr": 2e-4},
        {"start": 55000, "img_size": 128, "batch_size": 10, "gen_lr": 1e-5, "disc_lr": 1e-4},
    ],
}  # fmt: skip


def official_metadata(step):
    """The official extract_metadata on the CARLA curriculum dict, for comparison."""
    table = {0: (30, 32, 4e-5, 4e-4), 10000: (14, 64, 2e-5, 2e-4), 55000: (10, 128, 1e-5, 1e-4)}
    start = max(s for s in table if s <= step)
    bs, size, g, d = table[start]
    return {"batch_size": bs, "img_size": size, "num_steps": 48, "gen_lr": g, "disc_lr": d}


@pytest.mark.parametrize("step", [0, 1, 9999, 10000, 10001, 54999, 55000, 199999])
def test_stage_matches_official_metadata(step):
    assert stage_at(CARLA, 30, step) == official_metadata(step)


def test_fade_restarts_at_each_upsample():
    assert fade_alpha(CARLA, 30, 0) == 0.0
    assert fade_alpha(CARLA, 30, 5000) == 0.5
    assert fade_alpha(CARLA, 30, 9999) == 0.9999
    assert last_upsample_step(CARLA, 30, 10000) == 10000 and fade_alpha(CARLA, 30, 10000) == 0.0
    assert fade_alpha(CARLA, 30, 15000) == 0.5 and fade_alpha(CARLA, 30, 54999) == 1.0
    assert fade_alpha(CARLA, 30, 60000) == 0.5


def test_same_size_stage_keeps_fading_from_its_first_stage():
    cfg = dict(CARLA, curriculum=[{"start": 100, "gen_lr": 1e-5}], fade_steps=400)
    assert stage_at(cfg, 30, 150)["gen_lr"] == 1e-5 and stage_at(cfg, 30, 150)["img_size"] == 32
    assert last_upsample_step(cfg, 30, 150) == 0 and fade_alpha(cfg, 30, 200) == 0.5


def test_no_stages_is_the_base():
    cfg = dict(CARLA, curriculum=[])
    assert stage_at(cfg, 6, 10**6) == {"img_size": 32, "num_steps": 48, "batch_size": 6, "gen_lr": 4e-5,
                                       "disc_lr": 4e-4}  # fmt: skip


@pytest.mark.parametrize(
    "stages, match",
    [
        ([{"start": 0, "img_size": 64}], "integer 'start' above"),
        ([{"start": 10, "img_size": 64}, {"start": 10, "img_size": 128}], r"curriculum\[1\]"),
        ([{"start": 10, "imgsize": 64}], "unknown keys"),
        ([{"start": 10, "batch_size": 64}], "exceeds train.batch_size"),
        (["x"], "expected a mapping"),
    ],
)
def test_validation(stages, match):
    with pytest.raises(ConfigError, match=match):
        validate_curriculum(stages, 30)


def tiny(**kw):
    cfg = load_config("nerf_correspondence/configs/pigan_shapes.yaml", "smoke").model.to_dict()
    cfg.update(kw)
    return cfg


def test_pigan_follows_the_curriculum_in_train_step():
    torch.manual_seed(0)
    cfg = tiny(img_size=8, fade_steps=2, curriculum=[{"start": 2, "img_size": 16, "batch_size": 1, "gen_lr": 1e-3}])
    model = PiGAN(cfg, batch_size=2)
    opts = model.configure_optimizers((0.9, 0.99), 1e-8)
    batch = {"images": torch.rand(2, 1, 16, 16, 3)}
    out0 = model.train_step(batch, 0, opts)
    assert out0["img_size"] == 8 and out0["alpha"] == 0.0
    assert opts["generator"].param_groups[0]["lr"] == cfg["gen_lr"]
    out2 = model.train_step(batch, 2, opts)
    assert out2["img_size"] == 16 and out2["alpha"] == 0.0
    assert model.real_images(batch, 2).shape == (1, 3, 16, 16)
    lrs = {g["name"]: g["lr"] for g in opts["generator"].param_groups}
    assert lrs == {"generator": 1e-3, "mapping_network": 1e-3 * cfg["mapping_lr_factor"]}
    assert opts["discriminator"].param_groups[0]["lr"] == cfg["disc_lr"]


def test_pigan_refuses_a_stage_size_its_discriminator_cannot_take():
    with pytest.raises(ValueError, match="side 4 .. 16"):
        PiGAN(tiny(img_size=8, curriculum=[{"start": 2, "img_size": 32}]), batch_size=2)


def test_shape_presets_resolve_with_their_curricula():
    paper = load_config("nerf_correspondence/configs/pigan_shapes.yaml", "paper")
    model = PiGAN(dict(paper.model.to_dict(), width=8, depth=1, mapping_hidden=8), paper.train.batch_size)
    assert [model.stage(s)["img_size"] for s in (0, 10000, 55000)] == [32, 64, 128]
    quick = load_config("nerf_correspondence/configs/pigan_shapes.yaml", "quick")
    qmodel = PiGAN(quick.model.to_dict(), quick.train.batch_size)
    assert qmodel.stage(quick.train.iters)["img_size"] == 32 <= quick.data.synthetic_res
