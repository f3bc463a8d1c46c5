"""Experiment tracking: local JSONL + PNG always, wandb when it works (never fails or blocks a run).

wandb layout: one project per paper, ``group`` per table and scene, run ``name`` per setting
(``standard``, ``multiplex``, ...). The wandb mode is, in order: the ``mode`` argument, the
``WANDB_MODE`` environment variable, ``"online"`` when the user is logged in (``WANDB_API_KEY``
set or a wandb host in ~/.netrc), else ``"offline"`` (a ``<run>/wandb/offline-run-*`` directory,
uploadable later with ``wandb sync``). ``"disabled"`` never imports wandb. Any wandb error, at
import, start or while logging, prints one warning and turns wandb off for this run only.
"""

from __future__ import annotations

import netrc
import os
import re
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from common.data.io import write_png
from common.engine.run_dir import RunDir, as_run_dir, to_jsonable

MODES = ("online", "offline", "disabled")
_ALIASES = {"dryrun": "offline", "run": "online"}
INIT_TIMEOUT_S = 20.0


def wandb_logged_in() -> bool:
    """True when ``WANDB_API_KEY`` is set or ~/.netrc (or ``$NETRC``) has a wandb host."""
    if os.environ.get("WANDB_API_KEY"):
        return True
    path = os.environ.get("NETRC") or os.path.join(os.path.expanduser("~"), ".netrc")
    try:
        hosts = netrc.netrc(path).hosts
    except (OSError, netrc.NetrcParseError):
        return False
    return any("wandb" in host for host in hosts)


def resolve_mode(mode: str | None = None) -> str:
    """The wandb mode: explicit argument > ``$WANDB_MODE`` > online if logged in > offline."""
    chosen = mode or os.environ.get("WANDB_MODE") or ("online" if wandb_logged_in() else "offline")
    chosen = _ALIASES.get(chosen, chosen)
    if chosen not in MODES:
        source = "mode argument" if mode else "WANDB_MODE"
        raise ValueError(f"{source} is {chosen!r}; expected one of {', '.join(MODES)}")
    return chosen


def _as_image(name: str, img: Any) -> np.ndarray:
    """[H, W, 3] (or [H, W]) float in [0, 1] or uint8 -> uint8 [H, W, 3]."""
    arr = img.detach().cpu().numpy() if isinstance(img, torch.Tensor) else np.asarray(img)
    if arr.ndim == 2:
        arr = np.repeat(arr[..., None], 3, axis=-1)
    if arr.ndim != 3 or arr.shape[-1] != 3:
        raise ValueError(f"image {name!r} has shape {arr.shape}; expected [H, W, 3] or [H, W]")
    if arr.dtype == np.uint8:
        return arr
    if not np.issubdtype(arr.dtype, np.floating):
        raise ValueError(f"image {name!r} has dtype {arr.dtype}; expected float in [0, 1] or uint8")
    return (np.clip(np.nan_to_num(arr), 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def _safe_name(name: str) -> str:
    parts = [re.sub(r"[^A-Za-z0-9_.-]", "_", p) for p in name.split("/") if p not in ("", ".", "..")]
    return "/".join(parts) or "image"


class Tracker:
    """Log scalars and images to ``<run>/metrics.jsonl`` and ``<run>/renders/``, and to wandb when possible.

    ``config``: plain dict (e.g. ``Config.to_dict()``) shown in the wandb run. ``run_id``: a stable
    wandb run id (e.g. derived from the run directory), so that a resumed run continues the same
    wandb run (offline pieces are merged by ``wandb sync``) instead of starting a new one. Use as a
    context manager, or call ``finish()`` at the end.
    """

    def __init__(
        self,
        project: str,
        group: str | None,
        name: str | None,
        config: Mapping[str, Any] | None,
        run_dir: RunDir | str | Path,
        mode: str | None = None,
        run_id: str | None = None,
    ):
        self.run_dir = as_run_dir(run_dir)
        self.mode = resolve_mode(mode)
        self._run = None
        self._wandb = None
        if self.mode != "disabled":
            try:
                import wandb

                settings = wandb.Settings(silent=True, console="off", init_timeout=INIT_TIMEOUT_S)
                self._run = wandb.init(
                    project=project,
                    group=group,
                    name=name,
                    config=to_jsonable(dict(config or {})),
                    dir=str(self.run_dir.path),
                    mode=self.mode,
                    settings=settings,
                    reinit="create_new",
                    **({"id": run_id, "resume": "allow"} if run_id else {}),
                )
                self._wandb = wandb
            except Exception as exc:  # wandb raises many types (CommError, UsageError, timeouts, ...)
                self._disable(exc)

    @property
    def wandb_active(self) -> bool:
        """True while a wandb run is attached."""
        return self._run is not None

    def _disable(self, exc: BaseException) -> None:
        first = str(exc).splitlines()[0] if str(exc) else ""
        warnings.warn(
            f"wandb disabled for {self.run_dir.path} ({type(exc).__name__}: {first}); "
            f"metrics are still written to {self.run_dir.metrics_path}",
            RuntimeWarning,
            stacklevel=3,
        )
        run, self._run = self._run, None
        if run is not None:
            try:
                run.finish(exit_code=1, quiet=True)
            except Exception:  # already broken: nothing more to do
                pass

    def _wandb_log(self, data: dict[str, Any], step: int) -> None:
        if self._run is None:
            return
        try:
            self._run.log(data, step=step)
        except Exception as exc:
            self._disable(exc)

    def log_scalars(self, values: Mapping[str, Any], step: int, split: str = "train") -> None:
        """One metrics.jsonl line; wandb keys are ``<split>/<name>``."""
        self.run_dir.log_metrics(values, step, split)
        if self._run is not None:
            plain = to_jsonable(values)
            self._wandb_log({f"{split}/{k}": v for k, v in plain.items() if isinstance(v, (int, float))}, step)

    def log_images(self, images: Mapping[str, Any], step: int) -> list[Path]:
        """Write ``renders/<name>/step-000001234.png`` per image ([H, W, 3] float in [0, 1] or uint8)."""
        arrays = {name: _as_image(name, img) for name, img in images.items()}
        paths = []
        for name, arr in arrays.items():
            path = self.run_dir.renders / _safe_name(name) / f"step-{step:09d}.png"
            write_png(path, arr)
            paths.append(path)
        if self._run is not None:
            try:
                data = {name: self._wandb.Image(arr) for name, arr in arrays.items()}
            except Exception as exc:
                self._disable(exc)
            else:
                self._wandb_log(data, step)
        return paths

    def finish(self, exit_code: int = 0) -> None:
        """Close the wandb run (flushes the offline files); local files are already complete."""
        run, self._run = self._run, None
        if run is not None:
            try:
                run.finish(exit_code=exit_code)
            except Exception as exc:
                self._disable(exc)

    def __enter__(self) -> Tracker:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.finish(exit_code=0 if exc_type is None else 1)
