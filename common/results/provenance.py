"""Where a result came from: data source (real or synthetic), data set, profile, hardware, code version, date."""

from __future__ import annotations

import json
import os
import platform
import shlex
import subprocess
import sys
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

DATA_SOURCES = ("real", "synthetic")
REPO_ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Provenance:
    """Provenance block written first into every results table.

    ``data_source`` is "real" (a real data set) or "synthetic" (the procedural scenes; such numbers are
    never comparable to the paper's). ``git_commit`` / ``git_dirty`` are None outside a git checkout.
    """

    data_source: str
    dataset: str
    profile: str
    device: str
    git_commit: str | None
    git_dirty: bool | None
    date: str
    command: str
    torch_version: str | None
    python_version: str
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.data_source not in DATA_SOURCES:
            raise ValueError(f"data_source={self.data_source!r}; expected one of {', '.join(DATA_SOURCES)}")
        try:
            json.dumps(self.extra, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"Provenance.extra is not JSON-serialisable ({exc}); expected plain values") from exc

    @property
    def synthetic(self) -> bool:
        return self.data_source == "synthetic"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Provenance:
        return cls(**d)

    @classmethod
    def collect(
        cls,
        data_source: str,
        dataset: str,
        profile: str,
        command: str | None = None,
        extra: dict[str, Any] | None = None,
        *,
        device: str | None = None,
        repo: str | Path = REPO_ROOT,
    ) -> Provenance:
        """Fill in what can be found automatically: device, git commit and dirty flag of ``repo``, UTC date,
        torch and Python versions; ``command`` defaults to this process's command line."""
        commit, dirty = git_state(repo)
        return cls(
            data_source=data_source,
            dataset=dataset,
            profile=profile,
            device=device or describe_device(),
            git_commit=commit,
            git_dirty=dirty,
            date=datetime.now(UTC).isoformat(timespec="seconds"),
            command=command if command is not None else shlex.join([sys.executable, *sys.argv]),
            torch_version=_torch_version(),
            python_version=platform.python_version(),
            extra=dict(extra or {}),
        )


def _torch_version() -> str | None:
    try:
        import torch
    except ImportError:
        return None
    return torch.__version__


def describe_device() -> str:
    """ "cuda: <GPU name> x<count>" when a CUDA device is visible, else "cpu: <n> cores" (usable cores)."""
    try:
        import torch

        if torch.cuda.is_available():
            return f"cuda: {torch.cuda.get_device_name(0)} x{torch.cuda.device_count()}"
    except ImportError:
        pass
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return f"cpu: {cores} cores ({platform.processor() or platform.machine()})"


def git_state(repo: str | Path = REPO_ROOT) -> tuple[str | None, bool | None]:
    """(HEAD commit, whether tracked or untracked files differ from it), or (None, None) without git.

    Read-only: GIT_OPTIONAL_LOCKS=0 keeps ``git status`` from refreshing the index.
    """
    env = {**os.environ, "GIT_OPTIONAL_LOCKS": "0"}

    def git(*args: str) -> str | None:
        try:
            out = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, timeout=10, env=env)
        except (OSError, subprocess.TimeoutExpired):
            return None
        return out.stdout if out.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    if commit is None:
        return None, None
    status = git("status", "--porcelain")
    return commit.strip(), None if status is None else bool(status.strip())
