"""Train the per-category EFT + VLDM models (resumable) on CO3Dv2 or the synthetic CO3D-like categories.

    python -m sparsefusion.train [--profile paper|quick|smoke] [--categories a,b] [--run-root DIR]
                                 [--models joint,pixelnerf] [key=value ...]

Data: ``data.root`` (or ``$CO3D_ROOT``) when set, else the synthetic categories (written once into the data
cache). Each category trains in ``<run-root>/<profile>/<category>/`` with the ``common.engine`` Trainer
(named optimisers "eft" and "vldm", checkpoints every ``train.checkpoint_every`` steps); running again resumes
from the latest checkpoint, and a finished category is loaded, not retrained. ``--models pixelnerf`` (or
``joint,pixelnerf``) trains the PixelNeRF baseline the same way in ``<run-root>/<profile>/<category>-pixelnerf/``
(``sparsefusion.pixelnerf``); the default is the joint model only.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import torch

from common.config import Config, load_config
from common.data.synthetic.objects import CATEGORIES
from common.engine.allocator import retain_freed_memory
from common.engine.checkpoint import latest_checkpoint
from common.engine.trainer import Trainer, seed_everything
from sparsefusion.autoencoder import load_autoencoder
from sparsefusion.data import load_category, synthetic_root
from sparsefusion.model import ContextSampler, SparseFusionModel
from sparsefusion.pixelnerf import METHOD as PIXELNERF
from sparsefusion.pixelnerf import train_pixelnerf

PRESET = Path(__file__).resolve().parent / "configs" / "sparsefusion.yaml"
DEFAULT_RUN_ROOT = Path("runs") / "sparsefusion"


def data_root(cfg: Config) -> tuple[Path, str]:
    """(root, "real" | "synthetic"): ``data.root``, else ``$CO3D_ROOT``, else the synthetic categories."""
    root = cfg.data.root or os.environ.get("CO3D_ROOT")
    if root:
        return Path(root), "real"
    wanted = [CATEGORIES.index(c) for c in cfg.data.categories]
    d = cfg.data
    return synthetic_root(max(wanted) + 1, d.synthetic_sequences, d.synthetic_frames, d.synthetic_res), "synthetic"


def model_config(cfg: Config, category: str) -> dict:
    """The plain dict SparseFusionModel reads."""
    return {
        "image_size": cfg.data.image_size,
        "seed": cfg.experiment.seed,
        "category": category,
        "eft": cfg.eft.to_dict(),
        "vldm": cfg.vldm.to_dict(),
        "train": cfg.train.to_dict(),
    }


def train_category(cfg: Config, category: str, root: Path, run_root: Path, progress: bool = False):
    """Train (or resume, or load when finished) the category's model; returns (model, run directory)."""
    run_dir = run_root / cfg.profile / category
    seed_everything(cfg.experiment.seed)
    model = SparseFusionModel(model_config(cfg, category), load_autoencoder(cfg.vldm.autoencoder))
    sequences = load_category(root, category, cfg.data.train_subset, cfg.data.image_size, cfg.data.max_train_sequences)
    sampler = ContextSampler(sequences, cfg.train.v_min, cfg.train.v_max, model.autoencoder)
    trainer = Trainer(
        model,
        sampler,
        iters=cfg.train.iters,
        run_dir=run_dir,
        checkpoint_every=cfg.train.checkpoint_every,
        log_every=cfg.train.log_every,
        seed=cfg.experiment.seed,
        progress=progress,
    )
    trainer.fit(resume=latest_checkpoint(run_dir / "checkpoints") is not None)
    trainer.model.eval()
    return trainer.model, run_dir


def add_cli_arguments(parser: argparse.ArgumentParser, profile: str | None = None) -> None:
    """--profile, --categories, --run-root and key=value overrides (the training and diagnosis commands)."""
    parser.add_argument("--profile", default=profile)
    parser.add_argument("--categories", default=None, help="comma-separated (default: data.categories)")
    parser.add_argument("--run-root", type=Path, default=DEFAULT_RUN_ROOT)
    parser.add_argument("overrides", nargs="*", help="key=value config overrides")


def cli_config(args: argparse.Namespace) -> Config:
    """The config the arguments of ``add_cli_arguments`` select, after setting up this process for a CPU run
    (freed memory kept by the allocator, ``$OMP_NUM_THREADS`` torch threads)."""
    retain_freed_memory()
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    cfg = load_config(PRESET, args.profile, overrides=args.overrides)
    if args.categories:
        cfg = cfg.override({"data.categories": args.categories.split(",")})
    return cfg


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sparsefusion.train", description=__doc__.split("\n")[0])
    add_cli_arguments(parser)
    parser.add_argument("--models", default="joint", help="comma-separated: joint (EFT + VLDM), pixelnerf")
    args = parser.parse_args(argv)
    cfg = cli_config(args)
    models = args.models.split(",")
    unknown = set(models) - {"joint", PIXELNERF}
    if unknown:
        parser.error(f"--models: unknown {sorted(unknown)}; expected joint and/or {PIXELNERF}")
    root, source = data_root(cfg)
    for category in cfg.data.categories:
        if "joint" in models:
            _, run_dir = train_category(cfg, category, root, args.run_root, progress=True)
            print(f"{category}: trained in {run_dir} ({source} data)")
        if PIXELNERF in models:
            model, run_dir = train_pixelnerf(cfg, category, root, args.run_root, progress=True)
            print(f"{category}: PixelNeRF trained in {run_dir} ({source} data; {model.encoder.weights_label})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
