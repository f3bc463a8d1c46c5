"""Train pi-GAN on an image collection through the experiment driver.

    python -m nerf_correspondence.train --config nerf_correspondence/configs/pigan_celeba.yaml \
        [--profile quick] [--run-dir DIR] [--resume] [--device auto|cpu|cuda] data.root=... [key=value ...]

Without ``data.root`` the synthetic shape family's renders are the training images. The run directory holds
config, metrics.jsonl, checkpoints (generator, discriminator, both optimizers, EMA, RNG, sampler),
renders/samples.png and test_metrics.json (pixel-space SWD of the trained and of the initial generator).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from common.config import ConfigError, load_config, parse_cli
from common.data.errors import DataFormatError
from common.engine.cli import _Parser, check_resume, validate_config
from common.engine.experiment import Experiment, resolve_device, run_experiment
from common.engine.trainer import NonFiniteError
from nerf_correspondence.models import REGISTRY

PROG = "python -m nerf_correspondence.train"


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    try:
        cli = parse_cli(argv, value_flags=("--run-dir", "--device"))
        parser = _Parser(prog=PROG)
        parser.add_argument("--run-dir", default=None)
        parser.add_argument("--resume", action="store_true")
        parser.add_argument("--device", default="auto")
        args = parser.parse_args(cli.flags)
        if cli.preset is None:
            raise ConfigError("command line: --config PRESET is required (nerf_correspondence/configs/*.yaml)")
        if os.environ.get("NF_TORCH_THREADS"):
            import torch

            torch.set_num_threads(int(os.environ["NF_TORCH_THREADS"]))
        cfg = load_config(cli.preset, cli.profile, cli.file, cli.overrides)
        validate_config(cfg)
        if cfg.model.name not in REGISTRY:
            raise ConfigError(f"model.name: unknown family {cfg.model.name!r}; expected one of {sorted(REGISTRY)}")
        device = resolve_device(args.device, PROG)
        default = Path("runs/nerf_correspondence") / cfg.experiment.group / cfg.experiment.setting
        run_path = Path(args.run_dir or default)
        check_resume(run_path, cfg, args.resume)
        report = run_experiment(Experiment(cfg, REGISTRY, "nerf_correspondence", run_path, device), resume=args.resume)
    except (ConfigError, DataFormatError, ValueError) as exc:
        print(f"{PROG}: error: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}", file=sys.stderr)
        return 2
    except NonFiniteError as exc:
        print(f"{PROG}: {exc}; no metrics written, the last good checkpoint is kept", file=sys.stderr)
        return 3
    m = report["mean"]
    print(f"{cfg.experiment.group}: pixel SWD {m['swd']:.4f} (initial generator {m['swd_initial_generator']:.4f}), "
          f"data {report['data_source']} ({run_path})")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
