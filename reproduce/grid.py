"""Run a grid of independent training runs (scene x setting) and collect their results.

Each run is a subprocess ``python -m <module> --config ... --run-dir DIR --resume key=value ...``, so a
crash or an out-of-memory in one run cannot take the others down, memory is returned after every run,
and an interrupted grid resumes: finished runs are skipped and
unfinished ones resume from their last checkpoint.
(A run is finished when its ``marker`` file exists, ``done.json`` by default.)

Runs shared between grids: a run that knows what it computes (``identity``: its resolved config) records
a key of it; a later run of any grid with the same key, whose directory holds no progress of its own, is
not trained again: its directory links to the finished run's files and ``reused_from.json`` says which
(e.g. S3IM Table 8's M = 0 runs are Table 9's standard runs). A run finished before identities were
recorded gets its own when its grid next runs (the same command, so the same run).

Launchers: ``local`` (``jobs`` runs at a time on this machine) or ``ray`` (one Ray task per run, one
GPU each where available, on an existing cluster (RAY_ADDRESS) or a local one; needs ``pip install
-e .[ray]``).
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

from common.data.io import atomic_write_bytes

SPEC_FILE = "grid_spec.json"
IDENTITY_FILE = "run_identity.json"
REUSED_FILE = "reused_from.json"


@dataclass
class RunSpec:
    """One training run of the grid."""

    name: str  # e.g. "scan1/multiplex"
    run_dir: Path
    module: str  # python module with a CLI, e.g. "s3im.train"
    args: list[str] = field(default_factory=list)
    threads: int | None = None  # torch threads for this run (OMP_NUM_THREADS)
    marker: str = "done.json"  # file whose presence in run_dir means the run is complete
    total_steps: int | None = None  # training iterations, for the progress display
    identity: dict | None = None  # what the run computes (its resolved config); equal identities share a run

    def command(self) -> list[str]:
        return [sys.executable, "-m", self.module, "--run-dir", str(self.run_dir), "--resume", *self.args]

    def spec(self) -> dict:
        """What defines the run: re-using its directory for different settings is refused."""
        return {"module": self.module, "args": list(self.args)}

    def identity_key(self) -> str | None:
        """sha256 of (module, marker, identity), or None for a run without an identity."""
        if self.identity is None:
            return None
        blob = json.dumps({"module": self.module, "marker": self.marker, "identity": self.identity}, sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()

    def recorded_spec(self) -> dict | None:
        return read_json(self.run_dir / SPEC_FILE)

    def finished(self) -> bool:
        return (self.run_dir / self.marker).is_file() and self.recorded_spec() == self.spec()

    def claim(self) -> None:
        """Record the spec in the run directory; a directory made with other settings is an error."""
        old = self.recorded_spec()
        if old is not None and old != self.spec():
            raise SystemExit(
                f"{self.run_dir}: made by an earlier run with other settings ({' '.join(old['args'])}); "
                "remove it or choose another RUNS_DIR"
            )
        if old is None and (self.run_dir / "checkpoints").is_dir() and any((self.run_dir / "checkpoints").iterdir()):
            raise SystemExit(
                f"{self.run_dir}: holds checkpoints of an unknown run; remove it or choose another RUNS_DIR"
            )
        self.run_dir.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(self.run_dir / SPEC_FILE, (json.dumps(self.spec(), indent=1) + "\n").encode())
        self.record_identity()

    def record_identity(self) -> None:
        """Write the identity key into the run directory, where other grids look for runs to share."""
        if self.identity is not None:
            record = {"key": self.identity_key(), "module": self.module, "marker": self.marker}
            record["identity"] = self.identity
            atomic_write_bytes(self.run_dir / IDENTITY_FILE, (json.dumps(record, indent=1) + "\n").encode())


def finished_runs_by_key(root: Path | None) -> dict[str, Path]:
    """{identity key: run directory} of the finished, not themselves reused, runs under ``root``."""
    found: dict[str, Path] = {}
    if root is None or not root.is_dir():
        return found
    for path in sorted(root.rglob(IDENTITY_FILE)):
        run_dir = path.parent
        record = read_json(path)
        if record and not (run_dir / REUSED_FILE).exists() and (run_dir / record["marker"]).is_file():
            found.setdefault(record["key"], run_dir)
    return found


def has_progress(run_dir: Path) -> bool:
    """Whether ``run_dir`` holds anything of its own beyond the grid's records (a started run)."""
    own = {SPEC_FILE, IDENTITY_FILE}
    return run_dir.is_dir() and any(p.name not in own for p in run_dir.iterdir())


def reuse_run(spec: RunSpec, source: Path) -> None:
    """Make ``spec.run_dir`` a finished run whose files are relative links to those of ``source``."""
    spec.claim()
    for entry in sorted(source.iterdir()):
        if entry.name not in (SPEC_FILE, IDENTITY_FILE, REUSED_FILE):
            (spec.run_dir / entry.name).symlink_to(os.path.relpath(entry, spec.run_dir))
    record = {"source": os.path.relpath(source, spec.run_dir), "key": spec.identity_key()}
    atomic_write_bytes(spec.run_dir / REUSED_FILE, (json.dumps(record, indent=1) + "\n").encode())


def reused_source(run_dir: Path) -> Path | None:
    """The run directory a reused run links to (None for a run trained in place)."""
    record = read_json(run_dir / REUSED_FILE)
    return None if record is None else (run_dir / record["source"]).resolve()


def _run_one(spec: RunSpec, log_dir: Path) -> tuple[str, int, float]:
    log_dir.mkdir(parents=True, exist_ok=True)
    log = log_dir / (spec.name.replace("/", "__") + ".log")
    env = dict(os.environ)
    if spec.threads:
        env["OMP_NUM_THREADS"] = str(spec.threads)
        env["NF_TORCH_THREADS"] = str(spec.threads)
    t0 = time.time()
    with open(log, "a") as f:
        f.write(f"$ {' '.join(spec.command())}\n")
        f.flush()
        rc = subprocess.call(spec.command(), stdout=f, stderr=subprocess.STDOUT, env=env)
    return spec.name, rc, time.time() - t0


def run_grid(
    specs: list[RunSpec],
    *,
    launcher: str = "local",
    jobs: int = 1,
    log_dir: Path,
    progress_every: float = 30.0,
    reuse_root: Path | None = None,
) -> dict[str, int]:
    """Run every unfinished spec; returns name -> exit code (0 for runs skipped as finished).

    reuse_root: a folder of run directories (e.g. ``runs/``); an unstarted spec whose identity matches a
    finished run there links to it instead of training (``reuse_run``).
    The local launcher prints a line per finished run and, every ``progress_every`` seconds, the
    steps reached by the running ones and an ETA.
    """
    for spec in specs:  # runs finished before identities were recorded: the same command, so the same run
        if spec.identity is not None and spec.finished() and not (spec.run_dir / IDENTITY_FILE).exists():
            spec.record_identity()
    shared = finished_runs_by_key(reuse_root)
    reused = set()
    for spec in specs:
        source = shared.get(spec.identity_key()) if spec.identity is not None else None
        if source is not None and not spec.finished() and not has_progress(spec.run_dir):
            reuse_run(spec, source)
            reused.add(spec.name)
            print(f"  [reuse] {spec.name}: the same run as {source}")
    todo = [s for s in specs if not s.finished()]
    for spec in todo:
        spec.claim()
    status = {s.name: 0 for s in specs if s.finished()}
    for name in (n for n in status if n not in reused):
        print(f"  [skip] {name}: finished earlier")
    if not todo:
        return status
    if launcher == "ray":
        return status | _run_ray(todo, log_dir)
    if launcher != "local":
        raise ValueError(f"LAUNCHER must be 'local' or 'ray', got {launcher!r}")
    started = time.time()
    running: set[str] = set()
    finished: list[float] = []
    stop = threading.Event()
    monitor = threading.Thread(
        target=_monitor, args=(todo, running, finished, jobs, started, stop, progress_every), daemon=True
    )
    monitor.start()

    def run(spec: RunSpec) -> tuple[str, int, float]:
        running.add(spec.name)
        try:
            return _run_one(spec, log_dir)
        finally:
            running.discard(spec.name)

    pool = ThreadPoolExecutor(max_workers=max(1, jobs))
    try:
        for future in as_completed([pool.submit(run, s) for s in todo]):
            name, rc, secs = future.result()
            finished.append(secs)
            state = "ok" if rc == 0 else f"FAILED (exit {rc}, log in {log_dir})"
            print(f"  [{len(finished)}/{len(todo)}] {name}: {state} in {secs / 60:.1f} min", flush=True)
            status[name] = rc
    except KeyboardInterrupt:
        print("  interrupted: queued runs cancelled; re-run the script to resume", flush=True)
        raise
    finally:
        stop.set()
        pool.shutdown(wait=True, cancel_futures=True)
    return status


def last_logged_step(run_dir: Path) -> int | None:
    """Step of the last record in ``run_dir/metrics.jsonl`` (None before the first one)."""
    records = read_jsonl(run_dir / "metrics.jsonl")
    return records[-1]["step"] if records else None


def _monitor(todo, running, finished, jobs, started, stop, every) -> None:
    """Print one progress line every ``every`` seconds: runs done, steps of the running ones, ETA."""
    by_name = {s.name: s for s in todo}
    while not stop.wait(every):
        parts = []
        for name in sorted(running):
            spec = by_name[name]
            step = last_logged_step(spec.run_dir)
            parts.append(f"{name} {step or 0}/{spec.total_steps or '?'}")
        elapsed = (time.time() - started) / 60
        eta = ""
        if finished:
            left = (len(todo) - len(finished)) * (sum(finished) / len(finished)) / 60 / max(1, jobs)
            eta = f", about {left:.0f} min left"
        print(
            f"  progress: {len(finished)}/{len(todo)} runs done, {elapsed:.1f} min{eta}; running: "
            f"{', '.join(parts) or '-'}",
            flush=True,
        )


def _run_ray(todo: list[RunSpec], log_dir: Path) -> dict[str, int]:
    try:
        import ray
    except ImportError as exc:
        raise SystemExit("LAUNCHER=ray needs Ray: .venv/bin/pip install -e '.[ray]'") from exc
    ray.init(address=os.environ.get("RAY_ADDRESS"), ignore_reinit_error=True)
    gpus = 1 if ray.cluster_resources().get("GPU", 0) >= 1 else 0
    remote = ray.remote(num_gpus=gpus)(_run_one)
    refs = [remote.remote(s, log_dir) for s in todo]
    status = {}
    for name, rc, secs in ray.get(refs):
        print(f"  {name}: {'ok' if rc == 0 else f'FAILED (exit {rc})'} in {secs / 60:.1f} min", flush=True)
        status[name] = rc
    return status


def read_json(path: Path) -> dict | None:
    """The JSON at path, or None when it does not exist."""
    return json.loads(path.read_text()) if path.is_file() else None


def read_jsonl(path: Path) -> list[dict]:
    """All records of a JSON-lines file (empty list when missing; a torn last line is ignored)."""
    if not path.is_file():
        return []
    out = []
    for line in path.read_text().splitlines():
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return out
