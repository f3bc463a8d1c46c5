from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import torch
import yaml

from common.config import load_config
from common.engine.run_dir import RunDir, environment, to_jsonable

REPO = __import__("pathlib").Path(__file__).resolve().parents[2]
PRESET = REPO / "tests" / "common" / "fixtures" / "configs" / "child.yaml"


def test_layout_config_and_env(tmp_path):
    cfg = load_config(PRESET, profile="smoke")
    run = RunDir(tmp_path / "run", config=cfg, seed=7)
    assert run.checkpoints.is_dir() and run.renders.is_dir()
    assert yaml.safe_load((run.path / "config.yaml").read_text()) == cfg.to_dict()
    env = run.read_json("env.json")
    for key in ("git_commit", "git_dirty", "torch", "cuda", "device", "python", "platform", "command", "start_time"):
        assert key in env
    assert env["seed"] == 7 and env["torch"] == torch.__version__ and env["python"] == sys.version.split()[0]
    head = subprocess.run(["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True, text=True)
    assert env["git_commit"] == (head.stdout.strip() if head.returncode == 0 else None)


def test_reopening_keeps_earlier_environments(tmp_path):
    RunDir(tmp_path, seed=1)
    RunDir(tmp_path, seed=2)
    env = RunDir(tmp_path, seed=3).read_json("env.json")
    assert env["seed"] == 3 and [e["seed"] for e in env["previous"]] == [1, 2]
    assert all("previous" not in e for e in env["previous"])


def test_metrics_append_read_and_truncate(tmp_path):
    run = RunDir(tmp_path)
    for step in (1, 2, 3):
        run.log_metrics({"loss": torch.tensor(0.5 / step), "psnr": np.float32(20 + step)}, step)
        run.log_metrics({"psnr": 30.0 + step}, step, split="eval")
    lines = run.metrics_path.read_text().splitlines()
    assert len(lines) == 6 and all(set(json.loads(x)) == {"step", "split", "time", "values"} for x in lines)
    train = run.read_metrics("train")
    assert [r["values"]["loss"] for r in train] == [float(torch.tensor(0.5 / s)) for s in (1, 2, 3)]
    assert [r["values"]["psnr"] for r in train] == [21.0, 22.0, 23.0]
    run.truncate_metrics(after_step=1)
    assert [(r["step"], r["split"]) for r in run.read_metrics()] == [(1, "train"), (1, "eval")]
    with open(run.metrics_path, "a") as f:
        f.write('{"step": 2, "spl')  # a line torn by a crash is skipped
    assert len(run.read_metrics()) == 2


def test_write_json_and_finish_marker(tmp_path):
    run = RunDir(tmp_path)
    path = run.write_json(
        "eval/per_image.json", {"psnr": np.array([1.5, np.nan]), "n": np.int64(2), "t": torch.ones(2)}
    )
    assert json.loads(path.read_text()) == {"psnr": [1.5, None], "n": 2, "t": [1.0, 1.0]}
    assert sorted(p.name for p in path.parent.iterdir()) == ["per_image.json"]
    assert not run.is_finished()
    run.mark_finished({"step": 10, "psnr": float("inf")})
    done = run.read_json("done.json")
    assert run.is_finished() and done["step"] == 10 and done["psnr"] is None and "end_time" in done
    run.clear_finished()
    assert not run.is_finished()


def test_to_jsonable_and_environment():
    assert to_jsonable({"a": (1, np.float64(2.5)), 3: torch.tensor(4)}) == {"a": [1, 2.5], "3": 4}
    env = environment(seed=None)
    assert env["seed"] is None and env["git_dirty"] in (True, False, None)
