"""Generate a synthetic data set once and reuse it.

``ensure_dataset(kind, ...)`` returns ``<base>/<kind>-r<res>-s<seed>`` where base is ``root``, else
``$NF_DATA_CACHE``, else ``<repo>/data_cache/synthetic`` (git-ignored). The directory is reused when its
``done.json`` records the same parameters (kind, scenes, res, seed, frames, generator version); otherwise the set
is generated into a temporary sibling directory, ``done.json`` is written last, and the directory is renamed into
place (an older version is moved aside first and deleted), so an interrupted run never leaves a half data set
under the final name. A file lock serialises concurrent generators of the same directory.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import tempfile
from pathlib import Path

MARKER = "done.json"


def default_base() -> Path:
    env = os.environ.get("NF_DATA_CACHE")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[3] / "data_cache" / "synthetic"


def _read_marker(path: Path) -> dict | None:
    try:
        return json.loads((path / MARKER).read_text())
    except (OSError, ValueError):
        return None


def ensure_dataset(
    kind: str,
    root: str | Path | None = None,
    scenes: int | None = None,
    res: int | None = None,
    seed: int = 0,
    frames: int | None = None,
) -> Path:
    """Directory holding the scenes of ``kind`` (generated now if missing or stale). None = the kind's default."""
    from common.data.synthetic import GENERATOR_VERSION, KINDS

    if kind not in KINDS:
        raise ValueError(f"unknown synthetic kind {kind!r}; expected one of {sorted(KINDS)}")
    spec = KINDS[kind]
    params = {
        "kind": kind,
        "scenes": int(spec.scenes if scenes is None else scenes),
        "res": int(spec.res if res is None else res),
        "seed": int(seed),
        "frames": int(spec.frames if frames is None else frames),
        "version": GENERATOR_VERSION,
    }
    base = Path(root) if root is not None else default_base()
    target = base / f"{kind}-r{params['res']}-s{params['seed']}"
    if _read_marker(target) == params:
        return target
    base.mkdir(parents=True, exist_ok=True)
    with open(base / f".{target.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if _read_marker(target) == params:
            return target
        tmp = Path(tempfile.mkdtemp(dir=base, prefix=f".{target.name}.tmp-"))
        try:
            spec.generate(tmp, scenes=params["scenes"], res=params["res"], seed=params["seed"], frames=params["frames"])
            (tmp / MARKER).write_text(json.dumps(params, indent=2) + "\n")
            os.chmod(tmp, 0o755)
            old = None
            if target.exists():
                old = Path(tempfile.mkdtemp(dir=base, prefix=f".{target.name}.old-"))
                os.replace(target, old / "data")
            os.replace(tmp, target)
            if old is not None:
                shutil.rmtree(old, ignore_errors=True)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    return target


def _generated_set(directory: Path) -> bool:
    """True when ``directory`` is a data set root written by ``ensure_dataset`` (its done.json names a kind)."""
    marker = directory / "done.json"
    if not marker.is_file():
        return False
    try:
        info = json.loads(marker.read_text())
    except (OSError, ValueError):
        return False
    return isinstance(info, dict) and "kind" in info and "version" in info


def is_synthetic(scene_root: str | Path) -> bool:
    """True when ``scene_root`` (a scene directory, a folder inside one, or a data set root) was written by
    this generator.

    Generated scene directories hold ``synthetic_scene.json`` (rooms, CO3D-like objects), and every data
    set written by ``ensure_dataset`` holds ``done.json`` naming its kind at its root; the directory, its
    children and its ancestors are checked. Used to label results as synthetic even when a path is given
    explicitly.
    """
    root = Path(scene_root).resolve()
    if (root / "synthetic_scene.json").is_file() or any(root.glob("*/synthetic_scene.json")):
        return True
    return any(_generated_set(d) for d in (root, *root.parents))
