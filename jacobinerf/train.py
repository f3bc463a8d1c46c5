"""Train a JacobiNeRF: plain NeRF pretraining, then MI-shaping (``jacobinerf.family``).

    python -m jacobinerf.train --config jacobinerf/configs/jnerf_replica.yaml [--profile paper|quick|smoke]
                               [--run-dir DIR] [--resume] [--device auto|cpu|cuda] [key=value ...]

The experiment driver (``common.engine.experiment``) runs the two stages (``<run>/pretrain`` then ``<run>``),
evaluates the shaped NeRF on the test views (test_metrics.json: PSNR / SSIM / LPIPS) and writes the run directory.
Label propagation and the baselines run on the finished run (``jacobinerf.evaluate``).
"""

from __future__ import annotations

import sys

from common.engine.cli import main as cli_main
from jacobinerf.models import REGISTRY


def main(argv: list[str] | None = None) -> int:
    return cli_main(
        argv,
        prog="python -m jacobinerf.train",
        project="jacobinerf",
        registry=REGISTRY,
        default_run_root="runs/jacobinerf",
    )


if __name__ == "__main__":
    sys.exit(main())
