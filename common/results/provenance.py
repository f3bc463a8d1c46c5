"""Where a result came from: data source (real or synthetic), data set, profile, hardware, code version, date.

Committed results never hold absolute machine paths: :func:`portable_path`, :func:`portable_text`,
:func:`portable_command` and :func:`portable` rewrite them (relative to the repository, ``$VAR/...`` under an
environment variable's folder, the bare interpreter name), and :meth:`Provenance.collect` applies them.
"""

from __future__ import annotations

import json
import os
import platform
import re
import shlex
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

DATA_SOURCES = ("real", "synthetic")
REPO_ROOT = Path(__file__).resolve().parents[2]
# Environment variables naming data, run and weight folders; a path under one is written as $VAR/rest.
PATH_ENV_VARS = (
    "REPLICA_ROOT",
    "NF_DATA_CACHE",
    "NF_SHARED_DATA",
    "RUNS_DIR",
    "RESULTS_DIR",
    "NF_LPIPS_BACKBONE_DIR",
    "NF_LPIPS_SQUEEZE_DIR",
    "NF_LPIPS_HEADS_DIR",
    "TORCH_HOME",
)
OUTSIDE_REPO = "<outside repo>"
_INTERPRETER = re.compile(r"python\d*(\.\d+)?")
# An absolute path inside free text: a "/" not preceded by a word character or by one of : / . ~ $ < > -
# (so URLs, relative paths and already portable forms are left alone), up to a space or a delimiter.
_ABS_PATH = re.compile(r"(?<![\w:/.~$<>\-])/[^\s'\"`()\[\]{}<>,;|]+")


def _is_interpreter(path: str) -> bool:
    try:
        if os.path.samefile(path, sys.executable):
            return True
    except OSError:
        pass
    return path == os.path.normpath(sys.executable)


def portable_path(
    path: str | os.PathLike, env_vars: Sequence[str] = PATH_ENV_VARS, *, repo: str | Path = REPO_ROOT
) -> str:
    """A machine-independent form of ``path`` for committed results; never an absolute path.

    - a relative path: unchanged;
    - the running interpreter (``sys.executable``, any link to it): ``python<major>.<minor>`` (e.g. ``python3.11``);
      another ``.../bin/python*``: its bare name;
    - under the folder named by one of ``env_vars`` (set and not ``/``): ``$VAR/rest`` (``$VAR`` for the folder);
    - under ``repo``: relative to it (``data_cache/synthetic/x``; ``.`` for the root);
    - under ``../shared`` beside ``repo`` (the project's shared data folder): ``../shared/rest``;
    - under the home folder: ``~/rest``;
    - elsewhere (a temporary folder, say): ``<outside repo>/<name>``, the last component only, since the
      folder means nothing on another machine.

    When several of these folders hold the path, the deepest wins (ties in the order above). Symbolic links
    are compared both as given and resolved.
    """
    text = os.fspath(path)
    if not os.path.isabs(text):
        return text
    p = os.path.normpath(text)
    if _is_interpreter(p):
        return f"python{sys.version_info.major}.{sys.version_info.minor}"
    if _INTERPRETER.fullmatch(os.path.basename(p)) and os.path.basename(os.path.dirname(p)) == "bin":
        return os.path.basename(p)
    repo_dir = os.path.abspath(repo)
    bases = [(f"${var}", os.environ[var]) for var in env_vars if os.environ.get(var)]
    bases += [("", repo_dir), ("../shared", os.path.join(os.path.dirname(repo_dir), "shared"))]
    bases += [("~", os.path.expanduser("~"))]
    best: tuple[int, str] | None = None
    for prefix, base in bases:
        base = os.path.normpath(os.path.abspath(base))
        if os.path.dirname(base) == base:  # the file-system root says nothing
            continue
        for b in dict.fromkeys((base, os.path.realpath(base))):
            for q in dict.fromkeys((p, os.path.realpath(p))):
                if os.path.commonpath([q, b]) != b:
                    continue
                depth = len(Path(b).parts)
                if best is None or depth > best[0]:
                    rel = os.path.relpath(q, b)
                    if prefix == "":
                        best = depth, rel
                    else:
                        best = depth, prefix if rel == "." else f"{prefix}/{rel}"
    return best[1] if best is not None else f"{OUTSIDE_REPO}/{os.path.basename(p)}"


def portable_text(text: str, env_vars: Sequence[str] = PATH_ENV_VARS, *, repo: str | Path = REPO_ROOT) -> str:
    """``text`` with every absolute path in it replaced by :func:`portable_path` (a trailing ``.`` or ``:`` is
    kept as punctuation). URLs, relative paths and already portable forms are left unchanged."""

    def replace(match: re.Match) -> str:
        token = match.group(0)
        body = token.rstrip(".:")
        return portable_path(body, env_vars, repo=repo) + token[len(body) :]

    return _ABS_PATH.sub(replace, text)


def portable_command(
    argv: Sequence[str] | None = None, env_vars: Sequence[str] = PATH_ENV_VARS, *, repo: str | Path = REPO_ROOT
) -> str:
    """Shell-quoted command line (default: this process, ``[sys.executable, *sys.argv]``) with the interpreter as
    its bare name and every absolute path, also inside ``key=/path`` arguments, made portable.

    E.g. ``/x/checkout/.venv/bin/python /x/checkout/reproduce/s3im_table1.py data.root=/data/replica/scan1``
    -> ``python3.11 reproduce/s3im_table1.py 'data.root=$REPLICA_ROOT/scan1'`` (with REPLICA_ROOT=/data/replica).
    """
    args = [sys.executable, *sys.argv] if argv is None else list(argv)
    return shlex.join(portable_text(str(a), env_vars, repo=repo) for a in args)


def portable(value: Any, env_vars: Sequence[str] = PATH_ENV_VARS, *, repo: str | Path = REPO_ROOT) -> Any:
    """``value`` with :func:`portable_text` applied to every string and :func:`portable_path` to every path
    object, through dicts (keys kept), lists and tuples (returned as lists); other values unchanged."""
    if isinstance(value, str):
        return portable_text(value, env_vars, repo=repo)
    if isinstance(value, os.PathLike):
        return portable_path(value, env_vars, repo=repo)
    if isinstance(value, Mapping):
        return {k: portable(v, env_vars, repo=repo) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [portable(v, env_vars, repo=repo) for v in value]
    return value


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
        env_vars: Sequence[str] = PATH_ENV_VARS,
    ) -> Provenance:
        """Fill in what can be found automatically: device, git commit and dirty flag of ``repo``, UTC date,
        torch and Python versions; ``command`` defaults to this process's command line.

        Absolute paths in ``dataset``, ``command`` and ``extra`` (strings and path objects, at any depth) are
        recorded in their portable form (:func:`portable_path`, relative to ``repo`` or under ``env_vars``).
        """
        commit, dirty = git_state(repo)
        return cls(
            data_source=data_source,
            dataset=portable_text(dataset, env_vars, repo=repo),
            profile=profile,
            device=device or describe_device(),
            git_commit=commit,
            git_dirty=dirty,
            date=datetime.now(UTC).isoformat(timespec="seconds"),
            command=portable_command(None, env_vars, repo=repo)
            if command is None
            else portable_text(command, env_vars, repo=repo),
            torch_version=_torch_version(),
            python_version=platform.python_version(),
            extra=portable(dict(extra or {}), env_vars, repo=repo),
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

    ``results/`` is left out of the comparison: it holds the outputs, so the tables written by an earlier
    script of the same reproduce chain do not mark the code of the later ones as changed.
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
    status = git("status", "--porcelain", "--", ".", ":(exclude)results")
    return commit.strip(), None if status is None else bool(status.strip())
