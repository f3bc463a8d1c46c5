"""Training engine shared by the paper packages: trainer loop, checkpoints, run directories, tracking."""

from __future__ import annotations

from common.engine.checkpoint import (
    capture_rng_state,
    latest_checkpoint,
    list_checkpoints,
    load_checkpoint,
    restore_rng_state,
    save_checkpoint,
)
from common.engine.run_dir import RunDir
from common.engine.tracking import Tracker, resolve_mode
from common.engine.trainer import Trainer, seed_everything

__all__ = [
    "RunDir",
    "Tracker",
    "Trainer",
    "capture_rng_state",
    "latest_checkpoint",
    "list_checkpoints",
    "load_checkpoint",
    "resolve_mode",
    "restore_rng_state",
    "save_checkpoint",
    "seed_everything",
]
