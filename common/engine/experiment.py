"""The experiment driver: config -> data -> model family -> training stages -> evaluation -> run dir.

Every model of every paper plugs in the same way: a ``ModelFamily`` in its package's registry
(``s3im.models.REGISTRY["dvgo"]``) plus a YAML preset; nothing else is copied::

    cfg (preset + profile + overrides, validated)
      -> data = family.data(cfg)                  one scene (default) or a collection of scenes
      -> stages = family.stages(cfg, data, device)      e.g. DVGO coarse -> fine; one stage for most
      -> for each stage: model = stage.build(previous model)           (the transition hook)
                         rays  = stage.select_rays(model, data.train)  (optional, e.g. DVGO in_maskcache)
                         Trainer(model, sampler, schedule, extra losses, ...).fit(resume)
      -> evaluate the last model: model.render(ray dict, chunk) on every test view
      -> <run>/test_metrics.json, renders/test/*.png (+ renders/gt/*.png), done.json

Run directory layout: the last stage trains in ``run_dir`` itself, an earlier stage ``s`` in
``run_dir/<s.name>``. Resuming re-enters every stage: a finished stage restores its final
checkpoint (nothing is retrained), so the next stage is rebuilt from identical weights.

The model protocol is documented in ``common.engine.trainer``; the ``train`` section keys used
here are listed in ``train_settings``.
"""

from __future__ import annotations

import hashlib
import math
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from common.config import Config, ConfigError
from common.data import SceneData, load_scene
from common.data.io import write_png
from common.data.perturb import add_train_noise, keep_train_views
from common.engine.run_dir import RunDir
from common.engine.schedules import LrSchedule
from common.engine.tracking import Tracker
from common.engine.trainer import Trainer, seed_everything
from common.metrics import evaluate_images, psnr
from common.rays import RayBank, RaySampler, view_ray_dict

# data format -> synthetic kind written in that format (the embedded default when data.root is unset)
SYNTHETIC_KIND = {
    "replica_monosdf": "replica_monosdf",
    "tnt_nsvf": "tnt_nsvf",
    "blender": "blender_objects",
    "dnerf": "dnerf",
    "nvidia_dynamic": "nvidia_dynamic",
}
# sampler names of the official codes -> RaySampler modes
SAMPLER_ALIASES = {"flatten": "permutation", "random": "iid", "in_maskcache": "permutation"}


@dataclass
class ExperimentData:
    """What a model family trains on: one scene (``scene`` + ``train`` rays) and its data source.

    ``source``: "real" or "synthetic" (results are labelled with it). ``train``: a ``RayBank`` over
    the training split (None for families that sample images themselves, e.g. a collection).
    ``collection``: a collection of scenes (CO3D category, image folder) when the family uses one.
    """

    scene: SceneData | None
    source: str
    train: RayBank | None = None
    collection: Any = None


@dataclass
class Stage:
    """One training stage of a model family.

    name: "" for a one-stage family; the run directory of a non-final stage is ``run_dir/<name>``.
    iters: iterations of this stage. build(previous) -> the model to train (previous: the trained
    model of the stage before, None for the first): the transition hook. extra_losses: add the
    entry point's extra losses (S3IM) in this stage. sampler: ray sampler mode for this stage
    (None: ``train.sampler``; official names flatten/random/in_maskcache are accepted).
    select_rays(model, bank) -> bank: the training rays of this stage (e.g. those that reach the
    coarse geometry). tracker_name: suffix of the tracked run name (e.g. "coarse").
    """

    name: str
    iters: int
    build: Callable[[torch.nn.Module | None], torch.nn.Module]
    extra_losses: bool = True
    sampler: str | None = None
    select_rays: Callable[[torch.nn.Module, RayBank], RayBank] | None = None


# ----------------------------------------------------------------------------------------- data
def load_experiment_data(cfg: Config, device: str | torch.device = "cpu") -> ExperimentData:
    """The scene of ``cfg.data`` (real data at ``data.root`` or the synthetic default) and its train rays.

    ``data.options`` (a mapping) is passed to the format's loader (e.g. Blender background, a
    split rule); ``data.downscale`` scales the images.
    """
    scene, source = load_data(cfg)
    return ExperimentData(scene=scene, source=source, train=RayBank(scene, "train", device))


def load_data(cfg: Config) -> tuple[SceneData, str]:
    """The scene of ``cfg.data`` and its data source ('real' or 'synthetic')."""
    from common.data.synthetic import ensure_dataset, is_synthetic

    data = cfg.data
    options = dict(data.get("options") or {})
    if data.root:
        source = "synthetic" if is_synthetic(data.root) else "real"
        scene = load_scene(data.format, data.root, downscale=data.downscale, **options)
    else:
        if data.format not in SYNTHETIC_KIND:
            raise ConfigError(f"data.root: no synthetic default for format '{data.format}'; set data.root")
        root = ensure_dataset(SYNTHETIC_KIND[data.format], res=data.synthetic_res)
        scene = load_scene(data.format, Path(root) / data.scene, downscale=data.downscale, **options)
        source = "synthetic"
    return degrade_train_set(scene, data), source


def degrade_train_set(scene: SceneData, data: Config) -> SceneData:
    """Optional robustness settings of ``cfg.data`` (absent keys = the clean, full training set):
    ``train_fraction`` keeps a seeded random fraction of the training views, ``train_noise_std`` adds
    Gaussian noise to the training images (``common.data.perturb``); ``perturb_seed`` seeds both."""
    seed = int(data.get("perturb_seed", 0) or 0)
    fraction = float(data.get("train_fraction", 1.0) or 1.0)
    std = float(data.get("train_noise_std", 0.0) or 0.0)
    try:
        scene = keep_train_views(scene, fraction, seed)
        return add_train_noise(scene, std, seed)
    except ValueError as e:
        raise ConfigError(f"data: {e}") from None


@dataclass(frozen=True)
class ModelFamily:
    """A registry entry: how to get the data, the stages, and (optionally) the training sampler.

    stages(cfg, data, device) -> [Stage]; data(cfg) -> ExperimentData (default: one scene from
    ``cfg.data`` with its training rays, or a family's own, e.g. a ``SceneCollection``);
    sampler(cfg, data, stage, bank) -> sampler (default: a ``RaySampler`` over the stage's rays with
    ``train.batch_size``; a collection family returns a ``CollectionSampler``); evaluate(model, data,
    cfg, run, device) -> report with "mean" (default: ``final_evaluation`` on the test views).
    """

    stages: Callable[[Config, ExperimentData, torch.device], list[Stage]]
    data: Callable[[Config], ExperimentData] = load_experiment_data
    sampler: Callable[..., Any] | None = None
    evaluate: Callable[..., dict] | None = None
    description: str = ""


@dataclass
class Experiment:
    """One run: the resolved config, the registry of model families and the entry point's choices.

    extra_losses(cfg) -> {name: fn(outputs, batch)}: terms added in the stages that accept them
    (S3IM). project: the wandb project (one per paper).
    """

    cfg: Config
    registry: Mapping[str, ModelFamily]
    project: str
    run_dir: Path
    device: torch.device
    extra_losses: Callable[[Config], dict] | None = None
    tracker_mode: str | None = None
    stages_run: list[str] = field(default_factory=list)


# ------------------------------------------------------------------------------------ evaluation
@torch.no_grad()
def render_view(model: torch.nn.Module, scene: SceneData, i: int, device, chunk: int) -> np.ndarray:
    """[H, W, 3] float32 rendering of view i through ``model.render(rays, chunk)``."""
    rays = view_ray_dict(scene, i, device)
    out = model.render(rays, chunk)
    return out["rgb"].reshape(scene.height, scene.width, 3).clamp(0, 1).cpu().numpy().astype(np.float32)


def make_evaluator(model, scene: SceneData, views: list[int], device, chunk: int) -> Callable[[int], dict]:
    """fn(step) -> {"psnr": mean test PSNR over ``views``} for the in-training curves."""

    def evaluate(step: int) -> dict:
        values = [psnr(render_view(model, scene, i, device, chunk), scene.load_image(i)) for i in views]
        return {"psnr": float(np.mean(values)), "views": len(views)}

    return evaluate


def test_views(cfg: Config, scene: SceneData) -> list[int]:
    """The test split, cut to ``data.max_test_views`` when set."""
    views = scene.split("test")
    return views[: cfg.data.max_test_views] if cfg.data.max_test_views else views


def final_evaluation(model, scene: SceneData, cfg: Config, run: RunDir, device, data_source: str) -> dict:
    """Render every test view; write renders (and the ground truth beside them) and test_metrics.json."""
    views = test_views(cfg, scene)
    preds, gts, names = [], [], []
    model.eval()
    for i in views:
        preds.append(render_view(model, scene, i, device, cfg.eval.chunk))
        gts.append(np.asarray(scene.load_image(i), dtype=np.float32))
        names.append(scene.frame_ids[i] if scene.frame_ids else f"{i:04d}")
        if cfg.eval.save_renders:
            write_png(run.renders / "test" / f"{names[-1]}.png", preds[-1])
            write_png(run.renders / "gt" / f"{names[-1]}.png", gts[-1])
    report = evaluate_images(preds, gts, names, lpips_net=cfg.eval.lpips_net)
    report["data_source"] = data_source
    report["scene"] = {"format": scene.format, "test_views": [int(i) for i in views]}
    run.write_json("test_metrics.json", report)
    return report


# ------------------------------------------------------------------------------------- training
def train_settings(cfg: Config, iters: int) -> dict[str, Any]:
    """Trainer keyword arguments from the ``train`` section (schedule, clipping, EMA, cadence)."""
    t = cfg.train
    return {
        "iters": iters,
        "schedule": LrSchedule.from_config(t, iters),
        "grad_clip": t.get("grad_clip"),
        "ema_decay": t.get("ema_decay"),
        "checkpoint_every": t.checkpoint_every,
        "keep_last": t.keep_last,
        "log_every": t.log_every,
        "seed": cfg.experiment.seed,
        "progress": t.progress,
    }


def wandb_run_id(run_path: Path) -> str:
    """A stable wandb run id for a run directory: a resumed run continues the same wandb run."""
    return hashlib.sha1(str(run_path.resolve()).encode()).hexdigest()[:16]


def default_sampler(cfg: Config, data: ExperimentData, stage: Stage, bank: RayBank):
    """A RaySampler over ``bank`` with ``train.batch_size`` and the stage's (or ``train.sampler``) mode."""
    mode = stage.sampler or cfg.train.sampler
    return RaySampler(
        bank, cfg.train.batch_size, mode=SAMPLER_ALIASES.get(mode, mode), patch_size=cfg.train.get("patch_size")
    )


def run_stage(
    exp: Experiment, family: ModelFamily, data: ExperimentData, stage: Stage, model, resume: bool, last: bool
):
    """Train ``model`` through ``stage`` in its run directory; returns (trainer, run dir, summary, tracker)."""
    cfg = exp.cfg
    path = exp.run_dir if last else exp.run_dir / stage.name
    run = RunDir(path, config=cfg, seed=cfg.experiment.seed)
    name = cfg.experiment.setting if last or not stage.name else f"{cfg.experiment.setting}-{stage.name}"
    tracker = Tracker(
        project=exp.project,
        group=cfg.experiment.group,
        name=name,
        config=cfg.to_dict(),
        run_dir=run,
        run_id=wandb_run_id(path),
        mode=exp.tracker_mode,
    )
    bank = data.train
    if stage.select_rays is not None and bank is not None:
        bank = stage.select_rays(model, bank)
    sampler_fn = family.sampler or default_sampler
    sampler = sampler_fn(cfg, data, stage, bank)
    extra = exp.extra_losses(cfg) if (exp.extra_losses is not None and stage.extra_losses) else {}
    evaluate = None
    if cfg.train.eval_every and data.scene is not None:
        views = data.scene.split("test")[: cfg.train.eval_max_views]
        evaluate = make_evaluator(model, data.scene, views, exp.device, cfg.eval.chunk)
    trainer = Trainer(
        model,
        sampler,
        run_dir=run,
        extra_losses=extra,
        evaluate=evaluate,
        eval_every=cfg.train.eval_every if evaluate is not None else None,
        tracker=tracker,
        device=exp.device,
        **train_settings(cfg, stage.iters),
    )
    try:
        summary = trainer.fit(resume=resume)
    except BaseException:
        tracker.finish(exit_code=1)
        raise
    return trainer, run, summary, tracker


def run_experiment(exp: Experiment, resume: bool = False) -> dict:
    """Run every stage of the family ``cfg.model.name`` and evaluate; returns the test report.

    A finished run (``--resume`` on a run whose test_metrics.json exists for its final step) returns
    its report without rendering or logging again.
    """
    cfg = exp.cfg
    name = cfg.model.name
    if name not in exp.registry:
        raise ConfigError(
            f"model.name: unknown model family {name!r}; expected one of {', '.join(sorted(exp.registry))}"
        )
    family = exp.registry[name]
    data = family.data(cfg)
    seed_everything(cfg.experiment.seed)  # model initialisation is part of the run: same seed, same initial model
    stages = family.stages(cfg, data, exp.device)
    if not stages:
        raise ValueError(f"model family {name!r} declared no training stage")
    model = None
    trainer = run = summary = tracker = None
    for k, stage in enumerate(stages):
        last = k == len(stages) - 1
        model = stage.build(model)
        trainer, run, summary, tracker = run_stage(exp, family, data, stage, model, resume, last)
        model = trainer.model
        exp.stages_run.append(stage.name)
        if not last:
            tracker.finish()
    try:
        if summary.get("already_finished") and run.read_json("test_metrics.json") is not None:
            return run.read_json("test_metrics.json")
        with trainer.evaluation_context():
            if family.evaluate is not None:
                report = family.evaluate(trainer.model, data, cfg, run, exp.device)
            else:
                report = final_evaluation(trainer.model, data.scene, cfg, run, exp.device, data.source)
        tracker.log_scalars({k: v for k, v in report["mean"].items() if v is not None}, stages[-1].iters, "test")
        run.mark_finished({**summary, "test": report["mean"], "data_source": data.source})
        return report
    finally:
        tracker.finish()


# -------------------------------------------------------------------------------------- checks
def resolve_device(name: str, prog: str) -> torch.device:
    """auto -> cuda when available (says so when training falls back to the CPU); cpu; cuda[:N]."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
        if name == "cpu":
            print(f"{prog}: no CUDA device found, training on the CPU", file=sys.stderr)
    if name != "cpu" and not (name == "cuda" or (name.startswith("cuda:") and name[5:].isdigit())):
        raise ConfigError(f"--device: unknown device {name!r}; expected auto, cpu, cuda or cuda:N")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"--device {name}: requested but torch.cuda.is_available() is False")
    return torch.device(name)


def non_finite_keys(data: Any, prefix: str = "") -> list[str]:
    """Dotted keys of every NaN / inf number in a nested config dict."""
    found = []
    if isinstance(data, Mapping):
        for k, v in data.items():
            found += non_finite_keys(v, f"{prefix}{k}.")
    elif isinstance(data, (list, tuple)):
        for i, v in enumerate(data):
            found += non_finite_keys(v, f"{prefix}{i}.")
    elif isinstance(data, float) and not math.isfinite(data):
        found.append(prefix.rstrip("."))
    return found
