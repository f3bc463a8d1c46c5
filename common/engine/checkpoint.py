"""Checkpoint files that hold only tensors and plain python values, and the RNG states they carry.

Every file loads with ``torch.load(path, weights_only=True)``. The trainer writes::

    {"step": int,                       # optimizer steps completed; training resumes at this step index
     "model": state_dict, "optimizer": state_dict, "scheduler": state_dict,
     "rng": capture_rng_state(),        # torch, numpy (legacy global), python `random`, cuda
     "generator": ByteTensor,           # the trainer's torch.Generator state
     "sampler": dict | None, "model_extra": dict | None, "config": dict | None}

Files are ``<run>/checkpoints/step-000001234.pt``, written to a temporary file in the same
directory and renamed (``os.replace``), so a crash never leaves a partial checkpoint.
"""

from __future__ import annotations

import os
import random
import re
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

_NAME = re.compile(r"^step-(\d{9,})\.pt$")


def checkpoint_path(directory: str | Path, step: int) -> Path:
    """``<directory>/step-<step, 9 digits>.pt``."""
    return Path(directory) / f"step-{step:09d}.pt"


def list_checkpoints(directory: str | Path) -> list[Path]:
    """Checkpoint files in ``directory`` sorted by step (temporary files are ignored)."""
    directory = Path(directory)
    if not directory.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in directory.iterdir() if (m := _NAME.match(p.name))]
    return [p for _, p in sorted(found)]


def latest_checkpoint(run_dir: str | Path) -> Path | None:
    """Newest checkpoint of a run (``<run_dir>/checkpoints/``, or ``run_dir`` itself if it holds them)."""
    run_dir = Path(run_dir)
    found = list_checkpoints(run_dir / "checkpoints") or list_checkpoints(run_dir)
    return found[-1] if found else None


def save_checkpoint(path: str | Path, state: dict[str, Any]) -> Path:
    """``torch.save`` to a temporary file beside ``path``, fsync, then rename over ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(state, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """``torch.load(path, weights_only=True)``; a missing or unreadable file raises one clear line."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: checkpoint not found; expected a step-*.pt file written by the trainer")
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # corrupt zip, pickled objects, ...
        first = str(exc).splitlines()[0] if str(exc) else ""
        raise ValueError(
            f"{path}: unreadable checkpoint ({type(exc).__name__}: {first}); "
            "expected a torch.save file of tensors and plain values"
        ) from exc


def load_latest_good(run_dir: str | Path, map_location: str | torch.device = "cpu") -> tuple[Path, dict] | None:
    """(path, state) of the newest readable checkpoint of a run, or None when it has none.

    An unreadable newer checkpoint (a truncated file, a file that is not a tensors-only checkpoint)
    is skipped with a warning on stderr naming it; when none is readable the newest one's error is raised.
    """
    run_dir = Path(run_dir)
    found = list_checkpoints(run_dir / "checkpoints") or list_checkpoints(run_dir)
    first_error = None
    for path in reversed(found):
        try:
            return path, load_checkpoint(path, map_location)
        except ValueError as exc:
            first_error = first_error or exc
            print(f"warning: {exc}; falling back to the previous checkpoint", file=sys.stderr)
    if first_error is not None:
        raise first_error
    return None


def prune_checkpoints(directory: str | Path, keep_last: int | None) -> list[Path]:
    """Delete all but the newest ``keep_last`` checkpoints (None keeps all) and any temporary file left by
    a save that was killed (``.step-*.pt.*.tmp``); returns the deleted checkpoint paths."""
    for tmp in Path(directory).glob(".step-*.tmp"):
        tmp.unlink(missing_ok=True)
    if keep_last is None:
        return []
    if keep_last < 1:
        raise ValueError(f"keep_last must be >= 1 or None, got {keep_last}")
    old = list_checkpoints(directory)[:-keep_last]
    for p in old:
        p.unlink(missing_ok=True)
    return old


def capture_rng_state() -> dict[str, Any]:
    """Global RNG states as tensors and plain values (torch, numpy legacy, python, cuda)."""
    kind, keys, pos, has_gauss, gauss = np.random.get_state()  # noqa: NPY002 - the legacy global RNG is the state
    version, internal, gauss_next = random.getstate()
    return {
        "torch": torch.get_rng_state(),
        "numpy": {
            "kind": kind,
            "keys": torch.from_numpy(keys.astype(np.int64)),
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "cached_gaussian": float(gauss),
        },
        "python": {"version": version, "state": list(internal), "gauss_next": gauss_next},
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
    }


def restore_rng_state(state: dict[str, Any]) -> None:
    """Inverse of ``capture_rng_state``; cuda states are restored when both sides have CUDA."""
    torch.set_rng_state(state["torch"].cpu())
    n = state["numpy"]
    keys = n["keys"].cpu().numpy().astype(np.uint32)
    np.random.set_state((n["kind"], keys, n["pos"], n["has_gauss"], n["cached_gaussian"]))  # noqa: NPY002
    p = state["python"]
    random.setstate((p["version"], tuple(p["state"]), p["gauss_next"]))
    if state.get("cuda") is not None and torch.cuda.is_available():
        for index, cuda_state in enumerate(state["cuda"][: torch.cuda.device_count()]):
            torch.cuda.set_rng_state(cuda_state.cpu(), index)
