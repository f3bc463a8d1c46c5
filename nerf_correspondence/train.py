"""Train pi-GAN on an image collection through the experiment driver.

    python -m nerf_correspondence.train --config nerf_correspondence/configs/pigan_celeba.yaml \
        [--profile quick] [--run-dir DIR] [--resume] [--device auto|cpu|cuda] data.root=... [key=value ...]

Without ``data.root`` the synthetic shape family's renders are the training images. The run directory holds
config, metrics.jsonl, checkpoints (generator, discriminator, both optimizers, EMA, RNG, sampler),
renders/samples.png and test_metrics.json (pixel-space SWD of the trained and of the initial generator).
"""

from __future__ import annotations

import sys
from pathlib import Path

from common.config import Config
from common.engine.cli import main as cli_main
from nerf_correspondence.models import REGISTRY


def swd_summary(cfg: Config, report: dict, run_path: Path) -> str:
    """The final line: pixel SWD of the trained and of the initial generator, data source, run directory."""
    m = report["mean"]
    return (
        f"{cfg.experiment.group}: pixel SWD {m['swd']:.4f} (initial generator {m['swd_initial_generator']:.4f}), "
        f"data {report['data_source']} ({run_path})"
    )


def main(argv: list[str] | None = None) -> int:
    return cli_main(
        argv,
        prog="python -m nerf_correspondence.train",
        project="nerf_correspondence",
        registry=REGISTRY,
        default_run_root="runs/nerf_correspondence",
        summary=swd_summary,
    )


if __name__ == "__main__":
    sys.exit(main())
