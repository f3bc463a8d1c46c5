"""Shared machinery of the JacobiNeRF reproduce scripts (``reproduce/jacobinerf_*.py``).

Every table / figure of the paper reads the same per-scene results: one JacobiNeRF run per scene (pretrain + shaping,
``python -m jacobinerf.train``) and its propagation evaluation (``jacobinerf.evaluate`` -> propagation-<labels>.json).
``scene_results(dataset)`` trains (or resumes / skips finished runs) and evaluates each scene once; the scripts only
aggregate and write.

Environment:
  REPLICA_SEMANTIC_ROOT  Semantic-NeRF Replica root (scenes room_0 ... as subfolders): real data, paper profile.
  SCANNET_ROOT           ScanNet raw-export root (scene folders): real data, paper profile.
  PROFILE                paper | quick | smoke (default: paper with a real root, else quick on the synthetic rooms).
  SCENES_REPLICA, SCENES_SCANNET   space-separated scene lists (default: quick 1 scene each, paper 7 / 4).
  FEATURES               selfsup (default, offline) | dino (needs JACOBINERF_DINO_WEIGHTS).
  RUNS_DIR (runs/jacobinerf), RESULTS_DIR (results/jacobinerf; smoke and non-default scene lists go under
  RUNS_DIR/results so committed results are never overwritten by a subset).
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from common.results import Claim
from common.results.provenance import Provenance

REPO = Path(__file__).resolve().parents[1]
PAPER_SCENES = {
    "replica": ["room_0", "room_1", "room_2", "office_0", "office_2", "office_3", "office_4"],
    "scannet": ["scene0010_00", "scene0012_00", "scene0033_00", "scene0038_00"],
}


@dataclass(frozen=True)
class Dataset:
    name: str
    env: str
    preset: str
    labels: str
    description: str
    synthetic_scenes: tuple[str, ...]


DATASETS = {
    "replica": Dataset(
        "replica",
        "REPLICA_SEMANTIC_ROOT",
        "jacobinerf/configs/jnerf_replica.yaml",
        "semantic",
        "Replica (Semantic-NeRF layout)",
        ("room_0",),
    ),
    "scannet": Dataset(
        "scannet",
        "SCANNET_ROOT",
        "jacobinerf/configs/jnerf_scannet.yaml",
        "instance",
        "ScanNet (raw export)",
        ("scene0000_00",),
    ),
}


def source_of(ds: Dataset) -> str:
    return "real" if os.environ.get(ds.env) else "synthetic"


def profile_of(ds: Dataset) -> str:
    return os.environ.get("PROFILE") or ("paper" if source_of(ds) == "real" else "quick")


def scenes_of(ds: Dataset) -> list[str]:
    env = os.environ.get(f"SCENES_{ds.name.upper()}")
    if env:
        return env.split()
    return PAPER_SCENES[ds.name] if source_of(ds) == "real" else list(ds.synthetic_scenes)


def default_scenes(ds: Dataset) -> bool:
    return not os.environ.get(f"SCENES_{ds.name.upper()}")


def runs_dir() -> Path:
    return Path(os.environ.get("RUNS_DIR", REPO / "runs" / "jacobinerf"))


def run_path(ds: Dataset, scene: str) -> Path:
    features = os.environ.get("FEATURES", "selfsup")
    return runs_dir() / ds.name / f"{source_of(ds)}-{profile_of(ds)}-{features}" / scene


def train_scene(ds: Dataset, scene: str) -> Path:
    """Train (or resume, or skip when finished) the run of one scene; returns its directory."""
    from jacobinerf.train import main as train_main

    run = run_path(ds, scene)
    if (run / "test_metrics.json").is_file():  # written last, after the final evaluation
        return run
    args = [
        "--config",
        ds.preset,
        "--profile",
        profile_of(ds),
        "--run-dir",
        str(run),
        "--device",
        os.environ.get("DEVICE", "auto"),
        f"data.scene={scene}",
        f"features.source={os.environ.get('FEATURES', 'selfsup')}",
    ]
    if source_of(ds) == "real":
        args.append(f"data.root={Path(os.environ[ds.env]) / scene}")
    if (run / "config.yaml").is_file() or (run / "pretrain" / "config.yaml").is_file():
        args.append("--resume")
    code = train_main(args)
    if code != 0:
        raise RuntimeError(f"training {ds.name}/{scene} failed with exit code {code} (run dir {run})")
    return run


def scene_results(ds: Dataset, full: bool = True) -> list[dict]:
    """Propagation results of every scene of ``ds`` (trained and evaluated on demand, cached beside the run)."""
    from jacobinerf.evaluate import evaluate_run

    out = []
    for scene in scenes_of(ds):
        run = train_scene(ds, scene)
        path = run / f"propagation-{ds.labels}.json"
        if path.is_file() and path.stat().st_mtime >= (run / "test_metrics.json").stat().st_mtime:
            result = json.loads(path.read_text())
        else:
            result = evaluate_run(run, ds.labels, full=full)
            tmp = path.with_suffix(".tmp")
            tmp.write_text(json.dumps(result, indent=1, default=float) + "\n")
            tmp.replace(path)
            result = json.loads(path.read_text())  # the same (string-keyed) form as a cached result
        result["scene"] = scene
        out.append(result)
    return out


def mean_of(results: list[dict], *keys: str) -> float | None:
    """Mean over scenes of results[...][keys] (None when missing in any scene or not finite)."""
    vals = []
    for r in results:
        node = r
        for k in keys:
            if not isinstance(node, dict) or k not in node:
                return None
            node = node[k]
        vals.append(float(node))
    value = float(np.mean(vals)) if vals else None
    return value if value is not None and np.isfinite(value) else None


def greater_claim(text: str, a: float | None, b: float | None, detail: str, margin: float = 0.0) -> Claim:
    """The claim ``a > b - margin``; not checkable (holds None) when either number is missing."""
    return Claim(text, None if None in (a, b) else a > b - margin, detail)


def results_dir(stem: str, ds: Dataset) -> Path:
    base = Path(os.environ.get("RESULTS_DIR", REPO / "results" / "jacobinerf"))
    if profile_of(ds) == "smoke" or not default_scenes(ds):
        base = runs_dir() / "results"
    return base / stem / f"{source_of(ds)}-{profile_of(ds)}"


def provenance(ds: Dataset, results: list[dict], command: str, started: float) -> Provenance:
    return Provenance.collect(
        data_source=source_of(ds),
        dataset=ds.description + ("" if source_of(ds) == "real" else " - synthetic rooms written in that layout"),
        profile=profile_of(ds),
        command=command,
        extra={
            "scenes": [r["scene"] for r in results],
            "feature_source": sorted({r["feature_source"] for r in results}),
            "labels": ds.labels,
            "wall_time_s": round(time.time() - started, 1),
            "propagation_wall_s": {r["scene"]: round(float(r["wall_s"]), 1) for r in results},
        },
    )


def common_notes(ds: Dataset, results: list[dict]) -> list[str]:
    feats = ", ".join(sorted({r["feature_source"] for r in results}))
    notes = [
        f"Feature source for MI-shaping and the DINO baselines: {feats}.",
        "Labelled view: the first training view; test views evenly spread over the test split "
        f"({len(results[0]['test_views'])} per scene); metrics over the classes seen in the labelled view.",
        "Semantic-NeRF and DINO-NeRF are branches trained on the frozen trunk of the pretrained NeRF of the same run "
        "(see jacobinerf/baselines.py); DINO-2D / DINO-NeRF use the feature source named above.",
    ]
    if source_of(ds) == "synthetic":
        notes.append("SYNTHETIC procedural rooms: not comparable to the paper's numbers on the real data set.")
    return notes
