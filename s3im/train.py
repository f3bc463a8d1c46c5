"""Train a field with standard or multiplex (S3IM) training.

    python -m s3im.train --config s3im/configs/dvgo_replica.yaml [--profile quick] [--file my.yaml]
                         [--run-dir DIR] [--resume] [--device auto|cpu|cuda] [key=value ...]

Standard training = the model's own losses; multiplex training = the same plus
``s3im.weight * S3IM(rgb, target)`` (``s3im.weight=1.0``). Everything else, the seed included, is
identical, so a standard/multiplex pair differs only by S3IM. The run label follows the weight:
``experiment.setting`` is "multiplex" when the weight is > 0 and left at its default "standard".

The experiment driver (``common.engine.experiment``) does the rest: the model family
``model.name`` from ``s3im.models.REGISTRY``, its stages, evaluation and the run directory
(config.yaml, env.json, metrics.jsonl, checkpoints/, renders/test/*.png beside renders/gt/*.png,
test_metrics.json, done.json). ``--resume`` continues from the latest checkpoint (bit-identical
on the same device). Without ``data.root`` the synthetic embedded default is generated once and used.
"""

from __future__ import annotations

import sys

from common.config import Config, ConfigError
from common.engine.cli import main as cli_main
from common.engine.trainer import generator_seed
from s3im.loss import S3IM, S3IMTerm
from s3im.models import REGISTRY


def s3im_terms(cfg: Config) -> dict:
    """{"s3im": weight * S3IM} with its own seeded generator when ``s3im.weight`` > 0, else {}."""
    s = cfg.s3im
    if s.weight <= 0:
        return {}
    loss = S3IM(s.kernel_size, s.stride, s.repeat_time, s.patch_height)
    return {"s3im": S3IMTerm(loss, s.weight, seed=generator_seed(cfg.experiment.seed + 1))}


def label_setting(cfg: Config) -> Config:
    """The run label follows ``s3im.weight``: the default label "standard" becomes "multiplex" when the
    weight is > 0; a run labelled "multiplex" with weight 0 is refused."""
    weight, setting = cfg.s3im.weight, cfg.experiment.setting
    if weight < 0:
        raise ConfigError(f"s3im.weight: {weight}; expected a number >= 0 (0 = standard training)")
    if weight > 0 and setting == "standard":
        return cfg.override({"experiment.setting": "multiplex"})
    if weight == 0 and setting == "multiplex":
        raise ConfigError("experiment.setting: 'multiplex' with s3im.weight=0 trains without S3IM; set s3im.weight")
    return cfg


def main(argv: list[str] | None = None) -> int:
    return cli_main(
        argv,
        prog="python -m s3im.train",
        project="s3im",
        registry=REGISTRY,
        default_run_root="runs/s3im",
        extra_losses=s3im_terms,
        prepare=label_setting,
    )


if __name__ == "__main__":
    sys.exit(main())
