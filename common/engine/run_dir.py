"""One directory per training run: config, environment, metrics, checkpoints, renders.

Layout::

    <run>/config.yaml      resolved config (Config.save), when one is given
    <run>/env.json         git commit and dirty flag, torch/cuda/python versions, device, native bf16, seed, command,
                           start time
    <run>/metrics.jsonl    one JSON object per line: {"step", "split", "time", "values": {name: number}}
    <run>/checkpoints/     step-000001234.pt (common.engine.checkpoint)
    <run>/renders/         images
    <run>/done.json        written by mark_finished(summary) at the end of a run
"""

from __future__ import annotations

import datetime
import json
import math
import os
import platform
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from common.data.io import atomic_write_bytes
from common.engine.precision import native_bf16

_REPO_ROOT = Path(__file__).resolve().parents[2]


def to_jsonable(obj: Any) -> Any:
    """Plain JSON value: tensors/numpy -> numbers or lists, paths -> str, non-finite floats -> None."""
    if isinstance(obj, torch.Tensor):
        obj = obj.detach().cpu().numpy()
    if isinstance(obj, np.ndarray):
        return [to_jsonable(v) for v in obj.tolist()] if obj.ndim else to_jsonable(obj.item())
    if isinstance(obj, np.generic):
        return to_jsonable(obj.item())
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, Mapping):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    return obj


def _git(*args: str) -> str | None:
    try:
        out = subprocess.run(
            ["git", "-C", str(_REPO_ROOT), *args],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
            env={**os.environ, "GIT_OPTIONAL_LOCKS": "0"},  # read-only: never take the index lock
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip()


def environment(seed: int | None = None) -> dict[str, Any]:
    """Facts about this process: git commit (None outside a checkout) and dirty flag, versions, device,
    and whether the device has native bf16 matmuls (``common.engine.precision``)."""
    commit = _git("rev-parse", "HEAD")
    status = _git("status", "--porcelain", "--untracked-files=no") if commit else None
    cuda = torch.cuda.is_available()
    return {
        "git_commit": commit or None,
        "git_dirty": None if status is None else bool(status),
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "device": torch.cuda.get_device_name(0) if cuda else f"cpu ({platform.processor() or platform.machine()})",
        "num_threads": torch.get_num_threads(),
        "native_bf16": native_bf16("cuda" if cuda else "cpu"),  # what precision "auto" resolves to
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "seed": seed,
        "command": [sys.executable, *sys.argv],
        "start_time": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
    }


class RunDir:
    """Create (or reopen) a run directory and write ``config.yaml`` and ``env.json``.

    ``config``: a ``common.config.Config`` (saved as config.yaml) or a plain dict (saved with
    yaml.safe_dump). Reopening an existing run (resume) rewrites env.json and keeps the earlier
    records under its ``"previous"`` list.
    """

    def __init__(self, path: str | Path, config: Any = None, seed: int | None = None):
        self.path = Path(path)
        self.checkpoints = self.path / "checkpoints"
        self.renders = self.path / "renders"
        self.metrics_path = self.path / "metrics.jsonl"
        self.checkpoints.mkdir(parents=True, exist_ok=True)
        self.renders.mkdir(parents=True, exist_ok=True)
        self.config = None if config is None else (config.to_dict() if hasattr(config, "to_dict") else dict(config))
        if self.config is not None:
            import yaml

            text = yaml.safe_dump(to_jsonable(self.config), sort_keys=False, default_flow_style=False)
            atomic_write_bytes(self.path / "config.yaml", text.encode("utf-8"))
        env = environment(seed)
        old = self.read_json("env.json")
        if old is not None:
            env["previous"] = [*old.pop("previous", []), old]
        self.write_json("env.json", env)

    def __repr__(self) -> str:
        return f"RunDir({str(self.path)!r})"

    def write_json(self, name: str, obj: Any) -> Path:
        """Write ``obj`` (made JSON-safe by to_jsonable) to ``<run>/<name>`` atomically; returns the path."""
        path = self.path / name
        text = json.dumps(to_jsonable(obj), indent=2, allow_nan=False)
        atomic_write_bytes(path, (text + "\n").encode("utf-8"))
        return path

    def read_json(self, name: str) -> Any:
        """Parsed ``<run>/<name>``, or None when it does not exist."""
        path = self.path / name
        if not path.is_file():
            return None
        return json.loads(path.read_text(encoding="utf-8"))

    def log_metrics(self, values: Mapping[str, Any], step: int, split: str = "train") -> None:
        """Append one line ``{"step", "split", "time", "values"}`` to metrics.jsonl and flush it."""
        record = {"step": int(step), "split": split, "time": round(time.time(), 3), "values": to_jsonable(values)}
        with open(self.metrics_path, "a", encoding="utf-8") as f:
            f.write(json.dumps(record, allow_nan=False) + "\n")
            f.flush()

    def read_metrics(self, split: str | None = None) -> list[dict[str, Any]]:
        """All metrics.jsonl records (of one split if given), in file order; a torn last line is skipped."""
        if not self.metrics_path.is_file():
            return []
        records = []
        for line in self.metrics_path.read_text(encoding="utf-8").splitlines():
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                continue
            if split is None or rec.get("split") == split:
                records.append(rec)
        return records

    def truncate_metrics(self, after_step: int) -> None:
        """Drop records with step > ``after_step`` (a resumed run rewrites them); atomic."""
        if not self.metrics_path.is_file():
            return
        keep = [json.dumps(r, allow_nan=False) + "\n" for r in self.read_metrics() if r["step"] <= after_step]
        atomic_write_bytes(self.metrics_path, "".join(keep).encode("utf-8"))

    def is_finished(self) -> bool:
        """True once ``mark_finished`` has written done.json."""
        return (self.path / "done.json").is_file()

    def mark_finished(self, summary: Mapping[str, Any]) -> None:
        """Write done.json: the final summary plus the finish time."""
        end = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
        self.write_json("done.json", {**summary, "end_time": end})

    def clear_finished(self) -> None:
        """Remove done.json (a resumed run that trains further is unfinished until it ends)."""
        (self.path / "done.json").unlink(missing_ok=True)


def as_run_dir(run_dir: RunDir | str | Path, seed: int | None = None) -> RunDir:
    """The RunDir itself, or a new one at that path."""
    return run_dir if isinstance(run_dir, RunDir) else RunDir(run_dir, seed=seed)
