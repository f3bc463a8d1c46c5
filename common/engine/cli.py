"""The command line of every training entry point (``python -m s3im.train``, ...), over the driver.

    python -m <package>.train --config PRESET [--profile paper|quick|smoke] [--file my.yaml]
                              [--run-dir DIR] [--resume] [--device auto|cpu|cuda|cuda:N] [key=value ...]

Everything that can be checked is checked before a run directory or a wandb run exists: the
config (types, unknown keys, NaN/inf numbers, counts that must be positive, the LPIPS net), the
device, the data (loaders validate every camera). A user error prints one line naming the key or
file and exits with status 2; Ctrl-C prints where to continue from and exits with 130; a run whose
training became non-finite exits with 3 and writes no metrics. ``--resume`` refuses a config that
differs from the run's own ``config.yaml`` (except the keys in ``RESUMABLE_KEYS``). CPU runs keep freed
large blocks in the heap (``common.engine.allocator``; ``NF_RETAIN_FREED_MEMORY=0`` turns that off).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Mapping
from pathlib import Path

import yaml

from common.config import Config, ConfigError, load_config, parse_cli
from common.data.errors import DataFormatError
from common.engine.allocator import retain_freed_memory
from common.engine.checkpoint import latest_checkpoint
from common.engine.experiment import (
    SAMPLER_ALIASES,
    Experiment,
    ModelFamily,
    non_finite_keys,
    resolve_device,
    run_experiment,
)
from common.engine.schedules import LrSchedule
from common.engine.trainer import NonFiniteError
from common.rays import RaySampler

# keys that may change when a run is resumed: how long it trains and how it reports, not what it learns
RESUMABLE_KEYS = (
    "train.iters",
    "train.progress",
    "train.log_every",
    "train.checkpoint_every",
    "train.keep_last",
    "train.eval_every",
    "eval.save_renders",
    "eval.chunk",
)
LPIPS_NETS = ("alex", "vgg", "squeeze")
POSITIVE_INTS = ("train.iters", "train.batch_size", "train.log_every", "eval.chunk")
POSITIVE_OR_NULL = ("train.keep_last", "train.checkpoint_every", "train.eval_every", "train.eval_max_views")


def flatten(data: Mapping, prefix: str = "") -> dict[str, object]:
    """{"a": {"b": 1}} -> {"a.b": 1} (lists are leaves)."""
    out: dict[str, object] = {}
    for k, v in data.items():
        if isinstance(v, Mapping) and v:
            out.update(flatten(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def config_diff(old: Mapping, new: Mapping, ignore: tuple[str, ...] = RESUMABLE_KEYS) -> list[str]:
    """``key: old -> new`` for every dotted key whose value differs (keys in ``ignore`` excepted)."""
    a, b = flatten(old), flatten(new)
    keys = sorted((set(a) | set(b)) - set(ignore))
    return [f"{k}: {a.get(k, '<unset>')!r} -> {b.get(k, '<unset>')!r}" for k in keys if a.get(k) != b.get(k)]


def validate_config(cfg: Config) -> None:
    """ConfigError (one line naming the key) for NaN/inf numbers, counts < 1, an unknown LPIPS net."""
    bad = non_finite_keys(cfg.to_dict())
    if bad:
        raise ConfigError(f"{bad[0]}: {cfg.get(bad[0])} is not a finite number; expected a finite value")
    for key in POSITIVE_INTS:
        value = cfg.get(key)
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ConfigError(f"{key}: {value!r}; expected an integer >= 1")
    for key in POSITIVE_OR_NULL:
        value = cfg.get(key)
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
            raise ConfigError(f"{key}: {value!r}; expected an integer >= 1 or null")
    net = cfg.get("eval.lpips_net")
    if net is not None and net not in LPIPS_NETS:
        raise ConfigError(f"eval.lpips_net: unknown net {net!r}; expected one of {', '.join(LPIPS_NETS)} or null")
    try:
        LrSchedule.from_config(cfg.train, cfg.train.iters)
    except ValueError as exc:
        raise ConfigError(str(exc)) from exc
    sampler, patch = cfg.get("train.sampler"), cfg.get("train.patch_size")
    modes = (*RaySampler.MODES, *SAMPLER_ALIASES)
    if sampler not in modes:
        raise ConfigError(f"train.sampler: unknown sampler {sampler!r}; expected one of {', '.join(modes)}")
    if sampler == "patch" and not (isinstance(patch, int) and patch >= 1):
        raise ConfigError(f"train.patch_size: {patch!r}; the patch sampler needs an integer >= 1")
    for key in ("train.grad_clip", "train.ema_decay"):
        value = cfg.get(key)
        if value is not None and not (isinstance(value, (int, float)) and value >= 0):
            raise ConfigError(f"{key}: {value!r}; expected a number >= 0 or null")


def check_resume(run_path: Path, cfg: Config, resume: bool) -> None:
    """Refuse to resume a run with other settings, or to start over a run that holds checkpoints."""
    saved = run_path / "config.yaml"
    if resume and saved.is_file():
        old = yaml.safe_load(saved.read_text(encoding="utf-8")) or {}
        diff = config_diff(old, cfg.to_dict())
        if diff:
            raise ConfigError(
                f"{saved}: --resume with other settings ({'; '.join(diff)}); resume with the run's own "
                "settings or use another --run-dir"
            )
    if not resume and latest_checkpoint(run_path) is not None:
        raise ConfigError(f"{run_path}: holds checkpoints; continue it with --resume, or use another --run-dir")


def interrupted_step(run_path: Path) -> int | None:
    """The step of the latest checkpoint of the run (last stage first), or None."""
    ckpt = latest_checkpoint(run_path)
    return None if ckpt is None else int(ckpt.stem.split("-")[-1])


class _Parser(argparse.ArgumentParser):
    """argparse that raises ConfigError (one line) instead of printing usage and exiting."""

    def error(self, message: str):
        raise ConfigError(f"command line: {message}")


def main(
    argv: list[str] | None,
    *,
    prog: str,
    project: str,
    registry: Mapping[str, ModelFamily],
    default_run_root: str,
    extra_losses: Callable[[Config], dict] | None = None,
    prepare: Callable[[Config], Config] | None = None,
    summary: Callable[[Config, dict, Path], str] | None = None,
) -> int:
    """Parse, validate, run; see the module doc. ``prepare(cfg) -> cfg`` lets a package derive values
    (e.g. the run label from the S3IM weight) or refuse contradictions before anything runs;
    ``summary(cfg, report, run_path) -> str`` is the line printed at the end (default: the test PSNR /
    SSIM / LPIPS line of ``psnr_summary``)."""
    argv = sys.argv[1:] if argv is None else argv
    run_path: Path | None = None
    try:
        cli = parse_cli(argv, value_flags=("--run-dir", "--device"))
        parser = _Parser(prog=prog, description=f"Train a model of the {project} package.")
        parser.add_argument("--run-dir", default=None)
        parser.add_argument("--resume", action="store_true")
        parser.add_argument("--device", default="auto")
        args = parser.parse_args(cli.flags)
        if cli.preset is None:
            raise ConfigError("command line: --config PRESET is required (a YAML preset of the package's configs/)")
        if os.environ.get("NF_TORCH_THREADS"):
            import torch

            torch.set_num_threads(int(os.environ["NF_TORCH_THREADS"]))
        cfg = load_config(cli.preset, cli.profile, cli.file, cli.overrides)
        if prepare is not None:
            cfg = prepare(cfg)
        validate_config(cfg)
        if cfg.model.name not in registry:
            raise ConfigError(
                f"model.name: unknown model family {cfg.model.name!r}; expected one of {sorted(registry)}"
            )
        device = resolve_device(args.device, prog)
        if device.type == "cpu":
            retain_freed_memory()
        group = cfg.experiment.group.replace("/", "_")
        run_path = Path(args.run_dir or Path(default_run_root) / group / cfg.experiment.setting)
        check_resume(run_path, cfg, args.resume)
        exp = Experiment(cfg, registry, project, run_path, device, extra_losses=extra_losses)
        report = run_experiment(exp, resume=args.resume)
    except (ConfigError, DataFormatError) as exc:
        print(f"{prog}: error: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}", file=sys.stderr)
        return 2
    except NonFiniteError as exc:
        print(f"{prog}: {exc}; no metrics written, the last good checkpoint is kept", file=sys.stderr)
        return 3
    except KeyboardInterrupt:
        step = interrupted_step(run_path) if run_path is not None else None
        where = f"at step {step}" if step is not None else "before the first checkpoint"
        print(f"{prog}: interrupted ({where}); continue with --resume", file=sys.stderr)
        return 130
    print((summary or psnr_summary)(cfg, report, run_path))
    return 0


def psnr_summary(cfg: Config, report: dict, run_path: Path) -> str:
    """'<group> <setting>: test PSNR .. SSIM .. LPIPS .. (<run>)' from a report's mean image metrics."""
    mean = report["mean"]
    lp = "missing" if mean.get("lpips") is None else f"{mean['lpips']:.4f}"
    return (
        f"{cfg.experiment.group} {cfg.experiment.setting}: test PSNR {mean['psnr']:.2f}  SSIM {mean['ssim']:.4f}  "
        f"LPIPS {lp}  ({run_path})"
    )
