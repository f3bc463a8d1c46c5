"""pi-GAN training curricula: per-step image size, samples per ray, batch size and learning rates.

A curriculum is the config list ``model.curriculum`` of stages ``{start: step, <key>: value, ...}`` with keys from
`STAGE_KEYS` (pi-GAN's ``curriculums.py``: the integer keys of a curriculum dict). The settings at a step are the
base values (``model.img_size``, ``num_steps``, ``gen_lr``, ``disc_lr`` and ``train.batch_size``) updated in
order by every stage with ``start <= step``; an empty list is one stage of the base values (the official CelebA
curriculum). The discriminator's fade-in restarts where the image size last changed::

    alpha(step) = min(1, (step - last_upsample_step(step)) / fade_steps)

with ``last_upsample_step`` the start of the first stage that has the current image size (official
``curriculums.last_upsample_step``). Everything is a pure function of the step, so a resumed run continues the
curriculum exactly.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from common.config import ConfigError

STAGE_KEYS = ("img_size", "num_steps", "batch_size", "gen_lr", "disc_lr")


def base_stage(model: Mapping, batch_size: int | None) -> dict:
    """The step-0 settings before any stage applies (batch_size None: whatever the sampler gives)."""
    return {"img_size": model["img_size"], "num_steps": model["num_steps"], "batch_size": batch_size,
            "gen_lr": model["gen_lr"], "disc_lr": model["disc_lr"]}  # fmt: skip


def stage_starts(model: Mapping, batch_size: int | None, step: int) -> list[tuple[int, dict]]:
    """[(start, settings)] of the stages reached at ``step``, the base first (start 0)."""
    out = [(0, base_stage(model, batch_size))]
    for stage in model.get("curriculum") or []:
        if stage["start"] > step:
            break
        settings = dict(out[-1][1])
        settings.update({k: v for k, v in stage.items() if k != "start"})
        out.append((int(stage["start"]), settings))
    return out


def stage_at(model: Mapping, batch_size: int | None, step: int) -> dict:
    """The settings {img_size, num_steps, batch_size, gen_lr, disc_lr} in force at ``step``."""
    return stage_starts(model, batch_size, step)[-1][1]


def last_upsample_step(model: Mapping, batch_size: int | None, step: int) -> int:
    """Start of the first stage (reached at ``step``) whose image size is the current one."""
    reached = stage_starts(model, batch_size, step)
    size = reached[-1][1]["img_size"]
    return next(start for start, settings in reached if settings["img_size"] == size)


def fade_alpha(model: Mapping, batch_size: int | None, step: int) -> float:
    """Discriminator fade-in alpha in [0, 1] (1 when ``fade_steps`` is 0)."""
    fade = model["fade_steps"]
    return min(1.0, (step - last_upsample_step(model, batch_size, step)) / fade) if fade else 1.0


def validate_curriculum(stages: Sequence[Mapping] | None, batch_size: int | None) -> None:
    """ConfigError (one line naming the key) unless the stages start at increasing steps, use known keys, and
    ask for at most ``train.batch_size`` images (the sampler draws that many; a stage uses the first ones)."""
    last = 0
    for i, stage in enumerate(stages or []):
        where = f"model.curriculum[{i}]"
        if not isinstance(stage, Mapping) or not isinstance(stage.get("start"), int) or stage["start"] <= last:
            raise ConfigError(f"{where}: {stage!r}; expected a mapping with an integer 'start' above the "
                              f"previous stage's ({last})")  # fmt: skip
        unknown = sorted(set(stage) - {"start", *STAGE_KEYS})
        if unknown:
            raise ConfigError(f"{where}: unknown keys {unknown}; expected 'start' and any of {list(STAGE_KEYS)}")
        if batch_size is not None and stage.get("batch_size", 0) > batch_size:
            raise ConfigError(f"{where}.batch_size: {stage['batch_size']} exceeds train.batch_size {batch_size}")
        last = stage["start"]
