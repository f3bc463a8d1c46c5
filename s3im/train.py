"""Train a field with standard or multiplex (S3IM) training.

    python -m s3im.train --config s3im/configs/dvgo_replica.yaml [--profile quick] [--file my.yaml]
                         [--run-dir DIR] [--resume] [--device auto|cpu|cuda] [key=value ...]

Standard training = the model's own losses; multiplex training = the same plus
``s3im.weight * S3IM(rgb, target)`` (``s3im.weight=1.0``). Everything else, the seed included, is
identical, so a standard/multiplex pair differs only by S3IM.

A run directory holds config.yaml, env.json, metrics.jsonl (train and eval records), checkpoints/,
renders/test/*.png, test_metrics.json (per-image PSNR/SSIM/LPIPS with their conventions) and
done.json. ``--resume`` continues from the latest checkpoint (bit-identical on the same device).
Without ``data.root`` the synthetic embedded default (``common.data.synthetic``) is generated once
and used.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
from pathlib import Path

import numpy as np
import torch

from common.config import Config, load_config, parse_cli
from common.data import SceneData, load_scene
from common.data.io import write_png
from common.engine import RunDir, Tracker, Trainer
from common.engine.trainer import generator_seed, seed_everything
from common.metrics import evaluate_images, psnr
from common.rays import RaySampler, image_rays, rays_from_scene
from s3im.loss import S3IM, S3IMTerm
from s3im.models.dvgo import build_fine_from_coarse, build_model
from s3im.models.dvgo.build import resolve_stage_config

# format -> synthetic kind written in that format (the embedded default when data.root is unset)
SYNTHETIC_KIND = {"replica_monosdf": "replica_monosdf", "tnt_nsvf": "tnt_nsvf", "blender": "shapes"}


def resolve_device(name: str) -> torch.device:
    """auto -> cuda when available; says so loudly when training falls back to the CPU."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
        if name == "cpu":
            print("s3im.train: no CUDA device found, training on the CPU", file=sys.stderr)
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise SystemExit("s3im.train: --device cuda requested but torch.cuda.is_available() is False")
    return torch.device(name)


def load_data(cfg: Config) -> tuple[SceneData, str]:
    """The scene of ``cfg.data`` and its data source ('real' or 'synthetic')."""
    from common.data.synthetic import ensure_dataset, is_synthetic

    data = cfg.data
    if data.root:
        source = "synthetic" if is_synthetic(data.root) else "real"
        return load_scene(data.format, data.root, downscale=data.downscale), source

    if data.format not in SYNTHETIC_KIND:
        raise SystemExit(f"s3im.train: no synthetic default for format '{data.format}'; set data.root")
    root = ensure_dataset(SYNTHETIC_KIND[data.format], res=data.synthetic_res)
    return load_scene(data.format, Path(root) / data.scene, downscale=data.downscale), "synthetic"


def make_evaluator(model, scene: SceneData, views: list[int], device, chunk: int):
    """fn(step) -> {"psnr": mean test PSNR over ``views``} for the in-training curves."""

    def evaluate(step: int) -> dict:
        values = []
        for i in views:
            pred = render_view(model, scene, i, device, chunk)
            values.append(psnr(pred, scene.load_image(i)))
        return {"psnr": float(np.mean(values)), "views": len(views)}

    return evaluate


@torch.no_grad()
def render_view(model, scene: SceneData, i: int, device, chunk: int) -> np.ndarray:
    """[H, W, 3] float32 rendering of view i."""
    rays_o, rays_d = image_rays(scene, i, device)
    h, w = rays_o.shape[:2]
    out = model.render_rays(rays_o.reshape(-1, 3), rays_d.reshape(-1, 3), chunk=chunk)
    return out["rgb"].reshape(h, w, 3).clamp(0, 1).cpu().numpy().astype(np.float32)


def final_evaluation(model, scene: SceneData, cfg: Config, run: RunDir, device, data_source: str) -> dict:
    """Render every test view; write renders and test_metrics.json (per image + mean + conventions)."""
    test = scene.split("test")
    if cfg.data.max_test_views:
        test = test[: cfg.data.max_test_views]
    preds, gts, names = [], [], []
    for i in test:
        preds.append(render_view(model, scene, i, device, cfg.eval.chunk))
        gts.append(scene.load_image(i))
        names.append(scene.frame_ids[i] if scene.frame_ids else f"{i:04d}")
        if cfg.eval.save_renders:
            write_png(run.renders / "test" / f"{names[-1]}.png", preds[-1])
    report = evaluate_images(preds, gts, names, lpips_net=cfg.eval.lpips_net)
    report["data_source"] = data_source
    report["scene"] = {"format": scene.format, "root": scene.root, "test_views": [int(i) for i in test]}
    run.write_json("test_metrics.json", report)
    return report


def wandb_run_id(run_path: Path) -> str:
    """A stable wandb run id for a run directory: a resumed run continues the same wandb run."""
    return hashlib.sha1(str(run_path.resolve()).encode()).hexdigest()[:16]


def train_stage(
    model,
    cfg: Config,
    run_path: Path,
    scene,
    rays,
    device,
    tracker_args,
    resume: bool,
    iters: int,
    s3im_term: bool = True,
):
    """Run one training stage of ``iters`` iterations in ``run_path`` with the engine.

    Returns (trainer, run dir, summary, tracker); the caller finishes the tracker. ``s3im_term``: add
    ``s3im.weight * S3IM`` when the weight is > 0 (the official code uses S3IM in the fine stage only).
    """
    run = RunDir(run_path, config=cfg, seed=cfg.experiment.seed)
    tracker = Tracker(config=cfg.to_dict(), run_dir=run, run_id=wandb_run_id(run_path), **tracker_args)
    extra = {}
    if s3im_term and cfg.s3im.weight > 0:
        s3im = S3IM(cfg.s3im.kernel_size, cfg.s3im.stride, cfg.s3im.repeat_time, cfg.s3im.patch_height)
        extra["s3im"] = S3IMTerm(s3im, cfg.s3im.weight, seed=generator_seed(cfg.experiment.seed + 1))
    views = scene.split("test")[: cfg.train.eval_max_views]
    trainer = Trainer(
        model,
        RaySampler(rays, cfg.train.batch_size, mode=cfg.train.sampler),
        iters=iters,
        run_dir=run,
        lr_decay_steps=cfg.train.lr_decay_steps,
        extra_losses=extra,
        evaluate=make_evaluator(model, scene, views, device, cfg.eval.chunk) if cfg.train.eval_every else None,
        eval_every=cfg.train.eval_every,
        checkpoint_every=cfg.train.checkpoint_every,
        keep_last=cfg.train.keep_last,
        log_every=cfg.train.log_every,
        seed=cfg.experiment.seed,
        tracker=tracker,
        device=device,
        progress=cfg.train.progress,
    )
    try:
        summary = trainer.fit(resume=resume)
    except BaseException:
        tracker.finish(exit_code=1)
        raise
    return trainer, run, summary, tracker


def main(argv: list[str] | None = None) -> int:
    cli = parse_cli(sys.argv[1:] if argv is None else argv, value_flags=("--run-dir", "--device"))
    parser = argparse.ArgumentParser(prog="python -m s3im.train", description=__doc__.split("\n")[0])
    parser.add_argument("--run-dir", default=None)
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--device", default="auto")
    args = parser.parse_args(cli.flags)
    if cli.preset is None:
        parser.error("--config PRESET is required (e.g. s3im/configs/dvgo_replica.yaml)")
    if os.environ.get("NF_TORCH_THREADS"):
        torch.set_num_threads(int(os.environ["NF_TORCH_THREADS"]))
    cfg = load_config(cli.preset, cli.profile, cli.file, cli.overrides)
    device = resolve_device(args.device)
    exp = cfg.experiment
    run_path = Path(args.run_dir or Path("runs") / "s3im" / exp.group.replace("/", "_") / exp.setting)

    scene, data_source = load_data(cfg)
    rays = rays_from_scene(scene, "train", device)
    tracker_args = {"project": "s3im", "group": exp.group, "name": exp.setting}
    model_cfg = cfg.model.to_dict()
    seed_everything(exp.seed)  # model initialisation is part of the run: same seed, same initial model
    raw_dirs = rays.directions * rays.dir_norm[:, None]  # the official code's un-normalised pixel directions
    model = build_model(model_cfg, rays.origins, raw_dirs, scene.near, scene.far, device)
    coarse_iters = int(model_cfg.get("coarse_iters", 0) or 0)
    if model_cfg.get("kind") != "contracted" and coarse_iters > 0:
        args_c = {**tracker_args, "name": f"{exp.setting}-coarse"}
        _, _, _, tracker = train_stage(
            model, cfg, run_path / "coarse", scene, rays, device, args_c, args.resume, coarse_iters, s3im_term=False
        )
        tracker.finish()
        model = build_fine_from_coarse(model, model_cfg, device)
        if resolve_stage_config(model_cfg, "fine")["ray_sampler"] == "in_maskcache":
            keep = model.hit_mask_cache(rays.origins, rays.directions).nonzero().squeeze(1)
            if len(keep) == 0:
                print("fine stage: no training ray reaches the coarse geometry; training on all rays")
            else:
                print(f"fine stage: training on the {len(keep)} of {len(rays)} rays that reach coarse geometry")
                rays = rays.subset(keep)
    trainer, run, summary, tracker = train_stage(
        model, cfg, run_path, scene, rays, device, tracker_args, args.resume, cfg.train.iters
    )
    try:
        report = run.read_json("test_metrics.json") if summary.get("resumed_from") == cfg.train.iters else None
        if report is None:
            report = final_evaluation(trainer.model, scene, cfg, run, device, data_source)
        tracker.log_scalars({k: v for k, v in report["mean"].items() if v is not None}, cfg.train.iters, "test")
        run.mark_finished({**summary, "test": report["mean"], "data_source": data_source})
    finally:
        tracker.finish()
    mean = report["mean"]
    lp = "missing" if mean.get("lpips") is None else f"{mean['lpips']:.4f}"
    print(f"{exp.group} {exp.setting}: test PSNR {mean['psnr']:.2f}  SSIM {mean['ssim']:.4f}  LPIPS {lp}  ({run.path})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
