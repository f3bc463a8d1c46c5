"""The driver registry of this package: ``REGISTRY["pigan"]`` trains pi-GAN on an image collection.

Data: ``data.root`` set -> an image folder (CelebA-style; ``data.options`` go to the image-folder loader, e.g.
size and crop_fraction); unset -> the synthetic shape family (``common.data.synthetic`` kind ``shapes``) whose
training renders form the collection (white background), labelled synthetic. Sampler: a ``CollectionSampler``
with ``train.batch_size`` items and one view each. Evaluation: 16 samples of the (EMA) generator at the mean
pose written to ``renders/samples.png`` and the pixel-space sliced Wasserstein distance (16 x 16 images)
between 64 generated images at sampled poses and 64 training images, beside the same distance for the
initial generator (same seed): the drop says how far training moved the samples toward the data.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

import torch

from common.config import Config
from common.data import load_scene
from common.data.collection import CollectionSampler, SceneCollection
from common.data.io import write_png
from common.engine.experiment import ExperimentData, ModelFamily, Stage
from common.engine.trainer import seed_everything
from nerf_correspondence.pigan import PiGAN, pixel_swd, sample_grid, to_image, validate_model_config

EVAL_IMAGES = 64


def collection_data(cfg: Config) -> ExperimentData:
    """An image-folder collection (``data.root``) or the synthetic shape family's training renders."""
    from common.data.synthetic import ensure_dataset, is_synthetic

    options = dict(cfg.data.get("options") or {})
    if cfg.data.root:
        source = "synthetic" if is_synthetic(cfg.data.root) else "real"
        return ExperimentData(None, source, collection=SceneCollection.from_image_folder(cfg.data.root, **options))
    root = Path(ensure_dataset("shapes", res=cfg.data.synthetic_res))
    dirs = sorted(p for p in root.iterdir() if (p / "transforms_train.json").is_file())
    scenes = {d.name: partial(load_scene, "blender", d, lazy=True, background=(1.0, 1.0, 1.0)) for d in dirs}
    return ExperimentData(None, "synthetic", collection=SceneCollection.from_scenes(scenes))


def collection_sampler(cfg: Config, data: ExperimentData, stage: Stage, bank) -> CollectionSampler:
    n = cfg.train.batch_size
    return CollectionSampler(data.collection, n, 1, replacement=n > len(data.collection))


def real_images(data: ExperimentData, n: int, seed: int) -> torch.Tensor:
    """[n, H, W, 3] training images drawn with a fixed seed."""
    sampler = CollectionSampler(data.collection, n, 1, replacement=n > len(data.collection))
    return sampler(0, torch.Generator().manual_seed(seed))["images"][:, 0]


@torch.no_grad()
def generated_images(model: PiGAN, n: int, seed: int, step: int) -> torch.Tensor:
    """[n, S, S, 3] in [0, 1]: n latents and poses from ``seed`` (no jitter, no NeRF noise), rendered with the
    curriculum's image size and samples per ray at ``step``."""
    st = model.stage(step)
    torch.manual_seed(seed)
    z = torch.randn(n, model.cfg["z_dim"])
    pitch, yaw = model.generator.sample_poses(n)
    out = model.generator.render_z(z, pitch, yaw, perturb=False, resolution=st["img_size"], num_steps=st["num_steps"])
    return ((to_image(out, st["img_size"]) + 1) / 2).permute(0, 2, 3, 1).clamp(0, 1)


def evaluate_gan(model: PiGAN, data: ExperimentData, cfg: Config, run, device) -> dict:
    """Samples grid + pixel SWD of the trained and of the initial generator (see the module docstring)."""
    seed, last = cfg.experiment.seed, cfg.train.iters
    res = model.stage(last)["img_size"]  # the curriculum's final image size
    model.eval()
    grid = sample_grid(model.generator, 16, seed, res=res, psi=cfg.model.psi)
    side = grid.shape[1]
    write_png(
        run.path / "renders" / "samples.png",
        grid.reshape(4, 4, side, side, 3).permute(0, 2, 1, 3, 4).reshape(4 * side, 4 * side, 3).numpy(),
    )
    real = torch.nn.functional.interpolate(real_images(data, EVAL_IMAGES, seed).permute(0, 3, 1, 2), size=(res, res),
                                           mode="area").permute(0, 2, 3, 1)  # fmt: skip
    swd = pixel_swd(generated_images(model, EVAL_IMAGES, seed, last), real)
    rng = torch.get_rng_state()
    seed_everything(seed)
    initial = PiGAN(cfg.model.to_dict(), cfg.train.batch_size)
    torch.set_rng_state(rng)
    swd_init = pixel_swd(generated_images(initial, EVAL_IMAGES, seed, last), real)
    report = {
        "mean": {"swd": swd, "swd_initial_generator": swd_init},
        "data_source": data.source,
        "images": len(data.collection),
        "note": "pixel-space sliced Wasserstein distance (16x16, 256 directions) to the training images; "
        "no FID: no Inception weights are available offline",
    }
    run.write_json("test_metrics.json", report)
    return report


def pigan_stages(cfg: Config, data: ExperimentData, device) -> list[Stage]:
    validate_model_config(cfg.model.to_dict())
    build = lambda previous: PiGAN(cfg.model.to_dict(), cfg.train.batch_size)  # noqa: E731
    return [Stage("", cfg.train.iters, build=build, extra_losses=False)]


REGISTRY = {
    "pigan": ModelFamily(
        stages=pigan_stages,
        data=collection_data,
        sampler=collection_sampler,
        evaluate=evaluate_gan,
        description="pi-GAN (FiLM-SIREN generator, progressive discriminator) on an image collection",
    )
}
